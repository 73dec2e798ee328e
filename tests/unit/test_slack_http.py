"""bot/slack_http.py: the app's Slack client keeps its connections open, and answers, fails and retries as
slack_sdk's urllib transport did (the simulated Slack of devkit/slack answers over real HTTP on loopback)."""

from __future__ import annotations

import base64
import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.error import URLError
from urllib.parse import urlsplit

import pytest
from slack_sdk.errors import SlackApiError

from bot.app import make_slack_client
from bot.config import Settings
from bot.secret import Secret
from bot.slack_http import IDLE_SECONDS, PooledWebClient, PooledWebhookClient, SlackConnections
from devkit.slack import SlackSim
from tests.relay import pipe

APPROVALS, ENGINEER = "C0APPROVALS", "U0ENGINEER1"


@pytest.fixture
def sim():
    with SlackSim(socket_mode=False) as sim:
        sim.add_user(ENGINEER, "engineer")
        sim.add_channel(APPROVALS, "pw-reset-approvals", members=[ENGINEER])
        yield sim


def client_for(sim: SlackSim, api_url: str | None = None):
    return make_slack_client(Settings(slack_bot_token=Secret("xoxb-test"), slack_api_url=api_url or sim.api_url))


def test_calls_share_one_kept_connection(sim):
    client = client_for(sim)
    for i in range(5):
        assert client.chat_postMessage(channel=APPROVALS, text=f"card {i}")["ok"]
    client.chat_update(channel=APPROVALS, ts=sim.messages(APPROVALS)[0].ts, text="edited")
    assert [m.text for m in sim.messages(APPROVALS)][1:] == [f"card {i}" for i in range(1, 5)]
    assert sim.connections_accepted == 1  # slack_sdk's own transport opened one a call


def test_response_url_posts_share_the_client_connections(sim):
    client = client_for(sim)
    client.auth_test()
    urls = [sim._issue_response_url(ENGINEER, "C0HELPDESK") for _ in range(3)]  # as a slash command's payload has
    accepted = sim.connections_accepted
    for n, url in enumerate(urls):
        answer = PooledWebhookClient(url, connections=client.connections).send(text=f"status {n}")
        assert (answer.status_code, answer.body) == (200, "ok")
    assert [e.text for e in sim.ephemerals(ENGINEER) if e.source == "response_url"] == ["status 0", "status 1",
                                                                                          "status 2"]
    assert sim.connections_accepted == accepted  # the kept one


def test_a_connection_slack_closed_while_idle_is_replaced(sim):
    client = client_for(sim)
    assert client.chat_postMessage(channel=APPROVALS, text="before")["ok"]
    assert sim.drop_connections() == 1
    assert client.chat_postMessage(channel=APPROVALS, text="after")["ok"]
    assert [m.text for m in sim.messages(APPROVALS)] == ["before", "after"]  # posted once each
    assert sim.connections_accepted == 2


def test_an_error_answer_is_slack_api_error_with_the_answer(sim):
    client = client_for(sim)
    sim.fail_next("chat.postMessage", status=200, error="channel_not_found")
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel=APPROVALS, text="x")
    assert raised.value.response["error"] == "channel_not_found"
    assert sim.messages(APPROVALS) == []


def test_rate_limited_calls_wait_retry_after_and_are_retried(sim):
    client = client_for(sim)
    sim.fail_next("chat.postMessage", status=429, retry_after=0)
    assert client.chat_postMessage(channel=APPROVALS, text="once")["ok"]
    assert [c.status for c in sim.calls_to("chat.postMessage")] == [429, 200]
    assert [m.text for m in sim.messages(APPROVALS)] == ["once"]

    sim.fail_next("chat.postMessage", status=429, retry_after=0, count=3)  # beyond the handler's 2 retries
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel=APPROVALS, text="never")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "0"


def test_a_server_error_is_retried_only_for_a_call_that_may_repeat(sim):
    client = client_for(sim)
    client.chat_postMessage(channel=APPROVALS, text="card")
    ts = sim.messages(APPROVALS)[0].ts
    sim.fail_next("chat.update", status=503)
    assert client.chat_update(channel=APPROVALS, ts=ts, text="edited")["ok"]
    sim.fail_next("chat.postMessage", status=503)
    with pytest.raises(SlackApiError) as raised:  # a repeated post could post twice
        client.chat_postMessage(channel=APPROVALS, text="again")
    assert raised.value.response.status_code == 503
    assert [c.status for c in sim.calls_to("chat.update")] == [503, 200]


def test_no_server_is_a_urlerror_as_urllib_raised(sim):
    dead = SlackSim(socket_mode=False)
    url = dead.api_url
    dead.stop()
    with pytest.raises(URLError):
        client_for(sim, api_url=url).auth_test()


def test_an_answer_later_than_the_timeout_is_a_timeout(sim):
    client = client_for(sim)
    client.timeout = 0.2
    sim.web_api_latency = 1.0
    with pytest.raises(TimeoutError):
        client.auth_test()


class _ForwardingProxy(ThreadingHTTPServer):
    """An HTTP proxy on loopback: forwards each absolute-form request, and records what it was sent."""

    daemon_threads = True

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []  # (request target, Proxy-Authorization)
        self.connections = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_POST(self):
                target = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.seen.append((self.path, self.headers.get("Proxy-Authorization")))
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
                forwarded = {k: v for k, v in self.headers.items()
                             if k.lower() not in ("proxy-authorization", "proxy-connection", "connection")}
                upstream.request("POST", target.path + (f"?{target.query}" if target.query else ""), body, forwarded)
                answer = upstream.getresponse()
                data = answer.read()
                upstream.close()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("connection", "content-length", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    def process_request(self, request, client_address) -> None:
        self.connections += 1
        super().process_request(request, client_address)


def test_a_proxy_from_https_proxy_carries_the_kept_connections(sim, monkeypatch):
    proxy = _ForwardingProxy()
    try:
        monkeypatch.setenv("HTTPS_PROXY", f"http://relay:p%40ss@127.0.0.1:{proxy.server_address[1]}")
        client = client_for(sim)
        for i in range(3):
            assert client.chat_postMessage(channel=APPROVALS, text=f"via proxy {i}")["ok"]
        hook = PooledWebhookClient(sim._issue_response_url(ENGINEER, "C0HELPDESK"), connections=client.connections)
        assert hook.send(text="status").status_code == 200
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert [m.text for m in sim.messages(APPROVALS)] == [f"via proxy {i}" for i in range(3)]
    assert [target for target, _ in proxy.seen][:3] == [f"{sim.api_url}chat.postMessage"] * 3
    assert len(proxy.seen) == 4
    assert {auth for _, auth in proxy.seen} == {"Basic " + base64.b64encode(b"relay:p@ss").decode()}
    assert proxy.connections == 1  # one kept connection to the proxy; slack_sdk's transport opened one a call


def test_as_many_calls_at_once_as_the_app_has_threads_keep_their_connections(sim, caplog):
    """More calls in flight than a default pool keeps (32): each keeps its connection for the next round, and
    urllib3 has nothing to warn of (it warns of every connection a full pool discards)."""
    from concurrent.futures import ThreadPoolExecutor

    client = client_for(sim)
    sim.web_api_latency = 0.2  # every call of a round is in flight at once
    calls = 40

    def round_of_calls() -> list[bool]:
        with ThreadPoolExecutor(max_workers=calls) as pool:
            return list(pool.map(lambda i: client.auth_test()["ok"], range(calls)))

    with caplog.at_level("WARNING", logger="urllib3"):
        assert round_of_calls() == [True] * calls
        opened = sim.connections_accepted
        assert round_of_calls() == [True] * calls
    assert opened > 32
    assert sim.connections_accepted == opened  # the second round opened none
    assert not [r for r in caplog.records if r.name.startswith("urllib3")]


def test_a_connection_idle_past_the_limit_is_replaced_not_reused(sim):
    """A NAT or firewall may drop an idle connection without a word to either end; a request sent on it would
    wait the whole timeout. Past IDLE_SECONDS (30) a kept connection is closed before its next use."""
    now = [1000.0]
    connections = SlackConnections(proxy=None, clock=lambda: now[0])
    client = PooledWebClient(token="xoxb-test", base_url=sim.api_url, connections=connections)
    client.auth_test()
    now[0] += IDLE_SECONDS - 1
    client.auth_test()
    assert sim.connections_accepted == 1
    now[0] += IDLE_SECONDS + 1
    assert client.chat_postMessage(channel=APPROVALS, text="after a quiet spell")["ok"]
    assert sim.connections_accepted == 2
    assert [m.text for m in sim.messages(APPROVALS)] == ["after a quiet spell"]


class _TunnellingProxy(ThreadingHTTPServer):
    """An HTTP proxy on loopback that only tunnels (CONNECT host:port), as egress proxies for HTTPS do."""

    daemon_threads = True

    def __init__(self) -> None:
        self.tunnels: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_CONNECT(self):
                proxy.tunnels.append(self.path)
                host, port = self.path.rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)), timeout=10)
                self.send_response(200, "Connection established")
                self.end_headers()
                self.close_connection = True

                back = threading.Thread(target=pipe, args=(upstream, self.connection), daemon=True)
                back.start()
                pipe(self.connection, upstream)
                back.join(timeout=5)
                upstream.close()

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()


def test_over_https_a_proxy_keeps_one_tunnel_for_every_call(tmp_path, monkeypatch):
    from devkit.slack.tls import self_signed

    context, cert_file = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # the default trust store, as in bench --slack-tls
    proxy = _TunnellingProxy()
    try:
        with SlackSim(socket_mode=False, web_api_tls=context) as tls_sim:
            tls_sim.add_channel(APPROVALS, "pw-reset-approvals", members=[])
            monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
            client = client_for(tls_sim)
            for i in range(3):
                assert client.chat_postMessage(channel=APPROVALS, text=f"tunnelled {i}")["ok"]
            assert [m.text for m in tls_sim.messages(APPROVALS)] == [f"tunnelled {i}" for i in range(3)]
            assert tls_sim.connections_accepted == 1
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert proxy.tunnels == [f"127.0.0.1:{urlsplit(tls_sim.api_url).port}"]  # one CONNECT for the three calls
