"""The sandbox provider servers, exercised over HTTP with `requests` only (no provider client)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from devkit.sandbox import (
    MofhAccount,
    NamecheapUser,
    Sandbox,
    SandboxSeed,
    default_seed,
    load_seed,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "providers"
NC_CHANGE = "namecheap.users.changePassword"
NC_RESET = "namecheap.users.resetPassword"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8")


@pytest.fixture
def sb():
    with Sandbox(seed=default_seed()) as sandbox:
        yield sandbox


def mofh(sandbox, data=None, *, path="/xml-api/passwd.php", auth="default", method="POST", **kwargs):
    if auth == "default":
        auth = (sandbox.mofh_api_username, sandbox.mofh_api_password)
    return requests.request(method, sandbox.mofh_url + path, data=data, auth=auth, timeout=(2, 10), **kwargs)


def nc_params(sandbox, **extra):
    params = {
        "ApiUser": sandbox.namecheap_api_user,
        "ApiKey": sandbox.namecheap_api_key,
        "ClientIp": "127.0.0.1",
        "Command": NC_CHANGE,
    }
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def nc(sandbox, **extra):
    return requests.post(sandbox.namecheap_url, data=nc_params(sandbox, **extra), timeout=(2, 10))


# ---------------------------------------------------------------------------------------------
# MyOwnFreeHost passwd


def test_mofh_success_changes_password_then_identical_call_gets_e1(sb):
    r = mofh(sb, {"user": "webq7k2m", "pass": "NewPass12345"})
    assert r.status_code == 200
    assert r.text == fixture("mofh/passwd_success.xml")
    assert r.text.startswith("\n<passwd>")
    assert sb.mofh_account("webq7k2m").password == "NewPass12345"

    again = mofh(sb, {"user": "webq7k2m", "pass": "NewPass12345"}, path="/xml-api/passwd")
    assert again.status_code == 200
    assert again.text == fixture("mofh/passwd_identical_password.xml")
    assert [c.outcome for c in sb.calls()] == ["changed", "changed_idempotent"]


def test_mofh_json_api_success_shape(sb):
    r = mofh(sb, {"user": "webq7k2m", "pass": "NewPass12345"}, path="/json-api/passwd.php")
    assert r.status_code == 200
    assert r.text == fixture("mofh/passwd_success.json")
    assert json.loads(r.text)["passwd"][0]["status"] == 1
    again = mofh(sb, {"user": "webq7k2m", "pass": "NewPass12345"}, path="/json-api/passwd.php")
    doc = json.loads(again.text)["passwd"][0]
    assert doc["status"] == 0 and doc["statusmsg"] == "An error occured changing this password."


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"user": "abcd_40312277", "pass": "NewPass12345"}, fixture("mofh/passwd_username_too_long.txt")),
        (
            {"user": "bad-name-too-long", "pass": "NewPass12345"},
            "The username is invalid (Only letters and numbers). .    "
            "The username is invalid (8 characters maximum).  .   ",
        ),
        (
            {"user": "bad-nam", "pass": "NewPass12345"},
            "The username is invalid (Only letters and numbers). .   ",
        ),
        ({"user": "zzq81k2p", "pass": "NewPass12345"}, fixture("mofh/passwd_unknown_user.txt")),
        ({"user": "webq7k2m", "pass": "short1"}, fixture("mofh/passwd_password_too_short.txt")),
        ({"user": "webq7k2m", "pass": "Pass&word 123"}, fixture("mofh/passwd_password_illegal_chars.txt")),
    ],
)
def test_mofh_text_errors(sb, data, expected):
    r = mofh(sb, data)
    assert r.status_code == 200
    assert r.text == expected
    assert sb.mofh_account("webq7k2m").password == "Start1234Pass"


def test_mofh_unknown_user_can_answer_empty_body():
    with Sandbox(seed=default_seed(), unknown_user_empty_body=True) as sandbox:
        r = mofh(sandbox, {"user": "zzq81k2p", "pass": "NewPass12345"})
        assert r.status_code == 200 and r.content == fixture("mofh/passwd_empty_body.txt").encode()
        assert sandbox.calls()[-1].outcome == "account_not_found"


def test_mofh_inactive_states_answer_e2_with_letter(sb):
    r = mofh(sb, {"user": "susp01x", "pass": "NewPass12345"})
    assert r.status_code == 200
    assert r.text == fixture("mofh/passwd_account_not_active_x_suspended.xml").replace("webq7k2m", "susp01x")
    assert "This account  currently not active" in r.text
    assert sb.mofh_account("susp01x").password == "Susp1234Pass"

    with Sandbox() as sandbox:
        sandbox.add_mofh_account(MofhAccount(key="webq7k2m", password="Start1234Pass", state="c"))
        r = mofh(sandbox, {"user": "webq7k2m", "pass": "NewPass12345"})
        assert r.text == fixture("mofh/passwd_account_not_active_c_closing.xml")


@pytest.mark.parametrize(
    ("auth", "expected", "outcome"),
    [
        (("someone-else", "sandbox-mofh-password"), "mofh/auth_invalid_api_username.txt", "auth_failed"),
        (("sandbox-reseller", "wrong-key"), "mofh/auth_invalid_api_key.txt", "auth_failed"),
        (None, "mofh/auth_api_key_or_username_not_valid.txt", "auth_failed"),
    ],
)
def test_mofh_bad_credentials(sb, auth, expected, outcome):
    r = mofh(sb, {"user": "webq7k2m", "pass": "NewPass12345"}, auth=auth)
    assert r.status_code == 200
    assert r.text == fixture(expected)
    assert sb.calls()[-1].outcome == outcome
    assert sb.mofh_account("webq7k2m").password == "Start1234Pass"


def test_mofh_caller_ip_not_allowed_names_the_caller():
    with Sandbox(seed=default_seed(), mofh_allowed_ip="198.51.100.23") as sandbox:
        r = mofh(sandbox, {"user": "webq7k2m", "pass": "NewPass12345"})
        assert r.status_code == 200
        assert r.text == fixture("mofh/auth_ip_not_allowed.txt").replace("198.51.100.23", "127.0.0.1")
        r = mofh(sandbox, {"user": "webq7k2m", "pass": "NewPass12345"}, path="/json-api/passwd.php")
        assert "does not match the allowed ip" in json.loads(r.text)["cpanelresult"]["error"]
        assert sandbox.mofh_account("webq7k2m").password == "Start1234Pass"


def test_mofh_get_on_passwd_changes_nothing(sb):
    r = mofh(sb, None, method="GET", params={"user": "webq7k2m", "pass": "NewPass12345"})
    assert r.status_code == 405
    assert sb.mofh_account("webq7k2m").password == "Start1234Pass"


def test_mofh_lookups():
    account = MofhAccount(
        key="webq7k2m",
        password="Start1234Pass",
        vpanel_username="abcd_40312277",
        domains=["blog.example.net", "example.org"],
    )
    suspended = MofhAccount(
        key="susp01x", password="Susp1234Pass", state="x", vpanel_username="abcd_40312277x",
        domains=["shop.example.net"],
    )
    with Sandbox() as sandbox:
        sandbox.add_mofh_account(account)
        sandbox.add_mofh_account(suspended)
        creds = {"api_user": sandbox.mofh_api_username, "api_key": sandbox.mofh_api_password}
        r = mofh(sandbox, {"username": "abcd_40312277"}, path="/xml-api/getuserdomains.php")
        assert r.text == fixture("mofh/getuserdomains_active.json")
        r = requests.get(
            sandbox.mofh_url + "/json-api/getuserdomains", params={**creds, "username": "nobody_1"}, timeout=5
        )
        assert r.text == fixture("mofh/getuserdomains_null.txt")
        r = mofh(sandbox, {**creds, "domain": "shop.example.net"}, path="/json-api/getdomainuser", auth=None)
        assert r.text == fixture("mofh/getdomainuser_found.json").replace("abcd_40312277", "abcd_40312277x")
        r = mofh(sandbox, {"domain": "nothing.example"}, path="/xml-api/getdomainuser.php")
        assert r.text == "null"
        r = mofh(sandbox, {"username": "abcd_40312277"}, path="/xml-api/getuserdomains.php",
                 auth=(sandbox.mofh_api_username, "wrong"))
        assert r.text == fixture("mofh/getuserdomains_error.txt")
        r = mofh(sandbox, {}, path="/xml-api/getuserdomains.php")
        assert r.text == fixture("mofh/getuserdomains_data_not_valid.txt")


def test_mofh_failure_modes(sb):
    sb.set_failure("mofh", "webq7k2m", "http_503")
    r = mofh(sb, {"user": "webq7k2m", "pass": "NewPass12345"})
    assert r.status_code == 503 and r.text == fixture("mofh/http_503_html.html")

    sb.set_failure("mofh", "webq7k2m", "empty")
    r = mofh(sb, {"user": "webq7k2m", "pass": "NewPass12345"})
    assert r.status_code == 200 and r.content == b""

    sb.set_failure("mofh", "webq7k2m", "garbage")
    r = mofh(sb, {"user": "webq7k2m", "pass": "NewPass12345"})
    assert r.status_code == 200 and r.content and not r.content.lstrip().startswith(b"<")
    assert sb.mofh_account("webq7k2m").password == "Start1234Pass"

    sb.set_failure("mofh", "webq7k2m", "cut")
    with pytest.raises(requests.exceptions.RequestException):
        mofh(sb, {"user": "webq7k2m", "pass": "NewPass12345"})
    assert sb.mofh_account("webq7k2m").password == "NewPass12345"  # the change happened, the answer was lost

    sb.set_failure("mofh", "webq7k2m", None)
    r = mofh(sb, {"user": "webq7k2m", "pass": "NewPass12345"})
    assert "An error occured changing this password." in r.text

    # A limited failure clears itself: the retry after a lost answer sees E1 (idempotent).
    sb.set_failure("mofh", "webq7k2m", "cut", times=1)
    with pytest.raises(requests.exceptions.RequestException):
        mofh(sb, {"user": "webq7k2m", "pass": "Retried12345"})
    assert sb.mofh_account("webq7k2m").fail is None
    r = mofh(sb, {"user": "webq7k2m", "pass": "Retried12345"})
    assert r.text == fixture("mofh/passwd_identical_password.xml")
    with pytest.raises(ValueError):
        sb.set_failure("mofh", "webq7k2m", "exploded")


# ---------------------------------------------------------------------------------------------
# Namecheap


def test_namecheap_way1_success_and_reuse_rules(sb):
    r = nc(sb, UserName="acmeshop", OldPassword="Acme~Start2024", NewPassword="Acme~Next2024")
    assert r.status_code == 200
    assert r.text == fixture("namecheap/changepassword_success_way1_oldpassword.xml")
    assert sb.namecheap_user("acmeshop").password == "Acme~Next2024"

    # The same call again: the old password no longer matches.
    r = nc(sb, UserName="acmeshop", OldPassword="Acme~Start2024", NewPassword="Acme~Next2024")
    assert r.text == fixture("namecheap/changepassword_error_4022335_unable_to_change.xml")
    # Back to a previously used password: refused.
    r = nc(sb, UserName="acmeshop", OldPassword="Acme~Next2024", NewPassword="Acme~Start2024")
    assert r.text == fixture("namecheap/changepassword_error_4022335_unable_to_change.xml")
    # Too short / too long: refused.
    for bad in ("Sh0rt~", "x" * 21, " Lead~Space2024"):
        r = nc(sb, UserName="acmeshop", OldPassword="Acme~Next2024", NewPassword=bad)
        assert "4022335" in r.text
    assert sb.namecheap_user("acmeshop").password == "Acme~Next2024"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"UserName": "acmeshop", "NewPassword": "Acme~Next2024"},
         "namecheap/changepassword_error_2010302_oldpassword_missing.xml"),
        ({"OldPassword": "Acme~Start2024", "NewPassword": "Acme~Next2024"},
         "namecheap/changepassword_error_2010103_username_missing.xml"),
        ({"NewPassword": "Acme~Next2024"}, "namecheap/changepassword_error_2010303_resetcode_missing.xml"),
        ({"UserName": "acmeshop", "ResetCode": "c0ffee", "NewPassword": "Acme~Next2024"},
         "namecheap/changepassword_error_2015103_username_and_resetcode.xml"),
        ({"UserName": "acmeshop", "OldPassword": "wrong-old-pass", "NewPassword": "Acme~Next2024"},
         "namecheap/changepassword_error_4022335_unable_to_change.xml"),
    ],
)
def test_namecheap_change_password_errors(sb, params, expected):
    r = nc(sb, **params)
    assert r.status_code == 200
    assert r.text == fixture(expected)
    assert sb.namecheap_user("acmeshop").password == "Acme~Start2024"


def test_namecheap_way2_code_is_single_use(sb):
    code = sb.issue_reset_code("acmeshop")
    r = nc(sb, ResetCode=code, NewPassword="Code~First2024")
    assert r.text == fixture("namecheap/changepassword_success_way1_oldpassword.xml")
    assert sb.namecheap_user("acmeshop").password == "Code~First2024"
    r = nc(sb, ResetCode=code, NewPassword="Code~Second2024")
    assert r.text == fixture("namecheap/changepassword_error_4022335_unable_to_change.xml")
    r = nc(sb, ResetCode="0" * 33, NewPassword="Code~Second2024")
    assert "4022335" in r.text
    assert sb.namecheap_user("acmeshop").password == "Code~First2024"

    locked_code = sb.issue_reset_code("lockeduser")
    r = nc(sb, ResetCode=locked_code, NewPassword="Code~Third2024")
    assert '<Error Number="4011331">Invalid status</Error>' in r.text


def test_namecheap_way2_without_namespace():
    with Sandbox(seed=default_seed(), namespaced=False) as sandbox:
        code = sandbox.issue_reset_code("acmeshop")
        r = nc(sandbox, ResetCode=code, NewPassword="Code~First2024")
        assert r.text == fixture("namecheap/changepassword_success_way2_resetcode_no_namespace.xml")


def test_namecheap_reset_password_emails_a_code_that_works_once(sb):
    r = nc(sb, Command=NC_RESET, FindBy="EMAILADDRESS", FindByValue="owner@example.org",
           URLPattern="https://bot.example/nc/[RESETCODE]")
    assert r.status_code == 200
    assert r.text == fixture("namecheap/resetpassword_success.xml")
    [email] = sb.emails()
    assert email["to"] == "owner@example.org" and email["username"] == "acmeshop"
    code = email["reset_code"]
    assert email["link"] == f"https://bot.example/nc/{code}"

    assert "Success=\"true\"" in nc(sb, ResetCode=code, NewPassword="Mail~Code2024").text
    assert sb.namecheap_user("acmeshop").password == "Mail~Code2024"
    assert "4022335" in nc(sb, ResetCode=code, NewPassword="Mail~Again2024").text

    # Other FindBy values, case-insensitive.
    assert "<Email>owner@example.org</Email>" in nc(
        sb, Command=NC_RESET, findby="domainname", FindByValue="acmeshop.example.com").text
    assert "<Email>owner@example.org</Email>" in nc(
        sb, Command=NC_RESET, FindBy="USERNAME", FindByValue="acmeshop").text
    assert len(sb.emails()) == 3


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"FindBy": "PHONE", "FindByValue": "acmeshop"},
         "namecheap/resetpassword_error_2011315_findby_invalid.xml"),
        ({"FindBy": "USERNAME", "FindByValue": "nobody"},
         "namecheap/resetpassword_error_4022335_unable_to_reset.xml"),
        ({"FindBy": "USERNAME", "FindByValue": "lockeduser"},
         "namecheap/resetpassword_error_4022335_unable_to_reset.xml"),
    ],
)
def test_namecheap_reset_password_errors(sb, params, expected):
    r = nc(sb, Command=NC_RESET, **params)
    assert r.text == fixture(expected)
    assert sb.emails() == []


def test_namecheap_username_with_reset_password_or_way2_is_2015103(sb):
    r = nc(sb, Command=NC_RESET, UserName="acmeshop", FindBy="USERNAME", FindByValue="acmeshop")
    assert '<Error Number="2015103">' in r.text
    code = sb.issue_reset_code("acmeshop")
    r = nc(sb, UserName="acmeshop", ResetCode=code, NewPassword="Code~First2024")
    assert r.text == fixture("namecheap/changepassword_error_2015103_username_and_resetcode.xml")
    assert sb.namecheap_user("acmeshop").password == "Acme~Start2024"
    assert sb.emails() == []


def test_namecheap_global_errors(sb):
    r = requests.post(sb.namecheap_url, data={"Command": NC_CHANGE}, timeout=5)
    assert r.status_code == 200
    for number in ("1010101", "1010102", "1011105"):
        assert f'<Error Number="{number}">' in r.text
    assert "1010104" not in r.text
    assert "<RequestedCommand />" in r.text

    r = nc(sb, ApiKey="wrong", UserName="acmeshop", OldPassword="Acme~Start2024", NewPassword="Acme~Next2024")
    assert r.text == fixture("namecheap/auth_error_1011102_api_key_invalid.xml")
    r = nc(sb, ApiUser="someoneelse")
    assert r.text == fixture("namecheap/auth_error_1011102_api_key_invalid.xml")
    r = nc(sb, ClientIp="203.0.113.44", UserName="acmeshop", OldPassword="Acme~Start2024",
           NewPassword="Acme~Next2024")
    assert r.text == fixture("namecheap/auth_error_1011150_request_ip_invalid.xml")
    r = nc(sb, UserName="ghost", OldPassword="Acme~Start2024", NewPassword="Acme~Next2024")
    assert '<Error Number="1019103">Parameter UserName is not available</Error>' in r.text
    r = nc(sb, UserName="lockeduser", OldPassword="Locked~2024x", NewPassword="Acme~Next2024")
    assert '<Error Number="1017103">Parameter UserName is disabled or locked</Error>' in r.text
    assert sb.namecheap_user("acmeshop").password == "Acme~Start2024"
    assert sb.namecheap_user("lockeduser").password == "Locked~2024x"
    assert [c.error_numbers for c in sb.calls()] == [
        (1010101, 1010102, 1011105), (1011102,), (1011102,), (1011150,), (1019103,), (1017103,),
    ]


def test_namecheap_unauthorized_user_locked_api_and_caller_ip():
    with Sandbox(namecheap_client_ip="203.0.113.10") as sandbox:
        r = nc(sandbox, ClientIp="203.0.113.10")
        assert "Invalid request IP: 127.0.0.1" in r.text  # the caller is not the whitelisted address
    with Sandbox() as sandbox:
        sandbox.add_namecheap_user(NamecheapUser(username="otheracct", password="Other~2024x",
                                                 email="o@example.org", sub_user=False))
        r = nc(sandbox, UserName="otheracct", OldPassword="Other~2024x", NewPassword="Other~2025x")
        assert r.text == fixture("namecheap/auth_error_1016103_username_unauthorized.xml")
        sandbox.namecheap_api_locked = True
        r = nc(sandbox, UserName="otheracct", OldPassword="Other~2024x", NewPassword="Other~2025x")
        assert r.text == fixture("namecheap/auth_error_1017101_apiuser_locked.xml")


def test_namecheap_param_names_and_command_are_case_insensitive_and_get_works(sb):
    params = {
        "apiuser": sb.namecheap_api_user,
        "APIKEY": sb.namecheap_api_key,
        "clientip": "127.0.0.1",
        "command": NC_CHANGE.lower(),
        "username": "acmeshop",
        "oldpassword": "Acme~Start2024",
        "NEWPASSWORD": "Acme~Next2024",
    }
    r = requests.get(sb.namecheap_url, params=params, timeout=5)
    assert r.text == fixture("namecheap/changepassword_success_way1_oldpassword.xml")
    assert sb.namecheap_user("acmeshop").password == "Acme~Next2024"


def test_namecheap_failure_modes(sb):
    sb.set_failure("namecheap", "acmeshop", "5050900")
    r = nc(sb, UserName="acmeshop", OldPassword="Acme~Start2024", NewPassword="Acme~Next2024")
    assert r.text == fixture("namecheap/changepassword_error_5050900_unhandled.xml")
    sb.set_failure("namecheap", "acmeshop", "http_500")
    r = nc(sb, UserName="acmeshop", OldPassword="Acme~Start2024", NewPassword="Acme~Next2024")
    assert r.status_code == 500 and "<html>" in r.text
    sb.set_failure("namecheap", "acmeshop", "http_405")
    r = nc(sb, UserName="acmeshop", OldPassword="Acme~Start2024", NewPassword="Acme~Next2024")
    assert r.status_code == 405
    sb.set_failure("namecheap", "acmeshop", "garbage")
    r = nc(sb, UserName="acmeshop", OldPassword="Acme~Start2024", NewPassword="Acme~Next2024")
    assert r.status_code == 200 and "ApiResponse" not in r.text
    assert sb.namecheap_user("acmeshop").password == "Acme~Start2024"


def test_namecheap_rate_limit_answers_405():
    with Sandbox(seed=default_seed(), namecheap_rate_limit=3, namecheap_rate_window=60) as sandbox:
        statuses = [nc(sandbox, ApiUser="SandboxAPI").status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        r = nc(sandbox, UserName="acmeshop", OldPassword="Acme~Start2024", NewPassword="Acme~Next2024")
        assert r.status_code == 405
        assert r.content == (FIXTURES / "namecheap/http_405_rate_limited.txt").read_bytes()
        assert sandbox.calls()[-1].outcome == "rate_limited"
        assert sandbox.namecheap_user("acmeshop").password == "Acme~Start2024"


# ---------------------------------------------------------------------------------------------
# Concurrency, lifecycle, recording


def test_delay_does_not_block_other_accounts(sb):
    sb.set_delay("mofh", "slow01", 1.0)
    finished: list[str] = []
    results: dict[str, requests.Response] = {}

    def slow():
        results["slow"] = mofh(sb, {"user": "slow01", "pass": "SlowNew12345"})
        finished.append("slow")

    thread = threading.Thread(target=slow)
    thread.start()
    assert sb.wait_for_pending(1)
    results["fast"] = mofh(sb, {"user": "webq7k2m", "pass": "FastNew12345"})
    finished.append("fast")
    thread.join(timeout=10)
    assert finished == ["fast", "slow"]
    assert "<status>1</status>" in results["slow"].text and "<status>1</status>" in results["fast"].text
    assert [c.account for c in sb.calls()] == ["webq7k2m", "slow01"]
    assert sb.mofh_account("slow01").password == "SlowNew12345"


def test_stop_returns_promptly_with_a_hung_request():
    sandbox = Sandbox(seed=default_seed()).start()
    sandbox.set_failure("mofh", "webq7k2m", "timeout")
    errors: list[BaseException] = []

    def hung():
        try:
            mofh(sandbox, {"user": "webq7k2m", "pass": "NewPass12345"})
        except requests.exceptions.RequestException as exc:
            errors.append(exc)

    thread = threading.Thread(target=hung)
    thread.start()
    assert sandbox.wait_for_pending(1)
    assert sandbox.wait_for_calls(1)
    assert sandbox.calls()[0].outcome == "fail:timeout"
    started = time.monotonic()
    sandbox.stop()
    assert time.monotonic() - started < 2.0
    thread.join(timeout=5)
    assert not thread.is_alive() and len(errors) == 1
    assert sandbox.mofh_account("webq7k2m").password == "Start1234Pass"


def test_unknown_path_is_404(sb):
    assert requests.post(sb.mofh_url + "/xml-api/removeacct.php", timeout=5).status_code == 404
    other = sb.namecheap_url.replace("xml.response", "json.response")
    assert requests.post(other, timeout=5).status_code == 404
    assert [c.outcome for c in sb.calls()] == ["not_found", "not_found"]


def test_calls_hold_no_secret(sb):
    sentinel = "Sentinel9Secret7"
    mofh(sb, {"user": "webq7k2m", "pass": sentinel})
    mofh(sb, {"user": "webq7k2m", "pass": "x"}, auth=(sb.mofh_api_username, sentinel))
    mofh(sb, {"api_user": sb.mofh_api_username, "api_key": sentinel, "username": "abcd_40312277"},
         path="/json-api/getuserdomains", auth=None)
    nc(sb, UserName="acmeshop", OldPassword="Acme~Start2024", NewPassword=sentinel)
    nc(sb, UserName="acmeshop", OldPassword=sentinel, NewPassword="Acme~Other2024")
    nc(sb, ResetCode=sentinel, NewPassword="Acme~Other2024")
    nc(sb, ApiKey=sentinel)
    requests.get(sb.namecheap_url, params=nc_params(sb, ApiKey=sentinel), timeout=5)
    assert sb.wait_for_calls(8, timeout=2)
    assert not sb.wait_for_calls(9, timeout=0.05)
    calls = sb.calls()
    assert len(calls) == 8
    assert sentinel not in repr(calls)
    assert sentinel not in repr(sb.mofh_account("webq7k2m"))  # dataclass repr hides the password
    assert {c.provider for c in calls} == {"mofh", "namecheap"}
    assert all(c.remote_ip == "127.0.0.1" for c in calls)
    assert calls[0].command == "passwd" and calls[0].outcome == "changed"
    assert calls[3].command == NC_CHANGE and calls[3].account == "acmeshop"


def test_load_seed_round_trip(tmp_path):
    path = tmp_path / "seed.json"
    path.write_text(json.dumps({
        "mofh_accounts": [
            {"key": "abc123", "password": "Seeded12345", "state": "r", "domains": ["a.example"]}
        ],
        "namecheap_users": [{"username": "seeded", "password": "Seed~2024x", "email": "s@example.org"}],
    }))
    seed = load_seed(path)
    assert isinstance(seed, SandboxSeed)
    with Sandbox(seed=seed) as sandbox:
        assert sandbox.mofh_account("abc123").state == "r"
        assert sandbox.namecheap_user("seeded").email == "s@example.org"
        r = mofh(sandbox, {"user": "abc123", "pass": "NewPass12345"})
        assert "must be active to change the password (r)" in r.text
    path.write_text(json.dumps({"mofh_accounts": [{"key": "a", "password": "p", "colour": "red"}]}))
    with pytest.raises(ValueError):
        load_seed(path)


def test_default_seed_contents():
    seed = default_seed()
    mofh_by_key = {a.key: a for a in seed.mofh_accounts}
    assert mofh_by_key["webq7k2m"].vpanel_username == "abcd_40312277"
    assert mofh_by_key["webq7k2m"].domains == ["shop.example.net"]
    assert mofh_by_key["susp01x"].state == "x"
    assert "slow01" in mofh_by_key
    users = {u.username: u for u in seed.namecheap_users}
    assert users["acmeshop"].email == "owner@example.org"
    assert users["lockeduser"].status == "locked"


def test_serve_prints_urls_and_exits_zero_on_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-c", "from devkit.sandbox import serve; raise SystemExit(serve([]))"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    watchdog = threading.Timer(10, proc.kill)
    watchdog.start()
    try:
        urls = {}
        for line in proc.stdout:
            if line.startswith("  MOFH_API_URL="):
                urls["mofh"] = line.split("=", 1)[1].strip()
            if line.startswith("  NAMECHEAP_API_URL="):
                urls["namecheap"] = line.split("=", 1)[1].strip()
            if len(urls) == 2:
                break
        assert urls["mofh"].startswith("http://127.0.0.1:")
        assert urls["namecheap"].endswith("/xml.response")
        r = requests.post(urls["mofh"] + "/xml-api/passwd.php",
                          data={"user": "webq7k2m", "pass": "NewPass12345"},
                          auth=("sandbox-reseller", "sandbox-mofh-password"), timeout=5)
        assert "<status>1</status>" in r.text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()


def test_answers_leave_without_waiting_for_the_clients_ack(sb):
    """Headers and body are two writes: with Nagle on, a kept-alive client's every call waited ~40 ms for its
    delayed ACK, which the real APIs never make a client wait."""
    import socket

    with requests.Session() as session:
        for _ in range(2):  # the second call runs on the connection the first one kept
            answer = session.post(sb.mofh_url + "/xml-api/passwd.php", data={"username": "nobody", "password": "x"},
                                  auth=(sb.mofh_api_username, sb.mofh_api_password), timeout=(2, 10))
            assert answer.status_code == 200
        with sb._lock:
            served = list(sb._conns)
    assert len(served) == 1
    assert served[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
