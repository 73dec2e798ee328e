"""Query functions. Each takes the caller's session first; the workflow owns the transaction.

State changes are compare-and-set (`UPDATE … WHERE id = :id AND status = :from`), so two
replicas, two approvers or a double click can never both win. Every
status or reveal state written here is first checked against the domain's state machine
(bot/domain.py: check_transition, check_reveal_transition).
"""

from __future__ import annotations

import itertools
import json
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    CursorResult,
    Executable,
    Row,
    String,
    Table,
    and_,
    any_,
    bindparam,
    delete,
    event,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    true,
    union,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.domain import (
    Approval,
    AuditChainCheck,
    AuditRecord,
    MessageRef,
    Method,
    RequestView,
    RevealState,
    Role,
    RoleGrant,
    Status,
    check_reveal_transition,
    check_transition,
)
from bot.policy import ApprovalPolicy, PolicyAnnouncement, PolicyProposal, ProposalStatus
from storage import audit_chain
from storage.models import (
    AuditChainHead,
    AuditEvent,
    AuditRepeat,
    CallBudgetSlot,
    DirectoryEntry,
    Draft,
    HomeViewer,
    PolicyAnnouncementRow,
    PolicyProposalRow,
    ProcessedEvent,
    ProviderAccount,
    ProviderPolicy,
    RequestApproval,
    ResetRequest,
    RiskAlertSent,
    RoleAssignment,
)

# The hot path runs prebuilt Core statements with bound parameters: building a statement costs several times
# what executing it does (≈110 µs against ≈30 µs for a select on SQLite, measured for issue 13), and the ORM
# adds its unit of work on top. Reads still return the domain's views, never ORM objects.
_REQUESTS = cast(Table, ResetRequest.__table__)
_APPROVALS = cast(Table, RequestApproval.__table__)
_GRANTS = cast(Table, RoleAssignment.__table__)
_AUDIT = cast(Table, AuditEvent.__table__)
_HEAD = cast(Table, AuditChainHead.__table__)
_REPEATS = cast(Table, AuditRepeat.__table__)
_DRAFTS = cast(Table, Draft.__table__)
_POLICIES = cast(Table, ProviderPolicy.__table__)
_BUDGET = cast(Table, CallBudgetSlot.__table__)
_HOME_VIEWERS = cast(Table, HomeViewer.__table__)

# The request and its approvals in one round trip: a row per approval (one with NULLs when it has none).
_GET_REQUEST_AND_APPROVALS = (
    select(_REQUESTS, _APPROVALS.c.approver_id.label("approval_by"), _APPROVALS.c.at.label("approval_at"))
    .select_from(_REQUESTS.outerjoin(_APPROVALS, _APPROVALS.c.request_id == _REQUESTS.c.id))
    .where(_REQUESTS.c.id == bindparam("id"))
    .order_by(_APPROVALS.c.at, _APPROVALS.c.approver_id))
# Locked alone, its approvals read by the next statement: under READ COMMITTED a row lock waited for returns the
# row as its locker committed it, but rows joined to it from another table as of the statement's start.
_LOCK_REQUEST_PG = select(_REQUESTS).where(_REQUESTS.c.id == bindparam("id")).with_for_update()
_TOUCH_REQUEST = (update(_REQUESTS).where(_REQUESTS.c.id == bindparam("request_id"))
                  .values(updated_at=_REQUESTS.c.updated_at))
_APPROVALS_OF = (select(_APPROVALS.c.approver_id, _APPROVALS.c.at).where(_APPROVALS.c.request_id == bindparam("id"))
                 .order_by(_APPROVALS.c.at, _APPROVALS.c.approver_id))
_REQUEST_BY_VIEW = select(_REQUESTS).where(_REQUESTS.c.source_view_id == bindparam("view"))
_REQUEST_BY_TOKEN = select(_REQUESTS).where(_REQUESTS.c.reveal_token == bindparam("token"))
OPEN_STATUSES = (Status.PENDING.value, Status.EXECUTING.value)  # the partial unique index's (storage/models.py)
_OPEN_REQUEST = (select(_REQUESTS).where(_REQUESTS.c.provider == bindparam("provider"),
                                         _REQUESTS.c.account == bindparam("account"),
                                         _REQUESTS.c.status.in_(OPEN_STATUSES))
                 .limit(1))
# A grant's subject is a user group when it starts with "S" (bot/domain.py: is_user_group). SQLite's LIKE ignores
# case, so it cannot use the (user_id, …) index and `= ? OR LIKE` read every grant on every click; the range is
# the same test under SQLite's binary collation, and a search of that index. PostgreSQL's LIKE is exact (its
# collation may sort "s…" inside the range).
_GROUP_SUBJECT = {"sqlite": and_(_GRANTS.c.user_id >= "S", _GRANTS.c.user_id < "T"),
                  "postgresql": _GRANTS.c.user_id.like("S%")}
_GRANTS_FOR = {dialect: (select(_GRANTS.c.user_id, _GRANTS.c.role, _GRANTS.c.provider_scope)
                         .where(or_(_GRANTS.c.user_id == bindparam("user_id"), group_subject))
                         .order_by(_GRANTS.c.user_id, _GRANTS.c.role))
               for dialect, group_subject in _GROUP_SUBJECT.items()}
# PostgreSQL: the grants and now() in one round trip, a row even when there is no grant. now() is the
# transaction's start, what db_now would answer later in it, so it is kept for db_now.
_ONE_ROW = select(literal(1).label("one")).subquery("one_row")
_GRANTS_AND_NOW = (
    select(func.now().label("db_now"), _GRANTS.c.user_id, _GRANTS.c.role, _GRANTS.c.provider_scope)
    .select_from(_ONE_ROW.outerjoin(_GRANTS, or_(_GRANTS.c.user_id == bindparam("user_id"),
                                                 _GROUP_SUBJECT["postgresql"])))
    .order_by(_GRANTS.c.user_id, _GRANTS.c.role))
_GET_DRAFT = select(_DRAFTS).where(_DRAFTS.c.id == bindparam("id"))
_GET_POLICY = select(_POLICIES).where(_POLICIES.c.provider == bindparam("provider"))
_SEALED = (select(_REQUESTS.c.sealed_password, _REQUESTS.c.sealed_input, _REQUESTS.c.sealed_until_sent)
           .where(_REQUESTS.c.id == bindparam("id")))
_EXECUTION_ATTEMPTS = select(_REQUESTS.c.execution_attempts).where(_REQUESTS.c.id == bindparam("id"))
_HOME_VIEWERS_SINCE = (select(_HOME_VIEWERS.c.user_id).where(_HOME_VIEWERS.c.opened_at >= bindparam("since"))
                       .order_by(_HOME_VIEWERS.c.opened_at.desc()).limit(bindparam("limit")))
_BUDGET_LOCK = select(func.pg_advisory_xact_lock(bindparam("key", type_=BigInteger)))  # crc32: up to 2**32
_BUDGET_FORGET = delete(_BUDGET).where(_BUDGET.c.budget_key == bindparam("key"), _BUDGET.c.at <= bindparam("start"))
_BUDGET_TAKEN = (select(_BUDGET.c.at).where(_BUDGET.c.budget_key == bindparam("key"), _BUDGET.c.at > bindparam("start"))
                 .order_by(_BUDGET.c.at))
# Unless a unique key (or index) already holds the row: no savepoint to catch the error, two round trips fewer.
_INSERT_UNLESS_TAKEN = {
    # RETURNING tells whether the row went in (psycopg reports no rowcount for an INSERT here).
    dialect: {table: module.insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns)
              for table in (_REQUESTS, _APPROVALS)}
    for dialect, module in (("postgresql", postgresql), ("sqlite", sqlite))
}


def _core(session: Session, statement: Executable, params: Mapping[str, Any] | None = None) -> CursorResult[Any]:
    """A prebuilt Core statement on the session's connection, after the rows the caller added are flushed."""
    session.flush()  # Core statements do not autoflush; cheap when nothing is pending
    return cast("CursorResult[Any]", session.connection().execute(statement, params or {}))


@lru_cache(maxsize=256)
def _equality_update(table: Table, where: tuple[tuple[str, bool], ...], sets: tuple[str, ...]) -> Executable:
    """UPDATE table SET each of `sets` WHERE each of `where` equals (or, flagged, IS NULL): built once per shape."""
    return (update(table)
            .where(*(table.c[name].is_(None) if null else table.c[name] == bindparam(f"w_{name}")
                     for name, null in where))
            .values({name: bindparam(f"v_{name}") for name in sets}))


def _update_where(session: Session, table: Table, where: Mapping[str, Any], values: Mapping[str, Any]) -> int:
    """Compare-and-set by equality (None: IS NULL) with plain values; the rows it changed."""
    statement = _equality_update(table, tuple((name, value is None) for name, value in where.items()),
                                 tuple(values))
    params = {f"w_{name}": value for name, value in where.items() if value is not None}
    params.update({f"v_{name}": value for name, value in values.items()})
    return _core(session, statement, params).rowcount


def _insert(session: Session, table: Table, values: Mapping[str, Any]) -> None:
    _core(session, insert(table), values)  # insert(table) is the same statement each time: its compiled form is cached


def _insert_unless_taken(session: Session, table: Table, values: Mapping[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING: False when a unique key or index of `table` already holds such a row."""
    return _core(session, _INSERT_UNLESS_TAKEN[session.get_bind().dialect.name][table], values).first() is not None

ALL_PROVIDERS = "*"


def ping(session: Session) -> None:
    session.execute(select(1))


_DB_NOW = "resetbot.db_now"  # session.info key: PostgreSQL's now() of the session's transaction


def db_now(session: Session) -> datetime:
    """The database server's clock, as an aware UTC datetime.

    Every lease, expiry and budget window is measured by it, so replicas whose own clocks
    disagree still agree on whose lease has lapsed. SQLite answers text in UTC (with
    milliseconds, which CURRENT_TIMESTAMP lacks); PostgreSQL a timestamptz (the
    transaction's start, like every CURRENT_TIMESTAMP in the same transaction).
    """
    if session.get_bind().dialect.name == "sqlite":
        # SQLite's "now" is the OS clock of the process running the statement, and every process sharing
        # a WAL database runs on its host (WAL needs shared memory): the same clock, without a statement.
        now = datetime.now(UTC)
        return now.replace(microsecond=now.microsecond // 1000 * 1000)  # milliseconds, as strftime('%f')
    cached = session.info.get(_DB_NOW)
    if cached is not None:  # now() is the transaction's start: the same answer all through it
        return cached
    return _keep_db_now(session, session.scalar(select(func.now())))


def _keep_db_now(session: Session, value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError("the database answered no timestamp for now()")
    value = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    session.info[_DB_NOW] = value
    return value


# --- roles -----------------------------------------------------------------------------------


def grants_for(session: Session, user_id: str) -> list[RoleGrant]:
    """The grants that may apply to this user: their own, and every user group's (S…), whose members
    only Slack knows (bot/workflow/context.py: member_groups)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql" and _DB_NOW not in session.info:
        rows = _core(session, _GRANTS_AND_NOW, {"user_id": user_id}).all()
        _keep_db_now(session, rows[0].db_now)
        return [_grant(row) for row in rows if row.user_id is not None]
    return [_grant(row) for row in _core(session, _GRANTS_FOR[dialect], {"user_id": user_id})]


def all_grants(session: Session) -> list[RoleGrant]:
    rows = session.scalars(select(RoleAssignment).order_by(RoleAssignment.user_id, RoleAssignment.role))
    return [_grant(row) for row in rows]



def watched_groups(session: Session) -> frozenset[str]:
    """The user groups (S…) whose members matter: those holding a grant, and the escalate-to of a policy or of
    a waiting request (which keeps the policy it was made under)."""
    granted = select(RoleAssignment.user_id).where(RoleAssignment.user_id.startswith("S"))
    escalations = select(ProviderPolicy.escalate_to).where(ProviderPolicy.escalate_to.startswith("S"))
    waiting = select(ResetRequest.escalate_to).where(ResetRequest.status == Status.PENDING.value,
                                                     ResetRequest.escalate_to.startswith("S"))
    return frozenset(session.scalars(union(granted, escalations, waiting)))


def add_grant(session: Session, *, user_id: str, role: Role, provider: str | None, granted_by: str | None,
              now: datetime) -> bool:
    """True when the grant is new."""
    scope = provider or ALL_PROVIDERS
    exists = session.scalar(
        select(RoleAssignment.id).where(
            RoleAssignment.user_id == user_id, RoleAssignment.role == role.value, RoleAssignment.provider_scope == scope
        )
    )
    if exists:
        return False
    # granted_by is a Slack user id or "cli:<OS user>"; the audit row keeps it whole (64), the grant its start.
    session.add(RoleAssignment(user_id=user_id, role=role.value, provider_scope=scope,
                               granted_by=granted_by[:32] if granted_by else granted_by, granted_at=now))
    session.flush()
    return True


def remove_grant(session: Session, *, user_id: str, role: Role, provider: str | None) -> bool:
    """Remove the grant for `provider`; without one, the role for every provider, scoped grants included."""
    condition = [RoleAssignment.user_id == user_id, RoleAssignment.role == role.value]
    if provider is not None:
        condition.append(RoleAssignment.provider_scope == provider)
    return _rows_changed(session, delete(RoleAssignment).where(*condition)) > 0


def _grant(row: RoleAssignment | Row[Any]) -> RoleGrant:
    provider = None if row.provider_scope == ALL_PROVIDERS else row.provider_scope
    return RoleGrant(user_id=row.user_id, role=Role(row.role), provider=provider)


# --- drafts (slash command → modal submit) -----------------------------------------------------


def add_draft(session: Session, *, draft_id: str, requester_id: str, channel_id: str | None,
              response_url: str | None, now: datetime) -> None:
    _insert(session, _DRAFTS, {"id": draft_id, "requester_id": requester_id, "channel_id": channel_id,
                               "response_url": response_url, "created_at": now})


def get_draft(session: Session, draft_id: str) -> Row[Any] | None:
    """The draft's row (id, requester_id, channel_id, response_url, created_at), or None."""
    return _core(session, _GET_DRAFT, {"id": draft_id}).first()


def delete_drafts_before(session: Session, cutoff: datetime) -> int:
    return _rows_changed(session, delete(Draft).where(Draft.created_at < cutoff))


# --- requests ----------------------------------------------------------------------------------


class OpenRequestExists(Exception):
    """The provider and account already have an open request (`request`): the index refused a second."""

    def __init__(self, request: RequestView) -> None:
        super().__init__(f"request {request.id} is open for this account")
        self.request = request


# An audit event's own columns (storage/models.py: AuditEvent); seq, prev_hash and hash chain it (the audit section).
_EVENT_COLUMNS = ("at", "actor_id", "action", "request_id", "provider", "account", "detail")


def _advance_head_pg(*where: Any) -> Any:
    """UPDATE the chain's head by one event whose canonical JSON is bound as `canonical`; RETURNING its seq,
    prev_hash and hash (SET reads the row as it was: prev_hash becomes the old hash)."""
    concatenated = _HEAD.c.hash.concat(bindparam("canonical", type_=_AUDIT.c.detail.type))
    new_hash = func.encode(func.sha256(func.convert_to(concatenated, literal_column("'UTF8'"))),
                           literal_column("'hex'"))
    return (update(_HEAD).where(_HEAD.c.id == 1, *where)
            .values(seq=_HEAD.c.seq + 1, prev_hash=_HEAD.c.hash, hash=new_hash)
            .returning(_HEAD.c.seq, _HEAD.c.prev_hash, _HEAD.c.hash))


def _request_with_audit_pg() -> Executable:
    """PostgreSQL: the request (unless a unique key holds one) and its audit event, appended to the chain, in one
    round trip. The chain's head is advanced only when the request's insert returned a row, and the event is
    inserted from what both returned, so a refused request gets none: RETURNING says which."""
    new = (postgresql.insert(_REQUESTS).values({c.name: bindparam(f"r_{c.name}", type_=c.type) for c in _REQUESTS.c})
           .on_conflict_do_nothing().returning(_REQUESTS.c.id, _REQUESTS.c.provider, _REQUESTS.c.account)
           .cte("new_request"))
    head = _advance_head_pg(select(new.c.id).exists()).cte("head")
    return (insert(_AUDIT).from_select(
        [*_EVENT_COLUMNS, "seq", "prev_hash", "hash"],
        select(bindparam("a_at", type_=_AUDIT.c.at.type), bindparam("a_actor_id", type_=_AUDIT.c.actor_id.type),
               bindparam("a_action", type_=_AUDIT.c.action.type), new.c.id, new.c.provider, new.c.account,
               bindparam("a_detail", type_=_AUDIT.c.detail.type), head.c.seq, head.c.prev_hash, head.c.hash)
        .select_from(new.join(head, true())))
        .add_cte(new).add_cte(head).returning(_AUDIT.c.request_id))


_REQUEST_WITH_AUDIT_PG = _request_with_audit_pg()
# What a column takes when the caller gives it no value (the statement above binds every column; the view of a new
# request shows them too).
_REQUEST_DEFAULTS = {c.name: getattr(c.default, "arg", None) if c.default is not None and c.default.is_scalar
                     else None for c in _REQUESTS.c}


def add_request(session: Session, *, audit: Mapping[str, Any] | None = None, **fields) -> RequestView | None:
    """Insert a new request; None when its source view was already turned into one (a resubmit).

    `audit`: its audit event's at, actor_id, action and detail (a dict), stored with it (on PostgreSQL in
    the same statement, which then holds the audit chain's head until the commit: call it last in its unit of
    work, as intake does) and only when the request is.

    Raises OpenRequestExists when the provider and account already have an open request (the
    partial unique index decides, so two replicas racing two submits cannot both insert), and
    raises IntegrityError for any other conflict (the random id taken): it is a bug, never a resubmit.
    """
    check_transition(None, Status(fields["status"]))
    row = {**_REQUEST_DEFAULTS, **fields}
    if audit is not None and session.get_bind().dialect.name == "postgresql":
        _append_pending_audit(session)  # the events recorded before it come first in the chain
        detail = _detail_json(audit.get("detail"))
        params = {f"r_{name}": value for name, value in row.items()}
        params.update({"a_at": audit["at"], "a_actor_id": audit["actor_id"], "a_action": audit["action"],
                       "a_detail": detail,
                       "canonical": _canonical({"at": audit["at"], "actor_id": audit["actor_id"],
                                                "action": audit["action"], "request_id": fields["id"],
                                                "provider": fields["provider"], "account": fields["account"],
                                                "detail": detail})})
        stored = _core(session, _REQUEST_WITH_AUDIT_PG, params).first() is not None
    else:
        stored = _insert_unless_taken(session, _REQUESTS, fields)
        if stored and audit is not None:
            add_audit(session, at=audit["at"], action=audit["action"], actor_id=audit["actor_id"],
                      provider=fields["provider"], account=fields["account"], request_id=fields["id"],
                      detail=audit.get("detail"))
    if not stored:
        # The conflicting row is committed by now (PostgreSQL waits for its inserter; SQLite writes one at
        # a time), so what it collided with can be read back.
        view_id = fields.get("source_view_id")
        if view_id and request_by_view_id(session, view_id) is not None:
            return None
        open_request = _open_request(session, fields["provider"], fields["account"])
        if open_request is not None:
            raise OpenRequestExists(open_request)
        # The random id already taken (or another unique key): a bug, reported as the error it is.
        raise IntegrityError("INSERT INTO reset_requests", None,
                             Exception("the new request collided with no stored view and no open request"))
    return to_view(cast(Row[Any], SimpleNamespace(**row)))


def open_request_for(session: Session, provider: str, account: str) -> RequestView | None:
    """The request waiting or being changed for this provider and account, if any."""
    return _open_request(session, provider, account)


def _open_request(session: Session, provider: str, account: str) -> RequestView | None:
    row = _core(session, _OPEN_REQUEST, {"provider": provider, "account": account}).first()
    return to_view(row) if row else None  # named in a sentence: its approvals are not read


def lock_request(session: Session, request_id: str) -> RequestView | None:
    """The request, locked until the transaction ends, so no state change interleaves with the caller's."""
    if session.get_bind().dialect.name == "postgresql":
        row = _core(session, _LOCK_REQUEST_PG, {"id": request_id}).first()
        return to_view(row, approvals_of(session, request_id)) if row else None
    _core(session, _TOUCH_REQUEST, {"request_id": request_id})  # SQLite locks the whole database on the first write
    return get_request(session, request_id)


def request_by_view_id(session: Session, source_view_id: str) -> RequestView | None:
    row = _core(session, _REQUEST_BY_VIEW, {"view": source_view_id}).first()
    return to_view(row) if row else None  # a resubmit's request: nobody can have approved it in between


def get_request(session: Session, request_id: str) -> RequestView | None:
    """Read with Core statements (the hot path reads a request ~10 times per reset: no ORM identity map)."""
    return _request_and_approvals(_core(session, _GET_REQUEST_AND_APPROVALS, {"id": request_id}).all())


def _request_and_approvals(rows: Sequence[Row[Any]]) -> RequestView | None:
    """The view from _GET_REQUEST_AND_APPROVALS's rows: the request's columns, and an approval per row."""
    if not rows:
        return None
    return to_view(rows[0], [Approval(row.approval_by, row.approval_at) for row in rows if row.approval_by is not None])


def request_by_reveal_token(session: Session, token: str) -> RequestView | None:
    row = _core(session, _REQUEST_BY_TOKEN, {"token": token}).first()
    return to_view(row, approvals_of(session, row.id)) if row else None


def transition(session: Session, request_id: str, *, from_status: Status, to_status: Status, now: datetime,
               held_by: str | None = None, epoch: int | None = None, **values) -> bool:
    """Compare-and-set on the request's state; True only for the one caller that moved it.

    With `held_by`, the row must also still be leased to that owner, and with `epoch` to
    that claim of it (`execution_attempts`, raised by every takeover): a replica whose
    lease was taken over, even by its own sweep, cannot finish the request a second time.
    """
    check_transition(from_status, to_status)
    if "reveal_state" in values:  # only the move that ends an execution gives a request something to reveal
        check_reveal_transition(RevealState.NONE, RevealState(values["reveal_state"]))
    where: dict[str, Any] = {"id": request_id, "status": from_status.value}
    if held_by is not None:
        where["lease_owner"] = held_by
    if epoch is not None:
        where["execution_attempts"] = epoch
    return _update_where(session, _REQUESTS, where, {"status": to_status.value, "updated_at": now, **values}) == 1


def set_fields(session: Session, request_id: str, **values) -> None:
    """Non-state fields (message references, response_url) that no race can corrupt."""
    _update_where(session, _REQUESTS, {"id": request_id}, values)


def sealed_values(session: Session, request_id: str) -> tuple[bytes | None, bytes | None]:
    row = _core(session, _SEALED, {"id": request_id}).first()
    return (row.sealed_password, row.sealed_input) if row else (None, None)


def claim_reveal(session: Session, token: str, *, now: datetime, stale_before: datetime) -> bool:
    """READY → OPENING (or an OPENING claim abandoned before `stale_before`) for one click only."""
    check_reveal_transition(RevealState.READY, RevealState.OPENING)
    check_reveal_transition(RevealState.OPENING, RevealState.OPENING)
    changed = _rows_changed(
        session,
        update(ResetRequest)
        .where(
            ResetRequest.reveal_token == token,
            ResetRequest.reveal_expires_at > now,
            or_(
                ResetRequest.reveal_state == RevealState.READY.value,
                (ResetRequest.reveal_state == RevealState.OPENING.value)
                & (ResetRequest.reveal_claimed_at < stale_before),
            ),
        )
        .values(reveal_state=RevealState.OPENING.value, reveal_claimed_at=now, updated_at=now)
    )
    return changed == 1


def set_reveal_state(session: Session, token: str, *, from_state: RevealState, to_state: RevealState,
                     now: datetime, **values) -> bool:
    check_reveal_transition(from_state, to_state)
    if to_state in (RevealState.REVEALED, RevealState.EXPIRED):  # nothing is left to send: no copy stays
        values.setdefault("sealed_until_sent", None)
    return _update_where(session, _REQUESTS, {"reveal_token": token, "reveal_state": from_state.value},
                         {"reveal_state": to_state.value, "updated_at": now, **values}) == 1


def release_stale_reveal_claims(session: Session, *, now: datetime, stale_before: datetime,
                                token: str | None = None) -> int:
    """OPENING → READY for claims older than `stale_before` (a replica died mid-reveal): the reveal is not
    used up. Only `token`'s when given; past the reveal TTL the expiry destroys it instead."""
    check_reveal_transition(RevealState.OPENING, RevealState.READY)
    condition = [ResetRequest.reveal_state == RevealState.OPENING.value, ResetRequest.reveal_claimed_at < stale_before,
                 ResetRequest.reveal_expires_at > now]
    if token is not None:
        condition.append(ResetRequest.reveal_token == token)
    return _rows_changed(
        session,
        update(ResetRequest).where(*condition).values(reveal_state=RevealState.READY.value, reveal_claimed_at=None,
                                                      updated_at=now))


def bind_reveal(session: Session, request_id: str, *, from_token: str, to_token: str, sealed_password: bytes,
                until_sent: bytes, now: datetime, again: bool = False) -> bool:
    """Before the Reveal button is put in the requester's DM: the button's lookup becomes the reveal token
    and the password is stored sealed to that button, with the seal-key copy kept in `sealed_until_sent`
    until the DM has it (bot/workflow/reveal.py: send_reveal_dm). One sender at a time wins. `again`: a
    sender whose DM update may have landed after a newer sender's binds once more, though one was sent."""
    where: dict[str, Any] = {"id": request_id, "reveal_token": from_token, "reveal_state": RevealState.READY.value}
    if not again:
        where["reveal_sent_at"] = None  # IS NULL: not sent yet
    return _update_where(session, _REQUESTS, where, {"reveal_token": to_token, "sealed_password": sealed_password,
                                                     "sealed_until_sent": until_sent, "updated_at": now}) == 1


def reveal_sent(session: Session, request_id: str, *, token: str, dm: MessageRef, now: datetime) -> bool:
    """The DM now shows the button `token` looks up: record when and where, and destroy the seal-key copy."""
    changed = _rows_changed(
        session,
        update(ResetRequest)
        .where(ResetRequest.id == request_id, ResetRequest.reveal_token == token)
        .values(dm_channel=dm.channel, dm_ts=dm.ts, sealed_until_sent=None,
                reveal_sent_at=func.coalesce(ResetRequest.reveal_sent_at, now))
    )
    return changed == 1


def store_dm(session: Session, request_id: str, dm: MessageRef) -> bool:
    """Record the requester's DM of a request that has none stored: False when another poster's is."""
    return _update_where(session, _REQUESTS, {"id": request_id, "dm_ts": None},
                         {"dm_channel": dm.channel, "dm_ts": dm.ts}) == 1


def sealed_password_and_copy(session: Session, request_id: str) -> tuple[bytes | None, bytes | None]:
    """(sealed_password, sealed_until_sent): the password as stored, and its seal-key copy while a DM waits."""
    row = _core(session, _SEALED, {"id": request_id}).first()
    return (row.sealed_password, row.sealed_until_sent) if row else (None, None)


def _claimable(query, session: Session):
    """Rows for a sweep: on PostgreSQL, skip rows another replica is already handling."""
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


def pending_past_expiry(session: Session, now: datetime, limit: int = 50) -> list[str]:
    query = (
        select(ResetRequest.id)
        .where(ResetRequest.status == Status.PENDING.value, ResetRequest.expires_at <= now)
        .limit(limit)
    )
    return list(session.scalars(_claimable(query, session)))


def reveals_past_expiry(session: Session, now: datetime, limit: int = 50) -> list[str]:
    query = (
        select(ResetRequest.reveal_token)
        .where(
            ResetRequest.reveal_state.in_([RevealState.READY.value, RevealState.OPENING.value]),
            ResetRequest.reveal_expires_at <= now,
        )
        .limit(limit)
    )
    return list(session.scalars(_claimable(query, session)))


def pending_without_card(session: Session, stale_before: datetime, limit: int = 20) -> list[str]:
    """Pending requests with no card stored whose posting nobody claimed since `stale_before`."""
    query = (
        select(ResetRequest.id)
        .where(ResetRequest.status == Status.PENDING.value, ResetRequest.card_ts.is_(None),
               _card_claim_lapsed(stale_before))
        .order_by(ResetRequest.created_at)
        .limit(limit)
    )
    return list(session.scalars(query))


def _card_claim_lapsed(stale_before: datetime):
    return or_(and_(ResetRequest.card_claim.is_(None), ResetRequest.created_at <= stale_before),
               ResetRequest.card_claimed_at <= stale_before)


def claim_card_post(session: Session, request_id: str, *, claim: str, now: datetime,
                    stale_before: datetime | None = None) -> bool:
    """Claim posting a pending request's approval card: True for one poster only.

    Without `stale_before`, only a card nobody claimed yet (the first post, after the submit);
    with it, also a claim older than that (a poster that died or whose post failed). The
    compare-and-set is committed before Slack is called, so two sweeps never both post.
    """
    values = {"card_claim": claim, "card_claimed_at": now}
    if stale_before is None:  # the first post, after every submit: the prebuilt shape
        return _update_where(session, _REQUESTS, {"id": request_id, "status": Status.PENDING.value, "card_ts": None,
                                                  "card_claim": None}, values) == 1
    condition = [ResetRequest.id == request_id, ResetRequest.status == Status.PENDING.value,
                 ResetRequest.card_ts.is_(None), _card_claim_lapsed(stale_before)]
    return _rows_changed(session, update(ResetRequest).where(*condition).values(**values)) == 1


def store_card(session: Session, request_id: str, *, claim: str, card: MessageRef) -> bool:
    """Record where the claimed card was posted; False when no card may be stored by this claim any more
    (another poster took the claim over, or a card is already stored)."""
    return _update_where(session, _REQUESTS, {"id": request_id, "card_ts": None, "card_claim": claim},
                         {"card_channel": card.channel, "card_ts": card.ts}) == 1


def adopt_card(session: Session, request_id: str, card: MessageRef) -> bool:
    """Record a card the request has none stored for (a click on it proved it is the request's card)."""
    return _update_where(session, _REQUESTS, {"id": request_id, "card_ts": None},
                         {"card_channel": card.channel, "card_ts": card.ts}) == 1


def reveals_without_dm(session: Session, finished_before: datetime, now: datetime, limit: int = 20) -> list[str]:
    query = (
        select(ResetRequest.id)
        .where(ResetRequest.reveal_state == RevealState.READY.value, ResetRequest.reveal_sent_at.is_(None),
               ResetRequest.updated_at <= finished_before, ResetRequest.reveal_expires_at > now)
        .limit(limit)
    )
    return list(session.scalars(_claimable(query, session)))


def executions_with_lapsed_lease(session: Session, now: datetime, limit: int = 50) -> list[str]:
    query = (
        select(ResetRequest.id)
        .where(ResetRequest.status == Status.EXECUTING.value, ResetRequest.lease_expires_at <= now)
        .limit(limit)
    )
    return list(session.scalars(_claimable(query, session)))


def take_over_lease(session: Session, request_id: str, *, owner: str, now: datetime,
                    until: datetime) -> int | None:
    """EXECUTING → EXECUTING under a new owner, for a lease that lapsed: one replica wins.

    Returns the winner's epoch (the raised `execution_attempts`), which fences every later
    write of its claim; None when the lease had not lapsed or another replica won.
    """
    check_transition(Status.EXECUTING, Status.EXECUTING)
    changed = _rows_changed(
        session,
        update(ResetRequest)
        .where(
            ResetRequest.id == request_id,
            ResetRequest.status == Status.EXECUTING.value,
            ResetRequest.lease_expires_at <= now,
        )
        .values(lease_owner=owner, lease_expires_at=until, updated_at=now,
                execution_attempts=ResetRequest.execution_attempts + 1)
    )
    if changed != 1:
        return None
    return execution_attempts(session, request_id)


def execution_attempts(session: Session, request_id: str) -> int:
    return _core(session, _EXECUTION_ATTEMPTS, {"id": request_id}).scalar() or 0


def mark_customer_informed(session: Session, request_id: str, *, requester_id: str, now: datetime) -> bool:
    changed = _rows_changed(
        session,
        update(ResetRequest)
        .where(ResetRequest.id == request_id, ResetRequest.requester_id == requester_id,
               ResetRequest.status.in_([Status.SUCCEEDED.value, Status.UNKNOWN.value]),  # unknown: a "may be set" one
               ResetRequest.customer_informed_at.is_(None))
        .values(customer_informed_at=now)
    )
    return changed == 1


def renew_lease(session: Session, request_id: str, *, owner: str, epoch: int, until: datetime,
                **values) -> bool:
    """Extend (or, with `values`, reschedule) a lease only while `owner`'s claim `epoch` still holds it."""
    return _update_where(session, _REQUESTS, {"id": request_id, "status": Status.EXECUTING.value,
                                              "lease_owner": owner, "execution_attempts": epoch},
                         {"lease_expires_at": until, **values}) == 1


def requests_of(session: Session, requester_id: str, limit: int = 10) -> list[RequestView]:
    rows = session.scalars(
        select(ResetRequest)
        .where(ResetRequest.requester_id == requester_id)
        .order_by(ResetRequest.created_at.desc())
        .limit(limit)
    )
    return [to_view(r) for r in rows]


def pending_requests(session: Session, providers: Iterable[str], limit: int = 20, *,
                     escalated_by: datetime | None = None) -> list[RequestView]:
    """Pending requests of these providers, oldest first; `escalated_by`: only those whose escalation began by then."""
    conditions = [ResetRequest.status == Status.PENDING.value, ResetRequest.provider.in_(list(providers))]
    if escalated_by is not None:
        conditions += [ResetRequest.escalate_to.is_not(None), ResetRequest.escalate_at <= escalated_by]
    rows = session.scalars(select(ResetRequest).where(*conditions).order_by(ResetRequest.created_at).limit(limit))
    return _views(session, list(rows))


def to_view(row: ResetRequest | Row[Any], approvals: Iterable[Approval] = ()) -> RequestView:
    """The row (an ORM object, or a Core row of its table: the same names) as a RequestView; `approvals`: its
    request_approvals rows (_view and _views load them)."""
    return RequestView(
        id=row.id,
        provider=row.provider,
        account=row.account,
        account_input=row.account_input,
        method=Method(row.method),
        reason=row.reason,
        ticket=row.ticket,
        requester_id=row.requester_id,
        origin_channel=row.origin_channel,
        status=Status(row.status),
        created_at=row.created_at,
        expires_at=row.expires_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        outcome=row.outcome,
        outcome_message=row.outcome_message,
        reveal_state=RevealState(row.reveal_state or RevealState.NONE.value),
        reveal_token=row.reveal_token,
        reveal_expires_at=row.reveal_expires_at,
        card=MessageRef(row.card_channel, row.card_ts) if row.card_channel and row.card_ts else None,
        dm=MessageRef(row.dm_channel, row.dm_ts) if row.dm_channel and row.dm_ts else None,
        response_url=row.response_url,
        response_url_expires_at=row.response_url_expires_at,
        email=row.email,
        customer_informed_at=row.customer_informed_at,
        approvals_needed=row.approvals_needed or 1,
        remind_at=row.remind_at,
        escalate_at=row.escalate_at,
        escalate_to=row.escalate_to,
        approvals=tuple(approvals),
        deny_reason=row.deny_reason,
        reminded_at=row.reminded_at,
        escalated_at=row.escalated_at,
        requester_reminded_at=row.requester_reminded_at,
        reveal_sent_at=row.reveal_sent_at,
    )


def _views(session: Session, rows: list[ResetRequest]) -> list[RequestView]:
    """RequestViews with their approvals, in one query for all of them."""
    by_request: dict[str, list[Approval]] = {}
    if rows:
        found = session.scalars(select(RequestApproval)
                                .where(RequestApproval.request_id.in_([r.id for r in rows]))
                                .order_by(RequestApproval.at, RequestApproval.approver_id))
        for approval in found:
            by_request.setdefault(approval.request_id, []).append(Approval(approval.approver_id, approval.at))
    return [to_view(row, by_request.get(row.id, ())) for row in rows]


# --- approvals (N of M: bot/workflow/decisions.py) ---------------------------------------------------


def approvals_of(session: Session, request_id: str) -> list[Approval]:
    """The request's approvals, first approval first."""
    return [Approval(row.approver_id, row.at) for row in _core(session, _APPROVALS_OF, {"id": request_id})]


def add_approval(session: Session, request_id: str, approver_id: str, *, now: datetime) -> bool:
    """Record one approver's approval; False when that approver had already approved the request.

    Call it with the request locked (lock_request): the primary key (request, approver) keeps
    one person from counting twice whatever the caller does.
    """
    return _insert_unless_taken(session, _APPROVALS, {"request_id": request_id, "approver_id": approver_id, "at": now})


# --- card-thread replies: the reminder and the escalation (bot/workflow/reminders.py) ----------------

THREAD_REPLIES = ("remind", "escalate")  # each: <kind>_at (due), <kind>_claim/_claimed_at, reminded_at/escalated_at


def _reply_columns(kind: str):
    """(due, posted, claim, claimed_at) columns of one kind of thread reply."""
    if kind not in THREAD_REPLIES:
        raise ValueError(f"no thread reply {kind!r}")
    posted = ResetRequest.reminded_at if kind == "remind" else ResetRequest.escalated_at
    return (getattr(ResetRequest, f"{kind}_at"), posted, getattr(ResetRequest, f"{kind}_claim"),
            getattr(ResetRequest, f"{kind}_claimed_at"))


def _reply_claimable(kind: str, now: datetime, stale_before: datetime) -> list:
    due, posted, claim, claimed_at = _reply_columns(kind)
    return [ResetRequest.status == Status.PENDING.value, ResetRequest.card_ts.is_not(None), due.is_not(None),
            due <= now, ResetRequest.expires_at > now, posted.is_(None),
            or_(claim.is_(None), claimed_at <= stale_before)]


def thread_replies_due(session: Session, kind: str, *, now: datetime, stale_before: datetime,
                       limit: int = 50) -> list[str]:
    """Pending requests with a card whose `kind` reply is due, not posted, and not claimed since `stale_before`."""
    query = (select(ResetRequest.id).where(*_reply_claimable(kind, now, stale_before))
             .order_by(ResetRequest.created_at).limit(limit))
    return list(session.scalars(query))


def claim_thread_reply(session: Session, request_id: str, kind: str, *, claim: str, now: datetime,
                       stale_before: datetime) -> bool:
    """Claim posting one request's `kind` reply: True for one poster only. Committed before Slack is called,
    so of several replicas sweeping at once one posts; a claim older than `stale_before` (its poster died)
    may be taken over."""
    _, _, claim_column, claimed_at = _reply_columns(kind)
    changed = _rows_changed(session, update(ResetRequest)
                            .where(ResetRequest.id == request_id, *_reply_claimable(kind, now, stale_before))
                            .values({claim_column: claim, claimed_at: now}))
    return changed == 1


def thread_reply_posted(session: Session, request_id: str, kind: str, *, claim: str, now: datetime) -> bool:
    """Mark the claimed reply posted; False when the claim was taken over meanwhile (the caller withdraws its post)."""
    _, posted, claim_column, _ = _reply_columns(kind)
    changed = _rows_changed(session, update(ResetRequest)
                            .where(ResetRequest.id == request_id, claim_column == claim, posted.is_(None))
                            .values({posted: now, claim_column: None}))
    return changed == 1


def release_thread_reply(session: Session, request_id: str, kind: str, *, claim: str) -> None:
    """Slack refused the post: give the claim back, so a later sweep tries again."""
    _, _, claim_column, claimed_at = _reply_columns(kind)
    session.execute(update(ResetRequest).where(ResetRequest.id == request_id, claim_column == claim)
                    .values({claim_column: None, claimed_at: None}))


def claim_requester_reminder(session: Session, request_id: str, *, now: datetime, since: datetime) -> bool:
    """The requester's Remind approvers: True for one click only, when none posted after `since`."""
    changed = _rows_changed(session, update(ResetRequest).where(
        ResetRequest.id == request_id, ResetRequest.status == Status.PENDING.value,
        or_(ResetRequest.requester_reminded_at.is_(None), ResetRequest.requester_reminded_at <= since),
    ).values(requester_reminded_at=now))
    return changed == 1


def release_requester_reminder(session: Session, request_id: str, *, claimed_at: datetime,
                               previous: datetime | None) -> None:
    """Slack refused the requester's reminder: it does not count towards the 10 minutes."""
    session.execute(update(ResetRequest).where(ResetRequest.id == request_id,
                                               ResetRequest.requester_reminded_at == claimed_at)
                    .values(requester_reminded_at=previous))


# --- audit -------------------------------------------------------------------------------------
# Append-only (storage/models.py: AuditEvent): each event is appended to the hash chain (storage/audit_chain.py) in
# one statement that advances the chain's head and inserts the event. On PostgreSQL the head's row lock orders the
# appends of every replica (under READ COMMITTED a waiting UPDATE re-reads the head its locker committed) and the
# hash is computed in SQL; SQLite has one writer at a time, hashes with the function storage/db.py registers, and
# a trigger advances the head (migration 0006i).
#
# An event is recorded when the unit of work commits (`before_commit`, below), in the order recorded: the head is
# then locked only for the commit, and the commit order is the chain's order, which `audit export --follow` relies
# on. A unit of work never waits for a row while holding the head (a deadlock with the one that holds the row and
# waits for the head at its commit): on PostgreSQL the first append takes the foreign key's lock on the requests the
# events name before the head's. add_request's event alone is appended in its statement (one round trip).

_PENDING_AUDIT = "resetbot.audit_pending"  # session.info key: the events recorded in this unit of work, in order
HEAD_MISSING = "the audit chain's head (audit_chain_head) is missing: run `resetbot audit verify`"


def _event_values() -> list[Any]:
    return [bindparam(name, type_=_AUDIT.c[name].type) for name in _EVENT_COLUMNS]


def _append_event_pg(*, lock_requests: bool = False) -> Executable:
    """`lock_requests`: first take the foreign key's lock (FOR KEY SHARE) on the requests named by `request_ids`,
    which the events' inserts would take after the head's: a unit of work holding one of those rows (an approval)
    appends at its commit, so waiting for its row while holding the head would deadlock with it."""
    where: list[Any] = []
    if lock_requests:
        locked = (select(_REQUESTS.c.id)
                  .where(_REQUESTS.c.id == any_(bindparam("request_ids", type_=postgresql.ARRAY(String()))))
                  .order_by(_REQUESTS.c.id).with_for_update(read=True, key_share=True).cte("locked_requests"))
        # Evaluated (every row locked) before the head's row is: the UPDATE locks the rows its WHERE lets through.
        where.append(select(func.count()).select_from(locked).scalar_subquery().is_not(None))
    head = _advance_head_pg(*where).cte("head")
    return (insert(_AUDIT).from_select([*_EVENT_COLUMNS, "seq", "prev_hash", "hash"],
                                       select(*_event_values(), head.c.seq, head.c.prev_hash, head.c.hash))
            .add_cte(head).returning(_AUDIT.c.id))


def _append_event_sqlite() -> Executable:
    new_hash = getattr(func, audit_chain.SQLITE_SHA256)(
        _HEAD.c.hash.concat(bindparam("canonical", type_=_AUDIT.c.detail.type)))
    return (insert(_AUDIT).from_select([*_EVENT_COLUMNS, "seq", "prev_hash", "hash"],
                                       select(*_event_values(), _HEAD.c.seq + 1, _HEAD.c.hash, new_hash)
                                       .where(_HEAD.c.id == 1)))


_APPEND_EVENT = {"postgresql": _append_event_pg(), "sqlite": _append_event_sqlite()}
_APPEND_EVENT_LOCKING_REQUESTS_PG = _append_event_pg(lock_requests=True)
# A repeated refusal: its first event's count and last time, kept beside the event (never on it).
_COUNT_REPEAT = {}
for _dialect, _module in (("postgresql", postgresql), ("sqlite", sqlite)):
    _repeat = _module.insert(_REPEATS).values(event_id=bindparam("event_id"), count=2, last_at=bindparam("at"))
    _COUNT_REPEAT[_dialect] = _repeat.on_conflict_do_update(
        index_elements=[_REPEATS.c.event_id],
        set_={"count": _REPEATS.c.count + 1, "last_at": _repeat.excluded.last_at})
# SQLite: the first write takes the database's write lock (count_repeated_refusal); no row has event_id -1.
_LOCK_REPEATS_SQLITE = update(_REPEATS).where(_REPEATS.c.event_id == -1).values(count=_REPEATS.c.count)


def add_audit(session: Session, *, at: datetime, action: str, actor_id: str | None = None,
              request: RequestView | None = None, provider: str | None = None, account: str | None = None,
              detail: dict | None = None, request_id: str | None = None) -> None:
    """Record an audit event: appended to the chain when the unit of work commits, after the ones recorded before
    it (nothing appended if it rolls back)."""
    if at.tzinfo is None:
        raise ValueError("naive datetime given to the audit trail")
    session.info.setdefault(_PENDING_AUDIT, []).append({
        "at": at,
        "actor_id": actor_id,
        "action": action,
        "request_id": request.id if request else request_id,
        "provider": request.provider if request else provider,
        "account": request.account if request else account,
        "detail": _detail_json(detail),
    })


@event.listens_for(Session, "before_commit")
def _append_at_commit(session: Session) -> None:
    if not session.in_nested_transaction():  # a savepoint's release is not the commit
        _append_pending_audit(session)


@event.listens_for(Session, "after_transaction_end")
def _forget_pending(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # rolled back (a commit appended them)
        session.info.pop(_PENDING_AUDIT, None)


def _append_pending_audit(session: Session) -> None:
    pending = session.info.pop(_PENDING_AUDIT, None)
    if not pending:
        return
    dialect = session.get_bind().dialect.name
    request_ids = sorted({row["request_id"] for row in pending if row["request_id"] is not None})
    for n, row in enumerate(pending):
        params = {**row, "canonical": _canonical(row)}
        statement = _APPEND_EVENT[dialect]
        if n == 0 and request_ids and dialect == "postgresql":
            statement, params["request_ids"] = _APPEND_EVENT_LOCKING_REQUESTS_PG, request_ids
        result = _core(session, statement, params)
        if (result.first() is None) if dialect == "postgresql" else (result.rowcount != 1):  # no head: no event
            raise RuntimeError(HEAD_MISSING)


def _canonical(row: Mapping[str, Any]) -> str:
    return audit_chain.canonical(at=row["at"], actor_id=row["actor_id"], action=row["action"],
                                 request_id=row["request_id"], provider=row["provider"], account=row["account"],
                                 detail=audit_chain.parse_detail(row["detail"]))


def _detail_json(detail: dict | None) -> str:
    return json.dumps(detail or {}, sort_keys=True)  # never a secret: the callers pass words and ids


def count_repeated_refusal(session: Session, *, at: datetime, since: datetime, action: str, actor_id: str,
                           why: str, request: RequestView | None = None, provider: str | None = None,
                           account: str | None = None) -> bool:
    """Count a refusal on the identical one audited at or after `since`; False when there is none.

    Identical: the same action, person, request (or provider and account when there is no
    request) and reason. The count (how many refusals the first event stands for) and the last
    one's time are kept in audit_repeats, beside the event, which is never changed.
    """
    # Serialised per person and action, so two replicas (or listener threads) counting at once neither
    # lose a count nor both add a first row: an advisory lock on PostgreSQL; SQLite locks the whole
    # database on the first write, which this no-op UPDATE is.
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(zlib.crc32(f"refusal:{action}:{actor_id}".encode()))))
    else:
        _core(session, _LOCK_REPEATS_SQLITE)
    same_request = (_AUDIT.c.request_id == request.id) if request else _AUDIT.c.request_id.is_(None)
    provider, account = (request.provider, request.account) if request else (provider, account)
    rows = session.execute(
        select(_AUDIT.c.id, _AUDIT.c.detail)
        .where(_AUDIT.c.action == action, _AUDIT.c.actor_id == actor_id, _AUDIT.c.at >= since, same_request,
               _AUDIT.c.provider.is_(None) if provider is None else _AUDIT.c.provider == provider,
               _AUDIT.c.account.is_(None) if account is None else _AUDIT.c.account == account)
        .order_by(_AUDIT.c.id)
    )
    for event_id, detail in rows:
        if json.loads(detail or "{}").get("why") == why:
            _core(session, _COUNT_REPEAT[dialect], {"event_id": event_id, "at": at})
            return True
    return False


def _events_with_repeats() -> Any:
    return (select(_AUDIT, _REPEATS.c.count.label("repeat_count"), _REPEATS.c.last_at.label("repeat_last_at"))
            .select_from(_AUDIT.outerjoin(_REPEATS, _REPEATS.c.event_id == _AUDIT.c.id)))


_AUDIT_AFTER = (_events_with_repeats().where(_AUDIT.c.seq > bindparam("seq")).order_by(_AUDIT.c.seq)
                .limit(bindparam("limit")))
_AUDIT_AFTER_SINCE = _AUDIT_AFTER.where(_AUDIT.c.at >= bindparam("since", type_=_AUDIT.c.at.type))


def _record(row: Row[Any]) -> AuditRecord:
    detail = json.loads(row.detail or "{}")
    if row.repeat_count is not None:
        detail["count"] = row.repeat_count
        detail["last_at"] = row.repeat_last_at.astimezone(UTC).isoformat()
    return AuditRecord(row.id, row.at, row.actor_id, row.action, row.request_id, row.provider, row.account, detail,
                       seq=row.seq, hash=row.hash)


def audit_events(session: Session, since: datetime | None = None) -> Iterator[AuditRecord]:
    """The trail, oldest first; a repeated refusal's detail shows its `count` and `last_at`."""
    query = _events_with_repeats().order_by(_AUDIT.c.at, _AUDIT.c.id)
    if since is not None:
        query = query.where(_AUDIT.c.at >= since)
    for row in session.execute(query.execution_options(yield_per=500)):
        yield _record(row)


def audit_events_after(session: Session, seq: int, *, since: datetime | None = None,
                       limit: int = 500) -> list[AuditRecord]:
    """Up to `limit` events after `seq` in chain order (those before `since` left out). Appends commit in chain
    order (the head stays locked until the commit), so no event after `seq` can be committed later than these."""
    if since is None:
        return [_record(row) for row in _core(session, _AUDIT_AFTER, {"seq": seq, "limit": limit})]
    return [_record(row) for row in _core(session, _AUDIT_AFTER_SINCE, {"seq": seq, "limit": limit, "since": since})]


def check_audit_chain(session: Session) -> AuditChainCheck:
    """Walk the whole chain in seq order (storage/audit_chain.py: walk). The head is read in the same statement as
    the events (a row of NULL events when there is none), so an event appended meanwhile is in neither."""
    columns = [_AUDIT.c[name] for name in ("id", "seq", "prev_hash", "hash", *_EVENT_COLUMNS)]
    query = (select(_HEAD.c.seq.label("head_seq"), _HEAD.c.hash.label("head_hash"), *columns)
             .select_from(_HEAD.outerjoin(_AUDIT, true())).where(_HEAD.c.id == 1).order_by(_AUDIT.c.seq)
             .execution_options(yield_per=2000))
    rows = iter(session.execute(query))
    first = next(rows, None)
    if first is None:
        return AuditChainCheck(0, HEAD_MISSING.split(":")[0])
    events = () if first.id is None else (_chain_row(row) for row in itertools.chain((first,), rows))
    count, problem = audit_chain.walk(events, first.head_seq, first.head_hash)
    return AuditChainCheck(count, problem)


def _chain_row(row: Row[Any]) -> audit_chain.ChainRow:
    return audit_chain.ChainRow(row.id, row.seq, row.prev_hash, row.hash, row.at, row.actor_id, row.action,
                                row.request_id, row.provider, row.account, row.detail)


# --- approval policies (bot/policy.py: ApprovalPolicy) -----------------------------------------------


def get_policy(session: Session, provider: str) -> ApprovalPolicy | None:
    """The stored policy of one provider; None when it has none (the settings' defaults apply)."""
    row = _core(session, _GET_POLICY, {"provider": provider}).first()
    return _policy(row) if row else None


def all_policies(session: Session) -> dict[str, ApprovalPolicy]:
    """Every stored policy, by provider name."""
    return {row.provider: _policy(row) for row in session.scalars(select(ProviderPolicy))}


def lock_policy(session: Session, provider: str) -> ApprovalPolicy | None:
    """get_policy, with changes to that provider's policy serialised until the transaction ends
    (whether or not a row exists yet), so a read-modify-write audits the true old values."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(zlib.crc32(f"policy:{provider}".encode()))))
    else:  # SQLite: a first write takes the database's write lock before the read
        session.execute(update(ProviderPolicy).where(ProviderPolicy.provider == provider)
                        .values(provider=ProviderPolicy.provider))
    return get_policy(session, provider)


def put_policy(session: Session, provider: str, policy: ApprovalPolicy, *, now: datetime,
               updated_by: str | None) -> None:
    """Store one provider's policy, replacing what it had (call lock_policy first in the same transaction)."""
    values = {**policy.as_dict(), "updated_at": now, "updated_by": updated_by}
    if not _rows_changed(session, update(ProviderPolicy).where(ProviderPolicy.provider == provider).values(**values)):
        session.add(ProviderPolicy(provider=provider, **values))
        session.flush()


def _policy(row: ProviderPolicy | Row[Any]) -> ApprovalPolicy:
    return ApprovalPolicy(approvals=row.approvals, expire_after=row.expire_after, remind_after=row.remind_after,
                          escalate_after=row.escalate_after, escalate_to=row.escalate_to,
                          requests_per_hour=row.requests_per_hour)


# --- MyOwnFreeHost directory --------------------------------------------------------------------


def put_directory_entry(session: Session, *, account_key: str, vpanel_username: str, domain: str | None) -> None:
    session.execute(
        delete(DirectoryEntry).where(
            or_(DirectoryEntry.account_key == account_key, DirectoryEntry.vpanel_username == vpanel_username)
        )
    )
    session.add(DirectoryEntry(account_key=account_key, vpanel_username=vpanel_username, domain=domain))
    session.flush()


def key_for_vpanel_username(session: Session, vpanel_username: str) -> str | None:
    return session.scalar(
        select(DirectoryEntry.account_key).where(func.lower(DirectoryEntry.vpanel_username) == vpanel_username.lower())
    )


def vpanel_for_key(session: Session, account_key: str) -> str | None:
    return session.scalar(select(DirectoryEntry.vpanel_username).where(DirectoryEntry.account_key == account_key))


def key_for_domain(session: Session, domain: str) -> str | None:
    return session.scalar(
        select(DirectoryEntry.account_key).where(func.lower(DirectoryEntry.domain) == domain.lower()).limit(1)
    )


def directory_entries(session: Session) -> list[tuple[str, str, str | None]]:
    rows = session.execute(
        select(DirectoryEntry.account_key, DirectoryEntry.vpanel_username, DirectoryEntry.domain).order_by(
            DirectoryEntry.account_key
        )
    )
    return [(r.account_key, r.vpanel_username, r.domain) for r in rows]


# --- the providers' own ids of accounts (Namecheap's UserId) --------------------------------------


def known_user_id(session: Session, provider: str, account: str) -> str | None:
    return session.scalar(select(ProviderAccount.user_id).where(ProviderAccount.provider == provider,
                                                                ProviderAccount.account == account.lower()))


def accounts_with_user_id(session: Session, provider: str, user_id: str) -> list[str]:
    return list(session.scalars(select(ProviderAccount.account).where(ProviderAccount.provider == provider,
                                                                      ProviderAccount.user_id == user_id)
                                .order_by(ProviderAccount.account)))


def remember_user_id(session: Session, provider: str, account: str, user_id: str, now: datetime) -> None:
    """What the provider calls `account` (the latest answer that named it wins)."""
    key = (ProviderAccount.provider == provider, ProviderAccount.account == account.lower())
    if _rows_changed(session, update(ProviderAccount).where(*key).values(user_id=user_id, seen_at=now)):
        return
    try:
        with session.begin_nested():
            session.add(ProviderAccount(provider=provider, account=account.lower(), user_id=user_id, seen_at=now))
    except IntegrityError:  # another replica stored it first: this answer is as new
        session.execute(update(ProviderAccount).where(*key).values(user_id=user_id, seen_at=now))


# --- Events API dedupe and shared call budgets -------------------------------------------------------


def first_sighting(session: Session, event_id: str, now: datetime) -> bool:
    """True the first time an event id is seen (by any replica)."""
    try:
        with session.begin_nested():
            session.add(ProcessedEvent(event_id=event_id, seen_at=now))
    except IntegrityError:
        return False
    return True


def forget_events_before(session: Session, cutoff: datetime) -> int:
    return _rows_changed(session, delete(ProcessedEvent).where(ProcessedEvent.seen_at < cutoff))


# The longest window any budget may have: the sweep deletes older slots (forget_budget_slots_before), so the hot
# path counts only the slots inside its window and deletes nothing (one statement fewer per call).
BUDGET_HORIZON = timedelta(days=1)


def forget_budget_slots_before(session: Session, cutoff: datetime) -> int:
    return _rows_changed(session, delete(CallBudgetSlot).where(CallBudgetSlot.at < cutoff))


def take_budget_slot(session: Session, key: str, *, limit: int, window: timedelta, now: datetime) -> float:
    """Take one call slot in a rolling window shared by every replica.

    Returns 0.0 when a slot was taken, otherwise the seconds until the oldest slot frees.
    On PostgreSQL a transaction-scoped advisory lock on the key serialises replicas; on SQLite the
    first write does (it takes the database's write lock): forgetting the key's slots older than the
    window, which on PostgreSQL the sweep does instead (forget_budget_slots_before), a round trip saved.
    """
    if window > BUDGET_HORIZON:
        raise ValueError(f"a budget window of {window} outlives the slots the sweep keeps ({BUDGET_HORIZON})")
    if session.get_bind().dialect.name == "postgresql":
        _core(session, _BUDGET_LOCK, {"key": zlib.crc32(key.encode())})
    else:
        _core(session, _BUDGET_FORGET, {"key": key, "start": now - window})
    taken = _core(session, _BUDGET_TAKEN, {"key": key, "start": now - window}).scalars().all()
    if len(taken) >= limit:
        return max(0.001, (taken[0] + window - now).total_seconds())
    _insert(session, _BUDGET, {"budget_key": key, "at": now})
    return 0.0


def _rows_changed(session: Session, statement: Executable) -> int:
    """How many rows an UPDATE or DELETE touched: the compare-and-set answers of this module.

    Run as a Core statement on the session's connection: the ORM's bulk update would first
    evaluate the criteria against every object in the session (synchronize_session), the most
    expensive step of the hot path; every read of a request after a change goes through
    get_request (Core, never the identity map), so nothing reads a stale object."""
    return _core(session, statement).rowcount  # pending rows flushed first, in the order the caller made them


# --- policy changes proposed in Slack (bot/policy.py: PolicyProposal) -------------------------------------


def add_policy_proposal(session: Session, proposal: PolicyProposal) -> None:
    session.add(PolicyProposalRow(
        id=proposal.id, provider=proposal.provider, proposed_by=proposal.proposed_by,
        proposed_at=proposal.proposed_at, old_policy=json.dumps(proposal.old.as_dict(), sort_keys=True),
        new_policy=json.dumps(proposal.new.as_dict(), sort_keys=True), status=proposal.status.value))
    session.flush()


def get_policy_proposal(session: Session, proposal_id: str) -> PolicyProposal | None:
    row = session.get(PolicyProposalRow, proposal_id, populate_existing=True)
    return _proposal(row) if row else None


def pending_policy_proposals(session: Session, provider: str) -> list[PolicyProposal]:
    rows = session.scalars(select(PolicyProposalRow)
                           .where(PolicyProposalRow.provider == provider,
                                  PolicyProposalRow.status == ProposalStatus.PENDING.value)
                           .order_by(PolicyProposalRow.proposed_at))
    return [_proposal(row) for row in rows]


def decide_policy_proposal(session: Session, proposal_id: str, *, to_status: ProposalStatus, decided_by: str | None,
                           now: datetime) -> bool:
    """The compare-and-set that ends a pending proposal: True for one decider only."""
    changed = _rows_changed(
        session,
        update(PolicyProposalRow)
        .where(PolicyProposalRow.id == proposal_id, PolicyProposalRow.status == ProposalStatus.PENDING.value)
        .values(status=to_status.value, decided_by=decided_by, decided_at=now))
    return changed == 1


def store_proposal_card(session: Session, proposal_id: str, card: MessageRef) -> bool:
    changed = _rows_changed(
        session,
        update(PolicyProposalRow).where(PolicyProposalRow.id == proposal_id, PolicyProposalRow.card_ts.is_(None))
        .values(card_channel=card.channel, card_ts=card.ts))
    return changed == 1


def _proposal(row: PolicyProposalRow) -> PolicyProposal:
    return PolicyProposal(
        id=row.id, provider=row.provider, proposed_by=row.proposed_by, proposed_at=row.proposed_at,
        old=ApprovalPolicy(**json.loads(row.old_policy)), new=ApprovalPolicy(**json.loads(row.new_policy)),
        status=ProposalStatus(row.status), decided_by=row.decided_by, decided_at=row.decided_at,
        card=MessageRef(row.card_channel, row.card_ts) if row.card_channel and row.card_ts else None)


# --- policy changes made with the CLI, announced by the running bot (bot/workflow/policy_announcements.py) ------


def add_policy_announcement(session: Session, *, provider: str, changed_by: str | None, changed_at: datetime,
                            old: ApprovalPolicy, new: ApprovalPolicy) -> int:
    """Record a change to announce, in the unit of work that makes it; its id."""
    row = PolicyAnnouncementRow(provider=provider, changed_by=changed_by, changed_at=changed_at,
                                old_policy=json.dumps(old.as_dict(), sort_keys=True),
                                new_policy=json.dumps(new.as_dict(), sort_keys=True))
    session.add(row)
    session.flush()
    return row.id


def _announcement_claimable(stale_before: datetime) -> list:
    return [PolicyAnnouncementRow.announced_at.is_(None),
            or_(PolicyAnnouncementRow.claim.is_(None), PolicyAnnouncementRow.claimed_at <= stale_before)]


def policy_announcements_due(session: Session, *, stale_before: datetime, limit: int = 20) -> list[int]:
    """Changes not announced yet and not claimed since `stale_before`, oldest first."""
    query = (select(PolicyAnnouncementRow.id).where(*_announcement_claimable(stale_before))
             .order_by(PolicyAnnouncementRow.id).limit(limit))
    return list(session.scalars(query))


def claim_policy_announcement(session: Session, announcement_id: int, *, claim: str, now: datetime,
                              stale_before: datetime) -> bool:
    """Claim announcing one change: True for one poster only. Committed before Slack is called, so of several
    replicas sweeping at once one posts; a claim older than `stale_before` (its poster died) may be taken over."""
    changed = _rows_changed(session, update(PolicyAnnouncementRow)
                            .where(PolicyAnnouncementRow.id == announcement_id,
                                   *_announcement_claimable(stale_before))
                            .values(claim=claim, claimed_at=now))
    return changed == 1


def get_policy_announcement(session: Session, announcement_id: int) -> PolicyAnnouncement | None:
    row = session.get(PolicyAnnouncementRow, announcement_id, populate_existing=True)
    if row is None:
        return None
    return PolicyAnnouncement(id=row.id, provider=row.provider, changed_by=row.changed_by, changed_at=row.changed_at,
                              old=ApprovalPolicy(**json.loads(row.old_policy)),
                              new=ApprovalPolicy(**json.loads(row.new_policy)))


def policy_announcement_posted(session: Session, announcement_id: int, *, claim: str, now: datetime) -> bool:
    """Mark the claimed announcement posted; False when the claim was taken over meanwhile (the caller withdraws
    its post)."""
    changed = _rows_changed(session, update(PolicyAnnouncementRow)
                            .where(PolicyAnnouncementRow.id == announcement_id, PolicyAnnouncementRow.claim == claim,
                                   PolicyAnnouncementRow.announced_at.is_(None))
                            .values(announced_at=now, claim=None))
    return changed == 1


def release_policy_announcement(session: Session, announcement_id: int, *, claim: str) -> None:
    """Slack refused the post: give the claim back, so a later sweep tries again."""
    session.execute(update(PolicyAnnouncementRow)
                    .where(PolicyAnnouncementRow.id == announcement_id, PolicyAnnouncementRow.claim == claim)
                    .values(claim=None, claimed_at=None))


# --- who opened the App Home recently (handlers/home.py: HomeRefresher) ------------------------------------


def remember_home_viewer(session: Session, user_id: str, now: datetime) -> None:
    if _rows_changed(session, update(HomeViewer).where(HomeViewer.user_id == user_id).values(opened_at=now)):
        return
    try:
        with session.begin_nested():
            session.add(HomeViewer(user_id=user_id, opened_at=now))
    except IntegrityError:  # another replica stored this user's open at the same moment: as recent
        pass


def home_viewers_since(session: Session, since: datetime, limit: int = 200) -> list[str]:
    """Who opened the App Home at or after `since`, the latest first."""
    return list(_core(session, _HOME_VIEWERS_SINCE, {"since": since, "limit": limit}).scalars())


# --- insider-risk signals (bot/workflow/alerts.py) ---------------------------------------------------------


def refusals_since(session: Session, actor_id: str, provider: str, since: datetime,
                   action: str = "request_refused") -> int:
    """How many refusals of `action` one person got for `provider` since then, repeats counted beside their
    first event included (count_repeated_refusal)."""
    total = session.scalar(
        select(func.coalesce(func.sum(func.coalesce(_REPEATS.c.count, 1)), 0))
        .select_from(_AUDIT.outerjoin(_REPEATS, _REPEATS.c.event_id == _AUDIT.c.id))
        .where(_AUDIT.c.action == action, _AUDIT.c.actor_id == actor_id, _AUDIT.c.provider == provider,
               _AUDIT.c.at >= since))
    return int(total or 0)


def distinct_accounts_requested_since(session: Session, requester_id: str, since: datetime) -> int:
    """How many distinct provider accounts one engineer opened requests for since then."""
    opened = (select(ResetRequest.provider, ResetRequest.account)
              .where(ResetRequest.requester_id == requester_id, ResetRequest.created_at >= since)
              .distinct().subquery())
    return int(session.scalar(select(func.count()).select_from(opened)) or 0)


def claim_risk_alert(session: Session, engineer_id: str, kind: str, *, now: datetime, since: datetime) -> bool:
    """Claim posting one alert of `kind` about an engineer: True for one claimer only, and only when none was
    claimed at or after `since` (at most one an hour). Committed before Slack is called."""
    if _rows_changed(session, update(RiskAlertSent).where(RiskAlertSent.engineer_id == engineer_id,
                                                          RiskAlertSent.kind == kind, RiskAlertSent.alerted_at < since)
                     .values(alerted_at=now)):
        return True
    try:
        with session.begin_nested():
            session.add(RiskAlertSent(engineer_id=engineer_id, kind=kind, alerted_at=now))
    except IntegrityError:  # claimed within the hour, or by another replica just now
        return False
    return True


# --- operations: metrics and seal-key rotation ---------------------------------------------------


def open_request_counts(session: Session) -> dict[tuple[str, str], int]:
    """(provider, status) → how many requests wait for approval or are being changed, across every replica."""
    rows = session.execute(
        select(ResetRequest.provider, ResetRequest.status, func.count())
        .where(ResetRequest.status.in_((Status.PENDING.value, Status.EXECUTING.value)))
        .group_by(ResetRequest.provider, ResetRequest.status)
    )
    return {(provider, status): count for provider, status, count in rows}


def sealed_tokens(session: Session) -> Iterator[bytes]:
    """Every sealed value stored (the `sealed_*` columns of storage/models.py), one at a time."""
    columns = (ResetRequest.sealed_password, ResetRequest.sealed_input, ResetRequest.sealed_until_sent)
    for column in columns:
        for token in session.scalars(select(column).where(column.is_not(None))):
            if token is not None:
                yield bytes(token)
