"""Slack's Web API and response_url calls over kept-alive connections, instead of one new connection per call.

slack_sdk's clients send each call through urllib, which opens a connection and closes it after
the answer: against slack.com that is a TCP and a TLS handshake per call, about 1 ms of CPU and
one or two round trips before the request leaves (bench/ack_latency.py --slack-tls measures it).
Here one urllib3 pool per process keeps them open. Only the one-request step of each client
(`_perform_*_internal`) is replaced, and it answers and fails as urllib does: an HTTPError for a
status outside 2xx (so the 429 and 5xx retry handlers read its headers), the connection error
itself, wrapped in URLError when no request went out (so ConnectionErrorRetryHandler retries it),
TimeoutError for an answer that did not come in time. slack_sdk still builds every request,
parses every answer and runs its retry handlers. A proxy slack_sdk read from HTTPS_PROXY is used
the same way (a kept tunnel to Slack through it); a client given its own ssl context keeps urllib.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from http.client import HTTPMessage
from typing import Any, cast
from urllib.error import HTTPError, URLError
from urllib.parse import unquote
from urllib.request import Request

import urllib3
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient, WebhookResponse
from urllib3 import exceptions as urllib3_errors
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

# Connections kept per host. More calls at once open more connections, closed after their answer (urllib3
# warns of each): bot/app.py sizes the app's to every thread that may call Slack.
KEPT_CONNECTIONS = 32
# A connection idle longer is closed before its next use, not reused: Slack's side closes idle ones within a
# minute, and a NAT or firewall on the way may drop one without telling either end, when a request sent on it
# would wait the whole timeout for an answer that cannot come.
IDLE_SECONDS = 30.0


class SlackConnections:
    """The process's kept-alive connections to Slack (api and hooks hosts), shared by every client; through
    `proxy` (slack_sdk's, from HTTPS_PROXY; credentials in its URL, as urllib takes them) when set."""

    def __init__(self, maxsize: int = KEPT_CONNECTIONS, *, proxy: str | None = None,
                 idle_seconds: float = IDLE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.proxy = proxy
        self.idle_seconds = idle_seconds
        self.clock = clock
        # retries=False: slack_sdk's retry handlers decide (and redirect=False at each request: Slack's API never
        # redirects, and a redirect must not carry the bot token anywhere).
        options: dict[str, Any] = {"num_pools": 4, "maxsize": maxsize, "block": False, "retries": False}
        if proxy is None:
            self.pool: urllib3.PoolManager = urllib3.PoolManager(**options)
        else:
            auth = urllib3.util.parse_url(proxy).auth
            headers = urllib3.make_headers(proxy_basic_auth=unquote(auth)) if auth else None
            self.pool = urllib3.ProxyManager(proxy, proxy_headers=headers, **options)
        self.pool.pool_classes_by_scheme = {"http": _idle_limited(HTTPConnectionPool, self),
                                            "https": _idle_limited(HTTPSConnectionPool, self)}

    def send(self, req: Request, timeout: float) -> tuple[int, HTTPMessage, bytes]:
        """One POST; (status, headers, body) of a 2xx answer, else what urllib raises (module docstring)."""
        url = req.full_url
        try:
            answer = self.pool.request(req.get_method(), url, body=cast(bytes | None, req.data),  # slack_sdk's are
                                       headers=dict(req.header_items()), redirect=False,
                                       timeout=timeout)  # to connect, and for each read
        except urllib3_errors.ReadTimeoutError:
            raise TimeoutError("Slack did not answer in time") from None
        except (urllib3_errors.NewConnectionError, urllib3_errors.ConnectTimeoutError,
                urllib3_errors.SSLError) as exc:  # no request went out
            raise URLError(exc.args[0] if exc.args else exc) from None
        except urllib3_errors.ProtocolError as exc:  # the connection ended under the request (a kept one closed)
            cause = exc.args[1] if len(exc.args) > 1 else None
            if isinstance(cause, ConnectionResetError):  # RemoteDisconnected too: as http.client raises them
                raise cause from None
            raise URLError(cause if isinstance(cause, OSError) else str(exc)) from None
        except urllib3_errors.HTTPError as exc:
            raise URLError(exc) from None
        headers = HTTPMessage()
        for name, value in answer.headers.items():
            headers[name] = value
        if not 200 <= answer.status < 300:
            raise HTTPError(url, answer.status, answer.reason or "", headers, io.BytesIO(answer.data))
        return answer.status, headers, answer.data


def _idle_limited(base: type[HTTPConnectionPool], connections: SlackConnections) -> type[HTTPConnectionPool]:
    """`base` whose connections idle past `connections.idle_seconds` are closed when next taken (urllib3 then
    opens a new one for the request). Each connection carries when it was put back: between _get_conn and
    _put_conn only the thread that took it touches it."""

    class IdleLimitedPool(base):  # type: ignore[valid-type,misc]  # a base known only at run time
        def _get_conn(self, timeout: float | None = None) -> Any:
            conn = super()._get_conn(timeout)
            kept = getattr(conn, "resetbot_kept_at", None)
            if kept is not None and connections.clock() - kept > connections.idle_seconds:
                conn.close()
            return conn

        def _put_conn(self, conn: Any) -> None:
            if conn is not None:
                conn.resetbot_kept_at = connections.clock()
            super()._put_conn(conn)

    return IdleLimitedPool


def _connections_for(proxy: str | None, maxsize: int = KEPT_CONNECTIONS) -> SlackConnections | None:
    """Connections through `proxy`; None (slack_sdk's own transport) for a proxy URL urllib3 cannot use."""
    try:
        return SlackConnections(maxsize, proxy=proxy)
    except urllib3_errors.HTTPError:  # ProxySchemeUnknown, a URL it cannot parse: urllib may still manage
        return None


def _usable(client: WebClient | WebhookClient) -> SlackConnections | None:
    """The client's kept connections, unless it was given what they do not carry (its own ssl context, another
    proxy): then slack_sdk's own transport."""
    connections: SlackConnections | None = getattr(client, "connections", None)
    if connections is None or connections.proxy != client.proxy or client.ssl is not None:
        return None
    return connections


def _decoded(headers: HTTPMessage, body: bytes) -> str:
    return body.decode(headers.get_content_charset() or "utf-8")


class PooledWebClient(WebClient):
    """WebClient whose calls go over `SlackConnections`."""

    def __init__(self, *args: Any, connections: SlackConnections | None = None,
                 max_connections: int = KEPT_CONNECTIONS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connections = connections or _connections_for(self.proxy, max_connections)

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        connections = _usable(self)
        if connections is None:
            return super()._perform_urllib_http_request_internal(url, req)
        status, headers, body = connections.send(req, self.timeout)
        if headers.get_content_type() == "application/gzip":  # as slack_sdk: admin.analytics.getFile
            return {"status": status, "headers": headers, "body": body}
        return {"status": status, "headers": headers, "body": _decoded(headers, body)}


class PooledWebhookClient(WebhookClient):
    """WebhookClient (response_url posts) whose calls go over `SlackConnections`."""

    def __init__(self, url: str, *args: Any, connections: SlackConnections | None = None, **kwargs: Any) -> None:
        super().__init__(url, *args, **kwargs)
        self.connections = connections or _connections_for(self.proxy)

    def _perform_http_request_internal(self, url: str, req: Request) -> WebhookResponse:
        connections = _usable(self)
        if connections is None:
            return super()._perform_http_request_internal(url, req)
        status, headers, body = connections.send(req, self.timeout)
        return WebhookResponse(url=url, status_code=status, body=_decoded(headers, body),
                               headers=headers)  # type: ignore[arg-type]  # slack_sdk passes urllib's message too
