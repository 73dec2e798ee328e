"""Hypothesis strategies for malformed and hostile Slack payloads (Socket Mode deliveries).

Every strategy starts from the real payload shapes in tests/fixtures/slack and mutates
them. Values that only exist at run time (a fresh trigger_id, the id of the module's real
pending request, a real reveal token, the engineer's open modal) are written as `LIVE_*`
placeholder strings and replaced by `fill_live()` just before delivery.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from hypothesis import strategies as st

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "slack"

ENGINEER, APPROVER, APPROVER2, OUTSIDER = "U0ENGINEER1", "U0APPROVER1", "U0APPROVER2", "U0OUTSIDER1"
APPROVERS = frozenset({APPROVER, APPROVER2})

# Placeholders resolved at delivery time (see test_hostile_payloads.fill_live).
LIVE_TRIGGER = "@@LIVE_TRIGGER@@"  # a trigger_id the simulated Slack has just issued
LIVE_RESPONSE_URL = "@@LIVE_RESPONSE_URL@@"  # a response_url the simulated Slack has just issued
LIVE_PENDING_ID = "@@LIVE_PENDING_ID@@"  # the module's real PENDING request (requester: ENGINEER)
LIVE_REVEAL_TOKEN = "@@LIVE_REVEAL_TOKEN@@"  # a real, READY reveal token (requester: ENGINEER)
LIVE_DRAFT_ID = "@@LIVE_DRAFT_ID@@"  # a real draft saved by ENGINEER
LIVE_VIEW_ID = "@@LIVE_VIEW_ID@@"  # the id of ENGINEER's open reset modal in the sim
LIVE_VIEW_HASH = "@@LIVE_VIEW_HASH@@"  # its current hash
LIVE_EVENT_ID = "@@LIVE_EVENT_ID@@"  # a never-seen Events API event id


def _load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _form(name: str) -> dict:
    return dict(parse_qsl((FIXTURES / name).read_text().strip(), keep_blank_values=True))


SLASH_ENVELOPE = _load("socket_mode/envelope_slash_command.json")
VIEW_SUBMISSION_ENVELOPE = _load("socket_mode/envelope_view_submission.json")
APPROVE_ENVELOPE = _load("socket_mode/envelope_block_actions_approve.json")
HOME_ENVELOPE = _load("socket_mode/envelope_events_api_retry.json")

SLASH_COMMANDS = [SLASH_ENVELOPE["payload"]] + [_form(f"http/{n}") for n in (
    "slash_command_reset_password.form.txt", "slash_command_reset_password_no_args.form.txt",
    "slash_command_from_dm.form.txt", "slash_command_text_contains_payload.form.txt")]
VIEW_SUBMISSIONS = [VIEW_SUBMISSION_ENVELOPE["payload"], _load("http/view_submission_reset_password.json"),
                    _load("http/view_submission_reset_password_invalid.json")]
VIEW_CLOSED = _load("http/view_closed_reset_password.json")
BUTTON_CLICKS = [APPROVE_ENVELOPE["payload"], _load("http/block_actions_approve_button.json"),
                 _load("http/block_actions_approve_by_requester.json"), _load("http/block_actions_deny_button.json"),
                 _load("http/block_actions_reveal_password_in_dm.json")]
MODAL_CHOICE = _load("http/block_actions_provider_select_in_modal.json")
HOME_OPENED = [HOME_ENVELOPE["payload"], _load("http/event_app_home_opened.json")]

ACTION_IDS = ["approve_reset", "deny_reset", "reveal_secret", "provider_select", "method_select"]
CALLBACK_IDS = ["reset_password_modal", "reveal_password_modal"]

# --- hostile scalars and structures ----------------------------------------------------------

SQLISH = ["' OR '1'='1", "rr_x'; DROP TABLE reset_requests; --", "\" OR 1=1 --", "%", "_", "rr_%", "*",
          "1; SELECT * FROM role_assignments", "' UNION SELECT reveal_token FROM reset_requests --"]
WEIRD = ["", " ", "\x00", "rr_\x00", "U0APPROVER1\x00", "\u202eU0APPROVER1", "Ｕ０ＡＰＰＲＯＶＥＲ１", "ü" * 300,
         "\ud800", "\n\r\t", "null", "None", "true", "[]", "{}", "NaN", "<@U0APPROVER1>", "<!channel>",
         "${jndi:ldap://x}", "../../etc/passwd", "%00", "\\", "🔑" * 50]

huge_text = st.integers(10_000, 100_000).flatmap(
    lambda n: st.sampled_from(["A", "é", "\x00", "{", "🔑", "rr_"]).map(lambda c: c * (n // len(c))))


def deep(depth_max: int = 400) -> st.SearchStrategy:
    """A dict or list nested hundreds of levels deep (json.loads accepts about 1000)."""
    def build(depth: int, as_list: bool) -> Any:
        value: Any = "bottom"
        for _ in range(depth):
            value = [value] if as_list else {"x": value}
        return value
    return st.builds(build, st.integers(20, depth_max), st.booleans())


small_text = st.text(max_size=40)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63, max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True), small_text, st.sampled_from(SQLISH + WEIRD),
)
json_like = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=12), children, max_size=4)),
    max_leaves=12,
)
hostile_value = st.one_of(json_like, json_like, huge_text, deep())

user_ids = st.one_of(
    st.sampled_from([ENGINEER, APPROVER, APPROVER2, OUTSIDER, "U0NOBODY01", "W0ENTERPRISE", "USLACKBOT",
                     "U0RESETBOT", "u0approver1", " U0APPROVER1", "U0APPROVER1 ", "U0APPROVER1,U0APPROVER2"]),
    st.sampled_from(SQLISH + WEIRD), small_text,
)
request_ids = st.one_of(
    st.just(LIVE_PENDING_ID), st.just(LIVE_REVEAL_TOKEN), st.just(LIVE_DRAFT_ID),
    st.binary(min_size=10, max_size=10).map(lambda b: "rr_" + b.hex()),
    st.text(alphabet="0123456789abcdef", min_size=1, max_size=30).map(lambda s: "rr_" + s),
    st.binary(min_size=1, max_size=30).map(lambda b: "sec_" + b.hex()),
    st.sampled_from(["rr_01JH7Q3Z9K4M2N8P6R5T0V1W2X", "sec_4nR9x2VbQ7mP1kL8sT3wYz6c",
                     LIVE_PENDING_ID + " ", " " + LIVE_PENDING_ID, LIVE_PENDING_ID + "\x00",
                     LIVE_PENDING_ID.upper(), "rr_" + "0" * 100, "r" * 101]),
    st.sampled_from(SQLISH + WEIRD), small_text, huge_text,
)
action_ids = st.one_of(st.sampled_from(ACTION_IDS), st.sampled_from(["approve", "Approve_reset", "approve_reset ",
                                                                   "reveal_password", "", "*"]), small_text)
SIM = "@@SIM@@"  # the simulated Slack's base URL
response_urls = st.one_of(
    st.just(LIVE_RESPONSE_URL), st.just(LIVE_RESPONSE_URL), st.none(), st.integers(), st.lists(small_text, max_size=2),
    st.sampled_from(["not a url", "", "hooks.slack.com/actions/x", "@@SIM@@/response/forged-token",
                     "@@SIM@@/response/" + "A" * 5000]),
)


def fill_live(obj: Any, live: dict[str, str]) -> Any:
    """Replace placeholder strings (also inside longer strings) with their live values."""
    if isinstance(obj, str):
        if "@@" not in obj:
            return obj
        for key, value in live.items():
            obj = obj.replace(key, value)
        return obj
    if isinstance(obj, list):
        return [fill_live(x, live) for x in obj]
    if isinstance(obj, dict):
        return {k: fill_live(v, live) for k, v in obj.items()}
    return obj


# --- generic structural mutation -------------------------------------------------------------


def _paths(obj: Any, prefix: tuple = (), limit_depth: int = 6) -> list[tuple]:
    out = []
    if len(prefix) >= limit_depth:
        return out
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append(prefix + (k,))
            out += _paths(v, prefix + (k,), limit_depth)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.append(prefix + (i,))
            out += _paths(v, prefix + (i,), limit_depth)
    return out


def _parent(obj: Any, path: tuple) -> Any:
    for step in path[:-1]:
        obj = obj[step]
    return obj


@st.composite
def mutated(draw, base: dict, max_mutations: int = 4, values: st.SearchStrategy = hostile_value) -> dict:
    """`base` with 1..max_mutations random fields replaced by hostile values, deleted, or added."""
    payload = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, max_mutations))):
        paths = _paths(payload)
        op = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if op == "add" or not paths:
            holders = [()] + [p for p in paths if isinstance(_get(payload, p), dict)]
            holder = _get(payload, draw(st.sampled_from(holders)))
            holder[draw(st.text(min_size=1, max_size=20))] = draw(values)
            continue
        path = draw(st.sampled_from(paths))
        parent = _parent(payload, path)
        if op == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(values)
    return payload


def _get(obj: Any, path: tuple) -> Any:
    for step in path:
        obj = obj[step]
    return obj


# --- per-listener strategies -----------------------------------------------------------------


@st.composite
def slash_commands(draw) -> dict:
    payload = copy.deepcopy(draw(st.sampled_from(SLASH_COMMANDS)))
    payload["trigger_id"] = LIVE_TRIGGER if draw(st.integers(0, 4)) else payload["trigger_id"]  # mostly fresh
    payload["response_url"] = draw(response_urls)
    if draw(st.booleans()):
        payload["user_id"] = draw(user_ids)
    if draw(st.booleans()):
        payload["text"] = draw(st.one_of(
            st.sampled_from(["mofh", "namecheap", "MOFH webq7k2m", "gateway x", "mofh " + "k" * 5000,
                             "namecheap payload=%7B%7D", "mofh \x00", "mofh 'OR 1=1"]), hostile_value))
    if draw(st.booleans()):
        payload["channel_id"] = draw(st.one_of(st.sampled_from(["D0ENGDM001", "C0NOPE", "G0PRIVATE"]), hostile_value))
    if draw(st.integers(0, 3)) == 0:
        payload["command"] = draw(st.one_of(st.sampled_from(["/reset-passwords", "/Reset-Password", "reset-password",
                                                             "/reset-password ", "/approve"]), small_text))
    if draw(st.booleans()):
        payload = draw(mutated(payload, max_mutations=3))
    return payload


def _state(provider: Any, account: Any, reason: Any, ticket: Any) -> dict:
    def entry(value, select=False):
        if select:
            return {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": "x"},
                                                                 "value": value}}
        return {"type": "plain_text_input", "value": value}
    return {"values": {"provider_block": {"provider_select": entry(provider, True)},
                       "account_block": {"account_input": entry(account)},
                       "reason_block": {"reason_input": entry(reason)},
                       "ticket_block": {"ticket_input": entry(ticket)}}}


provider_values = st.one_of(st.sampled_from(["mofh", "namecheap", "MOFH", " mofh", "gateway", "sandbox", ""]),
                            hostile_value)
account_values = st.one_of(st.sampled_from(["webq7k2m", "abcd_40312277", "shop.example.net", "susp01x",
                                            "hname_12345678", "acmeshop", "webq7k2m' --", "WEBQ7K2M"]), hostile_value)
reason_values = st.one_of(st.just("Customer locked out after FTP client stored an old password."),
                          st.sampled_from(["pls", " " * 20, "x" * 1001, "\x00" * 20]), hostile_value)
state_shapes = st.one_of(
    st.builds(_state, provider_values, account_values, reason_values, st.one_of(st.just("SUP-1"), hostile_value)),
    hostile_value,
    st.builds(lambda v: {"values": v}, hostile_value),
    st.builds(lambda v: {"values": {"provider_block": v}}, hostile_value),
    st.builds(lambda v: {"values": {"provider_block": {"provider_select": v}}}, hostile_value),
    st.builds(lambda v: {"values": {"provider_block": {"provider_select": {"selected_option": v}}}}, hostile_value),
)


def _metadata(draft: Any = LIVE_DRAFT_ID, channel: Any = "C0HELPDESK", by: Any = ENGINEER, v: Any = "1") -> str:
    return json.dumps({"v": v, "draft": draft, "origin_channel_id": channel, "requested_by": by})


metadata_values = st.one_of(
    st.builds(_metadata), st.builds(_metadata, by=user_ids), st.builds(_metadata, draft=request_ids),
    st.builds(_metadata, draft=hostile_value, channel=hostile_value, by=hostile_value, v=hostile_value),
    st.builds(lambda n: json.dumps({f"k{i}": "v" * 200 for i in range(n)}), st.integers(10, 200)),
    st.builds(json.dumps, json_like),
    st.sampled_from(["", "{", "{\"draft\":", "null", "[]", "1e999", "\"str\"", "{\"draft\": NaN}",
                     "{\"draft\": \"" + "d" * 100_000 + "\"}", "\x00", "{" * 5000 + "}" * 5000,
                     "[" * 100_000, "{\"__proto__\": {\"draft\": \"x\"}}"]),
    huge_text, hostile_value,
)


@st.composite
def view_submissions(draw) -> dict:
    payload = copy.deepcopy(draw(st.sampled_from(VIEW_SUBMISSIONS)))
    view = payload["view"]
    if draw(st.booleans()):
        view["state"] = draw(state_shapes)
    elif draw(st.booleans()):
        values = view["state"]["values"]
        values["provider_block"]["provider_select"]["selected_option"]["value"] = draw(provider_values)
    view["private_metadata"] = draw(metadata_values)
    view["id"] = draw(st.one_of(st.builds(lambda b: "V0H" + b.hex(), st.binary(min_size=6, max_size=6)),
                                st.just("V0RESET0001"), hostile_value))
    if draw(st.booleans()):
        payload["user"] = {**payload["user"], "id": draw(user_ids)}
    if draw(st.integers(0, 4)) == 0:
        view["callback_id"] = draw(st.one_of(st.sampled_from(CALLBACK_IDS + ["reset_password_modal ", "RESET"]),
                                             hostile_value))
    if draw(st.integers(0, 2)) == 0:
        payload = draw(mutated(payload, max_mutations=3))
    return payload


@st.composite
def view_closed(draw) -> dict:
    return draw(mutated(VIEW_CLOSED, max_mutations=4))


@st.composite
def actions_shapes(draw, action_id: Any, value: Any) -> Any:
    good = {"action_id": action_id, "block_id": "approval_actions_v1", "type": "button", "value": value,
            "action_ts": "1767225700.481516", "text": {"type": "plain_text", "text": "Approve"}}
    return draw(st.one_of(
        st.just([good]), st.just([good]), st.just([good]), st.just([good, dict(good, action_id="deny_reset")]),
        st.just([]), st.just(good), st.just(None), st.just("approve_reset"),
        st.lists(hostile_value, min_size=1, max_size=3),
        st.just([{k: v for k, v in good.items() if k != "value"}]),
        st.just([{k: v for k, v in good.items() if k != "action_id"}]),
        st.builds(lambda v: [dict(good, value=v)], hostile_value),
        st.builds(lambda v: [dict(good, action_id=v)], hostile_value),
    ))


@st.composite
def button_clicks(draw) -> dict:
    """Approve / Deny / Reveal (and unknown) buttons with forged clickers and forged values."""
    payload = copy.deepcopy(draw(st.sampled_from(BUTTON_CLICKS)))
    action_id = draw(action_ids)
    value = draw(request_ids)
    payload["actions"] = draw(actions_shapes(action_id, value))
    payload["user"] = draw(st.one_of(
        st.builds(lambda u: {**payload["user"], "id": u}, user_ids),
        st.builds(lambda u: {**payload["user"], "id": u}, st.sampled_from([APPROVER, APPROVER2, ENGINEER])),
        st.just({}), hostile_value))
    payload["response_url"] = draw(response_urls)
    payload["trigger_id"] = draw(st.one_of(st.just(LIVE_TRIGGER), st.just(payload.get("trigger_id")), hostile_value))
    if draw(st.integers(0, 3)) == 0:
        payload = draw(mutated(payload, max_mutations=3))
    return payload


@st.composite
def modal_choices(draw) -> dict:
    """provider_select / method_select inside the (real, open) reset modal."""
    payload = copy.deepcopy(MODAL_CHOICE)
    view = payload["view"]
    view["id"], view["hash"] = LIVE_VIEW_ID, LIVE_VIEW_HASH
    payload["user"] = {**payload["user"], "id": ENGINEER}
    payload["trigger_id"] = LIVE_TRIGGER
    selected = draw(st.one_of(st.sampled_from(["mofh", "namecheap", "email_link", "reset_code"]), hostile_value))
    payload["actions"] = draw(st.one_of(
        st.just([{"type": "static_select", "action_id": "provider_select", "block_id": "provider_block",
                  "selected_option": {"text": {"type": "plain_text", "text": "x"}, "value": selected}}]),
        st.just([{"type": "static_select", "action_id": "method_select", "block_id": "method_block",
                  "selected_option": {"text": {"type": "plain_text", "text": "x"}, "value": selected}}]),
        actions_shapes("provider_select", selected),
    ))
    view["state"] = draw(st.one_of(st.just(view["state"]), state_shapes))
    view["private_metadata"] = draw(metadata_values)
    if draw(st.booleans()):
        payload["user"] = draw(st.one_of(st.builds(lambda u: {"id": u}, user_ids), hostile_value))
    if draw(st.integers(0, 3)) == 0:
        payload = draw(mutated(payload, max_mutations=3))
    return payload


@st.composite
def home_events(draw) -> tuple[dict, dict]:
    """(payload, envelope extras) for app_home_opened and other Events API shapes."""
    payload = copy.deepcopy(draw(st.sampled_from(HOME_OPENED)))
    payload["event_id"] = draw(st.one_of(st.just(LIVE_EVENT_ID), st.just(payload["event_id"]), hostile_value))
    event = payload["event"]
    event["user"] = draw(st.one_of(st.sampled_from([ENGINEER, APPROVER, APPROVER2, OUTSIDER]), user_ids,
                                   hostile_value))
    if draw(st.booleans()):
        event["tab"] = draw(st.one_of(st.sampled_from(["home", "messages", "about"]), hostile_value))
    if draw(st.integers(0, 3)) == 0:
        event["type"] = draw(st.one_of(st.sampled_from(["app_home_opened ", "message", "app_mention",
                                                        "app_uninstalled", "tokens_revoked"]), small_text))
    if draw(st.integers(0, 2)) == 0:
        payload = draw(mutated(payload, max_mutations=3))
    extras = draw(st.one_of(st.just({}), st.just({"retry_attempt": 1, "retry_reason": "timeout"}),
                            st.fixed_dictionaries({"retry_attempt": st.integers(0, 5),
                                                   "retry_reason": st.sampled_from(["", "http_timeout", "x"])})))
    return payload, extras


ENVELOPE_TYPES = ["slash_commands", "interactive", "events_api"]
random_payloads = st.one_of(
    st.dictionaries(st.text(max_size=15), json_like, max_size=8),
    st.dictionaries(st.sampled_from(["type", "user", "user_id", "actions", "view", "event", "command", "trigger_id",
                                     "response_url", "team", "team_id", "api_app_id", "enterprise", "channel",
                                     "container", "callback_id", "submission", "state", "token"]),
                    hostile_value, max_size=8),
    st.fixed_dictionaries({"type": st.sampled_from(["block_actions", "view_submission", "view_closed",
                                                    "event_callback", "shortcut", "message_action", "block_suggestion",
                                                    "interactive_message", "dialog_submission", "url_verification",
                                                    "ssl_check", "app_rate_limited", "workflow_step_edit",
                                                    "function_executed"])},
                          optional={"user": hostile_value, "actions": hostile_value, "view": hostile_value,
                                    "event": hostile_value, "command": hostile_value, "callback_id": hostile_value,
                                    "challenge": hostile_value, "ssl_check": hostile_value,
                                    "enterprise": hostile_value, "team": hostile_value, "container": hostile_value,
                                    "channel": hostile_value, "authorizations": hostile_value}),
)
