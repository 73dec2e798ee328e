"""Files and secrets at the operator surface (issue 9 item 15), through the real `python -m bot.cli` process.

The SQLite database, its journal files and the generated key file are 0600; a key file that
group or others can open, or that holds no key, is one line naming it and exit 2 in every
command; a database password is masked in `check` and in `repr(Settings)`; a token pasted
into the wrong variable is never echoed by `check`.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.config import Settings
from bot.sealing import key_beside_sqlite
from storage.db import make_engine

SEAL_KEY = "ZmFrZS1zZWFsLWtleS1mb3ItdGVzdHMtMzItYnl0ZXM="
FULL_CONFIG = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "RESETBOT_APPROVALS_CHANNEL": "C0APPROVALS",
               "MOFH_API_USERNAME": "r", "MOFH_API_PASSWORD": "p",
               # nothing listens there: a run that got past its checks fails fast instead of reaching slack.com
               "SLACK_API_URL": "http://127.0.0.1:9/api/"}


def resetbot(*args, env, timeout=60):
    """The CLI as an operator runs it, with the usual umask 022 (group and others may read what is created)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MOFH_", "NAMECHEAP_",
                                                                              "RESETBOT_", "DATABASE_URL"))}
    environment.update(env)
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=environment, capture_output=True, text=True,
                          timeout=timeout, umask=0o022)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def one_line(result) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_the_database_and_its_journal_files_are_created_0600(tmp_path):
    db = tmp_path / "resetbot.db"
    done = resetbot("db", "upgrade", env={"DATABASE_URL": f"sqlite:///{db}"})
    assert done.returncode == 0, done.stderr
    assert mode(db) == 0o600
    # While a connection writes, SQLite keeps -wal and -shm beside the file: they get its mode.
    other = tmp_path / "other.db"
    previous = os.umask(0o022)
    try:
        engine = make_engine(f"sqlite:///{other}")
        with engine.connect() as connection:
            connection.exec_driver_sql("CREATE TABLE t (x)")
            connection.exec_driver_sql("INSERT INTO t VALUES (1)")
            connection.commit()
            sidecars = [Path(f"{other}{suffix}") for suffix in ("-wal", "-shm")]
            assert all(p.exists() for p in sidecars)
            assert {p.name: mode(p) for p in [other, *sidecars]} == {p.name: 0o600 for p in [other, *sidecars]}
        engine.dispose()
    finally:
        os.umask(previous)


def test_an_existing_database_open_to_others_is_narrowed_to_0600(tmp_path):
    db = tmp_path / "resetbot.db"
    sqlite3.connect(db).close()
    db.chmod(0o644)
    assert resetbot("roles", "list", env={"DATABASE_URL": f"sqlite:///{db}"}).returncode == 0
    assert mode(db) == 0o600


def test_the_generated_key_file_is_0600(tmp_path):
    previous = os.umask(0o022)
    try:
        key = key_beside_sqlite(f"sqlite:///{tmp_path / 'resetbot.db'}")
    finally:
        os.umask(previous)
    assert key is not None and mode(tmp_path / "resetbot.db.key") == 0o600


COMMANDS = [("roles", "list"), ("roles", "grant", "U0ADMIN1", "admin"), ("accounts", "list"), ("audit", "export"),
            ("audit", "verify"), ("db", "upgrade"), ("check",), ("run",), ("policy", "show"), ("policy", "set", "mofh", "--approvals", "2")]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_key_file_group_or_others_can_read_is_refused_in_every_command(tmp_path, command):
    db = tmp_path / "resetbot.db"
    key_file = tmp_path / "resetbot.db.key"
    key_file.write_text(Fernet.generate_key().decode() + "\n")
    key_file.chmod(0o644)
    result = resetbot(*command, env={**FULL_CONFIG, "DATABASE_URL": f"sqlite:///{db}"}, timeout=30)
    assert result.returncode == 2, (result.stdout, result.stderr)
    line = one_line(result)
    assert str(key_file) in line and "0644" in line and "chmod 600" in line
    assert key_file.read_text().strip() not in result.stdout + result.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_malformed_key_file_is_one_line_naming_it_in_every_command(tmp_path, command):
    db = tmp_path / "resetbot.db"
    key_file = tmp_path / "resetbot.db.key"
    key_file.write_text("ZZZnot-a-key-at-all\n")
    key_file.chmod(0o600)
    result = resetbot(*command, env={**FULL_CONFIG, "DATABASE_URL": f"sqlite:///{db}"}, timeout=30)
    assert result.returncode == 2, (result.stdout, result.stderr)
    line = one_line(result)
    assert str(key_file) in line and "not a seal key" in line
    assert "ZZZ" not in result.stdout + result.stderr and "ValueError" not in line


def test_the_database_password_is_masked_in_check_and_in_repr():
    url = "postgresql+psycopg://resetbot:ZZZpgSecret@db.internal:5432/resetbot"
    settings = Settings.from_env({"DATABASE_URL": url, "RESETBOT_SEAL_KEY": SEAL_KEY})
    assert "ZZZ" not in repr(settings) and "ZZZ" not in str(settings)
    assert "postgresql+psycopg://resetbot:***@db.internal:5432/resetbot" in repr(settings)
    query = Settings.from_env({"DATABASE_URL": "postgresql+psycopg://db.internal/rb?user=rb&password=ZZZpgSecret",
                               "RESETBOT_SEAL_KEY": SEAL_KEY})
    assert "ZZZ" not in repr(query)
    result = resetbot("check", env={**FULL_CONFIG, "DATABASE_URL": url, "RESETBOT_SEAL_KEY": SEAL_KEY})
    assert "database: postgresql+psycopg://resetbot:***@db.internal:5432/resetbot" in result.stdout
    assert "ZZZ" not in result.stdout + result.stderr


def test_check_never_echoes_a_token_pasted_into_the_wrong_variable(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'resetbot.db'}",
           "SLACK_BOT_TOKEN": "xapp-1-A0ZZZ-1234-ZZZappTokenValue",  # the app token in the bot token's place
           "SLACK_APP_TOKEN": "xoxb-ZZZbotTokenValue",
           "RESETBOT_APPROVALS_CHANNEL": "xoxb-ZZZbotTokenValue",
           "RESETBOT_ADMINS": "U0ADMIN1,xoxp-ZZZuserTokenValue",
           "SLACK_SIGNING_SECRET": "ZZZsigningSecret0123456789abcdef",
           "RESETBOT_REVEAL_TTL": "ZZZsigningSecret0123456789abcdef",
           "SLACK_API_URL": "xoxb-ZZZbotTokenValue"}
    result = resetbot("check", env=env)
    assert result.returncode == 2
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "RESETBOT_APPROVALS_CHANNEL", "RESETBOT_ADMINS",
                 "RESETBOT_REVEAL_TTL", "SLACK_API_URL"):
        assert name in result.stderr
    assert "ZZZ" not in result.stdout + result.stderr
    assert "app-level token" in result.stderr  # says what was pasted, by its prefix only


# --------------------------------------------------------------------- the URL rule (issue 9 item 16)

NAMECHEAP = {"NAMECHEAP_API_USER": "u", "NAMECHEAP_API_KEY": "k", "NAMECHEAP_CLIENT_IP": "203.0.113.10"}


@pytest.mark.parametrize("variable, url", [
    ("SLACK_API_URL", "http://slack.example.com/api/"),
    ("MOFH_API_URL", "http://panel.myownfreehost.net"),
    ("MOFH_API_URL", "http://10.0.0.7:8080/xml-api"),
    ("NAMECHEAP_API_URL", "http://api.namecheap.com/xml.response"),
    ("NAMECHEAP_API_URL", "http://[2001:db8::1]/xml.response"),
    ("MOFH_API_URL", "ftp://panel.myownfreehost.net"),
    ("NAMECHEAP_API_URL", "https://user:ZZZpw@api.namecheap.com/xml.response"),
])
@pytest.mark.parametrize("command", [("check",), ("run",), ("run", "--http")])
def test_check_and_run_refuse_a_clear_text_endpoint_off_loopback(tmp_path, variable, url, command):
    env = {**FULL_CONFIG, **NAMECHEAP, "SLACK_SIGNING_SECRET": "s" * 32, "RESETBOT_SEAL_KEY": SEAL_KEY,
           "DATABASE_URL": f"sqlite:///{tmp_path / 'resetbot.db'}", variable: url}
    result = resetbot(*command, env=env, timeout=30)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    problem = [line for line in result.stderr.splitlines() if variable in line]
    assert len(problem) == 1 and url not in problem[0] and "ZZZ" not in result.stdout + result.stderr


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/api/", "http://127.8.9.10/api/", "http://localhost:9/api/",
                                 "http://[::1]:9/api/", "https://slack.com/api/", "HTTPS://SLACK.COM/api/"])
def test_https_anywhere_and_http_on_loopback_pass_check(tmp_path, url):
    mofh = url.replace("/api/", "")
    env = {**FULL_CONFIG, **NAMECHEAP, "DATABASE_URL": f"sqlite:///{tmp_path / 'resetbot.db'}",
           "SLACK_API_URL": url, "MOFH_API_URL": mofh, "NAMECHEAP_API_URL": mofh + "/xml.response"}
    result = resetbot("check", env=env)
    assert result.returncode == 0, result.stderr
    assert "providers enabled: mofh, namecheap" in result.stdout


def test_env_example_names_every_variable_of_the_contracts_configuration_table():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    contract = (root / "docs/CONTRACT.md").read_text()
    table = contract.split("## Configuration (environment)", 1)[1].split("\n\n", 2)[1]
    listed = {name for row in table.splitlines()[2:] if "NAME_FILE" not in row
              for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}
    example = {line.lstrip("# ").split("=", 1)[0] for line in (root / ".env.example").read_text().splitlines()
               if "=" in line}
    assert len(listed) >= 18 and listed <= example, sorted(listed - example)
    assert {f"{name}_FILE" for name in ("SLACK_BOT_TOKEN", "RESETBOT_SEAL_KEY", "MOFH_API_PASSWORD")} <= example
