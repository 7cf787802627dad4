"""The password reset, Slack-free: validate, record, confirm once, execute once, triage.

States::

    draft ──Send──▶ queued ──worker claims──▶ sending ──▶ sent | refused | failed | unknown
      └──Cancel──▶ cancelled                                     │
                                      first Retry (support) ─────┴──▶ a new queued request

Sending is the shared vendor lifecycle (:mod:`bot.workflows.lifecycle`): every
transition is a compare-and-set with its audit event, a request left ``sending``
by a process that died becomes ``unknown`` (never silently resent), and a late
answer is kept beside the row, never a second outcome. Retry is one
compare-and-set on the failure (and a unique link as a second guard): the first
click creates one new request, every later click, redelivery or replay is told
who retried it and when. Counting a member's resets and queueing one happen under
a lock on that member, so concurrent Sends cannot pass the hourly limit together.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.config import Location
from bot.vendor_clients import VendorClients
from bot.workflows import audit, preferences
from bot.workflows.errors import Conflict, InvalidInput, NotFound
from bot.workflows.guest_codes import GuestCodes
from bot.workflows.lifecycle import Lifecycle, NotSent, Settled, Spec
from bot.workflows.masking import identifier_hash, mask_email, mask_identifier
from bot.workflows.ratelimit import hold
from bot.workflows.roles import Actor, Permission, Roles
from storage.db import Database
from storage.models import ResetIdentifier, ResetRequest, UserPreference
from vendors import InvalidVendorRequest, MemberIdentity, Outcome, OutcomeKind


class ResetStatus(StrEnum):
    DRAFT = "draft"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    REFUSED = "refused"
    # The vendor was unavailable: nothing suggests it was sent (not reached, 429, or a
    # gateway's 5xx, which a gateway may give after the vendor acted: rarely, sent).
    FAILED = "failed"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"


FINISHED = frozenset(
    {ResetStatus.SENT, ResetStatus.REFUSED, ResetStatus.FAILED, ResetStatus.UNKNOWN}
)
NEEDS_TRIAGE = frozenset({ResetStatus.REFUSED, ResetStatus.FAILED, ResetStatus.UNKNOWN})
#: What counts towards a member's hourly limit: everything that may have sent an email.
COUNTS_TOWARDS_LIMIT = (
    ResetStatus.QUEUED,
    ResetStatus.SENDING,
    ResetStatus.SENT,
    ResetStatus.UNKNOWN,
)
_STATUS_FOR = {
    OutcomeKind.SUCCEEDED: ResetStatus.SENT,
    OutcomeKind.REFUSED: ResetStatus.REFUSED,
    OutcomeKind.UNAVAILABLE: ResetStatus.FAILED,
    OutcomeKind.UNKNOWN: ResetStatus.UNKNOWN,
}

MEMBER_FILTERS = {
    0: "All",
    1: "Prospects",
    2: "Active",
    3: "Inactive",
    4: "All Members",
    5: "Past Due",
}


class ConfirmResult(StrEnum):
    QUEUED = "queued"
    ALREADY_HANDLED = "already_handled"
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True)
class ResetInput:
    email: str | None = None
    username: str | None = None
    account_id: str | None = None
    card: str | None = None
    member_filter: int = 0


@dataclass(frozen=True)
class RetryResult:
    """What a Retry click did: ``created`` only for the first one of a failure."""

    created: bool
    retry_id: str | None
    by: str | None
    at: datetime | None


def identifier_fields(location: Location) -> tuple[str, ...]:
    """The identifier fields a location's vendor takes, in form order."""
    return location.identifier_fields


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def validate_input(location: Location, raw: ResetInput) -> dict[str, str]:
    """The member's identity for this location's vendor, or InvalidInput."""
    values = {
        "email": _clean(raw.email),
        "username": _clean(raw.username),
        "account_id": _clean(raw.account_id),
        "card": _clean(raw.card),
    }
    allowed = identifier_fields(location)
    given = {k: v for k, v in values.items() if v is not None and k in allowed}
    errors: dict[str, str] = {}
    for key, value in given.items():
        if any(ord(ch) < 32 for ch in value):
            errors[key] = "Remove the control characters from this field."
    if given.get("email") and "email" not in errors:
        try:
            given["email"] = validate_email(given["email"], check_deliverability=False).normalized
        except EmailNotValidError:
            errors["email"] = "This is not a valid email address (like jane@example.com)."
    if given.get("username") and not 4 <= len(given["username"]) <= 255:
        errors["username"] = "A username is 4 to 255 characters long."
    if given.get("account_id") and not re.fullmatch(r"\d{1,18}", given["account_id"]):
        errors["account_id"] = "An account id is digits only."
    if given.get("card") and not re.fullmatch(r"\d{8,25}", re.sub(r"[\s-]", "", given["card"])):
        errors["card"] = "A printed card number is 8 to 25 digits."
    elif given.get("card"):
        given["card"] = re.sub(r"[\s-]", "", given["card"])
    if errors:
        raise InvalidInput(errors)
    if not given:
        first = allowed[0]
        names = " or ".join(a.replace("_", " ") for a in allowed)
        raise InvalidInput({first: f"Enter the member's {names}."})
    if location.one_identifier and len(given) > 1:
        message = f"Give exactly one identifier for {location.vendor_label}: clear the others."
        raise InvalidInput({k: message for k in given})
    if location.has_member_filter and raw.member_filter not in MEMBER_FILTERS:
        raise InvalidInput({"member_filter": "Choose a member filter from the list."})
    return given


def guess_identity(text: str) -> ResetInput:
    """``/reset <identifier>``: an email, a card number, an account id, else a username."""
    text = text.strip()
    if "@" in text:
        return ResetInput(email=text)
    digits = re.sub(r"[\s-]", "", text)
    if digits.isdigit() and len(digits) >= 12:
        return ResetInput(card=digits)
    if digits.isdigit():
        return ResetInput(account_id=digits)
    return ResetInput(username=text)


def _primary(identity: dict[str, str]) -> tuple[str, str]:
    for kind in ("email", "username", "account_id", "card"):
        if kind in identity:
            return kind, identity[kind]
    raise InvalidInput({"email": "Enter the member's email or another identifier."})


def member_identity(request: ResetRequest) -> MemberIdentity:
    identity = dict(request.identity or {})
    return MemberIdentity(
        email=identity.get("email"),
        username=identity.get("username"),
        account_id=identity.get("account_id"),
        card=identity.get("card"),
        member_filter=request.member_filter,
    )


def _sent_to(request: ResetRequest, outcome: Outcome) -> dict[str, Any]:
    if not outcome.succeeded:
        return {}
    sent_to = outcome.sent_to or (request.identity or {}).get("email")
    return {"sent_to_masked": mask_email(str(sent_to)) if sent_to else None}


SPEC = Spec(
    model=ResetRequest,
    subject="reset",
    operation="password_reset",
    ready=ResetStatus.QUEUED,
    in_flight=ResetStatus.SENDING,
    unknown=ResetStatus.UNKNOWN,
    status_for=_STATUS_FOR,
    abandoned_message=(
        "frontdesk stopped while calling the vendor: the reset may or may not have been sent"
    ),
    vendor_of=lambda request: request.vendor,
    from_outcome=_sent_to,
)


def describe_identity(identity: dict[str, str]) -> str:
    return " / ".join(mask_identifier(k, v) for k, v in identity.items())


class ResetService:
    def __init__(
        self,
        *,
        db: Database,
        roles: Roles,
        clients: VendorClients,
        locations: dict[str, Location],
        clock: Clock,
        limit_per_hour: int = 3,
        lease_seconds: float = 120.0,
        sends_per_person_hour: int = 30,
        drafts_per_person_hour: int = 60,
        guest_codes: GuestCodes | None = None,
    ) -> None:
        self.db = db
        #: Where the codes of third-party Paytronix resets are issued and kept.
        self.guest_codes = guest_codes
        self.roles = roles
        self.clients = clients
        self.locations = locations
        self.clock = clock
        self.limit_per_hour = limit_per_hour
        self.sends_per_person_hour = sends_per_person_hour
        self.drafts_per_person_hour = drafts_per_person_hour
        self.lifecycle: Lifecycle[ResetRequest] = Lifecycle(
            db=db, clock=clock, spec=SPEC, lease_seconds=lease_seconds
        )

    def _audit(
        self,
        session: Session,
        actor: str,
        action: str,
        request_id: str,
        location_id: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        audit.record(
            session,
            self.clock,
            actor=actor,
            action=action,
            subject_type="reset",
            subject_id=request_id,
            location_id=location_id,
            details=details,
        )

    # -- before sending ---------------------------------------------------------------
    def locations_for(self, actor: Actor) -> list[Location]:
        with self.db.session() as session:
            allowed = self.roles.allowed_locations(session, actor, Permission.RESET, self.locations)
        return [self.locations[i] for i in allowed]

    def last_location(self, actor: Actor) -> str | None:
        with self.db.session() as session:
            pref = session.get(UserPreference, (actor.org_id, actor.user_id))
            return pref.last_location_id if pref else None

    def can(self, actor: Actor, permission: Permission, location_id: str | None) -> bool:
        with self.db.session() as session:
            return self.roles.can(session, actor, permission, location_id)

    def require(self, actor: Actor, permission: Permission, location_id: str | None) -> None:
        with self.db.session() as session:
            self.roles.require(session, actor, permission, location_id)

    def _check_with_vendor(
        self, location: Location, identity: dict[str, str], raw: ResetInput
    ) -> None:
        """What the vendor's adapter can refuse before anything is sent, on the form."""
        candidate = MemberIdentity(**identity, member_filter=raw.member_filter)
        try:
            self.clients.resetter(location.id).check(candidate)
        except InvalidVendorRequest as exc:
            fields = {e.field or location.identifier_fields[0]: e.message for e in exc.field_errors}
            raise InvalidInput(fields) from None

    def prepare(self, actor: Actor, location_id: str, raw: ResetInput) -> ResetRequest:
        """Authorize, validate and record a draft; raises NotAuthorized or InvalidInput."""
        location = self.locations.get(location_id)
        if location is None:
            raise InvalidInput({"location": "Choose one of your locations."})
        identity = validate_input(location, raw)
        self._check_with_vendor(location, identity, raw)
        kind, value = _primary(identity)
        now = self.clock.now()
        with self.db.session() as session:
            self.roles.require(session, actor, Permission.RESET, location_id)
            hold(session, self.clock, [f"person:{actor.key}"])  # count, then add, alone
            drafts = self._count_by(
                session, actor, ResetRequest.created_at >= now - timedelta(hours=1)
            )
            if drafts >= self.drafts_per_person_hour:
                raise Conflict(
                    f"You have started {drafts} resets in the last hour, the most frontdesk "
                    "takes from one person. Wait a little, or ask support to send this one."
                )
            request = ResetRequest(
                id=str(uuid.uuid4()),
                org_id=actor.org_id,
                enterprise_id=actor.enterprise_id,
                team_id=actor.team_id,
                user_id=actor.user_id,
                location_id=location_id,
                vendor=location.vendor,
                identifier_kind=kind,
                identity=identity,
                identifier_masked=describe_identity(identity),
                identifier_hash=identifier_hash(kind, value),
                member_filter=raw.member_filter if location.has_member_filter else 0,
                status=ResetStatus.DRAFT,
                created_at=now,
                updated_at=now,
            )
            session.add(request)
            session.flush()  # the request before the identifiers that point at it
            session.add_all(
                ResetIdentifier(
                    request_id=request.id, identifier_hash=digest, location_id=location_id
                )
                for digest in sorted({identifier_hash(k, v) for k, v in identity.items()})
            )
            preferences.remember(session, actor, last_location_id=location_id)
            self._audit(
                session,
                actor.key,
                "reset.prepare",
                request.id,
                location_id,
                {"member": request.identifier_masked},
            )
        return request

    def get(self, request_id: str) -> ResetRequest | None:
        return self.lifecycle.get(request_id)

    def attach_message(self, request_id: str, channel_id: str, ts: str) -> None:
        self._set(request_id, channel_id=channel_id, message_ts=ts)

    def attach_triage(self, request_id: str, channel_id: str, ts: str) -> None:
        self._set(request_id, triage_channel_id=channel_id, triage_ts=ts)

    def _set(self, request_id: str, **values: Any) -> None:
        """Unconditional columns (Slack message references), not state transitions."""
        from sqlalchemy import update

        with self.db.session() as session:
            session.execute(
                update(ResetRequest).where(ResetRequest.id == request_id).values(**values)
            )

    def _load_for(self, session: Session, actor: Actor, request_id: str) -> ResetRequest:
        request = session.get(ResetRequest, request_id)
        if request is None:
            raise NotFound("That reset request no longer exists.")
        if not actor.is_person(request.org_id, request.user_id):
            self.roles.require(session, actor, Permission.TRIAGE, request.location_id)
        self.roles.require(session, actor, Permission.RESET, request.location_id)
        return request

    def _count_by(self, session: Session, actor: Actor, *where: Any) -> int:
        return (
            session.scalar(
                select(func.count())
                .select_from(ResetRequest)
                .where(
                    ResetRequest.org_id == actor.org_id,
                    ResetRequest.user_id == actor.user_id,
                    *where,
                )
            )
            or 0
        )

    def member_hashes(self, session: Session, request: ResetRequest) -> list[str]:
        """Every identifier hash known for this request's member here: its own, and those
        named together with one of them by a recent request (an email and a username
        given together link the two)."""
        since = self.clock.now() - timedelta(hours=1)
        own = select(ResetIdentifier.identifier_hash).where(
            ResetIdentifier.request_id == request.id
        )
        linked = (
            select(ResetIdentifier.request_id)
            .join(ResetRequest, ResetRequest.id == ResetIdentifier.request_id)
            .where(
                ResetIdentifier.location_id == request.location_id,
                ResetIdentifier.identifier_hash.in_(own),
                ResetRequest.created_at >= since,
            )
        )
        hashes = session.scalars(
            select(ResetIdentifier.identifier_hash)
            .where(
                (ResetIdentifier.request_id == request.id) | ResetIdentifier.request_id.in_(linked)
            )
            .distinct()
        ).all()
        return sorted(hashes) or [request.identifier_hash]

    def recent_count(
        self, session: Session, request: ResetRequest, hashes: list[str] | None = None
    ) -> int:
        """Resets that may have emailed this member here in the last hour, counted by
        every identifier known for them (an email and a username count together)."""
        since = self.clock.now() - timedelta(hours=1)
        hashes = hashes if hashes is not None else self.member_hashes(session, request)
        return (
            session.scalar(
                select(func.count(distinct(ResetRequest.id)))
                .select_from(ResetRequest)
                .join(ResetIdentifier, ResetIdentifier.request_id == ResetRequest.id)
                .where(
                    ResetIdentifier.location_id == request.location_id,
                    ResetIdentifier.identifier_hash.in_(hashes),
                    ResetRequest.confirmed_at >= since,
                    ResetRequest.status.in_([s.value for s in COUNTS_TOWARDS_LIMIT]),
                    ResetRequest.id != request.id,
                )
            )
            or 0
        )

    def confirm(self, actor: Actor, request_id: str, *, override: bool = False) -> ConfirmResult:
        """Send was clicked: queue the request exactly once, within the member's limit."""
        now = self.clock.now()
        with self.db.session() as session:
            request = self._load_for(session, actor, request_id)
            if override:
                self.roles.require(
                    session, actor, Permission.RESET_OVERRIDE_LIMIT, request.location_id
                )
            if request.status != ResetStatus.DRAFT:
                return ConfirmResult.ALREADY_HANDLED
            # Count and queue under the member's (and the person's) lock.
            hashes = self.member_hashes(session, request)
            member_keys = [f"member:{request.location_id}:{h}" for h in hashes]
            hold(session, self.clock, [*member_keys, f"person:{actor.key}"])
            if not override and self.recent_count(session, request, hashes) >= self.limit_per_hour:
                return ConfirmResult.RATE_LIMITED
            # Every send reached (or may have reached) the vendor, a refusal included.
            sent = self._count_by(
                session, actor, ResetRequest.confirmed_at >= now - timedelta(hours=1)
            )
            if sent >= self.sends_per_person_hour:
                raise Conflict(
                    f"You have sent {sent} resets in the last hour, the most frontdesk sends "
                    "for one person. Nothing was sent: wait a little, or ask support."
                )
            won = self.lifecycle.transition(
                session,
                request,
                expected=ResetRequest.status == ResetStatus.DRAFT,
                values={
                    "status": ResetStatus.QUEUED,
                    "confirmed_at": now,
                    "available_at": now,
                    "override_limit": override,
                },
                actor=actor.key,
                action="reset.override_send" if override else "reset.send",
            )
            if not won:
                return ConfirmResult.ALREADY_HANDLED
        return ConfirmResult.QUEUED

    def cancel(self, actor: Actor, request_id: str) -> bool:
        now = self.clock.now()
        with self.db.session() as session:
            request = self._load_for(session, actor, request_id)
            return self.lifecycle.transition(
                session,
                request,
                expected=ResetRequest.status == ResetStatus.DRAFT,
                values={"status": ResetStatus.CANCELLED, "finished_at": now},
                actor=actor.key,
                action="reset.cancel",
            )

    # -- the worker's side ------------------------------------------------------------
    def claim_next(self, worker_id: str, limit: int = 1) -> list[str]:
        return self.lifecycle.claim(worker_id, limit)

    def execute(self, request_id: str, worker_id: str) -> Settled[ResetRequest] | None:
        return self.lifecycle.run(request_id, worker_id, self.call_vendor)

    def call_vendor(self, request: ResetRequest) -> Outcome:
        """The vendor call for one claimed request (the lifecycle records its end)."""
        if request.location_id not in self.locations:
            raise NotSent(f"location {request.location_id} is no longer configured")
        if not request.identity:
            raise NotSent("the member's data is gone")
        adapter = self.clients.resetter(request.location_id)
        code = None
        if adapter.issues_own_code:
            # The guest's email links to frontdesk's page with this code: its keyed hash
            # is stored (committed) before the code can leave.
            if self.guest_codes is None:
                raise NotSent("no guest reset page is configured to issue reset codes")
            code = self.guest_codes.issue(request.location_id, request.id)
        return adapter.reset(member_identity(request), reset_code=code)

    def recover_abandoned(self) -> list[ResetRequest]:
        return self.lifecycle.recover()

    # -- triage -----------------------------------------------------------------------
    def claim(self, actor: Actor, request_id: str) -> tuple[bool, str | None]:
        """One claimant at a time: (won, who holds it)."""
        with self.db.session() as session:
            request = session.get(ResetRequest, request_id)
            if request is None:
                raise NotFound("That reset request no longer exists.")
            self.roles.require(session, actor, Permission.TRIAGE, request.location_id)
            if self.lifecycle.transition(
                session,
                request,
                expected=ResetRequest.claimed_by.is_(None),
                values={"claimed_by": actor.user_id},
                actor=actor.key,
                action="reset.claim",
            ):
                return True, actor.user_id
            session.refresh(request)
            return False, request.claimed_by

    def retry(self, actor: Actor, request_id: str) -> RetryResult:
        """Support retries a failed reset: the first Retry of a failure resolves it and
        queues one new request linked to it; any later one changes nothing and is told
        who retried it and when."""
        now = self.clock.now()
        with self.db.session() as session:
            original = session.get(ResetRequest, request_id)
            if original is None:
                raise NotFound("That reset request no longer exists.")
            self.roles.require(session, actor, Permission.TRIAGE, original.location_id)
            if original.retried_at is not None:
                return RetryResult(
                    False, original.retry_id, original.retried_by, original.retried_at
                )
            if original.status not in NEEDS_TRIAGE:
                raise Conflict("Only a failed or uncertain reset can be retried.")
            if original.resolved_at is not None:
                raise Conflict(
                    f"<@{original.resolved_by}> already resolved this one: nothing was sent. "
                    "If the member still needs a reset, start a new one."
                )
            if original.identity is None:
                raise Conflict("This reset's member data has been purged: start a new one.")
            retry_id = str(uuid.uuid4())
            won = self.lifecycle.transition(
                session,
                original,
                expected=ResetRequest.retried_at.is_(None)
                & ResetRequest.resolved_at.is_(None)
                & ResetRequest.status.in_([s.value for s in NEEDS_TRIAGE]),
                values={
                    "retried_by": actor.user_id,
                    "retried_at": now,
                    "retry_id": retry_id,
                    # The retry carries the failure on: the original leaves the open list.
                    "resolved_by": actor.user_id,
                    "resolved_at": now,
                    "resolution_note": f"retried as {retry_id}",
                },
                actor=actor.key,
                action="reset.retry",
                details={"retry": retry_id},
            )
            if not won:
                session.refresh(original)
                if original.retried_at is None:  # resolved meanwhile, not retried
                    raise Conflict(
                        f"<@{original.resolved_by}> resolved this one meanwhile: nothing was sent."
                    )
                return RetryResult(
                    False, original.retry_id, original.retried_by, original.retried_at
                )
            session.add(
                ResetRequest(
                    id=retry_id,
                    org_id=actor.org_id,
                    enterprise_id=actor.enterprise_id,
                    team_id=actor.team_id,
                    user_id=actor.user_id,
                    location_id=original.location_id,
                    vendor=original.vendor,
                    identifier_kind=original.identifier_kind,
                    identity=original.identity,
                    identifier_masked=original.identifier_masked,
                    identifier_hash=original.identifier_hash,
                    member_filter=original.member_filter,
                    status=ResetStatus.QUEUED,
                    retry_of=original.id,
                    override_limit=True,
                    created_at=now,
                    confirmed_at=now,
                    available_at=now,
                    updated_at=now,
                )
            )
            session.flush()
            session.add_all(
                ResetIdentifier(
                    request_id=retry_id, identifier_hash=digest, location_id=original.location_id
                )
                for digest in session.scalars(
                    select(ResetIdentifier.identifier_hash).where(
                        ResetIdentifier.request_id == original.id
                    )
                ).all()
            )
            self._audit(
                session,
                actor.key,
                "reset.queue_retry",
                retry_id,
                original.location_id,
                {"retry_of": original.id},
            )
        return RetryResult(True, retry_id, actor.user_id, now)
