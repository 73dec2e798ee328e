"""Failures an operator can act on (issue 21 item 4; CONTRACT.md "Exit status", `check --connect`, `.env`,
`RESETBOT_HOME`): one line naming the cause, never a traceback, through the real `resetbot` process against the
simulated Slack, the sandbox and a real PostgreSQL."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import APPROVALS, ENGINEER, _world
from tests.e2e.test_operations import BotProcess, _base_env

REPO = Path(__file__).resolve().parents[2]


def resetbot(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env={**env, "PYTHONPATH": str(REPO)},
                          cwd=cwd, capture_output=True, text=True, timeout=90)


def one_line(result: subprocess.CompletedProcess[str], status: int = 2) -> str:
    """The run ended with `status` and one line on stderr, no traceback; that line."""
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def world():
    sim, sandbox = _world()
    try:
        yield sim, sandbox
    finally:
        sim.stop()
        sandbox.stop()


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MOFH_", "NAMECHEAP_", "RESETBOT_",
                                                                    "DATABASE_URL", "XDG_STATE_HOME"))}
    return env | {"HOME": str(tmp_path / "home")}


# --- .env and RESETBOT_HOME ------------------------------------------------------------------------------


def test_every_command_reads_dot_env_or_env_file_and_the_environment_wins(tmp_path):
    folder = tmp_path / "ops"
    folder.mkdir()
    (folder / ".env").write_text("RESETBOT_APPROVALS_CHANNEL=C0FROMDOTENV\nexport RESETBOT_REVEAL_TTL='600'\n"
                                 "RESETBOT_APPROVAL_TTL=1200\n")
    env = clean_env(tmp_path) | {"RESETBOT_APPROVAL_TTL": "1800"}
    check = resetbot(env, "check", cwd=folder)
    assert f"environment file: {folder / '.env'} (3 variables; 1 of them already set, which win)" in check.stdout
    assert "approvals channel: C0FROMDOTENV" in check.stdout
    assert "approval TTL 1800 s; reveal TTL 600 s" in check.stdout  # the environment wins over the file

    other = tmp_path / "elsewhere.env"
    other.write_text("RESETBOT_APPROVALS_CHANNEL=C0FROMOTHER\n")
    check = resetbot(env, "--env-file", str(other), "check", cwd=folder)
    assert "approvals channel: C0FROMOTHER" in check.stdout and str(other) in check.stdout
    check = resetbot(env, "check", "--env-file", str(other), cwd=folder)  # after the command too
    assert "approvals channel: C0FROMOTHER" in check.stdout
    assert "environment file: none" in resetbot(env, "check", cwd=tmp_path).stdout
    missing = one_line(resetbot(env, "--env-file", str(tmp_path / "nope.env"), "check", cwd=folder))
    assert missing == f"resetbot: --env-file: {tmp_path / 'nope.env'} is not a file"


def test_the_default_database_is_in_resetbot_home_whatever_the_folder(tmp_path):
    env = clean_env(tmp_path)
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    assert resetbot(env, "roles", "grant", ENGINEER, "requester", cwd=one).returncode == 0
    listed = resetbot(env, "roles", "list", cwd=two)
    assert ENGINEER in listed.stdout, listed.stdout + listed.stderr
    home = tmp_path / "home" / ".local" / "state" / "resetbot"
    assert (home / "resetbot.db").is_file() and stat.S_IMODE(home.stat().st_mode) == 0o700
    assert not (one / "resetbot.db").exists() and not (two / "resetbot.db").exists()
    check = resetbot(env, "check", cwd=two)
    assert f"home: {home} (RESETBOT_HOME)" in check.stdout and f"database: sqlite:///{home / 'resetbot.db'}" \
        in check.stdout

    chosen = tmp_path / "chosen"
    env |= {"RESETBOT_HOME": str(chosen), "DATABASE_URL": "sqlite:///bot.db"}  # relative: inside RESETBOT_HOME
    assert resetbot(env, "db", "upgrade", cwd=one).returncode == 0
    assert (chosen / "bot.db").is_file() and stat.S_IMODE(chosen.stat().st_mode) == 0o700


# --- check --connect --------------------------------------------------------------------------------------


def test_check_connect_says_what_answered(world, tmp_path):
    sim, sandbox = world
    env = _base_env(sim, sandbox, f"sqlite:///{tmp_path / 'resetbot.db'}")
    assert resetbot(env, "db", "upgrade").returncode == 0
    check = resetbot(env, "check", "--connect")
    assert check.returncode == 0, check.stderr
    for said in ("Slack auth.test: answered", "approvals channel: answered: #pw-reset-approvals exists and the bot "
                 "is a member", "Slack Socket Mode: answered", "database: answered", "MyOwnFreeHost: answered"):
        assert said in check.stdout, check.stdout
    print(check.stdout)


@pytest.mark.parametrize("mistake, expected", [
    ("bot not invited", "RESETBOT_APPROVALS_CHANNEL: the bot is not a member of #pw-reset-approvals (C0APPROVALS): "
                        "/invite the bot there"),
    ("archived", "RESETBOT_APPROVALS_CHANNEL: #pw-reset-approvals (C0APPROVALS) is archived"),
    ("no such channel", "RESETBOT_APPROVALS_CHANNEL: Slack knows no channel C0NOSUCHCH1"),
    ("revoked bot token", "SLACK_BOT_TOKEN: Slack auth.test refused it (invalid_auth)"),
    ("wrong app token", "SLACK_APP_TOKEN: Slack apps.connections.open refused it (invalid_auth)"),
])
def test_check_connect_names_each_common_mistake_in_one_line(world, tmp_path, mistake, expected):
    sim, sandbox = world
    env = _base_env(sim, sandbox, f"sqlite:///{tmp_path / 'resetbot.db'}")
    if mistake == "bot not invited":
        sim.add_channel(APPROVALS, "pw-reset-approvals", bot_member=False)
    elif mistake == "archived":
        sim.add_channel(APPROVALS, "pw-reset-approvals", archived=True)
    elif mistake == "no such channel":
        env["RESETBOT_APPROVALS_CHANNEL"] = "C0NOSUCHCH1"
    elif mistake == "revoked bot token":
        sim.bot_token = "xoxb-the-current-one"
    else:
        sim.app_token = "xapp-the-current-one"
    check = resetbot(env, "check", "--connect")
    assert check.returncode == 2 and "Traceback" not in check.stderr
    assert any(line.startswith(expected) for line in check.stderr.splitlines()), check.stderr
    print(f"{mistake}: {check.stderr.strip()}")


# --- run: one line, no traceback -----------------------------------------------------------------------------


def test_run_with_the_health_port_taken_is_one_line(world, tmp_path):
    sim, sandbox = world
    taken = socket.create_server(("127.0.0.1", 0))
    try:
        env = _base_env(sim, sandbox, f"sqlite:///{tmp_path / 'resetbot.db'}")
        env["RESETBOT_HEALTH_PORT"] = str(taken.getsockname()[1])
        bot = BotProcess(env)
        assert bot.process.wait(60) == 2
        text = "".join(bot.lines)
        assert "Traceback" not in text
        assert f"RESETBOT_HEALTH_PORT: cannot listen on 127.0.0.1:{taken.getsockname()[1]} (Address already in use)" \
            in text
    finally:
        taken.close()


def test_run_with_a_revoked_bot_token_is_one_line(world, tmp_path):
    sim, sandbox = world
    sim.bot_token = "xoxb-the-current-one"
    bot = BotProcess(_base_env(sim, sandbox, f"sqlite:///{tmp_path / 'resetbot.db'}"))
    assert bot.process.wait(60) == 2
    text = "".join(bot.lines)
    assert "Traceback" not in text and "SLACK_BOT_TOKEN: Slack refused auth.test (invalid_auth)" in text


def test_run_with_slack_unreachable_is_one_line(world, tmp_path):
    sim, sandbox = world
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    env = _base_env(sim, sandbox, f"sqlite:///{tmp_path / 'resetbot.db'}") | {
        "SLACK_API_URL": f"http://127.0.0.1:{port}/api/"}
    bot = BotProcess(env)
    assert bot.process.wait(90) == 1
    text = "".join(bot.lines)
    assert "Traceback" not in text and f"SLACK_API_URL: Slack did not answer auth.test at http://127.0.0.1:{port}/api/" \
        in text


@pytest.mark.postgres
def test_database_problems_are_the_drivers_own_words_with_the_password_masked(world, tmp_path):
    sim, sandbox = world
    url = os.environ["RESETBOT_TEST_POSTGRES_URL"]
    base = url.rsplit("/", 1)[0]
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    cases = {
        "refused": (f"postgresql+psycopg://bot:ZZZsentinelpw@127.0.0.1:{port}/resetbot", "Connection refused"),
        "no such database": (f"{base}/no_such_database_here", 'database "no_such_database_here" does not exist'),
        "no such user": (base.replace("postgres@", "nobody_here:ZZZsentinelpw@", 1) + "/postgres",
                         'role "nobody_here" does not exist'),
    }
    for name, (database_url, words) in cases.items():
        env = _base_env(sim, sandbox, database_url) | {"RESETBOT_SEAL_KEY": "A" * 43 + "="}
        for args in (("db", "upgrade"), ("roles", "list")):
            line = one_line(resetbot(env, *args))
            assert line.startswith("resetbot: DATABASE_URL: cannot ") and words in line, (name, line)
            assert "ZZZsentinelpw" not in line
        bot = BotProcess(env)
        assert bot.process.wait(60) == 2
        text = "".join(bot.lines)
        assert "Traceback" not in text and words in text and "ZZZsentinelpw" not in text, text
        print(f"{name}: {line}")
