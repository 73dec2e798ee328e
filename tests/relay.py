"""Copying bytes one way between two sockets, for the loopback proxies some tests put between the bot and a
server (tests/e2e/test_faults.py: OutageProxy; tests/unit/test_slack_http.py: a tunnelling HTTP proxy)."""

from __future__ import annotations

import socket


def pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copy until `source` ends or fails, then shut both down (so the other direction ends too)."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
