"""Retry rules (docs/providers.md §1.6, §2.8; docs/provider-cpanel.md §7) and the Namecheap client-side call
budget."""

from __future__ import annotations

import threading

import pytest

from bot.providers import AMBIGUOUS, Outcome
from bot.providers.namecheap import (
    CALLS_PER_WINDOW,
    DEFAULT_BUDGET,
    WINDOW_SECONDS,
    InProcessCallBudget,
    NamecheapClient,
)
from tests.providers.conftest import (
    CPANEL_PASSWORD,
    CPANEL_SUCCESS,
    CPANEL_USER,
    FIXTURES,
    MOFH_KEY,
    MOFH_PASSWORD,
    MOFH_SUCCESS,
    NC_SUCCESS,
    plain_session,
)

NEW = "Vt8#qLm2!xR7pWz~"


def _nc(client):
    return client.change_password(NEW, username="owner1", old_password="OldPass1")


# ------------------------------------------------------------------------------------------ MOFH


def test_mofh_timeout_then_success_retries_once_with_the_same_password(server, make_mofh):
    server.enqueue(200, behaviour="hang")
    server.enqueue(200, MOFH_SUCCESS)
    result = make_mofh(timeout=(0.5, 0.5)).change_password(MOFH_KEY, MOFH_PASSWORD)
    assert (result.outcome, result.attempts) == (Outcome.CHANGED, 2)
    first, second = server.requests
    assert first.body == second.body
    assert first.form["pass"] == [MOFH_PASSWORD]


def test_mofh_retry_after_timeout_may_meet_the_identical_password_answer(server, make_mofh):
    server.enqueue(200, behaviour="hang")
    server.enqueue(200, (FIXTURES / "mofh/passwd_identical_password.xml").read_bytes())
    result = make_mofh(timeout=(0.5, 0.5)).change_password(MOFH_KEY, MOFH_PASSWORD)
    assert (result.outcome, result.attempts, result.ok) == (Outcome.CHANGED_IDEMPOTENT, 2, True)


def test_mofh_5xx_then_success(server, make_mofh):
    server.enqueue(502, b"<html><title>Bad gateway</title></html>")
    server.enqueue(200, MOFH_SUCCESS)
    result = make_mofh().change_password(MOFH_KEY, MOFH_PASSWORD)
    assert (result.outcome, result.attempts) == (Outcome.CHANGED, 2)


def test_mofh_503_twice_gives_up(server, make_mofh):
    server.set_default(503, (FIXTURES / "mofh/http_503_html.html").read_bytes())
    result = make_mofh().change_password(MOFH_KEY, MOFH_PASSWORD)
    assert (result.outcome, result.attempts, result.retryable) == (Outcome.PROVIDER_UNAVAILABLE, 2, True)
    assert result.http_status == 503 and len(server.requests) == 2
    assert result.provider_message == "503 Service Unavailable"


@pytest.mark.parametrize(
    "fixture",
    ["mofh/auth_invalid_api_username.txt", "mofh/auth_ip_not_allowed.txt", "mofh/passwd_username_too_long.txt",
     "mofh/passwd_password_too_short.txt", "mofh/passwd_account_not_active_x_suspended.xml",
     "mofh/passwd_empty_body.txt"],
)
def test_mofh_provider_answers_are_not_retried(server, make_mofh, fixture):
    server.set_default(200, (FIXTURES / fixture).read_bytes())
    result = make_mofh().change_password(MOFH_KEY, MOFH_PASSWORD)
    assert result.attempts == 1 and len(server.requests) == 1 and not result.retryable


def test_mofh_retry_delay_is_used(server, make_mofh):
    server.set_default(503, b"down")
    client = make_mofh(retry_delay=0.25)
    slept = []
    client._sleep = slept.append
    client.change_password(MOFH_KEY, MOFH_PASSWORD)
    assert slept == [0.25]


def test_mofh_ip_message_names_the_ip(server, make_mofh):
    server.set_default(200, (FIXTURES / "mofh/auth_ip_not_allowed.txt").read_bytes())
    result = make_mofh().change_password(MOFH_KEY, MOFH_PASSWORD)
    assert result.outcome is Outcome.IP_NOT_ALLOWED and "198.51.100.23" in result.message


# ------------------------------------------------------------------------------------- Namecheap


@pytest.mark.parametrize(
    "status,body,behaviour",
    [(200, (FIXTURES / "namecheap/changepassword_error_5050900_unhandled.xml").read_bytes(), "normal"),
     (500, b"Internal Server Error", "normal"), (502, b"", "normal"), (200, b"", "hang")],
)
def test_namecheap_ambiguous_failures_are_sent_exactly_once(server, make_namecheap, status, body, behaviour):
    server.set_default(status, body, behaviour=behaviour)
    result = _nc(make_namecheap(timeout=(0.5, 0.5)))
    assert len(server.requests) == 1 and result.attempts == 1
    assert result.retryable is False and result.certainty == AMBIGUOUS and not result.ok


def test_namecheap_405_then_success(server, make_namecheap):
    server.enqueue(405, b"")
    server.enqueue(200, NC_SUCCESS)
    result = _nc(make_namecheap())
    assert (result.outcome, result.attempts) == (Outcome.CHANGED, 2)
    assert len(server.requests) == 2 and server.requests[0].body == server.requests[1].body


def test_namecheap_405_until_backoff_runs_out(server, make_namecheap):
    server.set_default(405, b"")
    client = make_namecheap(rate_limit_backoff=(0.5, 1.5))
    slept = []
    client._sleep = slept.append
    result = _nc(client)
    assert (result.outcome, result.retryable, result.attempts) == (Outcome.RATE_LIMITED, True, 3)
    assert slept == [0.5, 1.5] and len(server.requests) == 3


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_in_process_budget_rolls_its_window():
    clock = FakeClock()
    budget = InProcessCallBudget(clock=clock)
    for _ in range(20):
        assert budget.try_acquire("k", limit=20, window_seconds=60) == 0.0
        clock.now += 1
    assert budget.try_acquire("k", limit=20, window_seconds=60) == pytest.approx(40.0)
    assert budget.try_acquire("other", limit=20, window_seconds=60) == 0.0
    clock.now = 1060.0  # the first call leaves the window
    assert budget.try_acquire("k", limit=20, window_seconds=60) == 0.0
    assert budget.try_acquire("k", limit=20, window_seconds=60) == pytest.approx(1.0)


def test_in_process_budget_is_thread_safe():
    budget = InProcessCallBudget(clock=FakeClock())
    granted = []
    barrier = threading.Barrier(40)

    def grab():
        barrier.wait()
        granted.append(budget.try_acquire("k", limit=20, window_seconds=60) == 0.0)

    threads = [threading.Thread(target=grab) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(True) == 20


def test_21st_call_in_the_window_is_refused_without_sending(server, make_namecheap):
    server.set_default(200, NC_SUCCESS)
    clock = FakeClock()
    client = make_namecheap(budget=InProcessCallBudget(clock=clock))
    for _ in range(CALLS_PER_WINDOW):
        assert _nc(client).outcome is Outcome.CHANGED
    result = _nc(client)
    assert (result.outcome, result.retryable, result.attempts) == (Outcome.RATE_LIMITED, True, 0)
    assert result.message == "Namecheap allows 20 calls a minute; try again in 60 s."
    assert len(server.requests) == CALLS_PER_WINDOW
    clock.now += WINDOW_SECONDS
    assert _nc(client).outcome is Outcome.CHANGED


def test_budget_is_shared_by_clients_of_the_same_api_user(server, make_namecheap):
    server.set_default(200, NC_SUCCESS)
    budget = InProcessCallBudget(clock=FakeClock())
    one, two = make_namecheap(budget=budget), make_namecheap(budget=budget)
    other = make_namecheap(budget=budget, api_user="someoneelse")
    for i in range(CALLS_PER_WINDOW):
        assert _nc(one if i % 2 else two).ok
    assert _nc(one).outcome is Outcome.RATE_LIMITED and _nc(two).outcome is Outcome.RATE_LIMITED
    assert _nc(other).ok


class RecordingBudget:
    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = []

    def try_acquire(self, key, *, limit, window_seconds):
        self.calls.append((key, limit, window_seconds))
        return self.answers.pop(0) if self.answers else 0.0


def test_injected_budget_refusal_names_the_wait(server, make_namecheap):
    budget = RecordingBudget([42.0] * 5)
    result = _nc(make_namecheap(budget=budget))
    assert (result.outcome, result.attempts, result.retryable) == (Outcome.RATE_LIMITED, 0, True)
    assert result.message == "Namecheap allows 20 calls a minute; try again in 42 s."
    assert budget.calls[0] == ("namecheap:acmereseller", 20, 60.0)
    assert server.requests == []


def test_short_budget_wait_is_waited_out(server, make_namecheap):
    server.set_default(200, NC_SUCCESS)
    budget = RecordingBudget([0.05, 0.0])
    result = _nc(make_namecheap(budget=budget))
    assert result.outcome is Outcome.CHANGED and len(budget.calls) == 2 and len(server.requests) == 1


def test_reset_password_counts_against_the_budget_too(server, make_namecheap):
    budget = RecordingBudget([42.0])
    result = make_namecheap(budget=budget).reset_password(find_by="USERNAME", value="owner1")
    assert result.outcome is Outcome.RATE_LIMITED and server.requests == []


def test_default_budget_is_one_shared_instance(server):
    a = NamecheapClient(server.url + "/xml.response", "u1", "k", "203.0.113.10", session=plain_session())
    b = NamecheapClient(server.url + "/xml.response", "u1", "k", "203.0.113.10", session=plain_session())
    assert a.budget is b.budget is DEFAULT_BUDGET


# ---------------------------------------------------------------------------------------- cPanel
# docs/provider-cpanel.md §7: at most 2 attempts, the second with the same fields and only after a timeout, a
# connection error or a 5xx; never after any other answer (readable or not), a 3xx, a 4xx or a local refusal.


def _cp(client):
    return client.change_password(CPANEL_USER, CPANEL_PASSWORD)


@pytest.mark.parametrize("first", [dict(behaviour="hang"), dict(status=500, body=b"<html>boom</html>"),
                                   dict(status=502, body=b""), dict(status=503, body=b"down"),
                                   dict(status=200, body=CPANEL_SUCCESS[:40], behaviour="cut")])
def test_cpanel_retries_once_with_the_same_fields_after_a_timeout_a_5xx_or_a_cut(server, make_cpanel, first):
    server.enqueue(**first)
    server.enqueue(200, CPANEL_SUCCESS)
    result = _cp(make_cpanel(timeout=(0.5, 0.5)))
    assert (result.outcome, result.attempts) == (Outcome.CHANGED, 2)
    one, two = server.requests
    assert one.body == two.body and one.form["password"] == [CPANEL_PASSWORD]
    assert one.header("Authorization") == two.header("Authorization")


def test_cpanel_5xx_twice_gives_up_retryable(server, make_cpanel):
    server.set_default(503, (FIXTURES / "cpanel/http_500_html.html").read_bytes())
    result = _cp(make_cpanel())
    assert (result.outcome, result.attempts, result.retryable) == (Outcome.PROVIDER_UNAVAILABLE, 2, True)
    assert result.http_status == 503 and len(server.requests) == 2
    assert result.provider_message == "500 Internal Server Error"  # the page's title, not the page


def test_cpanel_timeout_twice_is_ambiguous_and_retryable(server, make_cpanel):
    server.set_default(200, behaviour="hang")
    result = _cp(make_cpanel(timeout=(0.4, 0.4)))
    assert (result.outcome, result.attempts, result.retryable) == (Outcome.PROVIDER_UNAVAILABLE, 2, True)
    assert result.certainty == AMBIGUOUS and len(server.requests) == 2


@pytest.mark.parametrize("status,body", [
    *[(200, (FIXTURES / "cpanel" / name).read_bytes()) for name in (
        "passwd_error_not_owner.json", "passwd_error_suspended.json", "passwd_error_too_weak.json",
        "passwd_error_hook_halted.json", "passwd_error_unrecognised.json", "passwd_no_metadata.json",
        "passwd_empty_body.txt", "passwd_truncated.json", "auth_metadata_permission_denied.json",
        "auth_cpanelresult_access_denied.json")],
    (401, b"Access denied"), (403, b"<html><title>403 Forbidden</title></html>"), (404, b"Not Found"),
    (405, b""), (413, b""), (301, b""), (302, b""), (307, b""), (308, b""), (200, b"<html>login</html>"),
])
def test_cpanel_any_other_answer_is_sent_exactly_once(server, make_cpanel, status, body):
    server.set_default(status, body, headers={"Location": "http://127.0.0.1:9/x"} if 300 <= status < 400 else {})
    result = _cp(make_cpanel())
    assert result.attempts == 1 and len(server.requests) == 1 and not result.ok


def test_cpanel_local_refusals_send_nothing_and_are_not_retried(server, make_cpanel):
    client = make_cpanel()
    for result in (client.change_password("root", CPANEL_PASSWORD), client.change_password(CPANEL_USER, "abc")):
        assert result.attempts == 0 and not result.retryable
    assert server.requests == []


def test_cpanel_lookups_follow_the_same_retry_rule(server, make_cpanel):
    server.enqueue(502, b"")
    server.enqueue(200, (FIXTURES / "cpanel/accountsummary_active.json").read_bytes())
    result = make_cpanel().account_info(username=CPANEL_USER)
    assert (result.outcome, result.attempts) == (Outcome.LOOKUP_OK, 2)
    server.set_default(404, b"Not Found")
    assert make_cpanel().account_info(username=CPANEL_USER).attempts == 1


def test_cpanel_retry_delay_is_used(server, make_cpanel):
    server.set_default(503, b"down")
    client = make_cpanel(retry_delay=0.25)
    slept = []
    client._sleep = slept.append
    _cp(client)
    assert slept == [0.25]


def test_cpanel_connection_refused_is_retried_and_not_ambiguous(make_cpanel):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    result = _cp(make_cpanel(base_url=f"http://127.0.0.1:{port}"))
    assert (result.outcome, result.attempts, result.retryable) == (Outcome.PROVIDER_UNAVAILABLE, 2, True)
    assert result.certainty is None  # nothing reached the server
