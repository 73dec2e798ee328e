"""The cPanel plugin: settings from the environment, the Account field, the password rules, and the gateway
(execution by username or by domain, the approvers' account context, the read-only probe)."""

from __future__ import annotations

import string

import pytest

from bot.config import Settings
from bot.domain import Method
from bot.passwords import generate
from bot.providers import AMBIGUOUS, Outcome, registry
from bot.providers._http import pooled_session
from bot.providers.cpanel import account as cp_account
from bot.providers.cpanel import settings as cp_settings
from bot.providers.cpanel.gateway import CpanelGateway
from bot.providers.cpanel.passwords import CPANEL_RULES, names_in
from bot.providers.namecheap.client import InProcessCallBudget
from bot.providers.plugin import ParsedAccount
from bot.secret import Secret
from tests.providers.conftest import (
    CPANEL_API_USERNAME,
    CPANEL_DOMAIN,
    CPANEL_PASSWORD,
    CPANEL_SUCCESS,
    CPANEL_USER,
    fixture_bytes,
)
from tests.providers.test_plugins import Directory

FULL = {"CPANEL_API_URL": "https://whm.example.net:2087", "CPANEL_API_USERNAME": "resellerbot",
        "CPANEL_API_TOKEN": "9Z1K4QXW2M7R5T8Y3U6I0O9P1A2S3D4F"}
OWNER_FOUND = fixture_bytes("cpanel/getdomainowner_found.json")
OWNER_NONE = fixture_bytes("cpanel/getdomainowner_not_owned.json")
SUMMARY = fixture_bytes("cpanel/accountsummary_active.json")


# --- the plugin in the registry ---------------------------------------------------------------------


def test_the_plugin_is_cpanel_with_one_method_and_same_password_retries():
    plugin = registry.by_name("cpanel")
    assert (plugin.name, plugin.label, plugin.methods) == ("cpanel", "cPanel", (Method.SET_PASSWORD,))
    assert plugin.same_password_retry_is_safe is True and plugin.secret_inputs == {}
    assert plugin.env_variables == ("CPANEL_API_URL", "CPANEL_API_USERNAME", "CPANEL_API_TOKEN")
    assert plugin.account.label == "Account (cPanel username or domain)"
    gateway = plugin.build_gateway(cp_settings.from_env(FULL)[0], session=pooled_session(1),
                                   budget=InProcessCallBudget())
    assert isinstance(gateway, CpanelGateway) and gateway.client.db_pass_update is False


# --- settings ---------------------------------------------------------------------------------------


def test_settings_need_all_three():
    assert cp_settings.from_env({}) == (None, [])
    cfg, problems = cp_settings.from_env({k: f" {v} " for k, v in FULL.items()})
    assert problems == [] and cfg == cp_settings.CpanelSettings("https://whm.example.net:2087", "resellerbot",
                                                                Secret(FULL["CPANEL_API_TOKEN"]))
    assert isinstance(cfg.api_token, Secret) and FULL["CPANEL_API_TOKEN"] not in repr(cfg)
    assert cp_settings.from_env({"CPANEL_API_TOKEN": "t0ken"}) == (None, [
        "CPANEL_API_URL, CPANEL_API_USERNAME not set, so cPanel stays disabled (set all three or none)"])
    assert cp_settings.from_env({k: v for k, v in FULL.items() if k != "CPANEL_API_URL"}) == (None, [
        "CPANEL_API_URL not set, so cPanel stays disabled (set all three or none)"])


@pytest.mark.parametrize("url,words", [
    ("http://whm.example.net:2087", "must be https://"),
    ("https://whm.example.net:2086", "must not use port 2086"),
    ("https://whm.example.net:2083/", "must not use port 2083"),
    ("https://whm.example.net:2082", "must not use port 2082"),
    ("https://whm.example.net:2095", "must not use port 2095"),
    ("https://whm.example.net:2096/json-api", "must not use port 2096"),
    ("https://root:9Z1K4QXW@whm.example.net:2087", "must not carry a user name or password"),
    ("https://whm.example.net:2087/?api.version=1", "must not have a query string"),
])
def test_settings_refuse_an_unusable_url_naming_the_variable_never_the_value(url, words):
    cfg, problems = cp_settings.from_env({**FULL, "CPANEL_API_URL": url})
    assert cfg is None and len(problems) == 1
    assert problems[0].startswith("CPANEL_API_URL ") and words in problems[0]
    assert "9Z1K4QXW" not in problems[0] and "api.version" not in problems[0]


@pytest.mark.parametrize("url", ["https://whm.example.net:2087", "https://whm.example.net", "https://whm.example.net/",
                                 "https://whm.example.net:2087/json-api", "http://127.0.0.1:2087", "http://localhost"])
def test_settings_accept_whm_over_tls_or_a_loopback_host(url):
    assert cp_settings.from_env({**FULL, "CPANEL_API_URL": url})[1] == []


def test_settings_refuse_a_username_or_token_that_cannot_make_the_header():
    _, problems = cp_settings.from_env({**FULL, "CPANEL_API_USERNAME": "Reseller Bot",
                                        "CPANEL_API_TOKEN": "9Z1K 4QXW"})
    assert [p.split()[0] for p in problems] == ["CPANEL_API_USERNAME", "CPANEL_API_TOKEN"]
    assert not any("9Z1K" in p or "Reseller Bot" in p for p in problems)


def test_config_reads_it_and_its_token_from_a_file(tmp_path):
    (tmp_path / "token").write_text(FULL["CPANEL_API_TOKEN"] + "\n")
    env = {**FULL, "CPANEL_API_TOKEN_FILE": str(tmp_path / "token")}
    del env["CPANEL_API_TOKEN"]
    settings = Settings.from_env(env)
    assert settings.enabled_providers == ["cpanel"] and settings.problems == ()
    assert settings.providers["cpanel"].api_token.reveal() == FULL["CPANEL_API_TOKEN"]
    assert FULL["CPANEL_API_TOKEN"] not in repr(settings)


# --- the Account field ------------------------------------------------------------------------------


@pytest.mark.parametrize("typed,account", [
    ("acmeshop", "acmeshop"), (" acme_shop-1 ", "acme_shop-1"), ("a", "a"), ("1acme.x-y", "1acme.x-y"),
    ("acmeshop.example", "acmeshop.example"), ("AcmeShop.Example.", "acmeshop.example"),
    ("blog.acmeshop.example", "blog.acmeshop.example"), ("xn--80ak6aa92e.xn--p1ai", "xn--80ak6aa92e.xn--p1ai"),
])
def test_the_field_takes_a_username_as_typed_or_a_domain_in_lower_case(typed, account):
    directory = Directory()
    assert cp_account.parse(typed, directory) == ParsedAccount(account)
    assert directory.asked == []  # no directory: WHM itself says who owns a domain


@pytest.mark.parametrize("typed,words", [
    ("", "Enter the cPanel username or one of the account's domains."),
    ("AcmeShop", "cPanel usernames are lower case: enter acmeshop."),
    ("root", "root is a system account"), ("nobody", "nobody is a system account"),
    ("-acme", "A cPanel username is 1 to 16"), (".acme", "A cPanel username is 1 to 16"),
    ("a" * 17, "A cPanel username is 1 to 16"), ("acme shop", "A cPanel username is 1 to 16"),
    ("acme&user=root", "A cPanel username is 1 to 16"), ("<!channel>", "A cPanel username is 1 to 16"),
    ("\u212aelvin", "ASCII"), ("acme\u00a0shop", "ASCII"),
])
def test_the_field_refuses_what_the_client_would_refuse(typed, words):
    parsed = cp_account.parse(typed, Directory())
    assert parsed.error is not None and words in parsed.error


def test_the_field_and_the_client_agree(server, make_cpanel):
    server.set_default(200, CPANEL_SUCCESS)
    client = make_cpanel()
    for typed in ("acmeshop", "acme_shop-1", "root", "-acme", "a" * 17, "AcmeShop", "acme&x", "1acme.x-y"):
        accepted = cp_account.parse(typed, Directory()).ok
        sent = client.change_password(typed, CPANEL_PASSWORD).outcome is not Outcome.INVALID_USERNAME
        assert accepted is sent, typed


# --- the password the bot generates -----------------------------------------------------------------


def test_generated_passwords_keep_cpanels_rules():
    for account in ("acmeshop", "a", "ab", "acmeshop.example", "ab.example"):
        for _ in range(300):
            value = generate(CPANEL_RULES, account=account).reveal()
            assert len(value) == 20 and set(value) <= set(string.ascii_letters + string.digits)
            assert any(c.islower() for c in value) and any(c.isupper() for c in value)
            assert any(c.isdigit() for c in value)
            assert not any(name.casefold() in value.casefold() for name in names_in(account))
            assert CPANEL_RULES.check(value, account=account) is None


def test_the_names_kept_out_for_a_username_and_for_a_domain():
    assert names_in("acmeshop") == ("acmeshop",)
    assert names_in("acmeshop.example") == ("acmeshop",)
    assert names_in("verylongshopname.example") == ("verylongshopname", "verylong")  # cPanel's default: 8
    assert names_in("my-shop.example") == ("myshop",)


# --- the gateway ------------------------------------------------------------------------------------


@pytest.fixture
def gateway(make_cpanel):
    return CpanelGateway(make_cpanel())


def test_execute_by_username_is_one_passwd(server, gateway):
    server.set_default(200, CPANEL_SUCCESS)
    result = gateway.execute(account=CPANEL_USER, method=Method.SET_PASSWORD, new_password=Secret(CPANEL_PASSWORD),
                             secret_input=None)
    assert (result.outcome, result.attempts) == (Outcome.CHANGED, 1)
    assert [r.path for r in server.requests] == ["/json-api/passwd"]


def test_execute_by_domain_asks_the_owner_right_before_passwd(server, gateway):
    server.enqueue(200, OWNER_FOUND)
    server.enqueue(200, CPANEL_SUCCESS)
    result = gateway.execute(account=CPANEL_DOMAIN, method=Method.SET_PASSWORD, new_password=Secret(CPANEL_PASSWORD),
                             secret_input=None)
    assert (result.outcome, result.attempts) == (Outcome.CHANGED, 2)  # every request sent, the question included
    assert result.message == "cPanel changed the password of account acmeshop, the owner of acmeshop.example."
    owner, passwd = server.requests
    assert (owner.path, owner.form) == ("/json-api/getdomainowner", {"api.version": ["1"], "domain": [CPANEL_DOMAIN]})
    assert (passwd.path, passwd.form["user"]) == ("/json-api/passwd", [CPANEL_USER])


def test_a_domain_that_names_nobody_is_refused_with_nothing_changed(server, gateway):
    server.set_default(200, OWNER_NONE)
    result = gateway.execute(account=CPANEL_DOMAIN, method=Method.SET_PASSWORD, new_password=Secret(CPANEL_PASSWORD),
                             secret_input=None)
    assert (result.outcome, result.reason, result.certainty, result.attempts) == (
        Outcome.ACCOUNT_NOT_FOUND, "domain_not_found", AMBIGUOUS, 1)
    assert "the new password was not sent" in result.message and not result.retryable
    assert [r.path for r in server.requests] == ["/json-api/getdomainowner"]


@pytest.mark.parametrize("owner", ["root", CPANEL_API_USERNAME, "cpanel"])
def test_a_domain_of_root_a_system_user_or_the_tokens_own_account_is_refused_before_passwd(server, gateway, owner):
    server.set_default(200, b'{"data":{"user":"%s"},"metadata":{"command":"getdomainowner","result":1}}'
                       % owner.encode())
    result = gateway.execute(account=CPANEL_DOMAIN, method=Method.SET_PASSWORD, new_password=Secret(CPANEL_PASSWORD),
                             secret_input=None)
    assert (result.outcome, result.attempts) == (Outcome.INVALID_USERNAME, 1)
    assert owner in result.message and "the new password was not sent" in result.message
    assert [r.path for r in server.requests] == ["/json-api/getdomainowner"]


def test_a_password_holding_the_resolved_username_is_refused_before_passwd(server, gateway):
    server.set_default(200, OWNER_FOUND)
    result = gateway.execute(account=CPANEL_DOMAIN, method=Method.SET_PASSWORD,
                             new_password=Secret("Xq7vACMESHOPk3Hs1234"), secret_input=None)
    assert (result.outcome, result.reason, result.attempts) == (Outcome.INVALID_PASSWORD, "contains_username", 1)
    assert [r.path for r in server.requests] == ["/json-api/getdomainowner"]


@pytest.mark.parametrize("answer,expected", [
    (dict(status=503, body=b"down"), (Outcome.PROVIDER_UNAVAILABLE, True, 2, AMBIGUOUS)),
    (dict(status=401, body=b"Access denied"), (Outcome.AUTH_FAILED, False, 1, None)),
    (dict(status=200, body=b"<html>login</html>"), (Outcome.UNKNOWN, True, 1, AMBIGUOUS)),
    (dict(status=200, body=b'{"metadata":{"command":"getdomainowner","result":0,"reason":"Oops"}}'),
     (Outcome.PROVIDER_ERROR, False, 1, None)),
])
def test_an_owner_lookup_that_fails_sends_no_password_and_reads_as_passwd_would(server, gateway, answer, expected):
    """The same trouble on passwd itself would give these outcomes: a retry of a call whose answer was lost
    (the workflow repeats it with the same password) is then never recorded as a plain failure."""
    server.set_default(**answer)
    result = gateway.execute(account=CPANEL_DOMAIN, method=Method.SET_PASSWORD, new_password=Secret(CPANEL_PASSWORD),
                             secret_input=None)
    assert (result.outcome, result.retryable, result.attempts, result.certainty) == expected
    assert "the new password was not sent" in result.message and not result.ok
    assert all(r.path == "/json-api/getdomainowner" for r in server.requests)


def test_execute_refuses_other_methods(server, gateway):
    result = gateway.execute(account=CPANEL_USER, method=Method.EMAIL_LINK, new_password=None, secret_input=None)
    assert (result.outcome, result.attempts) == (Outcome.BAD_REQUEST, 0)
    assert server.requests == []


def test_account_context_by_username_and_by_domain(server, gateway):
    server.set_default(200, SUMMARY)
    by_name = gateway.account_context(CPANEL_USER)
    assert (by_name.outcome, by_name.username, by_name.domains, by_name.account_state, by_name.email) == (
        Outcome.LOOKUP_OK, CPANEL_USER, [CPANEL_DOMAIN], "ACTIVE", "owner@acmeshop.example")
    server.enqueue(200, OWNER_FOUND)
    server.enqueue(200, fixture_bytes("cpanel/accountsummary_suspended.json"))
    by_domain = gateway.account_context(CPANEL_DOMAIN)
    assert (by_domain.outcome, by_domain.username, by_domain.account_state) == (Outcome.LOOKUP_OK, CPANEL_USER,
                                                                                  "SUSPENDED")
    assert by_domain.message == "acmeshop.example belongs to cPanel account acmeshop (SUSPENDED)."
    assert [r.path.rsplit("/", 1)[1] for r in server.requests] == ["accountsummary", "getdomainowner",
                                                                   "accountsummary"]
    assert all(r.form.keys() <= {"api.version", "user", "domain"} for r in server.requests)  # read-only calls


def test_account_context_of_a_domain_nobody_owns_is_empty_after_one_call(server, gateway):
    server.set_default(200, OWNER_NONE)
    result = gateway.account_context(CPANEL_DOMAIN)
    assert (result.outcome, result.username, len(server.requests)) == (Outcome.LOOKUP_EMPTY, None, 1)


@pytest.mark.parametrize("email,shown", [("owner@acmeshop.example", "owner@acmeshop.example"), ("*unknown*", None),
                                         ("", None), (None, None), ("a b@c", None)])
def test_the_contact_address_is_kept_only_when_it_looks_like_one(server, gateway, email, shown):
    body = SUMMARY.replace(b'"owner@acmeshop.example"', b"null" if email is None else f'"{email}"'.encode())
    server.set_default(200, body)
    assert gateway.account_context(CPANEL_USER).email == shown


@pytest.mark.parametrize("suspended,state", [(b"0", "ACTIVE"), (b'"0"', "ACTIVE"), (b"1", "SUSPENDED"),
                                             (b'"1"', "SUSPENDED"), (b"true", None), (b'"yes"', None), (b"null", None)])
def test_the_account_state(server, gateway, suspended, state):
    server.set_default(200, SUMMARY.replace(b'"suspended":0', b'"suspended":' + suspended))
    assert gateway.account_context(CPANEL_USER).account_state == state


def test_probe_asks_the_tokens_own_summary(server, gateway):
    server.set_default(200, fixture_bytes("cpanel/accountsummary_not_found.json"))
    probe = gateway.probe()
    assert probe.outcome is Outcome.LOOKUP_EMPTY and "the token works" in probe.message  # root: no cPanel account
    (request,) = server.requests
    assert (request.path, request.form) == ("/json-api/accountsummary",
                                            {"api.version": ["1"], "user": [CPANEL_API_USERNAME]})
    server.set_default(200, SUMMARY.replace(b'"user":"acmeshop"', b'"user":"resellerbot"'))
    assert gateway.probe().outcome is Outcome.LOOKUP_OK
    server.set_default(403, b"Forbidden")
    assert gateway.probe().outcome is Outcome.AUTH_FAILED
