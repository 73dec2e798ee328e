"""PleskClient against the sandbox Plesk (devkit/sandbox/plesk.py): both sides of the wire protocol together."""

from __future__ import annotations

import pytest

from bot.providers import AMBIGUOUS, Outcome
from bot.providers.plesk import PleskClient
from bot.secret import Secret
from devkit.sandbox import PleskCustomer, Sandbox, default_seed
from tests.providers.conftest import plain_session

STRONG = "R7#kq&Vx2m~Lp9@Tz4_w"


@pytest.fixture
def sb():
    with Sandbox(seed=default_seed(), hold_seconds=5) as sandbox:
        yield sandbox


def client(sandbox: Sandbox, **kwargs) -> PleskClient:
    kwargs.setdefault("session", plain_session())
    kwargs.setdefault("timeout", (2.0, 2.0))
    kwargs.setdefault("retry_delay", 0.0)
    if "secret_key" not in kwargs:
        kwargs.setdefault("login", sandbox.plesk_api_login)
        kwargs.setdefault("password", sandbox.plesk_api_password)
    return PleskClient(kwargs.pop("base_url", sandbox.plesk_url), **kwargs)


NASTY = [("j&d<o>e]]>x", "a&b<c>D]]>e9!xY#kLm2"), ("a]]>]]>b", "]]>]]>]]>Ab1!cd2@EF3#"),
         ("x&amp;y", "&amp;&lt;&#38;Ab12!@Cd"), ("aü&ß", "<![CDATA[x]]>Zz99!!aA")]


@pytest.mark.parametrize("login,password", NASTY)
def test_logins_and_passwords_with_markup_arrive_byte_exact(sb, login, password):
    sb.add_plesk_customer(PleskCustomer(login=login, password="Old#Pw-2020!abcdEF"))
    changed = client(sb).change_password(login, Secret(password))
    assert changed.outcome is Outcome.CHANGED, changed.message
    assert sb.plesk_customer(login).password == password  # the sandbox parsed the packet with ElementTree
    looked = client(sb).account_info(login=login)
    assert (looked.outcome, looked.username) == (Outcome.LOOKUP_OK, login)


def test_change_and_lookup_in_both_credential_modes(sb):
    result = client(sb).change_password("jdoe42", STRONG)
    assert (result.outcome, result.user_id, result.attempts) == (Outcome.CHANGED, "1187", 1)
    assert sb.plesk_customer("jdoe42").password == STRONG
    keyed = client(sb, secret_key=sb.plesk_secret_key)
    assert keyed.change_password("jdoe42", STRONG + "x").outcome is Outcome.CHANGED
    info = keyed.account_info(login="jdoe42")
    assert (info.outcome, info.user_id, info.email, info.account_status, info.account_state, info.reason) == (
        Outcome.LOOKUP_OK, "1187", "jane.doe@example.org", "0", "ACTIVE", None)
    assert keyed.probe().ok
    assert [c.command for c in sb.calls()] == ["customer/set", "customer/set", "customer/get", "customer/get"]


def test_setting_the_same_password_twice_is_harmless(sb):
    plesk = client(sb)
    assert plesk.change_password("jdoe42", STRONG).outcome is Outcome.CHANGED
    assert plesk.change_password("jdoe42", STRONG).outcome is Outcome.CHANGED


def test_a_suspended_customer_is_shown_suspended_and_may_still_be_reset(sb):
    info = client(sb).account_info(login="oldshop")
    assert (info.account_status, info.account_state, info.reason) == ("16", "SUSPENDED", "disabled_by_admin")
    assert client(sb).change_password("oldshop", STRONG).outcome is Outcome.CHANGED


@pytest.mark.parametrize("kwargs,reason", [
    (dict(login="sandbox-plesk-admin", password="wrong"), "wrong_credentials"),
    (dict(secret_key="wrong"), "secret_key_invalid"),
])
def test_refused_credentials(sb, kwargs, reason):
    result = client(sb, **kwargs).change_password("jdoe42", STRONG)
    assert (result.outcome, result.reason, result.attempts, result.retryable) == (
        Outcome.AUTH_FAILED, reason, 1, False)
    assert sb.plesk_customer("jdoe42").password != STRONG


def test_what_plesk_refuses_of_the_customer_or_the_password(sb):
    plesk = client(sb)
    missing = plesk.change_password("nobody", STRONG)
    assert (missing.outcome, missing.error_numbers) == (Outcome.ACCOUNT_NOT_FOUND, [1013])
    assert plesk.account_info(login="nobody").outcome is Outcome.LOOKUP_EMPTY
    weak = plesk.change_password("jdoe42", "weakpass1")
    assert (weak.outcome, weak.reason, weak.error_numbers) == (Outcome.INVALID_PASSWORD, "too_weak", [1019])
    assert "Security Policy" in weak.message
    with Sandbox(seed=default_seed(), plesk_password_policy="very_weak") as lenient:  # the policy is the panel's
        assert client(lenient).change_password("jdoe42", "weakpass1").outcome is Outcome.CHANGED


def test_the_sandboxs_own_refusal_of_the_login_in_the_password(sb):
    """The client refuses it first (nothing sent); sent anyway, Plesk's 1023 reads as contains_login."""
    result = client(sb).change_password("jdoe42", "Xx1!JDOE42Xx1!Zz9#")
    assert (result.outcome, result.reason, result.attempts) == (Outcome.INVALID_PASSWORD, "contains_login", 0)
    assert sb.calls() == []


@pytest.mark.parametrize("mode,outcome,attempts,changed", [
    ("http_503", Outcome.PROVIDER_UNAVAILABLE, 2, False),
    ("http_500", Outcome.PROVIDER_UNAVAILABLE, 2, False),
    ("empty", Outcome.UNKNOWN, 1, False),
    ("garbage", Outcome.UNKNOWN, 1, False),
    ("html", Outcome.UNKNOWN, 1, False),
    ("truncated", Outcome.UNKNOWN, 1, True),
])
def test_failure_modes_are_never_a_success(sb, mode, outcome, attempts, changed):
    sb.set_failure("plesk", "jdoe42", mode)
    result = client(sb).change_password("jdoe42", STRONG)
    assert (result.outcome, result.attempts, result.ok) == (outcome, attempts, False)
    assert result.certainty == AMBIGUOUS
    assert (sb.plesk_customer("jdoe42").password == STRONG) is changed


def test_a_lost_answer_is_retried_with_the_same_password(sb):
    sb.set_failure("plesk", "jdoe42", "cut", times=1)  # the change happens, the answer is cut
    result = client(sb).change_password("jdoe42", STRONG)
    assert (result.outcome, result.attempts) == (Outcome.CHANGED, 2)
    first, second = sb.calls()
    assert first.outcome == "changed+fail:cut" and second.outcome == "changed"
    assert sb.plesk_customer("jdoe42").password == STRONG


def test_a_silent_panel_times_out_twice(sb):
    sb.set_failure("plesk", "jdoe42", "timeout")
    result = client(sb, timeout=(0.5, 0.5)).change_password("jdoe42", STRONG)
    assert (result.outcome, result.attempts, result.retryable, result.certainty) == (
        Outcome.PROVIDER_UNAVAILABLE, 2, True, AMBIGUOUS)


def test_the_customers_password_hash_never_reaches_a_result():
    with Sandbox(seed=default_seed(), plesk_get_returns_password=True) as sandbox:
        info = client(sandbox).account_info(login="jdoe42")
        assert info.outcome is Outcome.LOOKUP_OK
        assert "$6$" not in repr(info) and "sandbox$" not in repr(info)
