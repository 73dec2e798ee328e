"""docs/security.md §5: a sentinel password appears in exactly one Slack call (the reveal) and nowhere else."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import sqlalchemy as sa

from bot import logs
from bot.secret import Secret
from tests.e2e.conftest import APPROVALS, APPROVER, ENGINEER

SENTINEL = "ZZZsentinel12345"  # 16 letters and digits: a valid MyOwnFreeHost password


def _database_bytes(bot) -> bytes:
    """Every stored byte: the SQLite files, or every row of every table on PostgreSQL."""
    if bot.database_url.startswith("sqlite"):
        path = Path(bot.db_path)
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    engine = sa.create_engine(bot.database_url)
    try:
        with engine.connect() as connection:
            tables = connection.execute(sa.text(
                "select tablename from pg_tables where schemaname = 'public'")).scalars().all()
            dump = [connection.execute(sa.text(f'select row_to_json(t)::text from "{table}" t')).scalars().all()
                    for table in tables]
    finally:
        engine.dispose()
    return json.dumps(dump).encode()


def test_sentinel_password_reaches_only_the_reveal_modal(bot_over_socket, monkeypatch, caplog):
    bot, sim = bot_over_socket, bot_over_socket.sim
    monkeypatch.setattr("bot.workflow.decisions.passwords.generate", lambda rules, **_: Secret(SENTINEL))
    logs.configure(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    try:
        bot.request_mofh()
        bot.card()
        sim.click(APPROVER, "Approve", channel=APPROVALS)
        sim.wait_for(lambda: any("Reveal password" in m.buttons for m in sim.dm_messages(ENGINEER)), timeout=10,
                     message="no reveal DM")
        assert bot.sandbox.mofh_account("webq7k2m").password == SENTINEL  # it really was set
        sealed_db = _database_bytes(bot)
        sim.click(ENGINEER, "Reveal password", in_dm=True)
        sim.wait_for(lambda: any(v.title == "New password" for v in sim.views(ENGINEER)), message="no reveal modal")
        sim.wait_for(lambda: "Reveal password" not in sim.dm_messages(ENGINEER)[-1].buttons, message="DM not rewritten")
        bot.workflow.background.wait_idle(5)
    finally:
        logs.configure(logging.WARNING)

    carrying = [c for c in sim.calls if SENTINEL in json.dumps(c.params)]
    assert [c.method for c in carrying] == ["views.open"]
    assert "New password" in json.dumps(carrying[0].params)
    assert all(SENTINEL not in m.text for ch in (APPROVALS, sim.dm_id(ENGINEER)) for m in sim.messages(ch))
    assert all(SENTINEL not in e.visible_text for u in (ENGINEER, APPROVER) for e in sim.ephemerals(u))
    assert SENTINEL not in caplog.text
    assert all(SENTINEL not in r.getMessage() for r in caplog.records)
    assert SENTINEL.encode() not in sealed_db  # while sealed, before the reveal
    assert SENTINEL.encode() not in _database_bytes(bot)
    assert SENTINEL not in json.dumps([r.detail for r in bot.workflow.admin.audit_trail()])
    assert SENTINEL not in repr(bot.workflow.lookups.get(bot.workflow.lookups.home_for(ENGINEER).requests[0].id))
