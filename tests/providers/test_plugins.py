"""The built-in provider plugins: registry, settings from the environment, account fields, one set of rules.

The account patterns in `bot/providers/<name>/account.py` are the ones the clients check
before sending; these tests hold the field and the client to the same answers.
"""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.domain import Method
from bot.providers import Outcome, registry
from bot.providers._http import pooled_session
from bot.providers.mofh import account as mofh_account
from bot.providers.mofh import settings as mofh_settings
from bot.providers.mofh.gateway import MofhGateway
from bot.providers.namecheap import account as nc_account
from bot.providers.namecheap import settings as nc_settings
from bot.providers.namecheap.client import InProcessCallBudget
from bot.providers.namecheap.gateway import NamecheapGateway
from bot.providers.plugin import ParsedAccount
from bot.secret import Secret
from tests.providers.conftest import MOFH_PASSWORD, MOFH_SUCCESS, NC_SUCCESS


class Directory:
    def __init__(self, vpanel: dict[str, str] | None = None, domains: dict[str, str] | None = None) -> None:
        self.vpanel, self.domains = vpanel or {}, domains or {}
        self.asked: list[str] = []

    def key_for_vpanel_username(self, vpanel_username: str) -> str | None:
        self.asked.append(vpanel_username)
        return self.vpanel.get(vpanel_username.lower())

    def key_for_domain(self, domain: str) -> str | None:
        self.asked.append(domain)
        return self.domains.get(domain.lower())


# --- registry --------------------------------------------------------------------------------------

ALTERNATIVE_CREDENTIALS = ("PLESK_API_KEY",)


def test_the_registry_lists_the_providers_in_modal_order():
    assert registry.names() == ("mofh", "namecheap", "cpanel", "plesk")
    assert [p.label for p in registry.plugins()] == ["MyOwnFreeHost", "Namecheap", "cPanel", "Plesk"]
    assert registry.by_name("namecheap") is registry.PLUGINS[1]
    assert registry.by_name("directadmin") is None


@pytest.mark.parametrize("plugin", registry.PLUGINS, ids=lambda p: p.name)
def test_each_plugin_is_consistent_with_its_gateway_and_its_description(plugin):
    # The gateways' attributes and the description the transports see (bot/domain.py: ProviderInfo)
    # must agree with the plugin.
    assert (plugin.info.name, plugin.info.label) == (plugin.name, plugin.label)
    assert plugin.account.label.startswith("Account")  # labels may add words after "Account", no more
    assert set(plugin.secret_inputs) <= set(plugin.methods)
    assert all(env.startswith(plugin.name.upper() + "_") for env in plugin.env_variables)
    # A provider taking one of two credential sets gets the first (Plesk: a login and password, not the key).
    env = {name: "x" for name in plugin.env_variables if name not in ALTERNATIVE_CREDENTIALS}
    env.update({name: "203.0.113.10" for name in plugin.env_variables if name.endswith("_IP")})
    env.update({name: "https://api.example/xml.response" for name in plugin.env_variables if name.endswith("_URL")})
    cfg, problems = plugin.settings_from_env(env)
    assert problems == [] and cfg is not None
    gateway = plugin.build_gateway(cfg, session=pooled_session(1), budget=InProcessCallBudget())
    assert gateway.provider == plugin.name
    assert gateway.rules is plugin.password_rules
    assert gateway.same_password_retry_is_safe is plugin.same_password_retry_is_safe


def test_methods_and_secret_inputs():
    mofh, namecheap = registry.by_name("mofh"), registry.by_name("namecheap")
    assert mofh.methods == (Method.SET_PASSWORD,) and mofh.secret_inputs == {}
    assert mofh.method_from(None) is Method.SET_PASSWORD and mofh.method_from("email_link") is Method.SET_PASSWORD
    assert namecheap.default_method is Method.EMAIL_LINK
    assert namecheap.method_from(None) is None and namecheap.method_from("set_password") is None
    assert namecheap.method_from("reset_code") is Method.RESET_CODE
    assert namecheap.method_error == "Choose how to reset the Namecheap password."
    assert namecheap.secret_input_for(Method.EMAIL_LINK) is None
    assert [namecheap.secret_input_for(m).label for m in (Method.RESET_CODE, Method.CURRENT_PASSWORD)] == [
        "Reset code", "Current password"]


# --- settings from the environment ------------------------------------------------------------------


def test_mofh_settings_need_both_credentials():
    assert mofh_settings.from_env({}) == (None, [])
    cfg, problems = mofh_settings.from_env({"MOFH_API_USERNAME": " r ", "MOFH_API_PASSWORD": "p"})
    assert problems == [] and cfg == mofh_settings.MofhSettings("https://panel.myownfreehost.net", "r", Secret("p"))
    assert isinstance(cfg.api_password, Secret)
    cfg, _ = mofh_settings.from_env({"MOFH_API_URL": "https://mofh.example", "MOFH_API_USERNAME": "r",
                                     "MOFH_API_PASSWORD": "p"})
    assert cfg.api_url == "https://mofh.example"
    assert mofh_settings.from_env({"MOFH_API_USERNAME": "r"}) == (
        None, ["MOFH_API_PASSWORD is not set, so MyOwnFreeHost stays disabled (set both or neither)"])
    assert mofh_settings.from_env({"MOFH_API_PASSWORD": "p", "MOFH_API_USERNAME": "  "}) == (
        None, ["MOFH_API_USERNAME is not set, so MyOwnFreeHost stays disabled (set both or neither)"])


def test_namecheap_settings_need_all_three():
    full = {"NAMECHEAP_API_USER": "u", "NAMECHEAP_API_KEY": "k", "NAMECHEAP_CLIENT_IP": "203.0.113.10"}
    cfg, problems = nc_settings.from_env(full)
    assert problems == [] and cfg == nc_settings.NamecheapSettings(
        "https://api.namecheap.com/xml.response", "u", Secret("k"), "203.0.113.10")
    assert nc_settings.from_env({"NAMECHEAP_API_KEY": "k"}) == (None, [
        "NAMECHEAP_API_USER, NAMECHEAP_CLIENT_IP not set, so Namecheap stays disabled (set all three or none)"])
    assert nc_settings.from_env({"NAMECHEAP_API_URL": "https://nc.example/xml.response"}) == (None, [])


def test_settings_keep_each_enabled_provider_under_its_name():
    mofh = mofh_settings.MofhSettings("https://mofh.example", "r", Secret("p"))
    settings = Settings.from_env({"MOFH_API_USERNAME": "r", "MOFH_API_PASSWORD": "p", "NAMECHEAP_API_KEY": "k"})
    assert settings.enabled_providers == ["mofh"]
    assert settings.problems == (
        "NAMECHEAP_API_USER, NAMECHEAP_CLIENT_IP not set, so Namecheap stays disabled (set all three or none)",)
    assert Settings(providers={"mofh": mofh}).providers == {"mofh": mofh}
    with pytest.raises(TypeError):
        Settings(mofh=mofh)  # type: ignore[call-arg]  # the per-provider keywords are gone: providers= only


# --- the MyOwnFreeHost account field -----------------------------------------------------------------


def test_mofh_account_key_passes_as_typed():
    directory = Directory()
    assert mofh_account.parse(" webq7k2m ", directory) == ParsedAccount("webq7k2m")
    assert directory.asked == []


@pytest.mark.parametrize("typed", ["abcd_40312277", "ABCD_40312277", "tccsc_123456", "test_1234567890"])
def test_mofh_vpanel_username_goes_through_the_directory(typed):
    directory = Directory(vpanel={typed.lower(): "webq7k2m"})
    assert mofh_account.parse(typed, directory) == ParsedAccount("webq7k2m")
    assert mofh_account.parse(typed, Directory()) == ParsedAccount(typed, (
        f"{typed} is a vPanel username, and the account directory has no account key for it. "
        "Enter the 8-character account key, or ask your bot admin to add it to the account directory."))


@pytest.mark.parametrize("typed", ["shop.example.net", "Example.ORG", "xn--80ak6aa92e.xn--p1ai"])
def test_mofh_domain_goes_through_the_directory(typed):
    assert mofh_account.parse(typed, Directory(domains={typed.lower(): "webq7k2m"})) == ParsedAccount("webq7k2m")
    assert mofh_account.parse(typed, Directory()) == ParsedAccount(typed, (
        f"The account directory has no MyOwnFreeHost account for the domain {typed}. "
        "Enter the 8-character account key instead."))


@pytest.mark.parametrize("typed", ["not valid!", "abcd_12345", "abcd_12345678901", "toolong99", "1.2.3.4",
                                   "example.-x", "web-q7k2"])
def test_mofh_account_refusals(typed):
    directory = Directory()
    assert mofh_account.parse(typed, directory) == ParsedAccount(typed, (
        "A MyOwnFreeHost account key is at most 8 letters and digits; "
        "you can also enter a vPanel username (abcd_12345678) or a domain."))
    assert directory.asked == []
    assert mofh_account.parse("  ", directory).error == "Enter the account key, vPanel username or domain."


def test_mofh_client_refuses_a_vpanel_username_the_field_would_refuse(server, make_mofh):
    client = make_mofh()
    for short in ("abcd_12345", "abcd_12345678901"):  # 5 and 11 digits: outside the 6–10 a vPanel username has
        assert client.account_info(vpanel_username=short).outcome is Outcome.LOOKUP_ERROR
    assert client.account_info(domain="1.2.3.4").outcome is Outcome.LOOKUP_ERROR
    assert server.requests == []
    server.set_default(200, b"null")
    assert client.account_info(domain="xn--80ak6aa92e.xn--p1ai").outcome is Outcome.LOOKUP_EMPTY
    assert len(server.requests) == 1


def test_mofh_client_and_field_agree_on_the_account_key(server, make_mofh):
    server.set_default(200, MOFH_SUCCESS)
    client = make_mofh()
    for typed in ("webq7k2m", "W3", "web-q7k2", "toolong99"):
        field_ok = mofh_account.parse(typed, Directory()).account == typed and mofh_account.ACCOUNT_KEY.match(typed)
        refused = client.change_password(typed, MOFH_PASSWORD).outcome is Outcome.INVALID_USERNAME
        assert bool(field_ok) is not refused, typed


# --- the Namecheap account field ----------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["owner1", "Acme.Shop-2_x", "a" * 20])
def test_namecheap_usernames_accepted(typed):
    assert nc_account.parse(typed, Directory()) == ParsedAccount(typed)


@pytest.mark.parametrize("typed", ["a" * 21, "two words", "<!channel>", "user@example", "*bold*"])
def test_namecheap_usernames_refused(typed):
    assert nc_account.parse(typed, Directory()) == ParsedAccount(
        typed, "A Namecheap username is at most 20 letters, digits, dots, dashes or underscores.")


def test_namecheap_empty_username():
    assert nc_account.parse("", Directory()).error == "Enter the Namecheap username."


@pytest.mark.parametrize("typed", ["<!channel>", "user@example", "two words", "a" * 21])
def test_namecheap_client_refuses_what_the_field_refuses(server, make_namecheap, typed):
    client = make_namecheap()
    changed = client.change_password("Vt8#qLm2!xR7pWz~", username=typed, old_password="OldPass1")
    assert (changed.outcome, changed.attempts) == (Outcome.INVALID_USERNAME, 0)
    assert changed.message == "The Namecheap UserName must be at most 20 letters, digits, dots, dashes or underscores."
    reset = client.reset_password(find_by="USERNAME", value=typed)
    assert (reset.outcome, reset.attempts) == (Outcome.BAD_REQUEST, 0)
    assert server.requests == []


def test_namecheap_client_sends_what_the_field_accepts(server, make_namecheap):
    server.set_default(200, NC_SUCCESS)
    result = make_namecheap().change_password("Vt8#qLm2!xR7pWz~", username="Acme.Shop-2_x", old_password="OldPass1")
    assert result.outcome is not Outcome.INVALID_USERNAME and len(server.requests) == 1


def test_namecheap_secret_checks():
    assert nc_account.check_reset_code(" c0ffee9a1b2c3d4e5f60718293a4b5c6d ") is None
    for bad in ("", "abc-123", "x" * 51):
        assert nc_account.check_reset_code(bad) == (
            "Paste the reset code from Namecheap's e-mail: up to 50 letters and digits.")
    assert nc_account.check_current_password("OldPass1") is None
    for bad in ("", "   ", "o" * 21):
        assert nc_account.check_current_password(bad) == (
            "Enter the account's current password (at most 20 characters).")


def test_gateways_are_the_plugins_own():
    assert isinstance(registry.by_name("mofh").build_gateway(
        mofh_settings.MofhSettings("https://mofh.example", "r", Secret("p")), session=pooled_session(1),
        budget=InProcessCallBudget()), MofhGateway)
    assert isinstance(registry.by_name("namecheap").build_gateway(
        nc_settings.NamecheapSettings("https://nc.example/xml.response", "u", Secret("k"), "203.0.113.10"),
        session=pooled_session(1), budget=InProcessCallBudget()), NamecheapGateway)


# --- the provider's part of a request form ------------------------------------------------------------


def test_read_request_for_mofh_maps_the_account_and_ignores_method_and_secret():
    mofh = registry.by_name("mofh")
    fields = mofh.read_request(account=" abcd_40312277 ", method="email_link", secret="x",
                               directory=Directory(vpanel={"abcd_40312277": "webq7k2m"}))
    assert (fields.account, fields.method, fields.errors) == ("webq7k2m", Method.SET_PASSWORD, {})
    refused = mofh.read_request(account=None, method=None, secret=None, directory=Directory())
    assert refused.errors == {"account": "Enter the account key, vPanel username or domain."}


def test_read_request_for_namecheap_checks_method_account_and_secret_in_that_order():
    namecheap = registry.by_name("namecheap")
    fields = namecheap.read_request(account="owner1", method="reset_code", secret="c0ffee", directory=Directory())
    assert (fields.account, fields.method, fields.errors) == ("owner1", Method.RESET_CODE, {})
    assert namecheap.read_request(account="owner1", method="email_link", secret=None,
                                  directory=Directory()).errors == {}
    refused = namecheap.read_request(account="", method="set_password", secret=None, directory=Directory())
    assert list(refused.errors.items()) == [("method", "Choose how to reset the Namecheap password."),
                                            ("account", "Enter the Namecheap username.")]
    bad_code = namecheap.read_request(account="owner1", method="reset_code", secret="abc-123", directory=Directory())
    assert bad_code.errors == {"secret": "Paste the reset code from Namecheap's e-mail: up to 50 letters and digits."}
    no_old = namecheap.read_request(account="owner1", method="current_password", secret=None, directory=Directory())
    assert no_old.errors == {"secret": "Enter the account's current password (at most 20 characters)."}
