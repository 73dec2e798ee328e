"""Every provider call has an overall deadline (issue 9 item 16): a server that trickles its answer, a byte at a
time, each byte well inside the read timeout, is cut off at the deadline instead of holding the call for as long
as it likes. Past the deadline the request may have been acted on: `provider_unavailable`, certainty
"ambiguous", retryable as each client's rules say (MyOwnFreeHost and cPanel yes, Namecheap no).
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from bot.providers import AMBIGUOUS, Outcome
from bot.providers.cpanel import CpanelClient
from bot.providers.mofh import MofhClient
from bot.providers.namecheap import InProcessCallBudget, NamecheapClient
from bot.providers.plesk import PleskClient
from tests.providers.conftest import (
    CPANEL_SUCCESS,
    MOFH_KEY,
    MOFH_PASSWORD,
    MOFH_SUCCESS,
    NC_SUCCESS,
    PLESK_SET_SUCCESS,
    plain_session,
)

GAP = 0.2  # seconds between two bytes: far inside the 2 s read timeout the clients get here
DEADLINE = 1.0


class TricklingServer:
    """Reads one request per connection, then sends its answer one byte every GAP seconds.

    `where` is "body" (status line and headers at once, then the body byte by byte) or
    "headers" (the status line and headers byte by byte too). Records when each connection
    stopped taking bytes (the client shut or closed it)."""

    def __init__(self, body: bytes, where: str = "body") -> None:
        self.body, self.where = body, where
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        self.cut_after: list[float] = []  # seconds from the request to the client going away
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:  # stopped
                return
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            while len(rest) < length:
                rest += conn.recv(65536)
            started = time.monotonic()
            headers = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n" % len(self.body)
            if self.where == "body":
                conn.sendall(headers)
                trickled = self.body
            else:
                trickled = headers + self.body
            try:
                for i in range(len(trickled)):
                    if self._stop.wait(GAP):
                        return
                    conn.sendall(trickled[i:i + 1])
            except OSError:
                self.cut_after.append(time.monotonic() - started)

    def stop(self) -> None:
        self._stop.set()
        self.listener.close()


@pytest.fixture
def trickling():
    servers: list[TricklingServer] = []

    def start(body: bytes, where: str = "body") -> TricklingServer:
        servers.append(TricklingServer(body, where))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def _mofh(url: str, **kwargs) -> MofhClient:
    return MofhClient(url, "resellerapi7", "apipw", session=plain_session(), timeout=(2.0, 2.0), retry_delay=0.0,
                      **kwargs)


def _namecheap(url: str) -> NamecheapClient:
    return NamecheapClient(url + "/xml.response", "acmereseller", "key", "203.0.113.10", session=plain_session(),
                           timeout=(2.0, 2.0), budget=InProcessCallBudget(), deadline=DEADLINE)


def _held(call) -> tuple[object, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


@pytest.mark.parametrize("where", ["body", "headers"])
def test_a_trickled_mofh_answer_is_cut_at_the_deadline(trickling, where):
    server = trickling(MOFH_SUCCESS, where)  # ~600 bytes: two minutes at this pace
    result, held = _held(lambda: _mofh(server.url, deadline=DEADLINE).change_password(MOFH_KEY, MOFH_PASSWORD))
    assert held < DEADLINE + 1.0, f"held {held:.1f} s"
    assert (result.outcome, result.certainty, result.retryable) == (Outcome.PROVIDER_UNAVAILABLE, AMBIGUOUS, True)
    assert server.connections == 1  # the deadline covers both attempts: no time was left for a second one
    assert "deadline" in result.message


@pytest.mark.parametrize("where", ["body", "headers"])
def test_a_trickled_namecheap_answer_is_cut_at_the_deadline(trickling, where):
    server = trickling(NC_SUCCESS, where)
    result, held = _held(lambda: _namecheap(server.url).change_password("Vt8#qLm2!xR7pWz~", username="owner1",
                                                                         old_password="OldPass1"))
    assert held < DEADLINE + 1.0, f"held {held:.1f} s"
    assert (result.outcome, result.certainty, result.retryable) == (Outcome.PROVIDER_UNAVAILABLE, AMBIGUOUS, False)
    assert server.connections == 1 and "verify" in result.message


def test_a_trickled_lookup_is_cut_at_its_own_shorter_deadline(trickling):
    server = trickling(b'[["ACTIVE","blog.example.net"]]' + b" " * 200)
    client = _mofh(server.url, deadline=30.0, lookup_deadline=DEADLINE)
    result, held = _held(lambda: client.account_info(vpanel_username="abcd_40312277"))
    assert held < DEADLINE + 1.0, f"held {held:.1f} s"
    assert result.outcome is Outcome.PROVIDER_UNAVAILABLE and not result.ok


def test_past_the_deadline_the_connection_is_shut_not_left_reading(trickling):
    server = trickling(MOFH_SUCCESS)
    _mofh(server.url, deadline=DEADLINE).change_password(MOFH_KEY, MOFH_PASSWORD)
    waited = time.monotonic()
    while not server.cut_after and time.monotonic() - waited < 3:
        time.sleep(0.05)  # the server notices at its next byte, within GAP
    assert server.cut_after and server.cut_after[0] < DEADLINE + 1.0


def test_the_default_deadlines_bound_change_calls_and_lookups():
    client = MofhClient("https://panel.example", "u", "p")
    assert (client.deadline, client.lookup_deadline) == (90.0, 20.0)
    assert NamecheapClient("https://api.example/xml.response", "u", "k", "203.0.113.10").deadline == 90.0


def _cpanel(url: str, **kwargs) -> CpanelClient:
    return CpanelClient(url, "resellerbot", "TOKEN", session=plain_session(), timeout=(2.0, 2.0), retry_delay=0.0,
                        **kwargs)


@pytest.mark.parametrize("where", ["body", "headers"])
def test_a_trickled_cpanel_answer_is_cut_at_the_deadline(trickling, where):
    server = trickling(CPANEL_SUCCESS, where)
    result, held = _held(lambda: _cpanel(server.url, deadline=DEADLINE).change_password("acmeshop", "Xq7vN2mLp9TzR4wBk3Hs"))
    assert held < DEADLINE + 1.0, f"held {held:.1f} s"
    assert (result.outcome, result.certainty, result.retryable) == (Outcome.PROVIDER_UNAVAILABLE, AMBIGUOUS, True)
    assert server.connections == 1 and "deadline" in result.message


def test_a_trickled_cpanel_domain_lookup_is_cut_at_one_lookup_deadline_for_both_calls(trickling):
    server = trickling(b'{"data":{"user":"acmeshop"},"metadata":{"command":"getdomainowner","result":1}}' + b" " * 50)
    client = _cpanel(server.url, deadline=30.0, lookup_deadline=DEADLINE)
    result, held = _held(lambda: client.account_info(domain="acmeshop.example"))
    assert held < DEADLINE + 1.0, f"held {held:.1f} s"
    assert result.outcome is Outcome.PROVIDER_UNAVAILABLE and not result.ok
    assert CpanelClient("https://whm.example.net:2087", "r", "t").lookup_deadline == 20.0


@pytest.mark.parametrize("where", ["body", "headers"])
def test_a_trickled_plesk_answer_is_cut_at_the_deadline(trickling, where):
    server = trickling(PLESK_SET_SUCCESS, where)
    client = PleskClient(server.url, login="admin", password="apipw", session=plain_session(), timeout=(2.0, 2.0),
                         retry_delay=0.0, deadline=DEADLINE, lookup_deadline=DEADLINE)
    result, held = _held(lambda: client.change_password("jdoe42", "R7#kq&Vx2m~Lp9@Tz4_w"))
    assert held < DEADLINE + 1.0, f"held {held:.1f} s"
    assert (result.outcome, result.certainty, result.retryable, result.reason) == (
        Outcome.PROVIDER_UNAVAILABLE, AMBIGUOUS, True, "deadline")
    assert server.connections == 1 and "deadline" in result.message
    looked, held = _held(lambda: client.account_info(login="jdoe42"))
    assert held < DEADLINE + 1.0 and looked.outcome is Outcome.PROVIDER_UNAVAILABLE


def test_the_plesk_default_deadlines_are_the_shared_ones():
    client = PleskClient("https://plesk.example:8443", secret_key="k")
    assert (client.deadline, client.lookup_deadline) == (90.0, 20.0)
