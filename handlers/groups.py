"""Who is in a Slack user group: the workflow's `GroupMembers` port over usergroups.users.list, and its event.

A grant to a user group (S…) holds for whoever Slack lists as its members at the click, at most
MAX_AGE old (CONTRACT.md `roles grant`). Each group's answer is cached for MAX_AGE by the app's
clock; `subteam_members_changed` refreshes that group at once on the replica that gets the event
(the others see the change within MAX_AGE). A Slack failure is never an answer: the cache entry
is dropped and GroupsUnavailable raised, so the click that needed it is refused
(bot/workflow/context.py: member_groups). The method is Tier 2 (20+ per minute per workspace);
the cache keeps a busy approvals channel well under it.

Membership events come for every group in the workspace, and anyone may toggle the members of their
own group: so an event is followed only for a group whose members matter (one holding a grant, or an
escalation's target: `watch`), and a group is asked about at most once every MIN_INTERVAL however
many events come. An event inside that interval marks the answer stale instead; the first click after
the interval asks again. (So for up to MIN_INTERVAL after a change a click may be judged by the list
from just before it, as the replicas that did not get the event judge by a list up to MAX_AGE old.)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain import GroupsUnavailable, is_user_group

log = logging.getLogger(__name__)

MAX_AGE = timedelta(seconds=60)
MIN_INTERVAL = timedelta(seconds=10)  # between two usergroups.users.list calls for one group, on membership events
WATCHED_MAX_AGE = timedelta(seconds=10)  # how long the list of groups that matter is kept before it is read again


@dataclass(frozen=True)
class _Known:
    members: frozenset[str]
    at: datetime


class SlackGroupMembers:
    """`GroupMembers` (bot/workflow/context.py) with the app's WebClient (and its 429/5xx retry handlers)."""

    def __init__(self, client: WebClient, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 max_age: timedelta = MAX_AGE) -> None:
        self.client = client
        self.clock = clock
        self.max_age = max_age
        self._lock = threading.Lock()
        self._known: dict[str, _Known] = {}
        # Raised by every refresh, so that an answer asked for before a change never replaces one after it.
        self._generation: dict[str, int] = {}
        self._asked_at: dict[str, datetime] = {}
        self._stale: set[str] = set()  # changed (an event) while asked about too recently to ask again
        self._watched_source: Callable[[], frozenset[str]] | None = None
        self._watched: _Known | None = None

    def watch(self, source: Callable[[], frozenset[str]]) -> None:
        """Follow membership events only for the groups `source` lists (bot/workflow/lookups.py: watched_groups)."""
        self._watched_source = source
        self._watched = None

    def members(self, group_id: str) -> frozenset[str]:
        """The group's members, at most `max_age` old; GroupsUnavailable when Slack cannot tell."""
        with self._lock:
            known = self._known.get(group_id)
            now = self.clock()
            if known is not None and timedelta(0) <= now - known.at < self.max_age \
                    and not (group_id in self._stale and not self._asked_recently(group_id, now)):
                return known.members
        return self._ask(group_id)

    def refresh(self, group_id: str) -> None:
        """The group's members changed (subteam_members_changed): ask Slack again now, if the group matters and
        was not asked about in the last MIN_INTERVAL (else the first click after it asks)."""
        if not self._matters(group_id):
            return
        with self._lock:
            if self._asked_recently(group_id, self.clock()):
                self._stale.add(group_id)
                return
            self._known.pop(group_id, None)
            self._generation[group_id] = self._generation.get(group_id, 0) + 1
        try:
            self._ask(group_id)
        except GroupsUnavailable as problem:  # the next click asks again, and is refused while Slack cannot tell
            log.warning("usergroups.users.list after subteam_members_changed failed: %s", problem.detail)

    def _asked_recently(self, group_id: str, now: datetime) -> bool:
        asked = self._asked_at.get(group_id)
        return asked is not None and timedelta(0) <= now - asked < MIN_INTERVAL

    def _matters(self, group_id: str) -> bool:
        """Whether the group holds a grant or is an escalation's target (read again every WATCHED_MAX_AGE)."""
        if self._watched_source is None:
            return True
        now = self.clock()
        with self._lock:
            watched = self._watched
        if watched is None or not timedelta(0) <= now - watched.at < WATCHED_MAX_AGE:
            try:
                watched = _Known(self._watched_source(), now)
            except Exception:  # the database is away: follow the event rather than miss a removal
                log.warning("could not read which user groups matter; following the event for %s", group_id)
                return True
            with self._lock:
                self._watched = watched
        return group_id in watched.members

    def _ask(self, group_id: str) -> frozenset[str]:
        asked_at = self.clock()
        with self._lock:
            generation = self._generation.get(group_id, 0)
            self._asked_at[group_id] = asked_at
        try:
            response = self.client.usergroups_users_list(usergroup=group_id)
            users = response.get("users")
            if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
                raise GroupsUnavailable(group_id, "Slack's answer listed no members")
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            self._forget(group_id)
            raise GroupsUnavailable(group_id, f"Slack answered {error or 'an error'}") from None
        except (SlackClientError, OSError) as exc:  # no answer at all: connection refused, timeout
            self._forget(group_id)
            raise GroupsUnavailable(group_id, f"Slack did not answer: {type(exc).__name__}") from None
        except GroupsUnavailable:
            self._forget(group_id)
            raise
        members = frozenset(users)
        with self._lock:
            if self._generation.get(group_id, 0) == generation:
                self._known[group_id] = _Known(members, asked_at)
                self._stale.discard(group_id)
        return members

    def _forget(self, group_id: str) -> None:
        with self._lock:
            self._known.pop(group_id, None)


def handle_subteam_members_changed(event, groups: SlackGroupMembers | None) -> None:
    """A user group's members changed: ask Slack for them now, so the next click is checked against the new list."""
    group_id = event.get("subteam_id")
    if groups is None or not isinstance(group_id, str) or not is_user_group(group_id) or len(group_id) > 32:
        return
    groups.refresh(group_id)
