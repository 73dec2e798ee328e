"""Files and secrets at the operator surface (issue 9 item 15), through the real `python -m bot.cli` process.

The SQLite database, its journal files and the generated key file are 0600; a key file that
group or others can open, or that holds no key, is one line naming it and exit 2 in every
command; a database password is masked in `check` and in `repr(Settings)`; a token pasted
into the wrong variable is never echoed by `check`.
"""

from __future__ import annotations

import base64
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


# --------------------------------------------------------------------- what NAME_FILE may name (issue 20 item 6)


def _not_a_secret_file(tmp_path: Path, kind: str) -> tuple[str, str]:
    """A path RESETBOT_SEAL_KEY_FILE must not be read from, and the words that say why."""
    if kind == "named pipe":
        os.mkfifo(tmp_path / "key")  # reading it waits for a writer: for ever
        return str(tmp_path / "key"), "is not a regular file (a named pipe)"
    if kind == "/dev/zero":  # reading it never ends
        return "/dev/zero", "is not a regular file (a character device)"
    if kind == "directory":
        (tmp_path / "secrets").mkdir()
        return str(tmp_path / "secrets"), "is not a regular file (a directory)"
    (tmp_path / "key").write_text(SEAL_KEY + "\n" + "#" * 64 * 1024)  # a key and 64 KiB more
    return str(tmp_path / "key"), "is larger than 64 KiB"


@pytest.mark.parametrize("kind", ["named pipe", "/dev/zero", "directory", "over 64 KiB"])
@pytest.mark.parametrize("command", [("check",), ("run",)])
def test_a_secret_file_that_is_not_a_regular_file_of_at_most_64_kib_is_one_line_naming_it(tmp_path, kind, command):
    path, why = _not_a_secret_file(tmp_path, kind)
    env = {**FULL_CONFIG, "DATABASE_URL": f"sqlite:///{tmp_path / 'resetbot.db'}", "RESETBOT_SEAL_KEY_FILE": path}
    result = resetbot(*command, env=env, timeout=30)  # a read that blocks or never ends fails here, as a timeout
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert one_line(result).endswith(f"RESETBOT_SEAL_KEY_FILE: {path} {why}")


def test_a_secret_file_behind_symlinks_as_kubernetes_mounts_them_is_read(tmp_path):
    (tmp_path / "..2024_01_01").mkdir()
    (tmp_path / "..2024_01_01" / "seal-key").write_text(SEAL_KEY + "\n")
    (tmp_path / "..data").symlink_to("..2024_01_01")
    (tmp_path / "seal-key").symlink_to("..data/seal-key")
    env = {**FULL_CONFIG, "DATABASE_URL": f"sqlite:///{tmp_path / 'resetbot.db'}",
           "RESETBOT_SEAL_KEY_FILE": str(tmp_path / "seal-key")}
    result = resetbot("check", env=env)
    assert result.returncode == 0, result.stderr
    assert "seal keys: 1 from RESETBOT_SEAL_KEY" in result.stdout


# --------------------------------------------------------------------- a seal key Fernet takes (issue 20 item 7)


def _standard_base64_key() -> str:
    """32 random bytes in standard base64 (with + or /): what `openssl rand -base64 32` prints."""
    while True:
        key = base64.b64encode(os.urandom(32)).decode()
        if "+" in key or "/" in key:
            return key


@pytest.mark.parametrize("source", ["RESETBOT_SEAL_KEY", "RESETBOT_SEAL_KEY_FILE"])
@pytest.mark.parametrize("command", [("check",), ("run",)])
def test_a_seal_key_in_standard_base64_is_one_line_naming_the_variable_in_check_and_run(tmp_path, source, command):
    key = _standard_base64_key()
    env = {**FULL_CONFIG, "DATABASE_URL": f"sqlite:///{tmp_path / 'resetbot.db'}"}
    if source == "RESETBOT_SEAL_KEY":
        env[source] = key
    else:
        (tmp_path / "seal-key").write_text(key + "\n")
        env[source] = str(tmp_path / "seal-key")
    result = resetbot(*command, env=env, timeout=30)
    assert result.returncode == 2, (result.stdout, result.stderr)
    line = one_line(result)
    assert f"{source} must be url-safe base64 of 32 bytes, as Fernet.generate_key() prints" in line
    assert "standard base64" in line and "ValueError" not in result.stdout + result.stderr
    assert key not in result.stdout + result.stderr and key[:8] not in result.stdout + result.stderr


@pytest.mark.parametrize("command", [("check",), ("run",)])
def test_the_bad_one_of_several_seal_keys_is_named_by_its_position(tmp_path, command):
    good, bad = Fernet.generate_key().decode(), _standard_base64_key()
    env = {**FULL_CONFIG, "DATABASE_URL": f"sqlite:///{tmp_path / 'resetbot.db'}", "RESETBOT_SEAL_KEY": f"{good},{bad}"}
    result = resetbot(*command, env=env, timeout=30)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "RESETBOT_SEAL_KEY" in one_line(result) and "the 2nd is standard base64" in one_line(result)
    assert good not in result.stdout + result.stderr and bad not in result.stdout + result.stderr
    assert "sealed values" not in result.stdout  # nothing is counted under keys that were refused
