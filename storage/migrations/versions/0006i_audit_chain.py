"""An append-only, hash-chained audit trail: seq, prev_hash and hash on audit_events, audit_chain_head,
audit_repeats, and the triggers that refuse changing or removing an event

Revision ID: 0006i
Revises: 0006b

Existing events are chained in id order, and a repeated refusal's `count` and `last_at` move out of its
detail into audit_repeats, before the triggers exist. The triggers are the database's own (SQLite and
PostgreSQL): an UPDATE or DELETE of an event is refused (and TRUNCATE on PostgreSQL; on SQLite an INSERT OR
REPLACE over an event, which would delete it without a DELETE trigger), a repeat count only grows, the head is
never deleted. On SQLite a trigger also advances the head as each event is inserted (PostgreSQL's append
statement does it: storage/repository.py).
"""

import json
from datetime import datetime

import sqlalchemy as sa
from alembic import op

from storage.audit_chain import GENESIS, canonical, chain_hash, parse_detail
from storage.models import UtcDateTime

revision = "0006i"
down_revision = "0006b"
branch_labels = None
depends_on = None

BATCH = 2000

EVENTS = sa.table("audit_events", sa.column("id", sa.Integer), sa.column("at", UtcDateTime()),
                  sa.column("actor_id", sa.String), sa.column("action", sa.String),
                  sa.column("request_id", sa.String), sa.column("provider", sa.String),
                  sa.column("account", sa.String), sa.column("detail", sa.Text), sa.column("seq", sa.Integer),
                  sa.column("prev_hash", sa.String), sa.column("hash", sa.String))
HEAD = sa.table("audit_chain_head", sa.column("id", sa.Integer), sa.column("seq", sa.Integer),
                sa.column("prev_hash", sa.String), sa.column("hash", sa.String))
REPEATS = sa.table("audit_repeats", sa.column("event_id", sa.Integer), sa.column("count", sa.Integer),
                   sa.column("last_at", UtcDateTime()))

REFUSED = "the audit trail is append-only"

SQLITE_TRIGGERS = {
    "audit_events_no_update": "BEFORE UPDATE ON audit_events BEGIN "
                              f"SELECT RAISE(ABORT, '{REFUSED}: an audit event cannot be updated'); END",
    "audit_events_no_delete": "BEFORE DELETE ON audit_events BEGIN "
                              f"SELECT RAISE(ABORT, '{REFUSED}: an audit event cannot be deleted'); END",
    "audit_events_no_replace": "BEFORE INSERT ON audit_events WHEN EXISTS "
                               "(SELECT 1 FROM audit_events WHERE id = NEW.id OR seq = NEW.seq) BEGIN "
                               f"SELECT RAISE(ABORT, '{REFUSED}: an audit event cannot be replaced'); END",
    "audit_events_advance_head": "AFTER INSERT ON audit_events BEGIN UPDATE audit_chain_head SET seq = NEW.seq, "
                                 "prev_hash = NEW.prev_hash, hash = NEW.hash WHERE id = 1; END",
    "audit_chain_head_no_delete": "BEFORE DELETE ON audit_chain_head BEGIN "
                                  f"SELECT RAISE(ABORT, '{REFUSED}: the chain''s head cannot be deleted'); END",
    "audit_repeats_grow_only": "BEFORE UPDATE ON audit_repeats WHEN NEW.count < OLD.count OR "
                               "NEW.event_id <> OLD.event_id BEGIN "
                               f"SELECT RAISE(ABORT, '{REFUSED}: a repeat count only grows'); END",
    "audit_repeats_no_delete": "BEFORE DELETE ON audit_repeats BEGIN "
                               f"SELECT RAISE(ABORT, '{REFUSED}: a repeat count cannot be deleted'); END",
}

POSTGRESQL_FUNCTIONS = {
    "resetbot_audit_append_only": f"""
        BEGIN
            RAISE EXCEPTION '{REFUSED}: % on % refused', TG_OP, TG_TABLE_NAME;
        END""",
    "resetbot_audit_repeats_grow_only": f"""
        BEGIN
            IF TG_OP = 'UPDATE' AND NEW.event_id = OLD.event_id AND NEW.count >= OLD.count THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION '{REFUSED}: % on % refused', TG_OP, TG_TABLE_NAME;
        END""",
}
POSTGRESQL_TRIGGERS = {  # name: (table, when, function)
    "audit_events_append_only": ("audit_events", "BEFORE UPDATE OR DELETE", "FOR EACH ROW",
                                 "resetbot_audit_append_only"),
    "audit_events_no_truncate": ("audit_events", "BEFORE TRUNCATE", "FOR EACH STATEMENT",
                                 "resetbot_audit_append_only"),
    "audit_chain_head_no_delete": ("audit_chain_head", "BEFORE DELETE", "FOR EACH ROW",
                                   "resetbot_audit_append_only"),
    "audit_chain_head_no_truncate": ("audit_chain_head", "BEFORE TRUNCATE", "FOR EACH STATEMENT",
                                     "resetbot_audit_append_only"),
    "audit_repeats_grow_only": ("audit_repeats", "BEFORE UPDATE OR DELETE", "FOR EACH ROW",
                                "resetbot_audit_repeats_grow_only"),
    "audit_repeats_no_truncate": ("audit_repeats", "BEFORE TRUNCATE", "FOR EACH STATEMENT",
                                  "resetbot_audit_append_only"),
}


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    head, repeats = _chain_existing_events()
    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index("uq_audit_events_seq", ["seq"], unique=True)
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_audit_chain_head_one_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    # After the events' table was rebuilt (SQLite): dropping a table that rows refer to would be refused.
    op.create_table(
        "audit_repeats",
        sa.Column("event_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["audit_events.id"]),
        sa.PrimaryKeyConstraint("event_id"),
    )
    connection = op.get_bind()
    connection.execute(HEAD.insert().values(id=1, **head))
    if repeats:
        connection.execute(REPEATS.insert(), repeats)
    _create_triggers(connection)


def downgrade() -> None:
    connection = op.get_bind()
    _drop_triggers(connection)
    # The counts go back into their events' detail, where older versions kept them.
    counted = connection.execute(sa.select(REPEATS.c.event_id, REPEATS.c.count, REPEATS.c.last_at,
                                           EVENTS.c.detail).join_from(REPEATS, EVENTS,
                                                                      EVENTS.c.id == REPEATS.c.event_id)).all()
    for event_id, count, last_at, detail_text in counted:
        detail = parse_detail(detail_text)
        if isinstance(detail, dict):
            detail.update(count=count, last_at=last_at.isoformat())
            connection.execute(EVENTS.update().where(EVENTS.c.id == event_id)
                               .values(detail=json.dumps(detail, sort_keys=True)))
    op.drop_table("audit_repeats")
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.drop_index("uq_audit_events_seq")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")


def _chain_existing_events() -> tuple[dict, list[dict]]:
    """Chain every event in id order, moving repeat counts out of the details first; (the head, the counts)."""
    connection = op.get_bind()
    seq, prev_hash, last_hash = 0, GENESIS, GENESIS
    repeats: list[dict] = []
    last_id = None
    store = (EVENTS.update().where(EVENTS.c.id == sa.bindparam("b_id"))
             .values(detail=sa.bindparam("b_detail"), seq=sa.bindparam("b_seq"),
                     prev_hash=sa.bindparam("b_prev_hash"), hash=sa.bindparam("b_hash")))
    while True:
        query = sa.select(EVENTS).order_by(EVENTS.c.id).limit(BATCH)
        if last_id is not None:
            query = query.where(EVENTS.c.id > last_id)
        rows = connection.execute(query).all()
        if not rows:
            break
        chained = []
        for row in rows:
            detail_text = row.detail
            repeat = _repeat_in(row.action, parse_detail(detail_text))
            if repeat is not None:
                detail, count, last_at = repeat
                detail_text = json.dumps(detail, sort_keys=True)
                repeats.append({"event_id": row.id, "count": count, "last_at": last_at})
            seq, prev_hash = seq + 1, last_hash
            last_hash = chain_hash(prev_hash, canonical(
                at=row.at, actor_id=row.actor_id, action=row.action, request_id=row.request_id,
                provider=row.provider, account=row.account, detail=parse_detail(detail_text)))
            chained.append({"b_id": row.id, "b_detail": detail_text, "b_seq": seq, "b_prev_hash": prev_hash,
                            "b_hash": last_hash})
        connection.execute(store, chained)
        last_id = rows[-1].id
    return {"seq": seq, "prev_hash": prev_hash, "hash": last_hash}, repeats


def _repeat_in(action: str, detail) -> tuple[dict, int, datetime] | None:
    """A refusal's detail that an older version raised the count of: (the detail without it, count, last_at)."""
    if not (action.endswith("_refused") and isinstance(detail, dict) and "count" in detail and "last_at" in detail):
        return None
    try:
        count, last_at = int(detail["count"]), datetime.fromisoformat(detail["last_at"])
    except (TypeError, ValueError):
        return None
    if last_at.tzinfo is None:
        return None
    return {k: v for k, v in detail.items() if k not in ("count", "last_at")}, count, last_at


def _create_triggers(connection) -> None:
    if connection.dialect.name == "postgresql":
        for name, body in POSTGRESQL_FUNCTIONS.items():
            connection.execute(sa.text(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $${body}\n$$"))
        for name, (table, when, each, function) in POSTGRESQL_TRIGGERS.items():
            connection.exec_driver_sql(f"CREATE TRIGGER {name} {when} ON {table} {each} EXECUTE FUNCTION {function}()")
    else:
        for name, definition in SQLITE_TRIGGERS.items():
            connection.exec_driver_sql(f"CREATE TRIGGER {name} {definition}")


def _drop_triggers(connection) -> None:
    if connection.dialect.name == "postgresql":
        for name, (table, *_rest) in POSTGRESQL_TRIGGERS.items():
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        for name in POSTGRESQL_FUNCTIONS:
            connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {name}()")
    else:
        for name in SQLITE_TRIGGERS:
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
