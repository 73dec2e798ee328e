"""Delivering to the app as Slack does: over an open Socket Mode connection, else as signed HTTP POSTs."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

from devkit.slack.records import Ack


class Delivery:
    """Chooses the transport for each payload; `deliver_raw` sends hostile ones as-is."""

    signing_secret: str
    http_url: str | None

    def _deliver(self, kind: str, payload: Any, *, accepts_response_payload: bool = False,
                 retry_attempt: int | None = None, retry_reason: str | None = None) -> Ack:
        picked = self._pick_connection()
        if picked is None and not self.http_url and self._socket_ever:
            # a reconnect is under way (disconnect frame, replica restart): Slack queues meanwhile
            try:
                self.wait_for(lambda: self.connections() > 0, timeout=5.0, message="a socket connection")
            except AssertionError:
                pass
            picked = self._pick_connection()
        if picked is not None:
            ack = self._deliver_socket(picked, kind, payload, accepts_response_payload, retry_attempt, retry_reason)
        elif self.http_url:
            ack = self._deliver_http(kind, payload, retry_attempt=retry_attempt, retry_reason=retry_reason)
        else:
            raise RuntimeError("no app is connected: open a Socket Mode connection or set sim.http_url")
        ack.payload = payload
        return ack

    def sign(self, body: bytes, timestamp: str | None = None) -> dict:
        """Slack's signing headers for ``body``."""
        ts = timestamp if timestamp is not None else str(int(time.time()))
        base = b"v0:" + ts.encode() + b":" + body
        sig = "v0=" + hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}

    @staticmethod
    def _http_body(kind: str, payload: Any) -> tuple[bytes, str]:
        if isinstance(payload, (bytes, str)):
            raw = payload.encode() if isinstance(payload, str) else payload
            ctype = "application/json" if kind == "events_api" else "application/x-www-form-urlencoded"
            return raw, ctype
        if kind == "slash_commands":
            return urlencode(payload).encode(), "application/x-www-form-urlencoded"
        if kind == "interactive":
            return urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded"
        return json.dumps(payload).encode(), "application/json"

    def _deliver_http(self, kind: str, payload: Any, *, retry_attempt=None, retry_reason=None,
                      timestamp: str | None = None, signature: str | None = None,
                      headers: dict | None = None, url: str | None = None) -> Ack:
        raw, ctype = self._http_body(kind, payload)
        hdrs = {"Content-Type": ctype, "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}
        hdrs.update(self.sign(raw, timestamp))
        if signature is not None:
            hdrs["X-Slack-Signature"] = signature
        if retry_attempt:
            hdrs["X-Slack-Retry-Num"] = str(retry_attempt)
            hdrs["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        hdrs.update(headers or {})
        req = urllib.request.Request(url or self.http_url, data=raw, headers=hdrs, method="POST")
        start = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=self.ack_wait if self.ack_wait is not None else 10.0) as resp:
                status, data, rtype = resp.status, resp.read(), resp.headers.get("Content-Type") or ""
        except urllib.error.HTTPError as e:
            status, data, rtype = e.code, e.read(), e.headers.get("Content-Type") or ""
        except (TimeoutError, urllib.error.URLError) as e:
            reason = getattr(e, "reason", e)
            if isinstance(reason, TimeoutError) or isinstance(e, TimeoutError):
                return Ack(0, None, time.monotonic() - start, True, transport="http")
            raise
        latency = time.monotonic() - start
        text = data.decode("utf-8", errors="replace")
        body: Any = None
        if text.strip():
            body = text
            if "json" in rtype.lower():
                try:
                    body = json.loads(text)
                except ValueError:
                    pass
        return Ack(status, body, latency, latency > self.ack_timeout, transport="http")

    def deliver_raw(self, kind: str, payload: Any, *, transport: str | None = None,
                    timestamp: str | None = None, signature: str | None = None,
                    headers: dict | None = None, envelope: dict | None = None,
                    accepts_response_payload: bool = False,
                    retry_attempt: int | None = None, retry_reason: str | None = None) -> Ack:
        """Send any payload, as-is, for hostile/malformed-input tests.

        ``kind``: "slash_commands" | "interactive" | "events_api". ``payload``: a dict (encoded
        like Slack would) or raw bytes/str for HTTP. HTTP overrides: ``timestamp`` (e.g. 301 s
        old), ``signature`` (forged), ``headers``. Socket Mode: ``envelope`` replaces the whole
        frame. ``transport``: "http" / "socket" / None (automatic)."""
        if transport == "http" or (transport is None and self.connections() == 0 and self.http_url):
            return self._deliver_http(kind, payload, retry_attempt=retry_attempt, retry_reason=retry_reason,
                                      timestamp=timestamp, signature=signature, headers=headers)
        picked = self._pick_connection()
        if picked is None:
            raise RuntimeError("no socket mode connection")
        return self._deliver_socket(picked, kind, payload, accepts_response_payload, retry_attempt,
                                    retry_reason, envelope=envelope)
