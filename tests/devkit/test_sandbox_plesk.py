"""The sandbox Plesk (devkit/sandbox/plesk.py), over HTTP with `requests` only: its answers are the fixtures' bytes."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import requests

from devkit.sandbox import PleskCustomer, Sandbox, SandboxSeed, default_seed, load_seed

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "providers" / "plesk"
AGENT = "/enterprise/control/agent.php"
NEW = "R7#kq&amp;Vx2m~Lp9@Tz4_w"  # as it stands in the packet; the customer gets R7#kq&Vx2m~Lp9@Tz4_w


def fixture(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8")


def set_packet(login: str = "jdoe42", passwd: str = NEW, version: str = "1.6.3.0") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<packet version="{version}"><customer><set><filter><login>'
            f"{login}</login></filter><values><gen_info><passwd>{passwd}</passwd></gen_info></values></set>"
            "</customer></packet>").encode()


def get_packet(login: str = "jdoe42", filter_xml: str | None = None) -> bytes:
    filter_xml = f"<filter><login>{login}</login></filter>" if filter_xml is None else filter_xml
    return (f'<packet version="1.6.3.0"><customer><get>{filter_xml}<dataset><gen_info/></dataset></get>'
            "</customer></packet>").encode()


@pytest.fixture
def sb():
    with Sandbox(seed=default_seed()) as sandbox:
        yield sandbox


def plesk(sandbox: Sandbox, body: bytes, *, headers: dict | None = None, method: str = "POST", path: str = AGENT):
    if headers is None:
        headers = {"HTTP_AUTH_LOGIN": sandbox.plesk_api_login, "HTTP_AUTH_PASSWD": sandbox.plesk_api_password}
    return requests.request(method, sandbox.plesk_url + path, data=body,
                            headers={"Content-Type": "text/xml", **headers}, timeout=(2, 10))


def test_set_changes_the_password_with_the_fixtures_answer(sb):
    r = plesk(sb, set_packet())
    assert (r.status_code, r.text) == (200, fixture("set_success.xml"))
    assert sb.plesk_customer("jdoe42").password == "R7#kq&Vx2m~Lp9@Tz4_w"
    (call,) = sb.calls()
    assert (call.provider, call.command, call.account, call.outcome) == ("plesk", "customer/set", "jdoe42", "changed")
    assert call.params["passwd"] == "***" and "R7#kq" not in repr(call)


def test_get_answers_gen_info_as_the_fixture(sb):
    r = plesk(sb, get_packet())
    assert r.text == fixture("get_active.xml")
    suspended = plesk(sb, get_packet("oldshop")).text
    assert "<status>16</status>" in suspended and "<login>oldshop</login>" in suspended
    assert [c.outcome for c in sb.calls()] == ["lookup_ok", "lookup_ok"]


def test_an_unknown_login_is_1013(sb):
    assert plesk(sb, set_packet()).text == fixture("set_success.xml")
    assert plesk(sb, set_packet("nobody")).text == fixture("set_error_1013_customer_not_found.xml").replace(
        "jdoe42", "nobody")
    assert plesk(sb, get_packet("nobody")).text == fixture("get_error_1013_customer_not_found.xml").replace(
        "jdoe42", "nobody")
    assert [c.outcome for c in sb.calls()][1:] == ["account_not_found", "lookup_empty"]


def test_a_suspended_customers_password_may_still_be_set(sb):
    assert "<status>ok</status>" in plesk(sb, set_packet("oldshop")).text
    assert sb.plesk_customer("oldshop").password == "R7#kq&Vx2m~Lp9@Tz4_w"


@pytest.mark.parametrize("passwd,code,outcome_text", [
    ("weakpass1", 1019, fixture("set_error_1019_password_not_complex.xml")),
    ("Abcdefgh1234!@#x", None, None),  # 16, every class: Very strong passes
    ("Abcdefgh1234!@#", 1019, None),  # 15
    ("abcdefgh1234!@#xy", 1019, None),  # no upper case
    ("Xx1!jdoe42Xx1!Zz9#", 1023, None),
    ("Xx1!JDOE42Xx1!Zz9#", 1023, None),
    ("abcd", 1019, None),
    ("Abcdefgh 1234!@#x", 1019, None),
    ("Abcdefgh'1234!@#x", 1019, None),
])
def test_the_password_policy(sb, passwd, code, outcome_text):
    r = plesk(sb, set_packet(passwd=passwd.replace("&", "&amp;")))
    if code is None:
        assert "<status>ok</status>" in r.text and sb.plesk_customer("jdoe42").password == passwd
        return
    assert f"<errcode>{code}</errcode>" in r.text and sb.plesk_customer("jdoe42").password != passwd
    if outcome_text is not None:
        assert r.text == outcome_text
    if code == 1023:
        assert "must not contain the user name" in r.text
    assert sb.calls()[-1].outcome == "invalid_password" and sb.calls()[-1].error_numbers == (code,)


def test_a_weaker_policy_takes_weaker_passwords():
    with Sandbox(seed=default_seed(), plesk_password_policy="very_weak") as sandbox:
        assert "<status>ok</status>" in plesk(sandbox, set_packet(passwd="weakpass1")).text
    with pytest.raises(ValueError):
        Sandbox(plesk_password_policy="strongest")


def test_checkup_errors_come_in_system_as_the_fixtures(sb):
    creds = {"HTTP_AUTH_LOGIN": sb.plesk_api_login, "HTTP_AUTH_PASSWD": sb.plesk_api_password}
    assert plesk(sb, set_packet(), headers={**creds, "HTTP_AUTH_PASSWD": "wrong"}).text == fixture(
        "system_1001_authentication_failed.xml")
    assert plesk(sb, set_packet(), headers={"HTTP_AUTH_LOGIN": sb.plesk_api_login,
                                            "HTTP_AUTH_PASSWORD": sb.plesk_api_password}).text == fixture(
        "system_1029_auth_method_not_specified.xml")
    assert plesk(sb, set_packet(), headers={}).text == fixture("system_1029_auth_method_not_specified.xml")
    assert plesk(sb, set_packet(), headers={"KEY": "wrong"}).text == fixture(
        "system_11003_secret_key_validation_failed.xml")
    no_values = set_packet().replace(b"<values>", b"").replace(b"</values>", b"")
    assert plesk(sb, no_values).text == fixture("system_1014_parser_error.xml")
    assert "<errcode>1005</errcode>" in plesk(sb, set_packet(version="2.0")).text
    assert sb.plesk_customer("jdoe42").password == "Start#2024-Plesk!Jd"  # nothing was executed
    assert [c.outcome for c in sb.calls()] == ["auth_failed"] * 4 + ["bad_request"] * 2


def test_key_mode_and_the_keys_ip():
    with Sandbox(seed=default_seed()) as sandbox:
        r = plesk(sandbox, set_packet(), headers={"KEY": sandbox.plesk_secret_key})
        assert "<status>ok</status>" in r.text and sandbox.calls()[-1].api_user == "(key)"
    with Sandbox(seed=default_seed(), plesk_key_ip="127.0.0.2") as elsewhere:  # a key bound to another IP
        r = plesk(elsewhere, set_packet(), headers={"KEY": elsewhere.plesk_secret_key})
        assert "<errcode>11003</errcode>" in r.text


@pytest.mark.parametrize("body", [
    b"not xml", b"<packet><customer>", b'<!DOCTYPE packet [<!ENTITY x "y">]><packet/>',
    b"<packet><customer><del><filter/></del></customer></packet>",
    b"<packet><customer><get><dataset><gen_info/></dataset><filter/></get></customer></packet>",
    b"<packet><customer><set><filter><login>jdoe42</login></filter><values><gen_info><passwd>Abcdefgh1234!@#x"
    b"</passwd><status>16</status></gen_info></values></set></customer></packet>",
    b"<packet><customer><set><filter><login>jdoe42</login><name>x</name></filter><values><gen_info><passwd>"
    b"Abcdefgh1234!@#x</passwd></gen_info></values></set></customer></packet>",
    b"<packet><webspace><get/></webspace></packet>",
])
def test_packets_the_sandbox_does_not_take_are_1014_and_change_nothing(sb, body):
    r = plesk(sb, body)
    assert r.status_code == 200 and "<errcode>1014</errcode>" in r.text and "<system>" in r.text
    assert sb.plesk_customer("jdoe42").password == "Start#2024-Plesk!Jd"


def test_an_empty_filter_selects_every_customer_as_plesk_documents(sb):
    r = plesk(sb, get_packet(filter_xml="<filter/>"))
    assert r.text.count("<result>") == 2 and "<login>jdoe42</login>" in r.text and "<login>oldshop</login>" in r.text
    assert sb.calls()[-1].outcome == "lookup_ok+lookup_ok"


def test_the_id_filter_and_the_password_field_some_versions_return():
    with Sandbox(seed=default_seed(), plesk_get_returns_password=True) as sandbox:
        r = plesk(sandbox, get_packet(filter_xml="<filter><id>1187</id></filter>"))
        assert "<filter-id>1187</filter-id>" in r.text and "<password>$6$sandbox$" in r.text
        assert "Start#2024" not in r.text


def test_only_post_to_the_agent(sb):
    r = plesk(sb, b"", method="GET")
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    assert plesk(sb, set_packet(), path="/enterprise/control/other.php").status_code == 404
    assert "<status>ok</status>" in plesk(sb, set_packet(), path=AGENT + "/").text


def test_failure_modes(sb):
    sb.set_failure("plesk", "jdoe42", "http_503")
    assert plesk(sb, set_packet()).status_code == 503
    sb.set_failure("plesk", "jdoe42", "empty")
    assert plesk(sb, set_packet()).content == b""
    sb.set_failure("plesk", "jdoe42", "html")
    r = plesk(sb, set_packet())
    assert r.status_code == 200 and r.text.startswith("<!DOCTYPE html>") and 'name="status" value="ok"' in r.text
    sb.set_failure("plesk", "jdoe42", "garbage")
    assert b"<packet" not in plesk(sb, set_packet()).content
    assert sb.plesk_customer("jdoe42").password == "Start#2024-Plesk!Jd"  # none of these executed anything
    sb.set_failure("plesk", "jdoe42", "truncated", times=1)
    r = plesk(sb, set_packet())
    assert r.text == fixture("set_success.xml")[: len(fixture("set_success.xml")) // 2]
    assert sb.plesk_customer("jdoe42").password == "R7#kq&Vx2m~Lp9@Tz4_w"  # the change happened
    assert sb.calls()[-1].outcome == "changed+fail:truncated"
    with pytest.raises(ValueError):
        sb.set_failure("plesk", "jdoe42", "5050900")


def test_a_timeout_holds_the_request_until_stop():
    sandbox = Sandbox(seed=default_seed(), hold_seconds=30).start()
    sandbox.set_failure("plesk", "jdoe42", "timeout")
    outcome: list = []
    thread = threading.Thread(target=lambda: outcome.append(_swallow(lambda: plesk(sandbox, set_packet()))))
    thread.start()
    assert sandbox.wait_for_pending(1, timeout=5)
    started = time.monotonic()
    sandbox.stop()
    thread.join(timeout=5)
    assert time.monotonic() - started < 5 and outcome and outcome[0] is None
    assert sandbox.calls()[0].outcome == "fail:timeout"


def _swallow(call):
    try:
        return call()
    except requests.RequestException:
        return None


def test_the_seed_has_a_demo_customer_and_a_suspended_one(tmp_path):
    customers = {c.login: c for c in default_seed().plesk_customers}
    assert customers["jdoe42"].status == 0 and customers["jdoe42"].customer_id == 1187
    assert customers["oldshop"].status == 16
    path = tmp_path / "seed.json"
    path.write_text(json.dumps({"plesk_customers": [{"login": "seeded", "password": "Seed#2024-xyzXYZ1", "status": 256}]}))
    seed = load_seed(path)
    assert isinstance(seed, SandboxSeed) and seed.plesk_customers == [
        PleskCustomer(login="seeded", password="Seed#2024-xyzXYZ1", status=256)]
    with Sandbox(seed=seed) as sandbox:
        assert sandbox.plesk_customer("seeded").customer_id == 1187 and sandbox.plesk_customer("seeded").guid


def test_the_bot_is_pointed_at_the_sandbox_with_login_and_password(sb):
    environment = sb.bot_environments()["plesk"]
    assert environment.url == sb.plesk_url and environment.variables == {
        "PLESK_API_URL": sb.plesk_url, "PLESK_API_LOGIN": "sandbox-plesk-admin",
        "PLESK_API_PASSWORD": "sandbox-plesk-password"}
