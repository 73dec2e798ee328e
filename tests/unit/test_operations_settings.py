"""Settings for operating the bot (issue 11): secrets from NAME_FILE, several seal keys, the log format and the
health port; and the fixed vocabulary refusals are counted under (bot/metrics.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet

from bot import metrics, policy
from bot.config import FILE_VARIABLES, Settings
from bot.domain import Method, RefusalCode, Role, Status
from tests.unit.test_words import NOW, view

BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "RESETBOT_APPROVALS_CHANNEL": "C0APPROVALS",
        "MOFH_API_USERNAME": "r", "MOFH_API_PASSWORD": "p"}


@pytest.mark.parametrize("name", FILE_VARIABLES)
def test_each_secret_is_read_from_its_file_with_the_trailing_newline_dropped(tmp_path, name):
    values = {"SLACK_BOT_TOKEN": "xoxb-from-file", "SLACK_APP_TOKEN": "xapp-from-file",
              "SLACK_SIGNING_SECRET": "signing-from-file", "DATABASE_URL": f"sqlite:///{tmp_path / 'f.db'}",
              "RESETBOT_SEAL_KEY": Fernet.generate_key().decode(), "MOFH_API_PASSWORD": "mofh-from-file",
              "NAMECHEAP_API_KEY": "nc-from-file"}
    (tmp_path / "secret").write_text(values[name] + "\n")
    env = {k: v for k, v in BASE.items() if k != name} | {f"{name}_FILE": str(tmp_path / "secret")}
    if name == "NAMECHEAP_API_KEY":
        env |= {"NAMECHEAP_API_USER": "u", "NAMECHEAP_CLIENT_IP": "127.0.0.1"}
    settings = Settings.from_env(env)
    assert settings.problems == ()
    read = {"SLACK_BOT_TOKEN": settings.slack_bot_token, "SLACK_APP_TOKEN": settings.slack_app_token,
            "SLACK_SIGNING_SECRET": settings.slack_signing_secret, "DATABASE_URL": settings.database_url,
            "RESETBOT_SEAL_KEY": settings.seal_key,
            "MOFH_API_PASSWORD": getattr(settings.providers.get("mofh"), "api_password", None),
            "NAMECHEAP_API_KEY": getattr(settings.providers.get("namecheap"), "api_key", None)}[name]
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


PENDING, ENGINEER_ID = view(Status.PENDING, None, Method.SET_PASSWORD), "U0ENGINEER1"


@pytest.mark.parametrize(("decision", "code"), [
    (policy.can_decide(ENGINEER_ID, {Role.APPROVER}, PENDING, NOW, "approve", provider_label="MyOwnFreeHost"),
     RefusalCode.SELF_DECISION),
    (policy.can_decide("U0OTHER0001", set(), PENDING, NOW, "deny", provider_label="MyOwnFreeHost"), RefusalCode.NO_ROLE),
    (policy.can_decide("U0OTHER0001", {Role.APPROVER}, PENDING, NOW + timedelta(hours=2), "approve",
                       provider_label="MyOwnFreeHost"), RefusalCode.EXPIRED),
    (policy.can_reveal("U0OTHER0001", PENDING, NOW), RefusalCode.NOT_REQUESTER),
    (policy.can_request(set(), "Namecheap"), RefusalCode.NO_ROLE),
])
def test_refusals_are_counted_under_a_fixed_code_never_their_sentence(decision, code):
    """Issue 21 item 5: the metric's reason label comes from the code each refusal carries, not from its words
    (which change with every rewording)."""
    assert not decision.allowed and decision.code is code
    before = metrics.REFUSALS.labels("approve", code.value)._value.get()
    metrics.count_refusal("approve_refused", decision.code)
    assert metrics.REFUSALS.labels("approve", code.value)._value.get() == before + 1
    assert not hasattr(metrics, "refusal_reason")  # nothing reads the sentence any more
