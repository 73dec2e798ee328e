"""The first middleware: payloads of the wrong shape are acknowledged and dropped, with a warning.

Slack sends well-formed payloads; anything else (a forged or broken client, a proxy that
mangles bodies) must not reach a listener, Bolt's own matchers, or the database. A dropped
payload is still acked, so Slack does not retry it. Hosts a response_url may point at are
Slack's own, or the configured Web API host (the simulated Slack in tests and the demo).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware

log = logging.getLogger(__name__)

USER_ID = re.compile(r"^[UWB][A-Z0-9]{2,30}$")
MAX_TEXT = 4000
MAX_ID = 255
SLACK_RESPONSE_HOSTS = frozenset({"hooks.slack.com"})


# What a button's value may be: request ids (rr_…), Reveal buttons (rv_…, sec_…), provider names,
# policy proposal ids (pp_…).
BUTTON_VALUE = re.compile(r"[A-Za-z0-9_-]{1,100}")


def button_value(body: dict) -> str | None:
    """The clicked button's value, when it has the shape of one the bot put there; else None."""
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        return None
    value = actions[0].get("value")
    return value if isinstance(value, str) and BUTTON_VALUE.fullmatch(value) else None


def _short_str(value: object, limit: int = MAX_ID) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit and value.isprintable()


def problem_with(body: object, response_hosts: frozenset[str]) -> str | None:
    """Why this payload is not one Slack would send, or None."""
    if not isinstance(body, dict):
        return "the payload is not an object"
    try:  # lone surrogates (valid JSON escapes) cannot be stored or sent anywhere
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, ValueError, TypeError, RecursionError):
        return "text that is not valid Unicode, or a structure that is not JSON"
    kind = body.get("type")
    if set(body) <= {"ssl_check", "token"} or (kind == "url_verification" and set(body) <= {
            "type", "challenge", "token"}):
        return None  # Slack's own probes of an HTTP endpoint; Bolt answers them
    if "command" in body:
        user = body.get("user_id")
        if not _short_str(body.get("command")) or not (body.get("text") is None or
                                                       (isinstance(body.get("text"), str) and
                                                       len(body["text"]) <= MAX_TEXT)):
            return "a slash command without a command name or with an unusable text"
    elif kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not _short_str(event.get("type")):
            return "an event without an event object"
        user = event.get("user", "U00")
        if "event_id" in body and not _short_str(body.get("event_id")):
            return "an event with an unusable event_id"
    elif kind in ("block_actions", "view_submission", "view_closed", "shortcut", "message_action",
                  "block_suggestion"):
        user = body.get("user", {}).get("id") if isinstance(body.get("user"), dict) else None
    else:
        return f"an unknown payload type {str(kind)[:40]!r}"
    if not isinstance(user, str) or not USER_ID.match(user):
        return "no usable user id"
    for key in ("trigger_id", "channel_id", "team_id", "api_app_id"):
        if key in body and body[key] is not None and not _short_str(body[key]):
            return f"an unusable {key}"
    if "response_url" in body and body["response_url"] is not None and not _response_url_ok(body["response_url"],
                                                                                          response_hosts):
        return "a response_url that is not Slack's"
    if "view" in body and not _view_ok(body["view"]):
        return "a view of the wrong shape"
    if "actions" in body and not _actions_ok(body["actions"]):
        return "actions of the wrong shape"
    urls = body.get("response_urls")
    if urls is not None and not (isinstance(urls, list) and len(urls) <= 5 and all(
            isinstance(u, dict) and _response_url_ok(u.get("response_url"), response_hosts) for u in urls)):
        return "response_urls of the wrong shape"
    if "authorizations" in body and not (isinstance(body["authorizations"], list)
                                         and all(isinstance(a, dict) for a in body["authorizations"])):
        return "authorizations of the wrong shape"
    for key in ("container", "channel", "message", "team"):
        if key in body and body[key] is not None and not isinstance(body[key], dict):
            return f"a {key} of the wrong shape"
    return None


def _response_url_ok(url: object, hosts: frozenset[str]) -> bool:
    if not isinstance(url, str) or len(url) > 1000:
        return False
    parts = urlsplit(url)
    return parts.scheme in ("https", "http") and (parts.hostname or "") in hosts and \
        (parts.scheme == "https" or parts.hostname in ("127.0.0.1", "localhost"))


def _view_ok(view: object) -> bool:
    # Slack always names a view's type; Bolt reads it unguarded while matching a view_submission
    # (slack_bolt/request/payload_utils.py: is_workflow_step_save), so one without it would be a 500.
    if not isinstance(view, dict) or not isinstance(view.get("type"), str):
        return False
    for key in ("id", "hash", "callback_id", "type"):
        if key in view and view[key] is not None and not isinstance(view[key], str):
            return False
    metadata = view.get("private_metadata")
    if metadata is not None and not (isinstance(metadata, str) and len(metadata) <= 3000):
        return False
    state = view.get("state")
    return state is None or (isinstance(state, dict) and isinstance(state.get("values", {}), dict))


def _actions_ok(actions: object) -> bool:
    return (isinstance(actions, list) and 0 < len(actions) <= 25
            and all(isinstance(a, dict) and _short_str(a.get("action_id")) for a in actions)
            and all(a.get("value") is None or isinstance(a.get("value"), str) for a in actions))


def response_hosts_for(app: App) -> frozenset[str]:
    """Slack's response_url host, and the host of the Web API the app talks to."""
    return SLACK_RESPONSE_HOSTS | {urlsplit(app.client.base_url).hostname or ""}


class DropMalformedPayloads(Middleware):
    """A second line behind the transports' screening (bot/server.py), for requests dispatched directly."""

    def __init__(self, response_hosts: frozenset[str]) -> None:
        self.response_hosts = response_hosts

    def process(self, *, req: BoltRequest, resp: BoltResponse,
                next: Callable[[], BoltResponse]) -> BoltResponse | None:
        why = problem_with(req.body, self.response_hosts)
        if why is None:
            return next()
        log.warning("dropped a malformed Slack payload: %s", why)
        return BoltResponse(status=200, body="")
