"""Settings for operating the bot (issue 11): secrets from NAME_FILE, several seal keys, the log format and the
health port; and the fixed vocabulary refusals are counted under (bot/metrics.py)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from bot import metrics
from bot.config import FILE_VARIABLES, Settings

BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "RESETBOT_APPROVALS_CHANNEL": "C0APPROVALS",
        "MOFH_API_USERNAME": "r", "MOFH_API_PASSWORD": "p"}


@pytest.mark.parametrize("name", FILE_VARIABLES)
def test_each_secret_is_read_from_its_file_with_the_trailing_newline_dropped(tmp_path, name):
    values = {"SLACK_BOT_TOKEN": "xoxb-from-file", "SLACK_APP_TOKEN": "xapp-from-file",
              "SLACK_SIGNING_SECRET": "signing-from-file", "DATABASE_URL": f"sqlite:///{tmp_path / 'f.db'}",
              "RESETBOT_SEAL_KEY": Fernet.generate_key().decode(), "MOFH_API_PASSWORD": "mofh-from-file",
              "NAMECHEAP_API_KEY": "nc-from-file", "CPANEL_API_TOKEN": "CPANELTOKENFROMFILE0123456789ABC"}
    (tmp_path / "secret").write_text(values[name] + "\n")
    env = {k: v for k, v in BASE.items() if k != name} | {f"{name}_FILE": str(tmp_path / "secret")}
    if name == "NAMECHEAP_API_KEY":
        env |= {"NAMECHEAP_API_USER": "u", "NAMECHEAP_CLIENT_IP": "127.0.0.1"}
    if name == "CPANEL_API_TOKEN":
        env |= {"CPANEL_API_URL": "https://whm.example.net:2087", "CPANEL_API_USERNAME": "resellerbot"}
    settings = Settings.from_env(env)
    assert settings.problems == ()
    read = {"SLACK_BOT_TOKEN": settings.slack_bot_token, "SLACK_APP_TOKEN": settings.slack_app_token,
            "SLACK_SIGNING_SECRET": settings.slack_signing_secret, "DATABASE_URL": settings.database_url,
            "RESETBOT_SEAL_KEY": settings.seal_key,
            "MOFH_API_PASSWORD": getattr(settings.providers.get("mofh"), "api_password", None),
            "NAMECHEAP_API_KEY": getattr(settings.providers.get("namecheap"), "api_key", None),
            "CPANEL_API_TOKEN": getattr(settings.providers.get("cpanel"), "api_token", None)}[name]
    assert (read if isinstance(read, str) else read.reveal()) == values[name]


def test_both_set_and_an_unreadable_file_are_problems_naming_the_variable(tmp_path):
    (tmp_path / "token").write_text("xoxb-2\n")
    both = Settings.from_env(BASE | {"SLACK_BOT_TOKEN_FILE": str(tmp_path / "token")})
    assert both.problems == ("SLACK_BOT_TOKEN and SLACK_BOT_TOKEN_FILE are both set: set one of them",)
    gone = Settings.from_env({k: v for k, v in BASE.items() if k != "SLACK_BOT_TOKEN"}
                             | {"SLACK_BOT_TOKEN_FILE": str(tmp_path / "absent")})
    assert gone.problems[0].startswith(f"SLACK_BOT_TOKEN_FILE: cannot read {tmp_path / 'absent'}")


def test_several_comma_separated_seal_keys_are_accepted_and_a_bad_one_is_named():
    keys = f"{Fernet.generate_key().decode()}, {Fernet.generate_key().decode()}"
    assert Settings.from_env(BASE | {"RESETBOT_SEAL_KEY": keys}).problems == ()
    bad = Settings.from_env(BASE | {"RESETBOT_SEAL_KEY": keys + ",nope"}).problems
    assert len(bad) == 1 and bad[0].startswith("RESETBOT_SEAL_KEY must be")


def test_log_format_and_health_port():
    settings = Settings.from_env(BASE | {"RESETBOT_LOG_FORMAT": "JSON", "RESETBOT_HEALTH_PORT": "9102"})
    assert (settings.log_format, settings.health_port, settings.problems) == ("json", 9102, ())
    assert Settings.from_env(BASE).health_port is None and Settings.from_env(BASE).log_format == "text"
    assert Settings.from_env(BASE | {"RESETBOT_LOG_FORMAT": "xml"}).problems[0].startswith("RESETBOT_LOG_FORMAT")


@pytest.mark.parametrize(("sentence", "reason"), [
    ("You asked for this reset, so you can't approve it: another approver has to.", "self_decision"),
    ("You don't have the approver role for MyOwnFreeHost, so you can't deny this request.", "no_role"),
    ("You no longer have the requester role for Namecheap, so the password can't be revealed to you.", "no_role"),
    ("This request was already decided by <@U0X>: it is expired.", "already_decided"),
    ("This request expired before anyone approved it. The requester can ask again.", "expired"),
    ("This password was already revealed; it is shown only once.", "already_used"),
    ("The reveal window has passed and the password was destroyed. Ask for a new reset.", "expired"),
    ("Only the engineer who asked for this reset can reveal the password.", "not_requester"),
    ("You already approved this request. It needs 1 more approval, from another approver.", "already_approved"),
    ("Slack could not tell whether you are a member of the user group S0X, which holds the role", "groups_unavailable"),
    ("hourly cap", "hourly_cap"),
    ("Something nobody wrote yet, for U0SECRET and webq7k2m", "other"),
])
def test_refusals_are_counted_under_a_fixed_reason_never_their_sentence(sentence, reason):
    assert metrics.refusal_reason(sentence) == reason
    assert reason in {r for r, _ in metrics.REFUSAL_REASONS} | {metrics.OTHER}
