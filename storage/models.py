"""Tables. No unsealed secret column, ever: passwords, reset codes and current passwords
exist here only as Fernet tokens (`sealed_*`), deleted on reveal, expiry or execution."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite drops the zone; PostgreSQL keeps it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


def _ts() -> Mapped[datetime]:
    return mapped_column(UtcDateTime())


class RoleAssignment(Base):
    __tablename__ = "role_assignments"
    __table_args__ = (UniqueConstraint("user_id", "role", "provider_scope", name="uq_role_assignment"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(16))
    # "*" rather than NULL for "every provider", so the unique constraint holds on every database.
    provider_scope: Mapped[str] = mapped_column(String(16), default="*")
    granted_by: Mapped[str | None] = mapped_column(String(32))
    granted_at: Mapped[datetime] = _ts()


class Draft(Base):
    """What a slash command knew (channel, response_url) until its modal is submitted."""

    __tablename__ = "drafts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    requester_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str | None] = mapped_column(String(32))
    response_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _ts()


# A request is open while it waits or is being changed: at most one per provider and account
# (migration 0003b), so two replicas racing two submits cannot both store one.
OPEN_REQUEST_WHERE = "status IN ('pending', 'executing')"


class ResetRequest(Base):
    __tablename__ = "reset_requests"
    __table_args__ = (
        Index("ix_reset_requests_status", "status"),
        Index("ix_reset_requests_requester", "requester_id", "created_at"),
        Index("uq_reset_requests_open_account", "provider", "account", unique=True,
              sqlite_where=text(OPEN_REQUEST_WHERE), postgresql_where=text(OPEN_REQUEST_WHERE)),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(255))
    account_input: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(Text)
    ticket: Mapped[str | None] = mapped_column(String(255))
    requester_id: Mapped[str] = mapped_column(String(32))
    origin_channel: Mapped[str | None] = mapped_column(String(32))
    response_url: Mapped[str | None] = mapped_column(Text)
    response_url_expires_at: Mapped[datetime | None] = _ts()
    source_view_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()
    expires_at: Mapped[datetime] = _ts()
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None] = _ts()
    outcome: Mapped[str | None] = mapped_column(String(32))
    outcome_message: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(String(255))
    card_channel: Mapped[str | None] = mapped_column(String(32))
    card_ts: Mapped[str | None] = mapped_column(String(32))
    # Who is posting the approval card, since when: one poster at a time (storage/repository.py: claim_card_post).
    card_claim: Mapped[str | None] = mapped_column(String(80))
    card_claimed_at: Mapped[datetime | None] = _ts()
    dm_channel: Mapped[str | None] = mapped_column(String(32))
    dm_ts: Mapped[str | None] = mapped_column(String(32))
    # Crash safety: who is executing, until when; a live replica takes over after the lease.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = _ts()
    execution_attempts: Mapped[int] = mapped_column(Integer, default=0)
    sealed_password: Mapped[bytes | None] = mapped_column(LargeBinary)
    sealed_input: Mapped[bytes | None] = mapped_column(LargeBinary)  # reset code or current password
    # The password sealed under the seal key alone, kept only while its Reveal DM is being posted; then
    # `sealed_password` is sealed to the DM's button (bot/workflow/reveal.py: send_reveal_dm).
    sealed_until_sent: Mapped[bytes | None] = mapped_column(LargeBinary)
    reveal_state: Mapped[str] = mapped_column(String(16), default="none")
    reveal_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    reveal_expires_at: Mapped[datetime | None] = _ts()
    reveal_claimed_at: Mapped[datetime | None] = _ts()
    customer_informed_at: Mapped[datetime | None] = _ts()
    # The provider policy the request was made under (ProviderPolicy; bot/policy.py: ApprovalPolicy):
    # later changes to the policy do not touch it. Rows older than policies need one approval.
    approvals_needed: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    remind_at: Mapped[datetime | None] = _ts()  # None: no reminder
    escalate_at: Mapped[datetime | None] = _ts()  # None: no escalation
    escalate_to: Mapped[str | None] = mapped_column(String(32))  # a user group S… or user U…/W…
    deny_reason: Mapped[str | None] = mapped_column(Text)  # what the denying approver typed, normalised
    # The card-thread reminder and escalation, each posted once across replicas: claimed (a compare-and-set
    # committed before Slack is called), then marked posted (storage/repository.py: claim_thread_reply).
    reminded_at: Mapped[datetime | None] = _ts()
    remind_claim: Mapped[str | None] = mapped_column(String(80))
    remind_claimed_at: Mapped[datetime | None] = _ts()
    escalated_at: Mapped[datetime | None] = _ts()
    escalate_claim: Mapped[str | None] = mapped_column(String(80))
    escalate_claimed_at: Mapped[datetime | None] = _ts()
    # The requester's last Remind approvers click that posted (at most one per 10 minutes).
    requester_reminded_at: Mapped[datetime | None] = _ts()
    # When the requester's DM got its Reveal password button (bot/workflow/reveal.py: send_reveal_dm); the
    # DM itself (dm_channel, dm_ts) is posted when the request is accepted.
    reveal_sent_at: Mapped[datetime | None] = _ts()


class RequestApproval(Base):
    """One approver's approval of a request: one row per request and approver, so nobody counts twice.

    The N-th distinct approval (the request's approvals_needed) is stored in the same unit of work as
    the compare-and-set PENDING → EXECUTING, with the request row locked (bot/workflow/decisions.py).
    """

    __tablename__ = "request_approvals"

    request_id: Mapped[str] = mapped_column(String(40), ForeignKey("reset_requests.id"), primary_key=True)
    approver_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime] = _ts()


class AuditEvent(Base):
    """Append-only, and the database enforces it: triggers refuse every UPDATE and DELETE of a row (and, on
    PostgreSQL, TRUNCATE; on SQLite, an INSERT OR REPLACE over a row), migration 0006i. A repeated refusal is
    counted in `audit_repeats`, never on its event.

    Each event is chained to the one before: `seq` is its place in the chain (1, 2, …, no gap), `hash` the hex
    SHA-256 of `prev_hash` (the previous event's hash; 64 zeros for the first) followed by the event's canonical
    JSON (storage/audit_chain.py); `audit_chain_head` holds the last one's. `resetbot audit verify` walks it."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"), Index("uq_audit_events_seq", "seq", unique=True))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = _ts()
    actor_id: Mapped[str | None] = mapped_column(String(64))  # a Slack user id, or "cli:<OS user>"
    action: Mapped[str] = mapped_column(String(40))
    request_id: Mapped[str | None] = mapped_column(String(40), ForeignKey("reset_requests.id"))
    provider: Mapped[str | None] = mapped_column(String(16))
    account: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[str] = mapped_column(Text, default="{}")  # JSON, never a secret
    seq: Mapped[int] = mapped_column(Integer)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The audit chain's last event: one row (id 1), advanced in the statement that appends an event
    (storage/repository.py: the audit section), whose row lock orders the appends of every replica. An event
    missing after the head's seq was removed (`resetbot audit verify`)."""

    __tablename__ = "audit_chain_head"
    __table_args__ = (CheckConstraint("id = 1", name="ck_audit_chain_head_one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)  # 0: no event yet
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditRepeat(Base):
    """How many refusals one refusal event stands for (itself included), and the last one's time: an identical
    refusal repeated within a minute is counted here (storage/repository.py: count_repeated_refusal), so its
    event is never changed. The count only grows and the row is never deleted (triggers, migration 0006i)."""

    __tablename__ = "audit_repeats"

    event_id: Mapped[int] = mapped_column(Integer, ForeignKey("audit_events.id"), primary_key=True,
                                          autoincrement=False)
    count: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[datetime] = _ts()


class DirectoryEntry(Base):
    """MyOwnFreeHost: the 8-character account key behind a vPanel username or domain (docs/providers.md §1.3)."""

    __tablename__ = "mofh_directory"

    account_key: Mapped[str] = mapped_column(String(8), primary_key=True)
    vpanel_username: Mapped[str] = mapped_column(String(64), unique=True)
    domain: Mapped[str | None] = mapped_column(String(255), index=True)


class ProcessedEvent(Base):
    """Events API dedupe: one row per event_id (docs/slack-bolt.md §3)."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = _ts()


class CallBudgetSlot(Base):
    """One provider call in a rolling window, shared by every replica (Namecheap 20/min)."""

    __tablename__ = "call_budget"
    __table_args__ = (Index("ix_call_budget_key_at", "budget_key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    budget_key: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = _ts()


class ProviderPolicy(Base):
    """One provider's approval policy (docs/CONTRACT.md "Approval policy"); no row: the defaults from the settings.

    Durations are seconds, 0 = off (expire_after is never 0); requests_per_hour 0 = no cap.
    """

    __tablename__ = "provider_policies"
    __table_args__ = (
        CheckConstraint("approvals BETWEEN 1 AND 5", name="ck_provider_policies_approvals"),
        CheckConstraint("expire_after > 0 AND remind_after >= 0 AND escalate_after >= 0 AND requests_per_hour >= 0",
                        name="ck_provider_policies_non_negative"),
    )

    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    approvals: Mapped[int] = mapped_column(Integer)
    expire_after: Mapped[int] = mapped_column(Integer)
    remind_after: Mapped[int] = mapped_column(Integer)
    escalate_after: Mapped[int] = mapped_column(Integer)
    escalate_to: Mapped[str | None] = mapped_column(String(32))
    requests_per_hour: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = _ts()
    updated_by: Mapped[str | None] = mapped_column(String(64))


class ProviderAccount(Base):
    """The provider's own id of an account (Namecheap's UserId), learnt from an answer to a call
    that named the account, so a later change that names it only by a secret (a reset code)
    can be matched to it (bot/workflow/execution.py)."""

    __tablename__ = "provider_accounts"
    __table_args__ = (Index("ix_provider_accounts_user_id", "provider", "user_id"),)

    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    account: Mapped[str] = mapped_column(String(255), primary_key=True)  # lower-cased: both providers ignore case
    user_id: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = _ts()


class PolicyProposalRow(Base):
    """A change that loosens a provider's policy, proposed by one admin in Slack, waiting for a second
    (bot/policy.py: PolicyProposal). `old_policy` is the policy it was proposed against: it is applied only
    while that is still the policy. Policies as JSON objects of ApprovalPolicy's fields, durations in seconds."""

    __tablename__ = "policy_proposals"
    __table_args__ = (Index("ix_policy_proposals_provider_status", "provider", "status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    proposed_by: Mapped[str] = mapped_column(String(32))
    proposed_at: Mapped[datetime] = _ts()
    old_policy: Mapped[str] = mapped_column(Text)
    new_policy: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending → applied | rejected | withdrawn | stale, once
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None] = _ts()
    card_channel: Mapped[str | None] = mapped_column(String(32))
    card_ts: Mapped[str | None] = mapped_column(String(32))


class PolicyAnnouncementRow(Base):
    """A policy change made with `resetbot policy set` (bot/policy.py: PolicyAnnouncement), written with the change;
    the running bot announces it in the approvals channel once (bot/workflow/policy_announcements.py): claimed here
    (`claim`, `claimed_at`) before Slack is called, `announced_at` once Slack took it. Policies as JSON objects of
    ApprovalPolicy's fields, durations in seconds."""

    __tablename__ = "policy_announcements"
    __table_args__ = (Index("ix_policy_announcements_announced_at", "announced_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(16))
    changed_by: Mapped[str | None] = mapped_column(String(64))  # "cli:<OS user>"
    changed_at: Mapped[datetime] = _ts()
    old_policy: Mapped[str] = mapped_column(Text)
    new_policy: Mapped[str] = mapped_column(Text)
    claim: Mapped[str | None] = mapped_column(String(80))
    claimed_at: Mapped[datetime | None] = _ts()
    announced_at: Mapped[datetime | None] = _ts()


class HomeViewer(Base):
    """Who opened the App Home when: only recent viewers' tabs are republished when what they see changes
    (handlers/home.py: HomeRefresher), by whichever replica made the change."""

    __tablename__ = "home_viewers"
    __table_args__ = (Index("ix_home_viewers_opened_at", "opened_at"),)

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    opened_at: Mapped[datetime] = _ts()


class RiskAlertSent(Base):
    """When an insider-risk alert of one kind was last posted about one engineer (bot/workflow/alerts.py):
    claimed here, on every replica's shared clock, before Slack is called, so at most one an hour is posted."""

    __tablename__ = "risk_alerts"

    engineer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    alerted_at: Mapped[datetime] = _ts()
