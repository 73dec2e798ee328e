"""Malformed and hostile Slack payloads thrown at the REAL app, in process, as Socket Mode delivers them.

One runtime for the whole module (hypothesis and function-scoped fixtures do not mix): the real
composition root (`build_runtime`), SQLite in a temporary directory, the simulated Slack as the
Web API, the sandbox providers. Before the properties run, the module holds:

* a real PENDING request by the engineer, with its approval card posted (`pending_id`);
* a real SUCCEEDED request whose password waits to be revealed (`reveal_token`): its approval
  made the only provider call that happens before the final legitimate approve;
* a real draft saved by the engineer (`draft_id`) and the engineer's reset modal open in the sim.

For every example: `dispatch` answers 200/404 and never raises; once the listener and provider
pools are idle no ERROR record was logged by any logger; the sandbox saw no new provider call;
the pending request is still PENDING. The exact payloads that once crashed a listener are kept
as regression cases below.

The last tests connect the app over Socket Mode and run the legitimate flow end to end.
"""

from __future__ import annotations

import copy
import logging
import threading
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_bolt.response import BoltResponse
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.app import Runtime, build_runtime
from bot.domain import RevealState, Role, Status
from bot.forms import Draft, RequestForm
from bot.server import dispatch_envelope, socket_mode_handler
from bot.workflow.reveal import stored_token
from devkit.sandbox import Sandbox
from devkit.slack import SlackSim
from handlers.guard import response_hosts_for
from storage import repository as repo
from storage.db import transaction
from tests.e2e import payloads as P
from tests.e2e.conftest import (
    APPROVALS,
    APPROVER,
    ENGINEER,
    HELPDESK,
    OUTSIDER,
    REASON,
    _grant,
    _world,
    make_settings,
)

ENGINEER2 = "U0ENGINEER2"  # a second requester for the final legitimate flow (the first may hit the hourly cap)

PROPERTY_SETTINGS = settings(
    max_examples=80,
    database=None,  # no .hypothesis/ example database written into the shared tree
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.large_base_example],
)


# --- log capture ------------------------------------------------------------------------------


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self._lock_ = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock_:
            self.records.append(record)

    def take(self) -> list[logging.LogRecord]:
        with self._lock_:
            records, self.records = self.records, []
        return records


REPO = str(Path(__file__).resolve().parents[2]) + "/"


def _frames(record: logging.LogRecord) -> list[traceback.FrameSummary]:
    return traceback.extract_tb(record.exc_info[2]) if record.exc_info and record.exc_info[2] else []


def _ours(frame: traceback.FrameSummary) -> bool:
    return frame.filename.startswith(REPO) and "/.venv/" not in frame.filename


def describe(record: logging.LogRecord) -> str:
    where = "".join(traceback.format_list(_frames(record)[-4:]))
    exc = repr(record.exc_info[1])[:300] if record.exc_info else ""
    return f"[{record.name}] {record.getMessage()}\n{exc}\n{where}"


# --- the module's one runtime ----------------------------------------------------------------


@dataclass
class World:
    sim: SlackSim
    sandbox: Sandbox
    runtime: Runtime
    logs: _Collector
    pending_id: str
    reveal_token: str
    draft_id: str
    baseline_calls: list = field(default_factory=list)

    def live(self) -> dict[str, str]:
        view = self.sim.current_view(ENGINEER)
        return {
            P.LIVE_TRIGGER: self.sim._issue_trigger(ENGINEER),
            P.LIVE_RESPONSE_URL: self.sim._issue_response_url(ENGINEER, HELPDESK),
            P.LIVE_PENDING_ID: self.pending_id,
            P.LIVE_REVEAL_TOKEN: self.reveal_token,
            P.LIVE_DRAFT_ID: self.draft_id,
            P.LIVE_VIEW_ID: view.id if view else "V0NOVIEW",
            P.LIVE_VIEW_HASH: view.hash if view else "0.nohash",
            P.LIVE_EVENT_ID: "Ev" + uuid.uuid4().hex[:12].upper(),
            P.SIM: self.sim.base_url,
        }

    def changes(self) -> list:
        """Password changes at the provider since setup (read-only lookups for approvers do not count)."""
        return [c for c in self.sandbox.calls()[len(self.baseline_calls):] if "passwd" in c.path]

    def deliver(self, kind: str, payload: dict, **envelope_extras) -> BoltResponse | None:
        """What slack_bolt's Socket Mode adapter does with one envelope (internals.run_bolt_app).

        Through bot.server.dispatch_envelope, the same screen the running app's Socket Mode transport uses.
        None when slack_sdk cannot even read the envelope.
        """
        envelope = {"envelope_id": str(uuid.uuid4()), "payload": payload, "type": kind,
                    "accepts_response_payload": kind != "events_api", **envelope_extras}
        request = SocketModeRequest.from_dict(envelope)
        if request is None:  # slack_sdk itself refuses an envelope without a payload
            return None
        response = dispatch_envelope(self.runtime.app, request, response_hosts_for(self.runtime.app))
        assert self.runtime.listener_executor.wait_idle(10), "listeners still running after 10 s"
        assert self.runtime.workflow.background.wait_idle(10), "provider work still running after 10 s"
        return response


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    logs = _Collector()
    root = logging.getLogger()
    root.addHandler(logs)
    sim, sandbox = _world()
    sim.add_user(ENGINEER2, "kim", channels=[HELPDESK])
    database_url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'resetbot.db'}"
    # Namecheap is left out on purpose: "namecheap" is then a real provider value that is not enabled.
    runtime = build_runtime(make_settings(sim, sandbox, database_url, namecheap=None))
    _grant(runtime)
    runtime.workflow.admin.grant(ENGINEER2, Role.REQUESTER, None, actor="test")
    workflow = runtime.workflow
    try:
        # A request that reaches "password ready to reveal" (one provider call, before the properties).
        done, _ = workflow.intake.submit(RequestForm("mofh", "abcd_40312277", REASON, "SUP-0"), requester_id=ENGINEER,
                                  source_view_id=None)
        workflow.intake.announce(done)
        workflow.decisions.approve(done.id, APPROVER)
        assert workflow.background.wait_idle(15)
        done = workflow.lookups.get(done.id)
        assert done.status is Status.SUCCEEDED and done.reveal_state is RevealState.READY, done
        # The pending request the hostile payloads aim at.
        pending, _ = workflow.intake.submit(RequestForm("mofh", "webq7k2m", REASON, "SUP-1"), requester_id=ENGINEER,
                                     source_view_id=None)
        workflow.intake.announce(pending)
        draft_id = "dr_" + uuid.uuid4().hex[:16]
        workflow.intake.save_draft(draft_id, Draft(ENGINEER, HELPDESK, None))
        # What the Reveal button in the engineer's DM carries (the database keeps only its lookup).
        reveal_button = next(e["value"] for m in sim.dm_messages(ENGINEER) for b in m.blocks
                             if b.get("type") == "actions" for e in b["elements"] if e.get("action_id") == "reveal_secret")
        w = World(sim, sandbox, runtime, logs, pending.id, reveal_button, draft_id)
        # The engineer's reset modal, opened through the real command listener with a fresh trigger.
        slash = P.fill_live(copy.deepcopy(P.SLASH_ENVELOPE["payload"]), {})
        slash.update(trigger_id=sim._issue_trigger(ENGINEER), response_url=sim._issue_response_url(ENGINEER, HELPDESK))
        assert w.deliver("slash_commands", slash).status == 200
        assert sim.current_view(ENGINEER) is not None, "setup: the modal did not open"
        w.baseline_calls = list(sandbox.calls())
        assert [c for c in w.baseline_calls if "passwd" in c.path], "setup: the reveal request made no provider call"
        setup_errors = [describe(r) for r in logs.take()]
        assert not setup_errors, setup_errors
        yield w
    finally:
        root.removeHandler(logs)
        sandbox.stop()
        runtime.shutdown(timeout=10)
        sim.stop()


# --- the properties ------------------------------------------------------------------------------


def _is_legit_decision(payload: dict, pending_id: str) -> bool:
    """An approver's genuine Approve/Deny on the pending request: not hostile, so not generated."""
    actions = payload.get("actions")
    user = payload.get("user")
    return (isinstance(actions, list) and bool(actions) and isinstance(actions[0], dict)
            and actions[0].get("action_id") in ("approve_reset", "deny_reset")
            and actions[0].get("value") == pending_id
            and isinstance(user, dict) and user.get("id") in P.APPROVERS)


def throw(world: World, kind: str, payload: dict, **envelope_extras) -> BoltResponse:
    payload = P.fill_live(payload, world.live())
    if _is_legit_decision(payload, world.pending_id):
        payload["user"] = {**payload["user"], "id": OUTSIDER}
    world.logs.take()
    try:
        response = world.deliver(kind, payload, **envelope_extras)
    except Exception as exc:  # property 1
        raise AssertionError(f"delivering the payload raised {exc!r}") from exc
    # 1. a Bolt response, 200 or "unhandled" 404, never a 500
    if response is not None:
        assert isinstance(response, BoltResponse)
        assert response.status in (200, 404), f"status {response.status}: {response.body!r}"
    # 2. no ERROR record from any logger: nothing went unhandled anywhere
    errors = [describe(record) for record in world.logs.take()]
    assert not errors, "ERROR logged:\n" + "\n".join(errors)
    # 3. no provider call, and the real pending request was neither approved nor denied
    new_calls = world.changes()
    assert not new_calls, f"provider called: {new_calls}"
    assert world.runtime.workflow.lookups.get(world.pending_id).status is Status.PENDING
    return response


@PROPERTY_SETTINGS
@given(payload=P.slash_commands())
def test_hostile_slash_commands(world, payload):
    throw(world, "slash_commands", payload)


@PROPERTY_SETTINGS
@given(payload=P.view_submissions())
def test_hostile_view_submissions(world, payload):
    throw(world, "interactive", payload)


@settings(PROPERTY_SETTINGS, max_examples=30)
@given(payload=P.view_closed())
def test_hostile_view_closed(world, payload):
    throw(world, "interactive", payload)


@settings(PROPERTY_SETTINGS, max_examples=120)
@given(payload=P.button_clicks())
def test_hostile_button_clicks(world, payload):
    throw(world, "interactive", payload)


@PROPERTY_SETTINGS
@given(payload=P.modal_choices())
def test_hostile_modal_choices(world, payload):
    throw(world, "interactive", payload)


@PROPERTY_SETTINGS
@given(event=P.home_events())
def test_hostile_events(world, event):
    payload, extras = event
    throw(world, "events_api", payload, **extras)


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(kind=st.sampled_from(P.ENVELOPE_TYPES), payload=P.random_payloads)
def test_random_payloads(world, kind, payload):
    throw(world, kind, payload)


# --- targeted forgeries against the real pending request and reveal token -----------------------


forgers = st.one_of(st.sampled_from([ENGINEER, OUTSIDER, ENGINEER2, "U0NOBODY01", "u0approver1", "U0APPROVER1 ",
                                     "U0APPROVER1\x00", "W0APPROVER1"]), P.user_ids.filter(lambda u: u not in P.APPROVERS))


@settings(PROPERTY_SETTINGS, max_examples=60)
@given(button=st.sampled_from(["approve_reset", "deny_reset"]), user=forgers, base=st.sampled_from(P.BUTTON_CLICKS))
def test_forged_clicker_on_the_real_pending_request_is_refused(world, button, user, base):
    payload = copy.deepcopy(base)
    payload["user"] = {**payload["user"], "id": user}
    payload["actions"] = [{**payload["actions"][0], "action_id": button, "value": P.LIVE_PENDING_ID}]
    payload["response_url"] = P.LIVE_RESPONSE_URL
    throw(world, "interactive", payload)


@settings(PROPERTY_SETTINGS, max_examples=40)
@given(button=st.sampled_from(["approve_reset", "deny_reset"]), approver=st.sampled_from(sorted(P.APPROVERS)),
       value=P.request_ids.filter(lambda v: v != P.LIVE_PENDING_ID))
def test_approver_clicking_a_request_that_does_not_exist(world, button, approver, value):
    payload = copy.deepcopy(P.APPROVE_ENVELOPE["payload"])
    payload["user"]["id"] = approver
    payload["actions"] = [{**payload["actions"][0], "action_id": button, "value": value}]
    payload["response_url"] = P.LIVE_RESPONSE_URL
    throw(world, "interactive", payload)


@settings(PROPERTY_SETTINGS, max_examples=40)
@given(user=forgers.filter(lambda u: u != ENGINEER) | st.sampled_from(sorted(P.APPROVERS)),
       trigger=st.sampled_from([P.LIVE_TRIGGER, "1111111111111.2222222222.expired"]))
def test_someone_elses_reveal_token_reveals_nothing(world, user, trigger):
    payload = copy.deepcopy(P.BUTTON_CLICKS[-1])
    payload["user"] = {**payload.get("user", {}), "id": user}
    payload["actions"] = [{**payload["actions"][0], "action_id": "reveal_secret", "value": P.LIVE_REVEAL_TOKEN}]
    payload["trigger_id"], payload["response_url"] = trigger, P.LIVE_RESPONSE_URL
    before = {v.id for u in (user,) for v in world.sim.views(u)} if isinstance(user, str) else set()
    throw(world, "interactive", payload)
    with transaction(world.runtime.workflow.context.sessions) as session:
        request = repo.request_by_reveal_token(session, stored_token(world.reveal_token))
    assert request.reveal_state is RevealState.READY, "someone else's click used up the reveal"
    if isinstance(user, str):
        opened = [v for v in world.sim.views(user) if v.id not in before and v.title == "New password"]
        assert not opened, f"{user!r} was shown someone else's password"


@settings(PROPERTY_SETTINGS, max_examples=40)
@given(user=forgers, provider=st.sampled_from(["namecheap", "gateway", "NAMECHEAP", "mofh\x00"]),
       metadata=P.metadata_values)
def test_submission_for_a_provider_that_is_not_enabled_is_refused(world, user, provider, metadata):
    payload = copy.deepcopy(P.VIEW_SUBMISSION_ENVELOPE["payload"])
    payload["user"]["id"] = user
    payload["view"]["id"] = "V0H" + uuid.uuid4().hex[:10]
    payload["view"]["private_metadata"] = metadata
    payload["view"]["state"]["values"]["provider_block"]["provider_select"]["selected_option"]["value"] = provider
    response = throw(world, "interactive", payload)
    if response is not None and response.body:  # a dropped malformed payload is acked with an empty body
        assert '"response_action": "errors"' in response.body, response.body


# --- exact payloads that once crashed a listener (each found by the properties above)


def _errors_for(world: World, kind: str, payload: dict, **extras) -> list[str]:
    world.logs.take()
    response = world.deliver(kind, P.fill_live(payload, world.live()), **extras)
    assert response is not None and response.status in (200, 404)
    assert world.changes() == []
    return [describe(r) for r in world.logs.take()]


def _approve_with_user(user, value: str | None = None) -> dict:
    payload = copy.deepcopy(P.APPROVE_ENVELOPE["payload"])
    payload["user"] = user
    if value is not None:
        payload["actions"][0]["value"] = value
    payload["response_url"] = P.LIVE_RESPONSE_URL
    return payload


def _modal_choice(**overrides) -> dict:
    payload = copy.deepcopy(P.MODAL_CHOICE)
    payload["user"]["id"] = ENGINEER
    payload["view"].update(overrides)
    return payload


def _slash(**overrides) -> dict:
    payload = copy.deepcopy(P.SLASH_ENVELOPE["payload"])
    payload.update(trigger_id=P.LIVE_TRIGGER, response_url=P.LIVE_RESPONSE_URL)
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not None}


def _submission(**view_overrides) -> dict:
    payload = copy.deepcopy(P.VIEW_SUBMISSION_ENVELOPE["payload"])
    payload["view"].update(id="V0H" + uuid.uuid4().hex[:10], **view_overrides)
    return payload


def _home(user: str) -> dict:
    payload = copy.deepcopy(P.HOME_ENVELOPE["payload"])
    payload["event"]["user"], payload["event_id"] = user, P.LIVE_EVENT_ID
    return payload


HOSTILE_CASES = [
    pytest.param("interactive", _approve_with_user("U0APPROVER1"), id="user-is-a-string"),
    pytest.param("interactive", _approve_with_user(None), id="user-is-null"),
    pytest.param("interactive", {**_modal_choice(), "user": ["U0ENGINEER1"]}, id="modal-choice-user-is-a-list"),
    pytest.param("slash_commands", _slash(trigger_id=P.SLASH_ENVELOPE["payload"]["trigger_id"]),
                 id="slash-command-stale-trigger"),
    pytest.param("interactive", _modal_choice(id="V0GONE00001"), id="modal-choice-unknown-view"),
    pytest.param("interactive", _modal_choice(id=P.LIVE_VIEW_ID, hash="1.stale"), id="modal-choice-hash-conflict"),
    pytest.param("slash_commands", _slash(user_id=OUTSIDER, response_url=None), id="slash-refusal-without-response-url"),
    pytest.param("slash_commands", _slash(trigger_id=None), id="slash-without-trigger-id"),
    pytest.param("slash_commands", _slash(response_url=["x"]), id="slash-response-url-is-a-list"),
    pytest.param("interactive", _approve_with_user({"id": "\ud800"}, value=P.LIVE_PENDING_ID),
                 id="clicker-id-lone-surrogate"),
    pytest.param("interactive", {**_modal_choice(id=P.LIVE_VIEW_ID, hash=P.LIVE_VIEW_HASH), "user": {"id": 2**63}},
                 id="chooser-id-huge-int"),
    pytest.param("interactive", _submission(private_metadata="[" * 5000), id="metadata-nested-5000-deep"),
    pytest.param("interactive", {**_approve_with_user({"id": OUTSIDER}), "response_url": {"u": 1}},
                 id="clicker-response-url-is-a-dict"),
    pytest.param("interactive", {**_approve_with_user({"id": OUTSIDER}), "actions": "approve_reset"},
                 id="bolt-actions-is-a-string"),
    pytest.param("events_api", _home("U0NOBODY01"), id="home-opened-unknown-user"),
]


@pytest.mark.parametrize(("kind", "payload"), HOSTILE_CASES)
def test_hostile_case_logs_no_error(world, kind, payload):
    errors = _errors_for(world, kind, payload)
    assert not errors, "ERROR logged:\n" + "\n".join(errors)


BOLT_UNREADABLE = [
    pytest.param({**copy.deepcopy(P.APPROVE_ENVELOPE["payload"]), "user": False}, id="user-is-false"),
    pytest.param({**copy.deepcopy(P.APPROVE_ENVELOPE["payload"]), "actions": []}, id="actions-empty"),
    pytest.param({**copy.deepcopy(P.APPROVE_ENVELOPE["payload"]), "authorizations": 5}, id="authorizations-is-5"),
]


@pytest.mark.parametrize("payload", BOLT_UNREADABLE)
def test_envelopes_bolt_cannot_read_are_acked_and_dropped(world, payload):
    """Bolt raises while building its request, before any middleware; the Socket Mode transport acks anyway."""
    handler = socket_mode_handler(world.runtime.app, "xapp-test", world.runtime.pending_acks)
    handler.connect()
    try:
        world.sim.wait_for_connections(1, timeout=10)
        world.logs.take()
        ack = world.sim.deliver_raw("interactive", payload, transport="socket")
        assert ack.ok and not ack.timed_out
        errors = [describe(r) for r in world.logs.take()]
        assert not errors, errors
        assert world.changes() == []
    finally:
        handler.close()


# --- afterwards, the legitimate flow still works --------------------------------------------------


def test_legitimate_flow_still_works_over_socket_mode(world):
    sim, runtime, workflow = world.sim, world.runtime, world.runtime.workflow
    assert workflow.lookups.get(world.pending_id).status is Status.PENDING
    handler = socket_mode_handler(runtime.app, "xapp-test", runtime.pending_acks)
    handler.connect()
    try:
        sim.wait_for_connections(1, timeout=10)
        world.logs.take()
        # The fixture's slash command, as Slack would send it now: a fresh trigger_id and response_url.
        slash = copy.deepcopy(P.SLASH_ENVELOPE["payload"])
        # Another account than the module's pending request's: an account takes one open request at a time.
        slash.update(user_id=ENGINEER2, user_name="kim", trigger_id=sim._issue_trigger(ENGINEER2),
                     response_url=sim._issue_response_url(ENGINEER2, HELPDESK), text="mofh susp01x")
        ack = sim.deliver_raw("slash_commands", slash, transport="socket", accepts_response_payload=True)
        assert ack.ok and not ack.timed_out
        modal = sim.wait_for(lambda: sim.current_view(ENGINEER2), message="modal did not open")
        assert modal.callback_id == "reset_password_modal"
        sim.fill(ENGINEER2, {"Reason": REASON, "Ticket": "SUP-2"})
        assert sim.submit(ENGINEER2).ok
        card = sim.wait_for(lambda: next((m for m in reversed(sim.messages(APPROVALS))
                                          if "Approve" in m.buttons and "<@U0ENGINEER2>" in m.text), None),
                            message="no approval card for the legitimate request")
        assert "susp01x" in card.visible_text
        # The approver approves the module's real pending request: exactly one provider call.
        pending = workflow.lookups.get(world.pending_id)
        assert pending.card is not None
        sim.click(APPROVER, "Approve", channel=pending.card.channel, message_ts=pending.card.ts)
        sim.wait_for(lambda: workflow.lookups.get(world.pending_id).status is not Status.PENDING, timeout=10,
                     message="approve did nothing")
        assert runtime.listener_executor.wait_idle(10) and workflow.background.wait_idle(20)
        new_calls = world.changes()
        assert len(new_calls) == 1, new_calls
        assert new_calls[0].account == "webq7k2m"
        assert workflow.lookups.get(world.pending_id).status is Status.SUCCEEDED
        errors = [describe(r) for r in world.logs.take()]
        assert not errors, errors
    finally:
        handler.close()
