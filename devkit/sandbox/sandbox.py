"""`Sandbox`: the fake providers on loopback, with shared call records, injected failures, delays and holds.

Failure modes (per account): "timeout" holds the request without answering until
`stop()` (or `hold_seconds`), "cut" processes the request (the change happens) and sends
the headers and half the body before closing, "truncated" processes it too but sends no
Content-Length, so half the body and a closed connection read as a whole answer that
cannot be parsed, "http_503" / "http_500" an HTML page, "empty" a 0-byte 200, "garbage"
non-provider bytes, "http_405" the rate-limit answer, "5050900" the Namecheap
unhandled-exception error, "html" (Plesk) the panel's login page with a 200. Only "cut" and
"truncated" change state. cPanel's accounts are keyed by username
(`set_failure("cpanel", "acmeshop", "http_500")`).
`set_failure(..., times=N)` makes a failure clear itself after N answers (e.g. one lost
answer, then a normal retry).

`Sandbox(seed=None)` starts empty; `serve()` and the demo pass `default_seed()`.
`add_*` stores the object given (tests may keep it); seed entries are copied first.
`bot_environments()` says, per provider the registry lists (`SANDBOXED`), how the bot reaches
its sandbox: `resetbot sandbox` prints it and the demo reads its settings from it.
"""

from __future__ import annotations

import copy
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.providers import registry
from devkit.sandbox.cpanel import CPANEL_FAILURES, CPANEL_MIN_STRENGTH, CpanelSandbox
from devkit.sandbox.mofh import MOFH_FAILURES, MofhSandbox
from devkit.sandbox.namecheap import NAMECHEAP_FAILURES, NamecheapSandbox
from devkit.sandbox.plesk import PLESK_FAILURES, PleskSandbox
from devkit.sandbox.seed import SandboxSeed
from devkit.sandbox.server import _GARBAGE, RATE_LIMIT_BODY, _Answer, _masked, _Server, _text

DEFAULT_HOLD_SECONDS = 300.0


@dataclass(frozen=True)
class BotEnvironment:
    """Where one provider's sandbox listens, and the variables that point the bot at it."""

    url: str
    variables: dict[str, str]


def _mofh_environment(sandbox: Sandbox) -> BotEnvironment:
    return BotEnvironment(sandbox.mofh_url, {
        "MOFH_API_URL": sandbox.mofh_url,
        "MOFH_API_USERNAME": sandbox.mofh_api_username,
        "MOFH_API_PASSWORD": sandbox.mofh_api_password,
    })


def _namecheap_environment(sandbox: Sandbox) -> BotEnvironment:
    return BotEnvironment(sandbox.namecheap_url, {
        "NAMECHEAP_API_URL": sandbox.namecheap_url,
        "NAMECHEAP_API_USER": sandbox.namecheap_api_user,
        "NAMECHEAP_API_KEY": sandbox.namecheap_api_key,
        "NAMECHEAP_CLIENT_IP": sandbox.namecheap_client_ip,
    })


def _cpanel_environment(sandbox: Sandbox) -> BotEnvironment:
    return BotEnvironment(sandbox.cpanel_url, {
        "CPANEL_API_URL": sandbox.cpanel_url,
        "CPANEL_API_USERNAME": sandbox.cpanel_api_username,
        "CPANEL_API_TOKEN": sandbox.cpanel_api_token,
    })


def _plesk_environment(sandbox: Sandbox) -> BotEnvironment:
    return BotEnvironment(sandbox.plesk_url, {
        "PLESK_API_URL": sandbox.plesk_url,
        "PLESK_API_LOGIN": sandbox.plesk_api_login,
        "PLESK_API_PASSWORD": sandbox.plesk_api_password,
    })


# The providers with a sandbox here, by registry name (bot/providers/registry.py); a provider
# with none is simply absent, and the bot is then pointed at nothing for it.
SANDBOXED: dict[str, Callable[[Sandbox], BotEnvironment]] = {
    "mofh": _mofh_environment,
    "namecheap": _namecheap_environment,
    "cpanel": _cpanel_environment,
    "plesk": _plesk_environment,
}
FAILURES = {"mofh": MOFH_FAILURES, "namecheap": NAMECHEAP_FAILURES, "cpanel": CPANEL_FAILURES,
            "plesk": PLESK_FAILURES}


@dataclass(frozen=True)
class SandboxCall:
    provider: str  # "mofh" | "namecheap" | "cpanel" | "plesk"
    method: str
    path: str  # without the query string
    # passwd / getuserdomains / getdomainuser / namecheap.users.changePassword / accountsummary / customer/set / ...
    command: str
    remote_ip: str
    api_user: str | None
    # MOFH key / Namecheap username / cPanel username / Plesk login the request targeted, when known
    account: str | None
    outcome: str  # docs/providers.md §4.2 vocabulary, or fail:<mode> / method_not_allowed / not_found
    http_status: int | None  # None when no answer was sent (timeout)
    error_numbers: tuple[int, ...] = ()
    params: dict[str, str] = field(default_factory=dict)  # secrets masked
    at: float = 0.0  # time.time() when recorded


class Sandbox(MofhSandbox, NamecheapSandbox, CpanelSandbox, PleskSandbox):
    """The sandbox MyOwnFreeHost (mofh.py), Namecheap (namecheap.py), cPanel (cpanel.py) and Plesk (plesk.py)
    servers, started and stopped together."""

    def __init__(
        self,
        *,
        mofh_api_username: str = "sandbox-reseller",
        mofh_api_password: str = "sandbox-mofh-password",
        namecheap_api_user: str = "sandboxapi",
        namecheap_api_key: str = "sandbox-namecheap-key",
        namecheap_client_ip: str = "127.0.0.1",
        cpanel_api_username: str = "resellerbot",
        cpanel_api_token: str = "sandbox-cpanel-token",
        cpanel_min_strength: int = CPANEL_MIN_STRENGTH,
        cpanel_denied_functions: frozenset[str] = frozenset(),
        plesk_api_login: str = "sandbox-plesk-admin",
        plesk_api_password: str = "sandbox-plesk-password",
        plesk_secret_key: str = "sandbox-plesk-secret-key",
        plesk_key_ip: str = "127.0.0.1",
        plesk_password_policy: str = "very_strong",
        plesk_get_returns_password: bool = False,
        mofh_allowed_ip: str = "127.0.0.1",
        host: str = "127.0.0.1",
        mofh_port: int = 0,
        namecheap_port: int = 0,
        cpanel_port: int = 0,
        plesk_port: int = 0,
        seed: SandboxSeed | None = None,
        unknown_user_empty_body: bool = False,
        namespaced: bool = True,
        namecheap_rate_limit: int = 20,
        namecheap_rate_window: float = 60.0,
        namecheap_api_locked: bool = False,
        hold_seconds: float = DEFAULT_HOLD_SECONDS,
    ) -> None:
        self.host = host
        self.hold_seconds = hold_seconds
        self._ports = {"mofh": mofh_port, "namecheap": namecheap_port, "cpanel": cpanel_port, "plesk": plesk_port}

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._calls: list[SandboxCall] = []
        self._pending = 0
        self._conns: set[socket.socket] = set()
        self._servers: dict[str, _Server] = {}
        self._threads: list[threading.Thread] = []
        self._fail_budget: dict[int, int] = {}  # id(account) -> answers left with the failure
        self._init_mofh(api_username=mofh_api_username, api_password=mofh_api_password,
                        allowed_ip=mofh_allowed_ip, unknown_user_empty_body=unknown_user_empty_body)
        self._init_namecheap(api_user=namecheap_api_user, api_key=namecheap_api_key,
                             client_ip=namecheap_client_ip, namespaced=namespaced,
                             rate_limit=namecheap_rate_limit, rate_window=namecheap_rate_window,
                             api_locked=namecheap_api_locked)
        self._init_cpanel(api_username=cpanel_api_username, api_token=cpanel_api_token,
                          min_strength=cpanel_min_strength, denied_functions=cpanel_denied_functions)
        self._init_plesk(api_login=plesk_api_login, api_password=plesk_api_password, secret_key=plesk_secret_key,
                         key_ip=plesk_key_ip, policy=plesk_password_policy,
                         get_returns_password=plesk_get_returns_password)

        for account in (seed.mofh_accounts if seed else []):
            self.add_mofh_account(copy.deepcopy(account))
        for user in (seed.namecheap_users if seed else []):
            self.add_namecheap_user(copy.deepcopy(user))
        for cpanel_account in (seed.cpanel_accounts if seed else []):
            self.add_cpanel_account(copy.deepcopy(cpanel_account))
        for customer in (seed.plesk_customers if seed else []):
            self.add_plesk_customer(copy.deepcopy(customer))

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> Sandbox:
        if self._servers:
            return self
        self._stopping.clear()
        try:
            for provider in self._ports:
                server = _Server((self.host, self._ports[provider]), self, provider)
                self._servers[provider] = server
        except OSError:
            for server in self._servers.values():
                server.server_close()
            self._servers.clear()
            raise
        for provider, server in self._servers.items():
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.02},
                name=f"sandbox-{provider}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop the servers; held (timeout / delayed) requests are released and their sockets closed."""
        self._stopping.set()
        servers, self._servers = list(self._servers.values()), {}
        stoppers = [threading.Thread(target=server.shutdown, daemon=True) for server in servers]
        for stopper in stoppers:  # every serve_forever loop notices within one poll interval
            stopper.start()
        for stopper in stoppers:
            stopper.join(timeout=2)
        for server in servers:
            server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout=2)
        self._threads.clear()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _port(self, provider: str) -> int:
        server = self._servers.get(provider)
        if server is None:
            raise RuntimeError("sandbox is not started")
        return server.server_address[1]

    @property
    def mofh_url(self) -> str:
        return f"http://{self.host}:{self._port('mofh')}"

    @property
    def namecheap_url(self) -> str:
        return f"http://{self.host}:{self._port('namecheap')}/xml.response"

    @property
    def cpanel_url(self) -> str:
        """WHM's base URL: the bot appends /json-api/<function>."""
        return f"http://{self.host}:{self._port('cpanel')}"

    @property
    def plesk_url(self) -> str:
        """The panel's base URL, as PLESK_API_URL takes it (the client appends /enterprise/control/agent.php)."""
        return f"http://{self.host}:{self._port('plesk')}"

    def bot_environments(self) -> dict[str, BotEnvironment]:
        """Per sandboxed provider the registry lists, in registry order: its URL and the bot's variables for it."""
        return {name: SANDBOXED[name](self) for name in registry.names() if name in SANDBOXED}

    def calls(self) -> list[SandboxCall]:
        with self._lock:
            return list(self._calls)

    def wait_for_calls(self, n: int, timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self._calls) >= n, timeout)

    def pending(self) -> int:
        """Requests received and not yet answered (held by a delay or a timeout failure)."""
        with self._lock:
            return self._pending

    def wait_for_pending(self, n: int, timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._pending >= n, timeout)

    def _target(self, provider: str, account: str):
        if provider == "mofh":
            return self.mofh_account(account)
        if provider == "namecheap":
            return self.namecheap_user(account)
        if provider == "cpanel":
            return self.cpanel_account(account)
        if provider == "plesk":
            return self.plesk_customer(account)
        raise ValueError("provider must be 'mofh', 'namecheap', 'cpanel' or 'plesk'")

    def set_delay(self, provider: str, account: str, seconds: float) -> None:
        with self._lock:
            self._target(provider, account).delay = float(seconds)

    def set_failure(self, provider: str, account: str, mode: str | None, *, times: int | None = None) -> None:
        """Inject a failure mode (None clears it). With `times`, it clears itself after that many answers."""
        allowed = FAILURES.get(provider, NAMECHEAP_FAILURES)
        if mode is not None and mode not in allowed:
            raise ValueError(f"failure mode must be one of {sorted(allowed)} or None")
        with self._lock:
            target = self._target(provider, account)
            target.fail = mode
            if mode is not None and times is not None:
                self._fail_budget[id(target)] = int(times)
            else:
                self._fail_budget.pop(id(target), None)

    def _take_failure(self, target) -> tuple[float, str | None]:
        """(delay, failure mode) for one request to `target`; uses up one limited failure (lock held)."""
        if target is None:
            return 0.0, None
        fail = target.fail
        if fail is not None and id(target) in self._fail_budget:
            self._fail_budget[id(target)] -= 1
            if self._fail_budget[id(target)] <= 0:
                del self._fail_budget[id(target)]
                target.fail = None
        return target.delay, fail

    # -- internals ------------------------------------------------------------------------------
    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    class _InFlight:
        def __init__(self, sandbox: Sandbox) -> None:
            self.sandbox = sandbox

        def __enter__(self):
            with self.sandbox._cond:
                self.sandbox._pending += 1
                self.sandbox._cond.notify_all()

        def __exit__(self, *exc):
            with self.sandbox._cond:
                self.sandbox._pending -= 1
                self.sandbox._cond.notify_all()

    def _in_flight(self) -> _InFlight:
        return Sandbox._InFlight(self)

    def _hold(self, seconds: float) -> bool:
        """Wait `seconds`; False when stop() cut the wait short."""
        if seconds <= 0:
            return not self._stopping.is_set()
        return not self._stopping.wait(seconds)

    def _record(
        self, provider, request, command, *, api_user, account, outcome, status, errors=(), params=None
    ) -> None:
        call = SandboxCall(
            provider=provider,
            method=request.method,
            path=request.path,
            command=command,
            remote_ip=request.ip,
            api_user=api_user,
            account=account,
            outcome=outcome,
            http_status=status,
            error_numbers=tuple(errors),
            params=_masked(params or {}),
            at=time.time(),
        )
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    def _injected(self, mode: str, *, html: str) -> _Answer | None:
        """The answer of a transport-level failure mode, or None when `mode` is processed normally."""
        if mode == "timeout":
            self._hold(self.hold_seconds)
            return _Answer(mode="drop")
        if mode in ("http_503", "http_500"):
            return _text(html, status=int(mode[5:]))
        if mode == "empty":
            return _Answer(body=b"")
        if mode == "garbage":
            return _Answer(body=_GARBAGE, content_type="text/plain")
        if mode == "http_405":
            return _Answer(status=405, body=RATE_LIMIT_BODY, content_type="text/plain")
        return None
