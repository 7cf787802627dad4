"""SQLAlchemy models. Member data lives here (purged after retention); secrets never do."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql import text


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out, whatever the database keeps.

    SQLite hands back naive datetimes; comparing those with aware ones fails.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: The rows support still has to look at (statuses as stored).
OPEN_RESET_FAILURE = "status IN ('refused', 'failed', 'unknown') AND resolved_at IS NULL"
OPEN_SALE_FAILURE = "status IN ('refused', 'unknown') AND resolved_at IS NULL"


class Base(DeclarativeBase):
    type_annotation_map = {
        dict[str, Any]: JSON,
        list[Any]: JSON,
        datetime: UTCDateTime(),
        date: Date(),
    }


class RoleGrant(Base):
    """A (Slack user, role, location or all) triple. ``location_id`` NULL means all."""

    __tablename__ = "role_grants"
    __table_args__ = (
        UniqueConstraint("org_id", "user_id", "role", "location_key", name="uq_role_grant"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The person's organisation: the enterprise id on Enterprise Grid, else the team id.
    #: A person is (org_id, user_id) everywhere.
    org_id: Mapped[str] = mapped_column(String(32))
    enterprise_id: Mapped[str] = mapped_column(String(32), default="")
    team_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(16))
    location_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # '*' for all locations: NULLs are distinct in unique constraints.
    location_key: Mapped[str] = mapped_column(String(64))
    granted_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class ResetRequest(Base):
    """One intended password reset: the durable unit of work for the worker."""

    __tablename__ = "reset_requests"
    __table_args__ = (
        Index("ix_reset_status_available", "status", "available_at"),
        Index("ix_reset_member", "location_id", "identifier_hash", "confirmed_at"),
        Index("ix_reset_requester", "org_id", "user_id", "created_at"),
        # One retry per failure, whatever the clicks: the second guard after the
        # compare-and-set on the original.
        Index("uq_reset_retry_of", "retry_of", unique=True),
        Index("ix_reset_finished", "finished_at"),
        # Support's open failures, oldest first, stay an index range however long
        # the history grows (the bulk of rows, sent and resolved, is not in it).
        Index(
            "ix_reset_open_failures",
            "finished_at",
            postgresql_where=text(OPEN_RESET_FAILURE),
            sqlite_where=text(OPEN_RESET_FAILURE),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(32))
    enterprise_id: Mapped[str] = mapped_column(String(32), default="")
    team_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    location_id: Mapped[str] = mapped_column(String(64))
    vendor: Mapped[str] = mapped_column(String(16))
    identifier_kind: Mapped[str] = mapped_column(String(24))
    #: The member's identity as entered (kind -> value); NULL once purged.
    identity: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    identifier_masked: Mapped[str] = mapped_column(String(320))
    identifier_hash: Mapped[str] = mapped_column(String(64))
    member_filter: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))
    retry_of: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("reset_requests.id"), nullable=True
    )
    #: Set once, by the first Retry of this failure (compare-and-set): who, when, as what.
    retried_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    retried_at: Mapped[datetime | None] = mapped_column(nullable=True)
    retry_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    override_limit: Mapped[bool] = mapped_column(Boolean, default=False)
    channel_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    message_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: Where the requester is looking at it: the modal's view (views.update), or the
    #: private message where ``/reset …`` was typed (its response_url, until when).
    screen_view_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    screen_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    screen_until: Mapped[datetime | None] = mapped_column(nullable=True)
    triage_channel_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    triage_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resolution_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    outcome_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    outcome_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_to_masked: Mapped[str | None] = mapped_column(String(320), nullable=True)
    #: The vendor's answer when it arrived after frontdesk had given up on the call
    #: (the row stays as it was settled; support sees this beside it).
    late_outcome_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    late_outcome_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    late_at: Mapped[datetime | None] = mapped_column(nullable=True)
    worker_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)
    available_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[datetime]


class VendorAttempt(Base):
    """One vendor call (all its HTTP exchanges), redacted."""

    __tablename__ = "vendor_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(36), index=True)
    vendor: Mapped[str] = mapped_column(String(16))
    operation: Mapped[str] = mapped_column(String(64))
    outcome_kind: Mapped[str] = mapped_column(String(16))
    code: Mapped[str | None] = mapped_column(String(128), nullable=True)
    message: Mapped[str] = mapped_column(Text)
    exchanges: Mapped[dict[str, Any]] = mapped_column(JSON)
    latency_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime]


class AuditEvent(Base):
    """Append-only: who did what, when. No member data beyond masked forms."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    location_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)


class UserPreference(Base):
    __tablename__ = "user_preferences"

    org_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_location_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: When the user last opened the App Home: whose home to refresh on a change.
    home_opened_at: Mapped[datetime | None] = mapped_column(nullable=True)
    #: The page of each Home list the user is on, so a republish keeps them there.
    home_cursors: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class GroupMembership(Base):
    """Who is in a Slack user group that the configuration maps to a role, or that
    sales escalate to (a cache of Slack's ``usergroups.users.list``, replaced on every
    refresh)."""

    __tablename__ = "group_memberships"

    org_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    usergroup_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
    refreshed_at: Mapped[datetime]


class Sale(Base):
    """One contract sale: the durable unit of approval and of execution.

    ``member`` holds personal data (purged after retention); payment tokens live
    only in ``sealed_tokens``, encrypted, and only while the sale awaits approval
    or execution. ``fingerprint`` is what an approval is bound to.
    """

    __tablename__ = "sales"
    __table_args__ = (
        Index("ix_sale_status_available", "status", "available_at"),
        Index("ix_sale_status_expires", "status", "expires_at"),
        Index("ix_sale_location_status", "location_id", "status", "updated_at"),
        Index("ix_sale_requester", "org_id", "user_id", "created_at"),
        Index("ix_sale_member", "member_email_hash"),
        Index("ix_sale_finished", "finished_at"),
        Index(
            "ix_sale_open_failures",
            "finished_at",
            postgresql_where=text(OPEN_SALE_FAILURE),
            sqlite_where=text(OPEN_SALE_FAILURE),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(32))
    enterprise_id: Mapped[str] = mapped_column(String(32), default="")
    team_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    location_id: Mapped[str] = mapped_column(String(64))
    package_id: Mapped[int] = mapped_column(Integer)
    installment_plan_id: Mapped[int] = mapped_column(Integer)
    package_name: Mapped[str] = mapped_column(String(200))
    #: Decimal as text ("49.00"): exact on every database.
    amount: Mapped[str] = mapped_column(String(20))
    start_date: Mapped[date]
    promo_code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    member: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    member_masked: Mapped[str] = mapped_column(String(400), default="")
    member_email_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: A draft's member fields as typed before its requester went Back (never a token):
    #: shown again on Next; wiped once the member is added or the sale leaves draft.
    typed_member: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: [{"kind": "profile"|"acct", "amount": "49.00", "last4": "4242"}]: never the tokens.
    payments: Mapped[list[Any]] = mapped_column(JSON, default=list)
    sealed_tokens: Mapped[str | None] = mapped_column(Text, nullable=True)
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    required_approvals: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20))
    rejection_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    submitted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    approval_channel_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    approval_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    dm_channel_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    dm_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    triage_channel_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    triage_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    worker_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)
    available_at: Mapped[datetime | None] = mapped_column(nullable=True)
    outcome_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    outcome_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    vendor_user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: The vendor's answer when it arrived after frontdesk had given up on the call
    #: (the row stays as it was settled; support sees this beside it).
    late_outcome_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    late_outcome_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    late_at: Mapped[datetime | None] = mapped_column(nullable=True)
    reconciled_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reconciled_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resolution_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    #: When a pending sale last changed, and the labels of what changed (the approval
    #: message says so; each approver's Review shows the difference from what they saw).
    changed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    changed_fields: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[datetime]


class SaleApproval(Base):
    """One manager's approval of one exact version (fingerprint) of a sale.
    ``approver`` is the person (``org_id:user_id``), so one person counts once."""

    __tablename__ = "sale_approvals"
    __table_args__ = (
        UniqueConstraint("sale_id", "approver", "fingerprint", name="uq_sale_approval"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sale_id: Mapped[str] = mapped_column(String(36), ForeignKey("sales.id"), index=True)
    approver: Mapped[str] = mapped_column(String(100))
    approver_user_id: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


class RateLock(Base):
    """A row to serialize on: counting and queueing for one member (or one person)
    happen under its lock, so concurrent Sends cannot pass a limit together."""

    __tablename__ = "rate_locks"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    touched_at: Mapped[datetime]


class ResetIdentifier(Base):
    """Every identifier a reset named (email and username of one member), hashed, so a
    member's hourly limit counts them together."""

    __tablename__ = "reset_identifiers"
    __table_args__ = (Index("ix_reset_identifier_member", "location_id", "identifier_hash"),)

    request_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("reset_requests.id", ondelete="CASCADE"), primary_key=True
    )
    identifier_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    location_id: Mapped[str] = mapped_column(String(64))


#: The outbox rows a claim may take (statuses as stored).
PENDING_NOTICE = "status = 'pending'"


class Notice(Base):
    """One thing to tell Slack (a message posted or brought up to date, a DM, an
    ephemeral reply through a ``response_url``, a Home publish), written in the same
    transaction as the change it reports and delivered once by the notifier.

    ``lane`` orders notices: those of one lane are delivered one at a time, in id
    order (a thread reply waits for its parent message). ``slot`` names a message
    kept in step with its subject: at most one such notice waits per slot (a later
    change only updates the waiting one), and it renders the subject as it is when
    delivered, so a message never goes back to an earlier state.
    """

    __tablename__ = "notices"
    __table_args__ = (
        Index("ix_notice_due", "status", "priority", "available_at"),
        Index("ix_notice_lane", "lane", "status", "id"),
        Index(
            "uq_notice_pending_slot",
            "slot",
            unique=True,
            postgresql_where=text(PENDING_NOTICE),
            sqlite_where=text(PENDING_NOTICE),
        ),
        Index("ix_notice_finished", "status", "finished_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(String(40))
    lane: Mapped[str] = mapped_column(String(160))
    slot: Mapped[str | None] = mapped_column(String(160), nullable=True)
    subject_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    subject_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    location_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Plain data for the renderer (never a token; a response_url is wiped once used).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: 0: a person is waiting for it (their Home); 1: messages; 2: background Homes.
    priority: Mapped[int] = mapped_column(Integer, default=1)
    #: pending, sending, done or abandoned.
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    worker_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)
    #: Since when a post may have landed without frontdesk knowing (an answer lost):
    #: the start of the attempt whose answer was lost.
    uncertain_since: Mapped[datetime | None] = mapped_column(nullable=True)
    #: Where the next attempt looks for that post before posting again: the channel
    #: and the window of Slack timestamps still to read (``bot.notices.slack.Lookup``).
    lookup: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: Where a post landed (set before it is done when Slack accepted a post whose
    #: recording failed: the next attempt records it instead of posting again).
    channel_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    ts: Mapped[str | None] = mapped_column(String(32), nullable=True)


class RateBudget(Base):
    """A token bucket shared by every process (Home publishes stay under Slack's limit)."""

    __tablename__ = "rate_budgets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime]


class SeenRequest(Base):
    """A signed Slack request already accepted, kept while its signature could still be
    replayed (Slack's 5-minute window and a margin): a second arrival is refused."""

    __tablename__ = "seen_requests"

    #: SHA-256 of the request's timestamp and signature (never the signature itself).
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class GuestResetCode(Base):
    """A reset code frontdesk issued for a guest (Paytronix, a third party holding the
    account of record): only its keyed hash, where it works, and whether it was used.

    ``status``: open → checking (one submission at Paytronix, leased) → used, or back to
    open (refused, unreachable), or locked (too many refused tries), or unknown (the
    answer never came: the code is closed, support resends). Expiry is ``expires_at``.
    """

    __tablename__ = "guest_reset_codes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    location_id: Mapped[str] = mapped_column(String(64))
    reset_request_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("reset_requests.id"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    #: Submissions that reached (or may have reached) Paytronix.
    tries: Mapped[int] = mapped_column(Integer, default=0)
    #: Who holds the code while it is ``checking``, and until when.
    claim_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[datetime]


class GuestPageAttempt(Base):
    """One submission on the guest reset page, or one lookup of an unusable code: what the
    per-address limit counts. The address is a keyed hash; no password, no code."""

    __tablename__ = "guest_page_attempts"
    __table_args__ = (Index("ix_guest_attempt_address", "address_hash", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    address_hash: Mapped[str] = mapped_column(String(64))
    code_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    outcome: Mapped[str] = mapped_column(String(24))
    #: The reset row this attempt put in support's triage, if it did.
    triage_request_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    #: The vendor call that settled this submission (its outcome and words, redacted):
    #: what the page shows on the GET after the form's POST.
    vendor_attempt_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class SaleSeen(Base):
    """What one approver last saw of a sale: the version (fingerprint), when, and the
    fields as shown to them, masked (member data as a channel may see it, payments as
    ``…last4``), each with a digest keyed by the sale, so that the next Review shows
    first what differs. Never a token, never member data in clear."""

    __tablename__ = "sale_seen"

    sale_id: Mapped[str] = mapped_column(String(36), ForeignKey("sales.id"), primary_key=True)
    #: The person (``org_id:user_id``), as approvals name them.
    approver: Mapped[str] = mapped_column(String(100), primary_key=True)
    approver_user_id: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime]
    #: [{"key", "label", "shown", "digest"}] in the order the review shows them.
    snapshot: Mapped[list[Any]] = mapped_column(JSON)


class SaleAsk(Base):
    """Who was asked to decide a pending sale, how and when: the approvals channel when
    the request went out, and later each reminder and escalation. One row per person,
    group or channel asked for a reason in one round, so a restart never asks twice.

    A round is keyed on when it began (``round_at``), never on the sale's content: a
    sale changed back to an earlier version (A, B, A) is a new round, asked again."""

    __tablename__ = "sale_asks"
    __table_args__ = (
        UniqueConstraint(
            "sale_id", "round_at", "reason", "target_kind", "target_id", name="uq_sale_ask_round"
        ),
        Index("ix_sale_ask_sale", "sale_id", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sale_id: Mapped[str] = mapped_column(String(36), ForeignKey("sales.id"))
    #: The version of the sale asked about.
    fingerprint: Mapped[str] = mapped_column(String(64))
    #: When the round began: the submission or the change that sent this version for
    #: approval (the request and its reminder), or the submission (the escalation,
    #: which counts from it whatever changed since).
    round_at: Mapped[datetime]
    #: "request" (the approvals channel), later "reminder" and "escalation".
    reason: Mapped[str] = mapped_column(String(16))
    #: "channel", "user" or "usergroup".
    target_kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]


#: Workflow Builder steps whose completion Slack is still waiting for.
OPEN_STEP = "completed_at IS NULL"


class StepRun(Base):
    """One run of a Workflow Builder step (Slack's ``function_execution_id``) and the
    reset or sale it started. Completed from the worker's side once that has an outcome
    (``completed_at``), so a restart neither loses nor repeats a completion."""

    __tablename__ = "step_runs"
    __table_args__ = (
        Index(
            "ix_step_run_open",
            "created_at",
            postgresql_where=text(OPEN_STEP),
            sqlite_where=text(OPEN_STEP),
        ),
        Index("ix_step_run_subject", "subject_type", "subject_id"),
    )

    function_execution_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    callback_id: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[str] = mapped_column(String(32))
    team_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    #: "reset" or "sale", once the step has started one.
    subject_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    subject_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    #: "completed" (outputs sent) or "failed" (an error sent).
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
