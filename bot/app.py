"""Composition root: the one place that knows every concrete piece.

Settings → engine (migrated) → sealer → provider clients → Slack client and Bolt app →
workflow → handlers. Nothing here runs at import time. The Slack client counts its calls and
errors by method (`CountingWebClient`), and the runtime's /metrics adds to bot/metrics.py's
counters the gauges read from the database at scrape time (`DatabaseGauges`).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler

import handlers
from bot import metrics
from bot.config import Settings
from bot.pending_acks import PendingAcks
from bot.providers import Outcome, registry
from bot.providers._http import LOOKUP_DEADLINE, pooled_session
from bot.providers.gateway import ProviderGateway
from bot.sealing import Sealer, ephemeral_key, key_beside_sqlite
from bot.slack_http import PooledWebClient, PooledWebhookClient
from bot.workflow import ResetWorkflow, utcnow
from handlers.groups import SlackGroupMembers
from handlers.notifier import SlackNotifier
from storage.budget import DatabaseCallBudget
from storage.db import make_engine, make_sessionmaker, migrate

log = logging.getLogger(__name__)

# Provider calls can take up to their deadline (bot/providers/_http.py); they run here, never on Bolt's
# listener threads. Read-only lookups (approver context) get their own few workers: however many of them
# wait on a slow provider, an approved change never queues behind them.
PROVIDER_WORKERS = 32
LOOKUP_WORKERS = 4
# Bolt's listeners. After its ack a listener waits for the other pending acks (bot/pending_acks.py) on its own
# thread: with 32, a burst of 50 filled the pool with waiting listeners while later deliveries waited for a
# thread to ack them (p99 1.3 s in bench/burst.py). Threads are made only as deliveries need them.
LISTENER_WORKERS = 128
# Every thread that may call Slack at once (the three pools, Socket Mode, the sweep, the health server) keeps its
# connection to it: a smaller pool would close the extra ones after each call, and warn of each (bot/slack_http.py).
SLACK_CONNECTIONS = LISTENER_WORKERS + PROVIDER_WORKERS + LOOKUP_WORKERS + 4


class DrainableExecutor(ThreadPoolExecutor):
    """A thread pool that can tell when nothing it was given is still running (drain, tests)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._running = 0
        self._idle = threading.Condition()

    def submit(self, fn, /, *args, **kwargs):
        with self._idle:
            self._running += 1

        def tracked():
            try:
                return fn(*args, **kwargs)
            finally:
                self._done()

        def cancelled(future) -> None:  # shutdown(cancel_futures=True): tracked never runs
            if future.cancelled():
                self._done()

        future = super().submit(tracked)
        future.add_done_callback(cancelled)
        return future

    def _done(self) -> None:
        with self._idle:
            self._running -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0, timeout)


class Disposable(Protocol):
    """The engine, as far as the runtime needs it (storage/db.py builds it; bot/ names no SQL types)."""

    def dispose(self) -> None: ...


@dataclass
class Runtime:
    settings: Settings
    app: App
    workflow: ResetWorkflow
    notifier: SlackNotifier
    engine: Disposable
    provider_executor: DrainableExecutor
    listener_executor: DrainableExecutor
    lookup_executor: DrainableExecutor | None = None
    # Deliveries received and not yet acked: the transports count them, work after an ack yields to them.
    pending_acks: PendingAcks = field(default_factory=PendingAcks)
    draining: threading.Event = field(default_factory=threading.Event)  # set on SIGTERM: /readyz answers 503
    _stop: threading.Event = field(default_factory=threading.Event)
    _sweeper: threading.Thread | None = None

    def metrics_text(self) -> tuple[bytes, str]:
        """GET /metrics: this process's counters and the database's gauges, in Prometheus text format."""
        return generate_latest(_Scrape(metrics.REGISTRY, DatabaseGauges(self.workflow))), CONTENT_TYPE_LATEST

    def loops_alive(self) -> bool:
        """Liveness: the sweep loop, once started, still runs (until SIGTERM stops it)."""
        return self._sweeper is None or self._sweeper.is_alive() or self._stop.is_set()

    def start_sweeper(self, interval: float | None = None) -> None:
        interval = interval or self.settings.sweep_interval
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.pending_acks.yield_to_acks()
                    self.workflow.sweeper.sweep()
                    metrics.sweep_done()
                except Exception:  # a failed sweep is retried on the next tick
                    metrics.SWEEP_FAILURES.inc()
                    log.exception("sweep failed")
                self._stop.wait(interval)

        self._sweeper = threading.Thread(target=loop, name="resetbot-sweeper", daemon=True)
        self._sweeper.start()

    def shutdown(self, timeout: float = 130.0) -> bool:
        """Stop sweeping and let in-flight provider calls finish (SIGTERM drain)."""
        self.draining.set()
        self._stop.set()
        if self.lookup_executor is not None:  # read-only: the queued ones are dropped
            self.lookup_executor.shutdown(wait=False, cancel_futures=True)
        self.listener_executor.wait_idle(min(timeout, 10.0))
        drained = self.workflow.background.wait_idle(timeout)
        self.provider_executor.shutdown(wait=drained)
        self.listener_executor.shutdown(wait=False)
        if self.lookup_executor is not None:  # one under way ends by rewriting its card: not after the engine
            self.lookup_executor.wait_idle(min(timeout, LOOKUP_DEADLINE))
        self.engine.dispose()
        return drained


# Methods that change nothing twice when repeated: only these are retried after a Slack 5xx,
# which may have come after the change was made (a repeated chat.postMessage posts twice).
IDEMPOTENT_SLACK_METHODS = frozenset({"auth.test", "chat.update", "conversations.open", "views.publish",
                                      "usergroups.users.list", "apps.connections.open"})


class IdempotentServerErrorRetryHandler(ServerErrorRetryHandler):
    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        method = request.url.rstrip("/").rsplit("/", 1)[-1]
        return method in IDEMPOTENT_SLACK_METHODS and super()._can_retry(
            state=state, request=request, response=response, error=error)


class CountingWebClient(PooledWebClient):
    """slack_sdk's WebClient, over kept-alive connections (bot/slack_http.py), counting every Web API call, and
    every one that failed, by method (GET /metrics).

    Every wrapper method (chat_postMessage, apps_connections_open for Socket Mode, …) goes through api_call;
    SlackApiError (an `ok: false` answer) and transport errors count as errors, after the retry handlers."""

    def api_call(self, api_method: str, *args: Any, **kwargs: Any) -> Any:
        method = metrics.slack_method(api_method)
        metrics.SLACK_CALLS.labels(method).inc()
        try:
            return super().api_call(api_method, *args, **kwargs)
        except Exception:
            metrics.SLACK_ERRORS.labels(method).inc()
            raise


class DatabaseGauges(Collector):
    """Requests waiting for approval and being changed, by provider, counted in the database at each scrape,
    so every replica reports the same numbers (aggregate them with max, not sum: docs/operations.md "Metrics of
    several replicas")."""

    def __init__(self, workflow: ResetWorkflow) -> None:
        self.workflow = workflow

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("resetbot_database_up", "1 when the database answered this scrape's count.")
        waiting = GaugeMetricFamily("resetbot_requests_waiting", "Requests waiting for approval (every replica).",
                                    labels=["provider"])
        executing = GaugeMetricFamily("resetbot_requests_executing",
                                      "Approved requests whose provider change is under way (every replica).",
                                      labels=["provider"])
        try:
            counts = self.workflow.lookups.open_counts()
        except Exception:  # the scrape still answers; resetbot_database_up says why the gauges are missing
            log.warning("could not count open requests for /metrics")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        providers = sorted(set(self.workflow.context.enabled_providers()) | {p for p, _ in counts})
        for provider in providers:
            waiting.add_metric([provider], counts.get((provider, "pending"), 0))
            executing.add_metric([provider], counts.get((provider, "executing"), 0))
        yield from (up, waiting, executing)


class _Scrape(Collector):
    """Several collectors as the one registry generate_latest reads."""

    def __init__(self, *collectors: Any) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


def make_slack_client(settings: Settings) -> WebClient:
    return CountingWebClient(
        token=settings.slack_bot_token.reveal() if settings.slack_bot_token else None,
        base_url=settings.slack_api_url,
        timeout=15,
        max_connections=SLACK_CONNECTIONS,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=1),
            RateLimitErrorRetryHandler(max_retry_count=2),
            IdempotentServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def make_providers(settings: Settings, sessions) -> dict[str, ProviderGateway]:
    """A gateway for every provider the settings enable, keyed by its registry name."""
    unknown = sorted(set(settings.providers) - set(registry.names()))
    if unknown:
        raise ValueError(f"settings name providers the registry does not list: {', '.join(unknown)}")
    # One limit per API user across every replica, its window measured by the database's clock.
    budget = DatabaseCallBudget(sessions)
    return {
        plugin.name: plugin.build_gateway(settings.providers[plugin.name],
                                          session=pooled_session(PROVIDER_WORKERS + LOOKUP_WORKERS),
                                          budget=budget)
        for plugin in registry.plugins()
        if plugin.name in settings.providers
    }


def build_runtime(settings: Settings, *, http: bool = False, clock: Callable[[], datetime] = utcnow,
                  replica_id: str | None = None, slack_client: WebClient | None = None) -> Runtime:
    engine = make_engine(settings.database_url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    key = settings.seal_key or key_beside_sqlite(settings.database_url) or ephemeral_key()
    client = slack_client or make_slack_client(settings)
    listener_executor = DrainableExecutor(max_workers=LISTENER_WORKERS, thread_name_prefix="bolt")
    provider_executor = DrainableExecutor(max_workers=PROVIDER_WORKERS, thread_name_prefix="provider")
    lookup_executor = DrainableExecutor(max_workers=LOOKUP_WORKERS, thread_name_prefix="lookup")
    pending_acks = PendingAcks()
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret.reveal() if settings.slack_signing_secret else None,
        request_verification_enabled=http,
        token_verification_enabled=False,  # auth.test happens lazily on the first request, not at import
        listener_executor=listener_executor,
        process_before_response=False,
    )
    # response_url posts share the Web API client's kept connections (a client given by a test has none)
    connections = getattr(client, "connections", None)
    notifier = SlackNotifier(client, settings.approvals_channel or "", clock, catalog=registry.catalog(),
                             webhook_client=functools.partial(PooledWebhookClient, connections=connections))
    group_members = SlackGroupMembers(client, clock)  # usergroups.users.list, at most 60 s old
    workflow = ResetWorkflow(
        sessions=sessions,
        providers=make_providers(settings, sessions),
        sealer=Sealer(key),
        notifier=notifier,
        executor=provider_executor,
        admins=settings.admins,
        approval_ttl=settings.approval_ttl,
        reveal_ttl=settings.reveal_ttl,
        requests_per_hour=settings.requests_per_hour,
        clock=clock,
        replica_id=replica_id or f"{socket.gethostname()}-{os.getpid()}",
        lease_seconds=settings.execution_lease,
        lookup_executor=lookup_executor,
        group_members=group_members,
        yield_to_acks=pending_acks.yield_to_acks,
    )
    handlers.register(app, workflow, notifier, group_members, pending_acks)
    plugins = [plugin for name in workflow.context.enabled_providers() if (plugin := registry.by_name(name))]
    metrics.start_at_zero({p.name: [m.value for m in p.methods] for p in plugins}, [o.value for o in Outcome])
    return Runtime(settings, app, workflow, notifier, engine, provider_executor, listener_executor, lookup_executor,
                   pending_acks)
