"""The operator surface: every command, and operator mistakes answered with one line and exit 2."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from importlib.metadata import EntryPoint, entry_points

import pytest

from bot import cli
from bot.config import Settings

SEAL_KEY = "ZmFrZS1zZWFsLWtleS1mb3ItdGVzdHMtMzItYnl0ZXM="


def resetbot(*args, env=None, db=None, input_text=None):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MOFH_", "NAMECHEAP_",
                                                                              "RESETBOT_", "DATABASE_URL"))}
    if db is not None:
        environment["DATABASE_URL"] = db
        environment["RESETBOT_SEAL_KEY"] = SEAL_KEY
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=environment, capture_output=True, text=True,
                          timeout=60, input=input_text)


def test_help_lists_every_command():
    out = resetbot("--help").stdout
    for command in ("run", "demo", "sandbox", "roles", "policy", "accounts", "audit", "db", "check"):
        assert command in out


def test_db_upgrade_migrates_a_fresh_database_and_is_a_no_op_the_second_time(database_url):
    first = resetbot("db", "upgrade", db=database_url)
    assert first.returncode == 0, first.stderr
    assert "was empty" in first.stdout
    second = resetbot("db", "upgrade", db=database_url)
    assert second.returncode == 0, second.stderr
    assert "already newest" in second.stdout
    assert first.stdout.split()[3] == second.stdout.split()[3].rstrip(",")  # the same revision
    assert resetbot("roles", "list", db=database_url).returncode == 0


def test_db_upgrade_on_an_unreachable_database_is_one_line_naming_database_url(tmp_path):
    done = resetbot("db", "upgrade", db=f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "DATABASE_URL" in done.stderr and "Traceback" not in done.stderr


def test_roles_grant_list_revoke_on_a_fresh_database(tmp_path, database_url):
    assert resetbot("roles", "grant", "U0ENGINEER1", "requester", db=database_url).returncode == 0
    assert resetbot("roles", "grant", "U0APPROVER1", "approver", "--provider", "mofh",
                    db=database_url).returncode == 0
    listed = resetbot("roles", "list", db=database_url).stdout
    assert "U0ENGINEER1\trequester\t*" in listed and "U0APPROVER1\tapprover\tmofh" in listed
    assert resetbot("roles", "revoke", "U0ENGINEER1", "requester", db=database_url).returncode == 0
    assert "U0ENGINEER1" not in resetbot("roles", "list", db=database_url).stdout
    audit = [json.loads(line) for line in resetbot("audit", "export", db=database_url).stdout.splitlines()]
    assert [e["action"] for e in audit] == ["role_granted", "role_granted", "role_revoked"]


def test_roles_revoke_without_provider_removes_the_role_for_every_provider_scoped_grants_included(database_url):
    for scope in ([], ["--provider", "mofh"], ["--provider", "namecheap"]):
        assert resetbot("roles", "grant", "U0APPROVER1", "approver", *scope, db=database_url).returncode == 0
    assert resetbot("roles", "grant", "U0APPROVER1", "requester", "--provider", "mofh", db=database_url).returncode == 0
    assert resetbot("roles", "revoke", "U0APPROVER1", "approver", db=database_url).returncode == 0
    assert resetbot("roles", "list", db=database_url).stdout.splitlines() == ["U0APPROVER1\trequester\tmofh"]


def test_roles_grant_to_a_user_group_is_listed_as_a_group_and_audited_with_the_os_user(database_url):
    env = {"LOGNAME": "opsperson"}  # getpass.getuser() reads LOGNAME first
    granted = resetbot("roles", "grant", "S0123ABCD", "approver", "--provider", "mofh", db=database_url, env=env)
    assert granted.returncode == 0, granted.stderr
    assert granted.stdout.startswith("granted: S0123ABCD (user group") and "approver for mofh" in granted.stdout
    assert resetbot("roles", "grant", "U0ENGINEER1", "requester", db=database_url, env=env).returncode == 0
    listed = resetbot("roles", "list", db=database_url).stdout.splitlines()
    assert listed == ["U0ENGINEER1\trequester\t*",
                      "S0123ABCD\tapprover\tmofh\t(user group: whoever Slack lists as its members)"]
    revoked = resetbot("roles", "revoke", "S0123ABCD", "approver", "--provider", "mofh", db=database_url, env=env)
    assert revoked.returncode == 0 and "S0123ABCD" not in resetbot("roles", "list", db=database_url).stdout
    audit = [json.loads(line) for line in resetbot("audit", "export", db=database_url).stdout.splitlines()]
    assert [(e["action"], e["actor_id"], e["provider"], e["detail"]) for e in audit] == [
        ("role_granted", "cli:opsperson", "mofh", {"user": "S0123ABCD", "role": "approver"}),
        ("role_granted", "cli:opsperson", None, {"user": "U0ENGINEER1", "role": "requester"}),
        ("role_revoked", "cli:opsperson", "mofh", {"user": "S0123ABCD", "role": "approver"}),
    ]


def test_the_dev_kit_commands_are_plug_ins_listed_with_their_help():
    declared = {e.name: e.value for e in entry_points(group=cli.COMMAND_PLUGINS)}
    assert declared == {"demo": "devkit.commands:demo", "sandbox": "devkit.commands:sandbox"}
    result = resetbot("--help")
    assert result.returncode == 0 and result.stderr == ""
    assert "the whole flow on this machine: sandbox providers, simulated" in result.stdout
    assert "serve the sandbox provider APIs on 127.0.0.1" in result.stdout


def test_sandbox_help_shows_its_own_options():
    result = resetbot("sandbox", "--help")
    assert result.returncode == 0
    assert "--seed" in result.stdout and "--mofh-port" in result.stdout and "--namecheap-port" in result.stdout
    assert "--plesk-port" in result.stdout


def test_building_the_commands_loads_only_the_dev_kit_plug_in_module():
    code = ("import sys; from bot import cli; cli._parser(); "
            "print(sorted(m for m in sys.modules if m.startswith('devkit')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "['devkit', 'devkit.commands']"


def test_without_the_plug_ins_the_operator_commands_still_work(monkeypatch, capsys):
    monkeypatch.setattr(cli, "entry_points", lambda group: [])
    with pytest.raises(SystemExit) as help_exit:
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert help_exit.value.code == 0 and "roles" in out and "audit" in out and "demo" not in out
    assert cli._parser().parse_args(["roles", "list"]).handler is cli._roles_list
    with pytest.raises(SystemExit) as demo_exit:
        cli.main(["demo"])
    assert demo_exit.value.code == 2 and "invalid choice: 'demo'" in capsys.readouterr().err


def _adds_roles(commands):  # a plug-in that wants a built-in command's name
    commands.add_parser("roles")


def test_a_plug_in_that_fails_to_load_is_named_and_left_out(monkeypatch, capsys):
    group = cli.COMMAND_PLUGINS
    plugins = [EntryPoint("broken", "no_such_module.commands:add", group),
               EntryPoint("roles", "tests.test_cli:_adds_roles", group),
               EntryPoint("demo", "devkit.commands:demo", group)]
    monkeypatch.setattr(cli, "entry_points", lambda group: plugins)
    parser = cli._parser()
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert err[0].startswith("resetbot: command 'broken' (no_such_module.commands:add) is unavailable: "
                             "ModuleNotFoundError")
    assert err[1].startswith("resetbot: command 'roles' (tests.test_cli:_adds_roles) is unavailable: "
                             "ArgumentError")
    assert parser.parse_args(["demo"]).handler.__module__ == "devkit.commands"
    assert parser.parse_args(["roles", "list"]).handler is cli._roles_list


@pytest.mark.parametrize(
    "args, names",
    [
        (("roles", "grant", "U0X", "owner"), "ROLE"),
        (("roles", "grant", "bob", "admin"), "SUBJECT"),
        (("roles", "grant", "<!subteam^S0123ABCD>", "approver"), "SUBJECT"),
        (("roles", "revoke", "s0123abcd", "approver"), "SUBJECT"),
        (("roles", "grant", "U0X", "admin", "--provider", "aws"), "--provider"),
        (("audit", "export", "--since", "yesterday"), "--since"),
        (("accounts", "import", "/nonexistent.csv"), "FILE"),
        (("roles", "grant"), "SUBJECT"),
        (("audit", "export", "--format", "xml"), "--format"),
    ],
)
def test_operator_mistakes_get_one_line_and_exit_2(tmp_path, args, names, database_url):
    result = resetbot(*args, db=database_url)
    assert result.returncode == 2
    assert names in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_accounts_import_and_list(tmp_path, database_url):
    good = tmp_path / "accounts.csv"
    good.write_text("account_key,vpanel_username,domain\nwebq7k2m,abcd_40312277,shop.example.net\nab12,abcd_1234567,\n")
    assert resetbot("accounts", "import", str(good), db=database_url).stdout.strip() == "imported 2 accounts"
    listed = resetbot("accounts", "list", db=database_url).stdout
    assert "webq7k2m\tabcd_40312277\tshop.example.net" in listed
    bad = tmp_path / "bad.csv"
    bad.write_text("account_key,vpanel_username,domain\nabcd_40312277,abcd_40312277,\n")
    result = resetbot("accounts", "import", str(bad), db=database_url)
    assert result.returncode == 2 and "line 2" in result.stderr
    assert "abcd_40312277" not in resetbot("accounts", "list", db=database_url).stdout.split("\t")[0]


def test_audit_export_csv(tmp_path, database_url):
    resetbot("roles", "grant", "U0ENGINEER1", "admin", db=database_url)
    rows = list(csv.DictReader(io.StringIO(resetbot("audit", "export", "--format", "csv", db=database_url).stdout)))
    assert rows[0]["action"] == "role_granted" and json.loads(rows[0]["detail"])["role"] == "admin"


def test_audit_export_csv_neutralises_every_cell_a_spreadsheet_would_run_as_a_formula(database_url, monkeypatch,
                                                                                       capsys):
    from datetime import UTC, datetime

    from storage import repository as repo
    from storage.db import make_engine, make_sessionmaker, migrate, transaction

    engine = make_engine(database_url)
    migrate(engine)
    hostile = ["=HYPERLINK(\"http://e.x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]
    with transaction(make_sessionmaker(engine)) as session:
        for value in hostile:
            repo.add_audit(session, at=datetime(2026, 11, 29, 12, tzinfo=UTC), action=value, actor_id=value,
                           provider=value[:16], account=value, detail={"why": value})
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RESETBOT_SEAL_KEY", SEAL_KEY)
    assert cli.main(["audit", "export", "--format", "csv"]) == 0  # in process: a pipe in text mode would turn \r
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out, newline="")))
    assert len(rows) == 1 + len(hostile)
    for row, value in zip(rows[1:], hostile, strict=True):
        assert row[2:7] == ["'" + value, "'" + value, "", "'" + value[:16], "'" + value]  # actor … account
        assert json.loads(row[7]) == {"why": value}  # the detail cell starts with { and keeps the value
    assert all(not cell.startswith(cli.CSV_FORMULA_STARTS) for row in rows for cell in row)
    assert all(cli._csv_cell(v) == "'" + v for v in hostile) and cli._csv_cell("{") == "{"


def test_check_names_each_problem_variable(tmp_path, database_url):
    result = resetbot("check", db=database_url, env={"RESETBOT_REVEAL_TTL": "soon", "MOFH_API_USERNAME": "r"})
    assert result.returncode == 2
    for name in ("RESETBOT_REVEAL_TTL", "MOFH_API_PASSWORD", "SLACK_BOT_TOKEN", "RESETBOT_APPROVALS_CHANNEL"):
        assert name in result.stderr
    assert "Traceback" not in result.stderr


def test_check_passes_with_a_full_configuration(tmp_path, database_url):
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "RESETBOT_APPROVALS_CHANNEL": "C0APPROVALS",
           "MOFH_API_USERNAME": "r", "MOFH_API_PASSWORD": "p"}
    result = resetbot("check", db=database_url, env=env)
    assert result.returncode == 0, result.stderr
    assert "providers enabled: mofh" in result.stdout


def test_run_without_configuration_exits_2_naming_the_variables(tmp_path, database_url):
    result = resetbot("run", db=database_url)
    assert result.returncode == 2 and "SLACK_BOT_TOKEN" in result.stderr and "Traceback" not in result.stderr


def test_settings_need_a_seal_key_with_postgres():
    settings = Settings.from_env({"DATABASE_URL": "postgresql+psycopg://u@localhost/db"})
    assert any("RESETBOT_SEAL_KEY" in p for p in settings.problems)
    bad_key = Settings.from_env({"RESETBOT_SEAL_KEY": "not-a-key"})
    assert any("RESETBOT_SEAL_KEY" in p for p in bad_key.problems)


def test_run_ends_in_one_line_naming_the_seal_key_even_for_settings_made_without_from_env(tmp_path, monkeypatch,
                                                                                           capsys):
    # Settings.from_env refuses such a key (tests/test_cli_files.py); Settings made any other way met Fernet's
    # bare ValueError in build_runtime: "start-up failed: ValueError", naming nothing.
    from bot.providers.mofh import MofhSettings
    from bot.secret import Secret

    standard = "qpE0Fe7ejN2IX36rvfvK+mxoKxOXo3bdbchCq/u189w="  # standard base64 of 32 bytes
    made = Settings(database_url=f"sqlite:///{tmp_path / 'resetbot.db'}", seal_key=Secret(standard),
                    slack_bot_token=Secret("xoxb-1"), slack_app_token=Secret("xapp-1"),
                    slack_api_url="http://127.0.0.1:9/api/", approvals_channel="C0APPROVALS",
                    providers={"mofh": MofhSettings("http://127.0.0.1:9", "r", Secret("p"))})
    monkeypatch.setattr(Settings, "from_env", classmethod(lambda cls, env=None: made))
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):  # run drops them from os.environ
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["run"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("resetbot: RESETBOT_SEAL_KEY must be url-safe base64 of 32 bytes") and standard not in line


def test_settings_never_show_secrets_in_repr():
    settings = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-ZZZsentinel", "MOFH_API_USERNAME": "r",
                                  "MOFH_API_PASSWORD": "ZZZmofhsecret"})
    assert "ZZZ" not in repr(settings)


def test_unreachable_or_wrong_database_is_one_line_naming_database_url():
    closed = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    for url in (closed, "mysql://x/y"):
        result = resetbot("roles", "list", db=url)
        assert result.returncode == 2 and "DATABASE_URL" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


# --- policy show / set (docs/CONTRACT.md "Approval policy") -------------------------------------------------


def _policies_json(database_url, env=None) -> dict:
    shown = resetbot("policy", "show", "--format", "json", db=database_url, env=env)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def test_policy_show_on_a_fresh_database_gives_every_provider_the_settings_defaults(database_url):
    env = {"RESETBOT_REQUESTS_PER_HOUR": "7", "RESETBOT_APPROVAL_TTL": "900"}
    default = {"approvals": 1, "expire_after": 900, "remind_after": 0, "escalate_after": 0, "escalate_to": None,
               "requests_per_hour": 7}
    assert _policies_json(database_url, env) == {"mofh": default, "namecheap": default, "cpanel": default,
                                                  "plesk": default}
    text = resetbot("policy", "show", db=database_url, env=env)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["provider", "approvals", "expire-after", "remind-after", "escalate-after",
                                "escalate-to", "requests-per-hour"]
    assert [line.split() for line in lines[1:]] == [["mofh", "1", "15m", "off", "off", "none", "7"],
                                                    ["namecheap", "1", "15m", "off", "off", "none", "7"],
                                                    ["cpanel", "1", "15m", "off", "off", "none", "7"],
                                                    ["plesk", "1", "15m", "off", "off", "none", "7"]]
    no_cap = _policies_json(database_url, {"RESETBOT_REQUESTS_PER_HOUR": "0"})
    assert no_cap["mofh"]["requests_per_hour"] == 0 and no_cap["mofh"]["expire_after"] == 3600


def test_policy_set_changes_the_options_given_and_is_audited_with_the_os_user(database_url):
    env = {"LOGNAME": "opsperson"}  # getpass.getuser() reads LOGNAME first
    done = resetbot("policy", "set", "mofh", "--approvals", "2", "--expire-after", "15m", "--remind-after", "90s",
                    "--escalate-after", "10m", "--escalate-to", "S0LEADS01", "--requests-per-hour", "5",
                    db=database_url, env=env)
    assert done.returncode == 0, done.stderr
    assert "mofh: approvals 1 → 2" in done.stdout and "mofh: expire-after 1h → 15m" in done.stdout
    strict = {"approvals": 2, "expire_after": 900, "remind_after": 90, "escalate_after": 600,
              "escalate_to": "S0LEADS01", "requests_per_hour": 5}
    shown = _policies_json(database_url)
    assert shown["mofh"] == strict and shown["namecheap"]["approvals"] == 1
    looser = resetbot("policy", "set", "MOFH", "--requests-per-hour", "0", "--remind-after", "0", db=database_url,
                      env=env)
    assert looser.returncode == 0, looser.stderr
    assert "loosens the policy (a higher cap (5/h → no cap))" in looser.stdout
    assert _policies_json(database_url)["mofh"] == {**strict, "requests_per_hour": 0, "remind_after": 0}
    unchanged = resetbot("policy", "set", "mofh", "--approvals", "2", db=database_url, env=env)
    assert unchanged.returncode == 0 and unchanged.stdout.strip() == "mofh: no change"
    audit = [json.loads(line) for line in resetbot("audit", "export", db=database_url).stdout.splitlines()]
    changes = [e for e in audit if e["action"] == "policy_changed"]
    assert [(e["actor_id"], e["provider"]) for e in changes] == [("cli:opsperson", "mofh")] * 2
    assert changes[0]["detail"]["old"]["approvals"] == 1 and changes[0]["detail"]["new"] == strict
    assert changes[1]["detail"]["old"] == strict
    assert changes[1]["detail"]["changed"] == ["remind_after", "requests_per_hour"]


def test_policy_set_can_remove_the_escalation_target_once_escalation_is_off(database_url):
    assert resetbot("policy", "set", "namecheap", "--escalate-after", "5m", "--escalate-to", "U0LEAD0001",
                    db=database_url).returncode == 0
    refused = resetbot("policy", "set", "namecheap", "--escalate-to", "none", db=database_url)
    assert refused.returncode == 2 and "--escalate-after needs --escalate-to" in refused.stderr
    done = resetbot("policy", "set", "namecheap", "--escalate-after", "0", "--escalate-to", "none", db=database_url)
    assert done.returncode == 0, done.stderr
    assert _policies_json(database_url)["namecheap"]["escalate_to"] is None


@pytest.mark.parametrize("args, names", [
    (("aws", "--approvals", "2"), "PROVIDER"),
    (("mofh", "--approvals", "0"), "--approvals"),
    (("mofh", "--approvals", "6"), "--approvals"),
    (("mofh", "--approvals", "two"), "--approvals"),
    (("mofh", "--requests-per-hour", "-1"), "--requests-per-hour"),
    (("mofh", "--requests-per-hour", "1.5"), "--requests-per-hour"),
    (("mofh", "--expire-after", "0"), "--expire-after"),
    (("mofh", "--expire-after", "90"), "--expire-after"),
    (("mofh", "--remind-after", "1h30m"), "--remind-after"),
    (("mofh", "--remind-after", "2h"), "--remind-after"),  # not shorter than the 1 h expiry
    (("mofh", "--escalate-after", "10m"), "--escalate-to"),  # escalation to nobody
    (("mofh", "--escalate-to", "C0CHANNEL1"), "--escalate-to"),
    (("mofh", "--escalate-to", "<!subteam^S0LEADS01>"), "--escalate-to"),
    (("mofh", "--approvals"), "--approvals"),
    (("mofh", "--quorum", "2"), "--quorum"),
    ((), "PROVIDER"),
])
def test_policy_mistakes_get_one_line_naming_the_argument_and_exit_2(args, names, tmp_path):
    result = resetbot("policy", "set", *args, db=f"sqlite:///{tmp_path / 'resetbot.db'}")
    assert result.returncode == 2, result.stdout
    assert names in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_refused_policy_change_changes_nothing(database_url):
    assert resetbot("policy", "set", "mofh", "--approvals", "3", db=database_url).returncode == 0
    for mistake in (("--approvals", "2", "--remind-after", "2h"), ("--approvals", "2", "--escalate-after", "5m")):
        assert resetbot("policy", "set", "mofh", *mistake, db=database_url).returncode == 2
    assert _policies_json(database_url)["mofh"]["approvals"] == 3
    audit = resetbot("audit", "export", db=database_url).stdout
    assert [json.loads(line)["action"] for line in audit.splitlines()] == ["policy_changed"]


def test_policy_show_with_a_bad_format_is_one_line(database_url):
    result = resetbot("policy", "show", "--format", "yaml", db=database_url)
    assert result.returncode == 2 and "--format" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("raw, value", [(None, 20), ("0", 0), ("35", 35), ("1000000", 1000000)])
def test_requests_per_hour_setting(raw, value):
    settings = Settings.from_env({} if raw is None else {"RESETBOT_REQUESTS_PER_HOUR": raw})
    assert settings.requests_per_hour == value and settings.problems == ()


@pytest.mark.parametrize("raw", ["-1", "ten", "1.5", "²", "1000001", " "])
def test_a_bad_requests_per_hour_is_one_problem_naming_the_variable(raw):
    settings = Settings.from_env({"RESETBOT_REQUESTS_PER_HOUR": raw})
    if raw.strip():
        assert [p for p in settings.problems if "RESETBOT_REQUESTS_PER_HOUR" in p] == list(settings.problems)
        assert len(settings.problems) == 1
    else:  # an empty variable is an unset one, as for every other variable
        assert settings.problems == () and settings.requests_per_hour == 20


def test_policy_commands_with_a_bad_requests_per_hour_exit_2_naming_it(database_url):
    result = resetbot("policy", "show", db=database_url, env={"RESETBOT_REQUESTS_PER_HOUR": "lots"})
    assert result.returncode == 2 and "RESETBOT_REQUESTS_PER_HOUR" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
