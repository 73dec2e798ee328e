from __future__ import annotations

import threading
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain import MessageRef, Method, ProviderName, RequestView, Role
from bot.forms import RequestForm
from bot.providers import ChangeResult, Outcome
from bot.providers.mofh.passwords import MOFH_RULES
from bot.providers.namecheap.passwords import NAMECHEAP_RULES
from bot.sealing import Sealer, ephemeral_key
from bot.workflow import ResetWorkflow
from storage.db import make_engine, make_sessionmaker, migrate

ENGINEER, APPROVER, OTHER = "U0ENGINEER1", "U0APPROVER1", "U0OTHER0001"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class InlineExecutor(Executor):
    """Runs background work at once, so unit tests need no waiting."""

    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


@dataclass
class FakeGateway:
    provider: ProviderName
    results: list[ChangeResult] = field(default_factory=list)
    calls: list[dict] = field(default_factory=list)
    gate: threading.Event | None = None

    @property
    def rules(self):
        return MOFH_RULES if self.provider == "mofh" else NAMECHEAP_RULES

    @property
    def same_password_retry_is_safe(self) -> bool:
        return self.provider == "mofh"

    def account_context(self, account, known_as=()):
        return None

    def probe(self):
        return None

    def execute(self, *, account, method, new_password, secret_input):
        if self.gate is not None:
            self.gate.wait(10)
        self.calls.append({"account": account, "method": method,
                           "password": new_password.reveal() if new_password else None,
                           "input": secret_input.reveal() if secret_input else None})
        if self.results:
            return self.results.pop(0)
        outcome = Outcome.RESET_EMAIL_SENT if method is Method.EMAIL_LINK else Outcome.CHANGED
        return ChangeResult(outcome=outcome, message="Changed.", email="owner@example.org"
                            if method is Method.EMAIL_LINK else None)


class RecordingNotifier:
    def __init__(self) -> None:
        self.events: list[tuple[str, RequestView]] = []
        self.mentions: list[tuple[str, list[str]]] = []  # each thread reply's kind and whom it mentions
        self._ts = 0

    def _ref(self, channel: str) -> MessageRef:
        self._ts += 1
        return MessageRef(channel, f"1700000000.{self._ts:06d}")

    def post_card(self, request):
        self.events.append(("post_card", request))
        return self._ref("C0APPROVALS")

    def update_card(self, request, context=None, *, refresh_home=True):
        self.events.append(("update_card", request))

    def tell_card_refused(self, request, refused):
        self.events.append(("tell_card_refused", request))

    def refresh_home(self, request):
        pass  # the App Home refresher is handlers' (tests/handlers)

    def tell_requester(self, request):
        self.events.append(("tell_requester", request))

    def send_reveal(self, request):
        """As handlers/notifier.py: the requester's DM rewritten in place; posted when there is none."""
        self.events.append(("send_reveal", request))
        return request.dm or self._ref("D0ENGDM001")

    def update_reveal(self, request):
        self.events.append(("update_reveal", request))

    def withdraw(self, message):
        self.events.append(("withdraw", message))

    def post_alert(self, alert):
        self.events.append(("post_alert", alert))
        return self._ref("C0APPROVALS")

    def post_policy_change(self, proposal):
        self.events.append(("post_policy_change", proposal))
        return self._ref("C0APPROVALS")

    def update_policy_change(self, proposal):
        self.events.append(("update_policy_change", proposal))

    refuse_announcements = 0  # how many announcements Slack refuses next
    announcement_crash: Exception | None = None  # raised instead of posting: the replica died mid-post

    def post_policy_announcement(self, announcement):
        if self.announcement_crash is not None:
            raise self.announcement_crash
        if self.refuse_announcements:
            self.refuse_announcements -= 1
            return None
        self.events.append(("post_policy_announcement", announcement))
        return self._ref("C0APPROVALS")

    def post_dm(self, request):
        self.events.append(("post_dm", request))
        return self._ref("D0ENGDM001")

    def update_dm(self, request):
        self.events.append(("update_dm", request))
        return True

    def post_thread_reply(self, request, kind, mentions):
        self.events.append((kind, request))
        self.mentions.append((kind, list(mentions)))
        return self._ref(request.card.channel) if request.card else None

    def reveal_button(self, request_id: str | None = None) -> str:
        """The value of the latest Reveal button sent (for `request_id`): what the requester's click sends back."""
        sent = [r for kind, r in self.events if kind == "send_reveal" and request_id in (None, r.id)]
        assert sent, "no Reveal DM was sent"
        return sent[-1].reveal_token

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def gateways():
    return {"mofh": FakeGateway("mofh"), "namecheap": FakeGateway("namecheap")}


@pytest.fixture
def notifier():
    return RecordingNotifier()


@pytest.fixture
def workflow(engine, gateways, notifier, clock):
    flow = ResetWorkflow(sessions=make_sessionmaker(engine), providers=gateways, sealer=Sealer(ephemeral_key()),
                         notifier=notifier, executor=InlineExecutor(), clock=clock, approval_ttl=3600,
                         reveal_ttl=900, db_clock=lambda session: clock())  # the fake clock stands in for the database's
    flow.admin.grant(ENGINEER, Role.REQUESTER, None, actor="test")
    flow.admin.grant(APPROVER, Role.APPROVER, None, actor="test")
    return flow


def mofh_form(account: str = "webq7k2m", **overrides) -> RequestForm:
    values = dict(provider="mofh", account=account, reason="Customer locked out of FTP, ticket verified.",
                  ticket="SUP-1")
    values.update(overrides)
    return RequestForm(**values)
