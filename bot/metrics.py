"""The Prometheus metrics every room counts into (GET /metrics; docs/operations.md "Reading the metrics").

One registry of this process's own counters and histograms; the composition root adds what is
read from the database at scrape time (bot/app.py: DatabaseGauges), so those are right across
replicas. Every label takes its values from a small fixed vocabulary (a provider's registry
name, a method or outcome enum value, a Slack method name, a payload kind, a refusal code from
bot/domain.py: RefusalCode): never an account, a user id, a request id or anything typed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from importlib import metadata

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)

from bot.domain import RefusalCode

# No `_created` series beside each counter: half the output, and nothing a dashboard or an alert reads.
disable_created_metrics()
REGISTRY = CollectorRegistry(auto_describe=True)
# The platforms' standard series: process_* (CPU, memory, open files, start time) and python_* (version, GC).
for _standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_standard)


def _version() -> str:
    try:
        return metadata.version("resetbot")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


BUILD = Info("resetbot_build", "The running resetbot's version.", registry=REGISTRY)
BUILD.info({"version": _version()})

REQUESTS = Counter("resetbot_requests", "Reset requests accepted, by provider and method.",
                   ["provider", "method"], registry=REGISTRY)
DECISIONS = Counter("resetbot_decisions", "Approvals and denials recorded, by provider.",
                    ["provider", "decision"], registry=REGISTRY)
REFUSALS = Counter("resetbot_refusals", "Clicks and requests refused, by what was refused and why (fixed reasons).",
                   ["action", "reason"], registry=REGISTRY)
PROVIDER_CALLS = Counter("resetbot_provider_calls", "Provider change calls, by provider and outcome.",
                         ["provider", "outcome"], registry=REGISTRY)
PROVIDER_SECONDS = Histogram("resetbot_provider_call_seconds", "How long a provider change call took.",
                             ["provider"], registry=REGISTRY,
                             buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
REVEALS = Counter("resetbot_reveals", "Passwords revealed to their requester.", ["provider"], registry=REGISTRY)
EXPIRIES = Counter("resetbot_expiries", "Requests nobody approved in time (request) and passwords nobody "
                   "revealed in time (reveal).", ["provider", "what"], registry=REGISTRY)
SLACK_CALLS = Counter("resetbot_slack_api_calls", "Slack Web API calls, by method.", ["method"], registry=REGISTRY)
SLACK_ERRORS = Counter("resetbot_slack_api_errors", "Slack Web API calls that failed (an error answer or no answer).",
                       ["method"], registry=REGISTRY)
ACK_SECONDS = Histogram("resetbot_ack_seconds", "Time from a Slack payload's arrival to its ack, by payload kind.",
                        ["kind"], registry=REGISTRY,
                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5))
SWEEP_FAILURES = Counter("resetbot_sweep_failures", "Sweeps that failed (retried on the next tick).",
                         registry=REGISTRY)

_last_sweep = time.monotonic()  # process start counts as a sweep: lag grows from there until the first one


def sweep_done() -> None:
    global _last_sweep
    _last_sweep = time.monotonic()


SWEEP_LAG = Gauge("resetbot_sweep_lag_seconds", "Seconds since this replica last finished a sweep.",
                  registry=REGISTRY)
SWEEP_LAG.set_function(lambda: time.monotonic() - _last_sweep)

OTHER = "other"
_SLACK_METHOD = re.compile(r"[a-zA-Z]+(?:\.[a-zA-Z]+){1,3}")
_ACTION = re.compile(r"[a-z_]{1,40}")


# Everything a labelled series may show, so that each is there at 0 from start (a rate alert is never blind).
DECISION_VERBS = ("approve", "deny")
REFUSED_ACTIONS = ("request", "approve", "deny", "reveal", "cancel", "remind", "customer_informed", "policy_change")
EXPIRED_WHAT = ("request", "reveal")
SLACK_METHODS = ("auth.test", "apps.connections.open", "chat.postMessage", "chat.update", "chat.delete",
                 "chat.postEphemeral", "conversations.open", "conversations.info", "views.open", "views.update",
                 "views.push", "views.publish", "usergroups.users.list")


def start_at_zero(methods_by_provider: Mapping[str, Iterable[str]], outcomes: Iterable[str]) -> None:
    """Create every known label set at 0: the enabled providers' (`methods_by_provider`, their methods'
    values), the provider outcome vocabulary (`outcomes`), and the fixed vocabularies above. bot/app.py calls
    it at start; metrics names no provider itself."""
    outcomes = list(outcomes)
    for provider, methods in methods_by_provider.items():
        for method in methods:
            REQUESTS.labels(provider, method)
        for verb in DECISION_VERBS:
            DECISIONS.labels(provider, verb)
        for outcome in outcomes:
            PROVIDER_CALLS.labels(provider, outcome)
        PROVIDER_SECONDS.labels(provider)
        REVEALS.labels(provider)
        for what in EXPIRED_WHAT:
            EXPIRIES.labels(provider, what)
    for action in REFUSED_ACTIONS:
        for code in RefusalCode:
            REFUSALS.labels(action, code.value)
    for method in SLACK_METHODS:
        SLACK_CALLS.labels(method)
        SLACK_ERRORS.labels(method)
    for kind in (*sorted(PAYLOAD_KINDS), "slash_command"):
        ACK_SECONDS.labels(kind)


def count_refusal(action: str, code: RefusalCode) -> None:
    """One refusal: `action` is the audit action (request_refused, approve_refused, …), `code` why, from the
    fixed set (never the sentence the person was told)."""
    name = action.removesuffix("_refused")
    REFUSALS.labels(name if _ACTION.fullmatch(name) else OTHER, RefusalCode(code).value).inc()


def slack_method(name: str) -> str:
    """A Slack Web API method name as a label (chat.postMessage); anything else is OTHER."""
    return name if _SLACK_METHOD.fullmatch(name) else OTHER


PAYLOAD_KINDS = frozenset({"block_actions", "view_submission", "view_closed", "shortcut", "message_action",
                           "block_suggestion", "event_callback", "url_verification"})


def payload_kind(body: object) -> str:
    """What a Slack payload is, as an ack-latency label: slash_command, block_actions, …, or OTHER."""
    if not isinstance(body, dict):
        return OTHER
    if "command" in body:
        return "slash_command"
    kind = body.get("type")
    return kind if isinstance(kind, str) and kind in PAYLOAD_KINDS else OTHER
