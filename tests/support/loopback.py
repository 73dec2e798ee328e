"""A scripted HTTP server on 127.0.0.1:0 that records every request and answers from a queue.

Used by provider-client tests: each test enqueues the answers it wants (status, body,
or a misbehaviour: hang, cut the connection mid-body, trickle) and then inspects
`server.requests` for the request shape.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the query
    query: str
    request_line: str
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        """The form body decoded; a repeated key keeps its last value."""
        parsed = parse_qs(self.body.decode("ascii"), keep_blank_values=True, strict_parsing=False)
        return {key: values[-1] for key, values in parsed.items()}


@dataclass
class Scripted:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    behaviour: str = "normal"  # normal | hang | cut | trickle | huge
    huge_bytes: int = 0


class ScriptedServer:
    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._queue: list[Scripted] = []
        self._default = Scripted(status=500, body=b"no scripted answer")
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                server._record(
                    RecordedRequest(
                        method=self.command,
                        path=parts.path,
                        query=parts.query,
                        request_line=self.requestline,
                        headers={k: v for k, v in self.headers.items()},
                        body=body,
                    )
                )
                answer = server._next()
                server._answer(self, answer)

            do_GET = do_POST = do_PUT = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # -- scripting -------------------------------------------------------------------------
    def enqueue(self, status: int = 200, body: bytes | str = b"", **kwargs) -> None:
        if isinstance(body, str):
            body = body.encode("utf-8")
        with self._lock:
            self._queue.append(Scripted(status=status, body=body, **kwargs))

    def set_default(self, status: int = 200, body: bytes | str = b"", **kwargs) -> None:
        if isinstance(body, str):
            body = body.encode("utf-8")
        self._default = Scripted(status=status, body=body, **kwargs)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next(self) -> Scripted:
        with self._lock:
            return self._queue.pop(0) if self._queue else self._default

    def _answer(self, handler: BaseHTTPRequestHandler, answer: Scripted) -> None:
        if answer.behaviour == "hang":
            self._stopping.wait(120)
            handler.close_connection = True
            return
        handler.send_response(answer.status)
        for key, value in answer.headers.items():
            handler.send_header(key, value)
        if answer.behaviour == "huge":
            handler.send_header("Content-Length", str(answer.huge_bytes))
            handler.end_headers()
            block = b"A" * 65536
            sent = 0
            try:
                while sent < answer.huge_bytes and not self._stopping.is_set():
                    handler.wfile.write(block)
                    sent += len(block)
            except OSError:
                pass
            handler.close_connection = True
            return
        if answer.behaviour == "cut":
            handler.send_header("Content-Length", str(len(answer.body) * 4 + 100))
            handler.end_headers()
            handler.wfile.write(answer.body)
            handler.wfile.flush()
            handler.close_connection = True
            handler.connection.shutdown(2)
            return
        handler.send_header("Content-Length", str(len(answer.body)))
        handler.end_headers()
        if answer.behaviour == "trickle":
            for byte in answer.body:
                if self._stopping.wait(0.2):
                    break
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
            return
        handler.wfile.write(answer.body)

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.01)
        raise AssertionError(f"expected {count} requests, got {len(self.requests)}")
