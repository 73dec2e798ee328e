"""The sandbox cPanel & WHM (devkit/sandbox/cpanel.py): the wire protocol with raw requests, then the real client."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import requests

from bot.passwords import generate
from bot.providers import AMBIGUOUS, Outcome
from bot.providers.cpanel import CpanelClient
from bot.providers.cpanel.passwords import CPANEL_RULES
from devkit.sandbox import CpanelAccount, Sandbox, SandboxSeed, default_seed, load_seed, password_strength

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers" / "cpanel"
NEW = "Xq7vN2mLp9TzR4wBk3Hs"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def sb():
    with Sandbox(seed=default_seed()) as sandbox:
        yield sandbox


def whm(sandbox, function, data=None, *, auth="default", method="POST", version="1", **kwargs):
    """One raw call, as cPanel's own clients make it (form body, the whm header)."""
    headers = {}
    if auth == "default":
        auth = f"whm {sandbox.cpanel_api_username}:{sandbox.cpanel_api_token}"
    if auth is not None:
        headers["Authorization"] = auth
    fields = dict(data or {})
    if version is not None:
        fields["api.version"] = version
    if method == "GET":
        return requests.get(f"{sandbox.cpanel_url}/json-api/{function}", params=fields, headers=headers,
                            timeout=(2, 10), **kwargs)
    return requests.post(f"{sandbox.cpanel_url}/json-api/{function}", data=fields, headers=headers, timeout=(2, 10),
                         **kwargs)


def client(sandbox, **kwargs) -> CpanelClient:
    session = requests.Session()
    session.trust_env = False
    kwargs.setdefault("retry_delay", 0.0)
    kwargs.setdefault("timeout", (2.0, 5.0))
    return CpanelClient(sandbox.cpanel_url, kwargs.pop("api_username", sandbox.cpanel_api_username),
                        kwargs.pop("api_token", sandbox.cpanel_api_token), session=session, **kwargs)


def suspended_acmeshop() -> Sandbox:
    seed = default_seed()
    acme = next(a for a in seed.cpanel_accounts if a.user == "acmeshop")
    acme.suspended, acme.suspend_reason = True, "Unpaid invoice 2291"
    return Sandbox(seed=seed)


# --- passwd ---------------------------------------------------------------------------------------


def test_passwd_changes_the_login_password_not_mysqls_and_answers_the_fixture(sb):
    r = whm(sb, "passwd", {"user": "acmeshop", "password": NEW, "db_pass_update": "0"})
    assert (r.status_code, r.content) == (200, fixture("passwd_success.json"))
    account = sb.cpanel_account("acmeshop")
    assert account.password == NEW and account.mysql_password == "Acme-Start-2024x"
    again = whm(sb, "passwd", {"user": "acmeshop", "password": NEW, "db_pass_update": "0"})  # idempotent (§7)
    assert again.content == fixture("passwd_success.json")


@pytest.mark.parametrize("db_pass_update", ["1", None])
def test_passwd_without_db_pass_update_0_changes_mysql_too(sb, db_pass_update):
    data = {"user": "acmeshop", "password": NEW}
    if db_pass_update is not None:
        data["db_pass_update"] = db_pass_update
    r = whm(sb, "passwd", data)
    assert r.json()["data"]["app"] == ["system", "ftp", "mail", "MySQL"]
    assert sb.cpanel_account("acmeshop").mysql_password == NEW  # cPanel's default is 1 (§1.3)


@pytest.mark.parametrize("auth,status", [(None, 401), ("whm resellerbot:wrong-token", 401),
                                         ("whm otherreseller:sandbox-cpanel-token", 401), ("whm resellerbot", 401),
                                         ("Basic cmVzZWxsZXJib3Q6c2FuZGJveC1jcGFuZWwtdG9rZW4=", 403),
                                         ("WHM resellerbot:sandbox-cpanel-token", 200)])
def test_token_authentication(sb, auth, status):
    r = whm(sb, "passwd", {"user": "acmeshop", "password": NEW, "db_pass_update": "0"}, auth=auth)
    assert r.status_code == status
    if status == 401:
        assert r.content == fixture("auth_http_401_access_denied.txt")
    changed = sb.cpanel_account("acmeshop").password == NEW
    assert changed is (status == 200)


def test_another_resellers_account_and_an_absent_one_are_not_the_owners(sb):
    for user in ("otherres1", "zq81acct"):
        r = whm(sb, "passwd", {"user": user, "password": NEW, "db_pass_update": "0"})
        assert r.json()["metadata"]["reason"] == (f"You are not permitted to change the password for “{user}” "
                                                  "because you are not the owner of this account.")
    assert sb.cpanel_account("otherres1").password == "Other-Start-2024x"


def test_a_root_token_sees_every_account_and_gets_e1_for_an_absent_one():
    with Sandbox(seed=default_seed(), cpanel_api_username="root") as sandbox:
        r = whm(sandbox, "passwd", {"user": "zq81acct", "password": NEW, "db_pass_update": "0"})
        assert r.content == fixture("passwd_error_user_does_not_exist.json")
        assert whm(sandbox, "passwd", {"user": "otherres1", "password": NEW}).json()["metadata"]["result"] == 1


def test_a_suspended_account_answers_the_fixture():
    with suspended_acmeshop() as sandbox:
        r = whm(sandbox, "passwd", {"user": "acmeshop", "password": NEW, "db_pass_update": "0"})
        assert r.content == fixture("passwd_error_suspended.json")
        assert sandbox.cpanel_account("acmeshop").password == "Acme-Start-2024x"


@pytest.mark.parametrize("password,body", [
    ("abcd", fixture("passwd_error_too_short.json")),
    ("password12345Aa", fixture("passwd_error_too_weak.json")),  # a common word
    ("aaaaaaaaaaaa", fixture("passwd_error_too_weak.json")),  # repeats
    ("Ab1", fixture("passwd_error_too_short.json")),
])
def test_the_password_policy(sb, password, body):
    r = whm(sb, "passwd", {"user": "acmeshop", "password": password, "db_pass_update": "0"})
    assert r.content == body
    assert sb.cpanel_account("acmeshop").password == "Acme-Start-2024x"


@pytest.mark.parametrize("password", ["xxACMESHOPxx9Qz7Lm2W", "acmeshop9Qz7Lm2WvB4T"])
def test_a_password_holding_the_username_is_refused(sb, password):
    r = whm(sb, "passwd", {"user": "acmeshop", "password": password, "db_pass_update": "0"})
    assert r.json()["metadata"] == {"command": "passwd", "result": 0, "version": 1,
                                    "reason": "Sorry, the password may not contain the username for security reasons."}


def test_the_generated_password_passes_the_policy_every_time(sb):
    assert all(password_strength(generate(CPANEL_RULES, account="acmeshop").reveal()) == 100 for _ in range(500))
    for _ in range(20):
        password = generate(CPANEL_RULES, account="acmeshop").reveal()
        assert whm(sb, "passwd", {"user": "acmeshop", "password": password,
                                  "db_pass_update": "0"}).json()["metadata"]["result"] == 1
    with Sandbox(seed=default_seed(), cpanel_min_strength=100) as strict:  # the highest minpwstrength
        password = generate(CPANEL_RULES, account="acmeshop").reveal()
        assert whm(strict, "passwd", {"user": "acmeshop", "password": password}).json()["metadata"]["result"] == 1


def test_a_hook_halts_and_a_missing_privilege_is_permission_denied():
    seed = default_seed()
    seed.cpanel_accounts[0].hook_halts = True
    with Sandbox(seed=seed, cpanel_denied_functions=frozenset({"accountsummary"})) as sandbox:
        r = whm(sandbox, "passwd", {"user": "acmeshop", "password": NEW, "db_pass_update": "0"})
        assert r.content == fixture("passwd_error_hook_halted.json")
        denied = whm(sandbox, "accountsummary", {"user": "acmeshop"})
        assert denied.content == fixture("auth_metadata_permission_denied.json").replace(b"passwd", b"accountsummary")


def test_missing_fields_unknown_functions_and_api_0(sb):
    assert whm(sb, "passwd", {"password": NEW}).json()["metadata"]["reason"] == (
        "You did not pass the “user” parameter in your request.")
    assert whm(sb, "passwd", {"user": "acmeshop"}).json()["metadata"]["reason"] == (
        "You did not pass the “password” parameter in your request.")
    unknown = whm(sb, "removeacct", {"user": "acmeshop"}).json()["metadata"]
    assert unknown["reason"] == "Unknown app (removeacct) requested for this version (1) of the API."
    api0 = whm(sb, "passwd", {"user": "acmeshop", "pass": NEW}, version=None)  # api.version=1 did not arrive
    assert api0.json() == {"passwd": [{"status": 1, "statusmsg": "Password changed for user acmeshop."}]}
    assert sb.cpanel_account("acmeshop").password == NEW
    assert requests.post(sb.cpanel_url + "/xml-api/passwd", timeout=5).status_code == 404


# --- the read-only calls --------------------------------------------------------------------------


def test_accountsummary_answers_the_fixtures(sb):
    assert whm(sb, "accountsummary", {"user": "acmeshop"}).content == fixture("accountsummary_active.json")
    assert whm(sb, "accountsummary", {"domain": "acmeshop.example"}).content == fixture("accountsummary_active.json")
    for user in ("zq81acct", "otherres1"):  # absent, or another reseller's: the same answer
        assert whm(sb, "accountsummary", {"user": user}).content == fixture("accountsummary_not_found.json")
    own = whm(sb, "accountsummary", {"user": "resellerbot"}).json()["data"]["acct"][0]  # the reseller sees itself
    assert (own["owner"], own["domain"]) == ("root", "resellerbot.example")
    with suspended_acmeshop() as sandbox:
        assert whm(sandbox, "accountsummary", {"user": "acmeshop"}).content == fixture("accountsummary_suspended.json")


def test_getdomainowner_answers_the_fixtures(sb):
    for domain in ("acmeshop.example", "Acme-Blog.Example", "shop.acmeshop.example"):  # main, addon, sub
        assert whm(sb, "getdomainowner", {"domain": domain}).json()["data"] == {"user": "acmeshop"}
    assert whm(sb, "getdomainowner", {"domain": "acmeshop.example"}).content == fixture("getdomainowner_found.json")
    for domain in ("other-reseller.example", "nowhere.example"):
        assert whm(sb, "getdomainowner", {"domain": domain}).content == fixture("getdomainowner_not_owned.json")


def test_get_is_served_too_and_recorded_as_such(sb):
    assert whm(sb, "accountsummary", {"user": "acmeshop"}, method="GET").json()["metadata"]["result"] == 1
    assert [(c.method, c.command, c.outcome) for c in sb.calls()] == [("GET", "accountsummary", "lookup_ok")]


# --- failure modes ----------------------------------------------------------------------------------


def test_failure_modes(sb):
    body = {"user": "acmeshop", "password": NEW, "db_pass_update": "0"}
    sb.set_failure("cpanel", "acmeshop", "http_500")
    r = whm(sb, "passwd", body)
    assert (r.status_code, r.content) == (500, fixture("http_500_html.html"))
    sb.set_failure("cpanel", "acmeshop", "http_503")
    assert whm(sb, "passwd", body).status_code == 503
    sb.set_failure("cpanel", "acmeshop", "empty")
    assert whm(sb, "passwd", body).content == b""
    sb.set_failure("cpanel", "acmeshop", "garbage")
    assert not whm(sb, "passwd", body).content.startswith(b"{")
    assert sb.cpanel_account("acmeshop").password == "Acme-Start-2024x"  # none of these changed it
    sb.set_failure("cpanel", "acmeshop", "truncated")
    truncated = whm(sb, "passwd", body)  # no length: half a JSON document reads as a whole answer
    assert truncated.content == fixture("passwd_success.json")[: len(fixture("passwd_success.json")) // 2]
    assert sb.cpanel_account("acmeshop").password == NEW  # the change happened, the answer was lost
    sb.set_failure("cpanel", "acmeshop", "cut", times=1)
    with pytest.raises(requests.exceptions.RequestException):
        whm(sb, "passwd", {**body, "password": "Retried9Qz7Lm2WvB4Tk"})
    assert sb.cpanel_account("acmeshop").fail is None and sb.cpanel_account("acmeshop").password == "Retried9Qz7Lm2WvB4Tk"
    sb.set_failure("cpanel", "acmeshop", "http_500")
    assert whm(sb, "getdomainowner", {"domain": "acmeshop.example"}).status_code == 500  # the domain's account
    with pytest.raises(ValueError):
        sb.set_failure("cpanel", "acmeshop", "5050900")


def test_a_held_request_is_released_by_stop():
    sandbox = Sandbox(seed=default_seed()).start()
    sandbox.set_failure("cpanel", "acmeshop", "timeout")
    errors: list[BaseException] = []

    def hung():
        try:
            whm(sandbox, "passwd", {"user": "acmeshop", "password": NEW})
        except requests.exceptions.RequestException as exc:
            errors.append(exc)

    thread = threading.Thread(target=hung)
    thread.start()
    assert sandbox.wait_for_pending(1) and sandbox.wait_for_calls(1)
    assert sandbox.calls()[0].outcome == "fail:timeout"
    started = time.monotonic()
    sandbox.stop()
    assert time.monotonic() - started < 2.0
    thread.join(timeout=5)
    assert not thread.is_alive() and len(errors) == 1


def test_calls_hold_no_token_or_password(sb):
    sentinel = "ZZZSentinel9Secret7x"
    whm(sb, "passwd", {"user": "acmeshop", "password": sentinel, "db_pass_update": "0"})
    whm(sb, "passwd", {"user": "acmeshop", "password": NEW}, auth=f"whm resellerbot:{sentinel}")
    whm(sb, "passwd", {"user": "acmeshop", "pass": sentinel}, version=None)
    assert sb.wait_for_calls(3)
    calls = sb.calls()
    assert sentinel not in repr(calls) and sb.cpanel_api_token not in repr(calls)
    assert sentinel not in repr(sb.cpanel_account("acmeshop"))
    assert [c.outcome for c in calls] == ["changed", "auth_failed", "changed:api0"]
    assert all(c.provider == "cpanel" and c.api_user == "resellerbot" for c in calls)


def test_seed_round_trip_and_defaults(tmp_path):
    path = tmp_path / "seed.json"
    path.write_text(json.dumps({"cpanel_accounts": [{"user": "seeded", "password": "Seeded-2024x",
                                                     "domain": "seeded.example", "suspended": True}]}))
    seed = load_seed(path)
    assert isinstance(seed, SandboxSeed) and seed.cpanel_accounts == [
        CpanelAccount(user="seeded", password="Seeded-2024x", domain="seeded.example", suspended=True)]
    with Sandbox(seed=seed) as sandbox:
        assert sandbox.cpanel_account("seeded").owner == "resellerbot"
        assert "currently suspended" in whm(sandbox, "passwd", {"user": "seeded", "password": NEW}).text
    default = {a.user: a for a in default_seed().cpanel_accounts}
    assert (default["acmeshop"].domain, default["acmeshop"].email) == ("acmeshop.example", "owner@acmeshop.example")
    assert default["oldshop"].suspended and default["otherres1"].owner == "otherreseller"
    with pytest.raises(ValueError):
        Sandbox().add_cpanel_account(CpanelAccount(user="Bad User", password="x"))


def test_the_bot_environment_points_at_it(sb):
    environment = sb.bot_environments()["cpanel"]
    assert environment.url == sb.cpanel_url and environment.variables == {
        "CPANEL_API_URL": sb.cpanel_url, "CPANEL_API_USERNAME": "resellerbot",
        "CPANEL_API_TOKEN": "sandbox-cpanel-token"}


# --- the real client against it: every outcome of §5 -----------------------------------------------


def test_the_client_changes_the_password_by_username_and_by_domain(sb):
    cp = client(sb)
    assert cp.change_password("acmeshop", NEW).outcome is Outcome.CHANGED
    assert sb.cpanel_account("acmeshop").password == NEW
    assert sb.cpanel_account("acmeshop").mysql_password == "Acme-Start-2024x"  # db_pass_update=0 arrived
    second = "Yq7vN2mLp9TzR4wBk3Hs"
    result = cp.change_password_by_domain("acme-blog.example", second)
    assert (result.outcome, result.attempts) == (Outcome.CHANGED, 2)
    assert sb.cpanel_account("acmeshop").password == second
    assert [(c.method, c.command) for c in sb.calls()] == [("POST", "passwd"), ("POST", "getdomainowner"),
                                                           ("POST", "passwd")]
    assert all(c.params["api.version"] == "1" and c.params.get("password") in (None, "***") for c in sb.calls())


@pytest.mark.parametrize("setup,user,password,expected", [
    (None, "otherres1", NEW, (Outcome.ACCOUNT_NOT_FOUND, "not_owner", AMBIGUOUS)),
    (None, "zq81acct", NEW, (Outcome.ACCOUNT_NOT_FOUND, "not_owner", AMBIGUOUS)),
    (None, "oldshop", NEW, (Outcome.ACCOUNT_INACTIVE, "suspended", None)),
    (None, "acmeshop", "aaaaaaaaaaaa", (Outcome.INVALID_PASSWORD, "too_weak", None)),
    ("hook", "acmeshop", NEW, (Outcome.CHANGE_REJECTED, "hook_halted", None)),
    ("deny", "acmeshop", NEW, (Outcome.AUTH_FAILED, None, None)),
    ("token", "acmeshop", NEW, (Outcome.AUTH_FAILED, "http_401", None)),
    ("http_500", "acmeshop", NEW, (Outcome.PROVIDER_UNAVAILABLE, "http_5xx", AMBIGUOUS)),
    ("http_503", "acmeshop", NEW, (Outcome.PROVIDER_UNAVAILABLE, "http_5xx", AMBIGUOUS)),
    ("empty", "acmeshop", NEW, (Outcome.UNKNOWN, "empty", AMBIGUOUS)),
    ("garbage", "acmeshop", NEW, (Outcome.UNKNOWN, "not_utf8", AMBIGUOUS)),
    ("truncated", "acmeshop", NEW, (Outcome.UNKNOWN, "not_json", AMBIGUOUS)),
    ("root", "zq81acct", NEW, (Outcome.ACCOUNT_NOT_FOUND, None, None)),
])
def test_the_client_classifies_each_sandbox_answer(setup, user, password, expected):
    seed = default_seed()
    seed.cpanel_accounts[0].hook_halts = setup == "hook"
    options = {"cpanel_denied_functions": frozenset({"passwd"})} if setup == "deny" else {}
    if setup == "root":
        options["cpanel_api_username"] = "root"
    with Sandbox(seed=seed, **options) as sandbox:
        if setup in ("http_500", "http_503", "empty", "garbage", "truncated"):
            sandbox.set_failure("cpanel", user, setup)
        cp = client(sandbox, **({"api_token": "revoked-token"} if setup == "token" else {}))
        result = cp.change_password(user, password)
        assert (result.outcome, result.reason, result.certainty) == expected, result.message
        assert not result.ok and result.message.endswith(".")
        retried = setup in ("http_500", "http_503")
        assert len(sandbox.calls()) == (2 if retried else 1) == result.attempts


def test_a_lost_answer_is_retried_with_the_same_password_and_succeeds(sb):
    sb.set_failure("cpanel", "acmeshop", "http_503", times=1)
    result = client(sb).change_password("acmeshop", NEW)
    assert (result.outcome, result.attempts) == (Outcome.CHANGED, 2)
    assert [c.outcome for c in sb.calls()] == ["fail:http_503", "changed"]


def test_the_clients_lookups_and_probe(sb):
    cp = client(sb)
    info = cp.account_info(domain="shop.acmeshop.example")
    assert (info.outcome, info.username, info.domains, info.account_state, info.email) == (
        Outcome.LOOKUP_OK, "acmeshop", ["acmeshop.example"], "ACTIVE", "owner@acmeshop.example")
    assert cp.account_info(username="oldshop").account_state == "SUSPENDED"
    assert cp.account_info(username="otherres1").outcome is Outcome.LOOKUP_EMPTY
    assert cp.account_info(domain="other-reseller.example").outcome is Outcome.LOOKUP_EMPTY
    assert cp.probe().outcome is Outcome.LOOKUP_OK  # the reseller's own account
    assert client(sb, api_token="revoked").probe().outcome is Outcome.AUTH_FAILED
    with Sandbox(seed=default_seed(), cpanel_api_username="root") as as_root:
        assert client(as_root).probe().outcome is Outcome.LOOKUP_EMPTY  # root has no cPanel account
