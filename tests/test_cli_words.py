"""The CLI's words (issue 12, item 9): --version, one line for a missing action, help and choices,
`check` never showing a refused value as in effect, `check --http`, `check --connect` and `run`
naming what failed at start-up.

`check --connect` runs against the simulated Slack and the sandbox providers: it asks Slack
auth.test, opens and closes a Socket Mode session, and makes one read-only call per enabled
provider that has one; it prints what answered and names what did not, exit 2.
"""

from __future__ import annotations

import sqlite3

import pytest

from bot import cli
from devkit.sandbox import Sandbox, default_seed
from devkit.slack import SlackSim
from tests.test_cli import resetbot


@pytest.fixture
def services():
    with Sandbox(seed=default_seed()) as sandbox, SlackSim(app_token="xapp-check") as sim:
        sim.add_channel("C0APPROVALS", "pw-reset-approvals")  # check --connect asks whether the bot is in it
        env = {"SLACK_BOT_TOKEN": "xoxb-check", "SLACK_APP_TOKEN": "xapp-check", "SLACK_API_URL": sim.api_url,
               "RESETBOT_APPROVALS_CHANNEL": "C0APPROVALS"}
        for environment in sandbox.bot_environments().values():
            env.update(environment.variables)
        yield sim, sandbox, env


def test_check_connect_says_what_answered(services, database_url):
    sim, _, env = services
    result = resetbot("check", "--connect", db=database_url, env=env)
    assert result.returncode == 0, result.stderr
    assert "Slack auth.test: answered: resetbot" in result.stdout
    assert "Slack Socket Mode: answered: a session opened and closed" in result.stdout
    assert "MyOwnFreeHost: answered: a read-only account lookup (lookup_empty" in result.stdout
    assert "cPanel: answered: a read-only account lookup (lookup_ok" in result.stdout  # the token's own summary
    assert "Plesk: answered: a read-only account lookup (lookup_ok" in result.stdout  # a customer/get of no one
    assert "Namecheap: skipped: the bot has no read-only call for it" in result.stdout
    opened = sim.calls_to("apps.connections.open")
    assert len(opened) == 1 and sim.wait_for(lambda: sim.connections() == 0, message="the session stayed open")


def test_check_connect_names_what_did_not_answer(services, database_url):
    _, _, env = services
    refused = resetbot("check", "--connect", db=database_url,
                       env={**env, "SLACK_APP_TOKEN": "xapp-revoked", "MOFH_API_PASSWORD": "ZZZwrongpass"})
    assert refused.returncode == 2
    assert "SLACK_APP_TOKEN: Slack apps.connections.open refused it (invalid_auth)" in refused.stderr
    assert "MyOwnFreeHost: the account lookup did not answer as expected (auth_failed)" in refused.stderr
    assert "ZZZwrongpass" not in refused.stdout + refused.stderr
    away = resetbot("check", "--connect", "--http", db=database_url,
                    env={**env, "SLACK_API_URL": "http://127.0.0.1:9/api/", "SLACK_SIGNING_SECRET": "s" * 32})
    assert away.returncode == 2
    assert "SLACK_API_URL: Slack did not answer auth.test" in away.stderr
    assert "Slack Socket Mode: skipped (HTTP transport" in away.stdout


def test_check_http_checks_the_http_settings_and_prints_no_refused_value_as_in_effect(database_url):
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "RESETBOT_APPROVALS_CHANNEL": "C0APPROVALS",
           "MOFH_API_USERNAME": "r", "MOFH_API_PASSWORD": "p", "RESETBOT_REVEAL_TTL": "15m"}
    result = resetbot("check", "--http", db=database_url, env=env)
    assert result.returncode == 2
    assert "transport: HTTP (run --http)" in result.stdout and "SLACK_SIGNING_SECRET" in result.stderr
    assert "reveal TTL invalid" in result.stdout and "900" not in result.stdout
    assert "RESETBOT_REVEAL_TTL" in result.stderr and "'15m'" in result.stderr


def test_connect_is_not_tried_while_the_configuration_is_wrong(database_url):
    result = resetbot("check", "--connect", db=database_url)
    assert result.returncode == 2 and "connections: not tried" in result.stderr and "answered" not in result.stdout


def test_version_and_a_command_without_its_action_are_one_line():
    version = resetbot("--version")
    assert version.returncode == 0 and version.stdout.strip() == "resetbot 0.1.0"
    for command, actions in (("roles", "grant, revoke or list"), ("accounts", "import or list"),
                             ("audit", "export or verify"), ("policy", "show or set"), ("db", "upgrade")):
        result = resetbot(command)
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.strip().splitlines() == [
            f"resetbot: {command}: give an ACTION: {actions} (see resetbot {command} --help)"]


def test_help_explains_positionals_and_options_and_lists_the_choices():
    grant = " ".join(resetbot("roles", "grant", "--help").stdout.split())  # as wrapped by argparse
    assert "a Slack user ID (U…, W…) or user group ID (S…)" in grant
    assert "requester, approver or admin (admin implies both others)" in grant
    assert "{mofh,namecheap,cpanel,plesk}" in grant
    refused = resetbot("roles", "grant", "U0X", "owner")
    assert refused.returncode == 2 and "invalid choice: 'owner' (choose from 'requester', 'approver', 'admin')" \
        in refused.stderr
    assert "with --http: the address to listen on" in resetbot("run", "--help").stdout
    assert "with --http: the port to listen on" in resetbot("run", "--help").stdout
    assert "a UTF-8 CSV file with the header" in resetbot("accounts", "import", "--help").stdout
    assert "the provider whose policy changes" in resetbot("policy", "set", "--help").stdout
    sandbox = " ".join(resetbot("sandbox", "--help").stdout.split())
    assert "the MyOwnFreeHost sandbox's port on 127.0.0.1" in sandbox and "the Namecheap sandbox's port" in sandbox
    check = resetbot("check", "--help").stdout
    assert "--http" in check and "--connect" in check
    assert resetbot("roles", "grant", "U0X", "Admin", "--provider", "MOFH", "--help").returncode == 0


def test_run_names_what_failed_at_start_up(caplog):
    try:
        raise RuntimeError("wrapped") from sqlite3.OperationalError("unable to open database file")
    except RuntimeError as database:
        assert cli._start_up_failure(database) == ("DATABASE_URL: cannot open or migrate the database: unable to open "
                                                   "database file (OperationalError)")  # the driver's own words
    with caplog.at_level("ERROR", logger="resetbot"):
        said = cli._start_up_failure(TypeError("unexpected keyword"))
    assert said.startswith("start-up failed: TypeError (error id ") and "DATABASE_URL" not in said
    error_id = said.split("error id ")[1].split(";")[0]
    assert any(error_id in r.getMessage() and r.exc_info for r in caplog.records)
