"""The Plesk plugin: settings from the environment, the account field, the password it draws, and its gateway."""

from __future__ import annotations

import string

import pytest

from bot.config import Settings
from bot.domain import Method
from bot.passwords import generate
from bot.providers import LookupResult, Outcome, registry
from bot.providers._http import pooled_session
from bot.providers.namecheap import InProcessCallBudget
from bot.providers.plesk import account, settings
from bot.providers.plesk.client import _login_refusal, _password_problem
from bot.providers.plesk.gateway import PleskGateway
from bot.providers.plesk.passwords import PLESK_RULES, PLESK_SPECIALS
from bot.providers.plugin import ParsedAccount
from bot.secret import Secret
from tests.providers.conftest import PLESK_GET_ACTIVE, PLESK_LOGIN, PLESK_PASSWORD, PLESK_SET_SUCCESS
from tests.providers.test_plugins import Directory

URL = "https://plesk.example:8443"


# --- settings ----------------------------------------------------------------------------------------


def test_login_and_password_or_a_key_enable_plesk():
    assert settings.from_env({}) == (None, [])
    cfg, problems = settings.from_env({"PLESK_API_URL": URL, "PLESK_API_LOGIN": " admin ", "PLESK_API_PASSWORD": "p"})
    assert problems == [] and cfg == settings.PleskSettings(URL, login="admin", password=Secret("p"))
    cfg, problems = settings.from_env({"PLESK_API_URL": URL, "PLESK_API_KEY": "k"})
    assert problems == [] and cfg == settings.PleskSettings(URL, secret_key=Secret("k"))
    assert isinstance(cfg.secret_key, Secret)


@pytest.mark.parametrize("env,named", [
    ({"PLESK_API_KEY": "k", "PLESK_API_LOGIN": "admin"}, ("PLESK_API_KEY", "PLESK_API_LOGIN")),
    ({"PLESK_API_KEY": "k", "PLESK_API_PASSWORD": "p"}, ("PLESK_API_KEY", "PLESK_API_PASSWORD")),
    ({"PLESK_API_KEY": "k", "PLESK_API_LOGIN": "admin", "PLESK_API_PASSWORD": "p"},
     ("PLESK_API_KEY", "PLESK_API_LOGIN", "PLESK_API_PASSWORD")),
    ({"PLESK_API_LOGIN": "admin"}, ("PLESK_API_PASSWORD",)),
    ({"PLESK_API_PASSWORD": "p"}, ("PLESK_API_LOGIN",)),
    ({}, ("PLESK_API_LOGIN", "PLESK_API_PASSWORD", "PLESK_API_KEY")),
])
def test_mixed_or_half_credentials_are_a_problem_naming_them(env, named):
    cfg, problems = settings.from_env({"PLESK_API_URL": URL, **env})
    assert cfg is None and len(problems) == 1
    assert all(name in problems[0] for name in named) and "Plesk stays disabled" in problems[0]
    assert "ZZZ" not in problems[0]


def test_credentials_without_a_url_or_a_bad_url_are_problems():
    cfg, problems = settings.from_env({"PLESK_API_KEY": "ZZZkey"})
    assert cfg is None and problems == ["PLESK_API_URL is not set, so Plesk stays disabled (set it to https://HOST:8443)"]
    for bad in ("http://plesk.example:8880", "https://u:ZZZpw@plesk.example:8443", "ftp://plesk.example"):
        cfg, problems = settings.from_env({"PLESK_API_URL": bad, "PLESK_API_KEY": "ZZZkey"})
        assert cfg is None and len(problems) == 1 and problems[0].startswith("PLESK_API_URL ")
        assert "ZZZ" not in problems[0]
    cfg, problems = settings.from_env({"PLESK_API_URL": "http://127.0.0.1:8443", "PLESK_API_KEY": "k"})
    assert problems == [] and cfg is not None  # http:// to loopback only


def test_a_credential_with_a_control_character_is_a_problem():
    cfg, problems = settings.from_env({"PLESK_API_URL": URL, "PLESK_API_LOGIN": "admin",
                                       "PLESK_API_PASSWORD": "ZZZpw\r\nX-Evil: 1"})
    assert cfg is None and problems[0].startswith("PLESK_API_PASSWORD holds") and "ZZZ" not in problems[0]


def test_config_reads_plesk_through_the_registry_and_its_files(tmp_path):
    key_file = tmp_path / "plesk-key"
    key_file.write_text("from-file-key\n")
    loaded = Settings.from_env({"PLESK_API_URL": URL, "PLESK_API_KEY_FILE": str(key_file)})
    assert loaded.enabled_providers == ["plesk"] and loaded.problems == ()
    assert loaded.providers["plesk"].secret_key.reveal() == "from-file-key"
    assert "from-file-key" not in repr(loaded)
    mixed = Settings.from_env({"PLESK_API_URL": URL, "PLESK_API_KEY": "k", "PLESK_API_LOGIN": "admin"})
    assert mixed.enabled_providers == [] and any("PLESK_API_KEY is set together with PLESK_API_LOGIN" in p for p in mixed.problems)


def test_the_plugin_builds_a_gateway_for_either_credential_set():
    plugin = registry.by_name("plesk")
    assert plugin is not None and plugin.label == "Plesk" and plugin.methods == (Method.SET_PASSWORD,)
    for cfg in (settings.PleskSettings(URL, login="admin", password=Secret("p")),
                settings.PleskSettings(URL, secret_key=Secret("k"))):
        gateway = plugin.build_gateway(cfg, session=pooled_session(1), budget=InProcessCallBudget())
        assert isinstance(gateway, PleskGateway) and gateway.client.agent_url == URL + "/enterprise/control/agent.php"
        assert gateway.same_password_retry_is_safe is True and gateway.rules is PLESK_RULES


# --- the account field -----------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["jdoe42", " jdoe42 ", "J.Doe-42_x", "jane@example.org", "a", "a+b", "9" * 64])
def test_logins_the_field_accepts(typed):
    assert account.parse(typed, Directory()) == ParsedAccount(typed.strip())


@pytest.mark.parametrize("typed", ["-jdoe", "_jdoe", "jd oe", "a<!channel>", "jd&oe", "jd`oe`", "*bold*", "a" * 65,
                                   "jdoe:x", "jd'oe"])
def test_logins_the_field_refuses_with_a_sentence(typed):
    parsed = account.parse(typed, Directory())
    assert parsed.error is not None and parsed.error.startswith("A Plesk customer login this bot takes")


def test_the_field_refuses_look_alikes_and_empty():
    assert "ASCII" in account.parse("jdoe\u212a42", Directory()).error
    assert account.parse("  ", Directory()).error == "Enter the Plesk customer login."


@pytest.mark.parametrize("typed", ["jdoe42", "J.Doe-42_x", "jane@example.org", "a", "a+b", "9" * 64, "jd&oe",
                                   "a<!channel>", "-jdoe", "jd oe", "a" * 65, "jdoe42\n"])
def test_whatever_the_field_accepts_the_client_sends(typed):
    if account.parse(typed, Directory()).ok:
        assert _login_refusal(account.parse(typed, Directory()).account) is None


# --- the password drawn for Plesk ---------------------------------------------------------------------------


def test_the_drawn_password_passes_very_strong_and_the_clients_hard_rules():
    for _ in range(300):
        value = generate(PLESK_RULES, account=PLESK_LOGIN).reveal()
        assert len(value) == 20 and set(value) <= set(string.ascii_letters + string.digits + PLESK_SPECIALS)
        for cls in (string.ascii_uppercase, string.ascii_lowercase, string.digits, PLESK_SPECIALS):
            assert sum(ch in cls for ch in value) >= 2
        assert _password_problem(value, PLESK_LOGIN) is None
        assert PLESK_RULES.check(value, account=PLESK_LOGIN) is None


def test_the_drawn_password_never_holds_even_a_short_login():
    for _ in range(300):
        assert "a" not in generate(PLESK_RULES, account="A").reveal().lower()


# --- the gateway ---------------------------------------------------------------------------------------------


def test_the_gateway_sets_the_password_and_gives_approvers_the_customers_state(server, make_plesk):
    gateway = PleskGateway(make_plesk())
    server.set_default(200, PLESK_SET_SUCCESS)
    changed = gateway.execute(account=PLESK_LOGIN, method=Method.SET_PASSWORD, new_password=Secret(PLESK_PASSWORD),
                              secret_input=None)
    assert changed.outcome is Outcome.CHANGED and changed.user_id == "1187"
    server.set_default(200, PLESK_GET_ACTIVE)
    context = gateway.account_context(PLESK_LOGIN)
    assert isinstance(context, LookupResult)
    assert (context.outcome, context.username, context.account_state, context.account_status) == (
        Outcome.LOOKUP_OK, PLESK_LOGIN, "ACTIVE", "0")
    server.set_default(200, b"<packet><customer><get><result><status>error</status><errcode>1013</errcode>"
                            b"</result></get></customer></packet>")
    assert gateway.probe().ok
    assert len(server.requests) == 3


def test_the_gateway_refuses_what_it_cannot_do_without_sending(server, make_plesk):
    gateway = PleskGateway(make_plesk())
    for method in (Method.EMAIL_LINK, Method.RESET_CODE, Method.CURRENT_PASSWORD):
        result = gateway.execute(account=PLESK_LOGIN, method=method, new_password=Secret(PLESK_PASSWORD),
                                 secret_input=Secret("x"))
        assert (result.outcome, result.attempts) == (Outcome.BAD_REQUEST, 0)
    assert gateway.execute(account=PLESK_LOGIN, method=Method.SET_PASSWORD, new_password=None,
                           secret_input=None).outcome is Outcome.BAD_REQUEST
    assert gateway.account_context("") is None and gateway.account_context("jd oe") is None
    assert server.requests == []
