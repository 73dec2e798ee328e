"""A runtime install without the extras: the dev kit's commands and a PostgreSQL URL each say what to install."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata

import pytest

from bot import cli
from bot.config import Settings, postgres_driver_problem
from devkit import commands

SEAL_KEY = "ZmFrZS1zZWFsLWtleS1mb3ItdGVzdHMtMzItYnl0ZXM="
PG_URL = "postgresql+psycopg://bot@127.0.0.1:9/resetbot"


def _without(monkeypatch, *names: str) -> None:
    """resetbot's metadata as an install that lacks these distributions would show it."""
    real = metadata.distribution

    def distribution(name: str):
        if name.lower() in names:
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(commands.metadata, "distribution", distribution)


def test_the_extras_are_declared_and_installed_here():
    requires = metadata.requires("resetbot") or []
    assert 'websockets>=12; extra == "devkit"' in requires
    assert any(r.startswith("psycopg[binary]") and r.endswith('extra == "postgres"') for r in requires)
    assert not any(r.startswith(("websockets", "psycopg")) and "extra ==" not in r for r in requires)
    assert commands.missing_requirements("devkit") == [] and commands.missing_requirements("postgres") == []


@pytest.mark.parametrize("command", ["demo", "sandbox"])
def test_a_dev_kit_command_without_the_extra_is_one_line_naming_the_install_and_exit_2(monkeypatch, capsys, command):
    _without(monkeypatch, "websockets")
    assert cli.main([command]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (f"resetbot: {command} is part of the dev kit, whose websockets is not installed: "
                            "pip install 'resetbot[devkit]'\n")


def test_the_help_still_lists_the_dev_kit_commands_without_the_extra(monkeypatch, capsys):
    _without(monkeypatch, "websockets")
    with pytest.raises(SystemExit) as done:
        cli.main(["--help"])
    assert done.value.code == 0 and "demo" in capsys.readouterr().out


def test_a_postgresql_url_without_psycopg_is_one_problem_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed: find_spec finds nothing
    settings = Settings.from_env({"DATABASE_URL": PG_URL, "RESETBOT_SEAL_KEY": SEAL_KEY})
    assert list(settings.problems) == [
        "DATABASE_URL is a PostgreSQL URL, but its driver psycopg is not installed: pip install 'resetbot[postgres]'"]


def test_only_a_postgresql_url_asks_for_a_driver_and_a_bare_one_is_told_which_to_write():
    assert postgres_driver_problem("sqlite:///resetbot.db") is None
    assert postgres_driver_problem(PG_URL) is None  # installed here
    bare = postgres_driver_problem("postgresql://bot@db/resetbot")  # SQLAlchemy would want psycopg2
    assert bare is not None and "psycopg2" in bare and "postgresql+psycopg://" in bare


def test_an_operator_command_on_postgresql_without_psycopg_exits_2_with_one_line():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "RESETBOT_", "DATABASE_URL"))}
    env.update({"DATABASE_URL": PG_URL, "RESETBOT_SEAL_KEY": SEAL_KEY})
    code = "import sys; sys.modules['psycopg'] = None; from bot.cli import main; raise SystemExit(main())"
    done = subprocess.run([sys.executable, "-c", code, "roles", "list"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr == ("resetbot: DATABASE_URL is a PostgreSQL URL, but its driver psycopg is not installed: "
                           "pip install 'resetbot[postgres]'\n")
