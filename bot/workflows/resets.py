"""The password reset, Slack-free: validate, record, confirm once, execute once, triage.

States::

    draft ──Send──▶ queued ──worker claims──▶ sending ──▶ sent | refused | failed | unknown
      └──Cancel──▶ cancelled

Every transition is a compare-and-set ``UPDATE … WHERE status = <expected>``, so
double clicks, retried deliveries and several processes cannot double it. A
request left in ``sending`` by a process that died may or may not have reached
the vendor: it becomes ``unknown`` and goes to triage, never silently resent.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.config import ClubReadyLocation, Location, PaytronixLocation, RegistrarLocation
from bot.vendor_clients import VendorClients
from bot.workflows import audit, preferences, queue
from bot.workflows.guest_codes import GuestCodes
from bot.workflows.masking import identifier_hash, mask_email, mask_identifier
from bot.workflows.roles import Actor, Permission, Roles
from storage.db import Database
from storage.models import ResetRequest, UserPreference, VendorAttempt
from vendors import (
    InvalidVendorRequest,
    Outcome,
    OutcomeKind,
    VendorConfigurationError,
    VendorError,
    build,
)
from vendors.clubready import PasswordReset
from vendors.paytronix import GuestIdentity, SendResetCode
from vendors.registrar import ResetCustomerPassword


class ResetStatus(StrEnum):
    DRAFT = "draft"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    REFUSED = "refused"
    FAILED = "failed"  # the vendor was unavailable: certainly not sent
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


class InvalidResetInput(Exception):
    """Field errors keyed by form field (``email``, ``username``, ``account_id``, ``card``)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


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


def identifier_fields(location: Location) -> tuple[str, ...]:
    """The identifier fields a location's vendor takes, in form order."""
    if isinstance(location, ClubReadyLocation):
        return ("email", "username")
    if isinstance(location, RegistrarLocation):
        return ("email",)
    return ("email", "username", "account_id", "card")


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def validate_input(location: Location, raw: ResetInput) -> dict[str, str]:
    """The member's identity for this location's vendor, or InvalidResetInput."""
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
        raise InvalidResetInput(errors)
    if not given:
        first = allowed[0]
        names = " or ".join(a.replace("_", " ") for a in allowed)
        raise InvalidResetInput({first: f"Enter the member's {names}."})
    if isinstance(location, PaytronixLocation) and len(given) > 1:
        message = "Give exactly one identifier for Paytronix: clear the others."
        raise InvalidResetInput({k: message for k in given})
    if isinstance(location, ClubReadyLocation) and raw.member_filter not in MEMBER_FILTERS:
        raise InvalidResetInput({"member_filter": "Choose a member filter from the list."})
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
    raise ValueError("empty identity")


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
        self.lease = timedelta(seconds=lease_seconds)

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

    def _transition(
        self,
        session: Session,
        request: ResetRequest,
        *,
        expected: Any,
        values: dict[str, Any],
        actor: str,
        action: str,
    ) -> bool:
        """Compare-and-set one request; audit the change only when this caller won it."""
        won = session.execute(
            update(ResetRequest)
            .where(ResetRequest.id == request.id, expected)
            .values(updated_at=self.clock.now(), **values)
        ).rowcount  # type: ignore[attr-defined]
        if won:
            self._audit(session, actor, action, request.id, request.location_id)
        return bool(won)

    # -- before sending ---------------------------------------------------------------
    def locations_for(self, actor: Actor) -> list[Location]:
        with self.db.session() as session:
            allowed = self.roles.allowed_locations(session, actor, Permission.RESET, self.locations)
        return [self.locations[i] for i in allowed]

    def last_location(self, actor: Actor) -> str | None:
        with self.db.session() as session:
            pref = session.get(UserPreference, (actor.team_id, actor.user_id))
            return pref.last_location_id if pref else None

    def require(self, actor: Actor, permission: Permission, location_id: str | None) -> None:
        with self.db.session() as session:
            self.roles.require(session, actor, permission, location_id)

    def prepare(self, actor: Actor, location_id: str, raw: ResetInput) -> ResetRequest:
        """Authorize, validate and record a draft; raises NotAuthorized or InvalidResetInput."""
        location = self.locations.get(location_id)
        if location is None:
            raise InvalidResetInput({"location": "Choose one of your locations."})
        identity = validate_input(location, raw)
        kind, value = _primary(identity)
        now = self.clock.now()
        with self.db.session() as session:
            self.roles.require(session, actor, Permission.RESET, location_id)
            request = ResetRequest(
                id=str(uuid.uuid4()),
                enterprise_id=actor.enterprise_id,
                team_id=actor.team_id,
                user_id=actor.user_id,
                location_id=location_id,
                vendor=location.vendor,
                identifier_kind=kind,
                identity=identity,
                identifier_masked=describe_identity(identity),
                identifier_hash=identifier_hash(kind, value),
                member_filter=raw.member_filter if isinstance(location, ClubReadyLocation) else 0,
                status=ResetStatus.DRAFT,
                created_at=now,
                updated_at=now,
            )
            session.add(request)
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
        with self.db.session() as session:
            return session.get(ResetRequest, request_id)

    def attach_message(self, request_id: str, channel_id: str, ts: str) -> None:
        self._set(request_id, channel_id=channel_id, message_ts=ts)

    def attach_triage(self, request_id: str, channel_id: str, ts: str) -> None:
        self._set(request_id, triage_channel_id=channel_id, triage_ts=ts)

    def _set(self, request_id: str, **values: Any) -> None:
        """Unconditional columns (Slack message references), not state transitions."""
        with self.db.session() as session:
            session.execute(
                update(ResetRequest).where(ResetRequest.id == request_id).values(**values)
            )

    def _load_for(self, session: Session, actor: Actor, request_id: str) -> ResetRequest:
        request = session.get(ResetRequest, request_id)
        if request is None:
            raise LookupError("That reset request no longer exists.")
        is_requester = (request.team_id, request.user_id) == (actor.team_id, actor.user_id)
        if not is_requester:
            self.roles.require(session, actor, Permission.TRIAGE, request.location_id)
        self.roles.require(session, actor, Permission.RESET, request.location_id)
        return request

    def recent_count(self, session: Session, request: ResetRequest) -> int:
        since = self.clock.now() - timedelta(hours=1)
        return (
            session.scalar(
                select(func.count())
                .select_from(ResetRequest)
                .where(
                    ResetRequest.location_id == request.location_id,
                    ResetRequest.identifier_hash == request.identifier_hash,
                    ResetRequest.confirmed_at >= since,
                    ResetRequest.status.in_([s.value for s in COUNTS_TOWARDS_LIMIT]),
                    ResetRequest.id != request.id,
                )
            )
            or 0
        )

    def confirm(self, actor: Actor, request_id: str, *, override: bool = False) -> ConfirmResult:
        """Send was clicked: queue the request exactly once."""
        now = self.clock.now()
        with self.db.session() as session:
            request = self._load_for(session, actor, request_id)
            if override:
                self.roles.require(
                    session, actor, Permission.RESET_OVERRIDE_LIMIT, request.location_id
                )
            if request.status != ResetStatus.DRAFT:
                return ConfirmResult.ALREADY_HANDLED
            if not override and self.recent_count(session, request) >= self.limit_per_hour:
                return ConfirmResult.RATE_LIMITED
            won = self._transition(
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
            return self._transition(
                session,
                request,
                expected=ResetRequest.status == ResetStatus.DRAFT,
                values={"status": ResetStatus.CANCELLED, "finished_at": now},
                actor=actor.key,
                action="reset.cancel",
            )

    # -- the worker's side ------------------------------------------------------------
    def claim_next(self, worker_id: str, limit: int = 1) -> list[str]:
        """Atomically take up to ``limit`` queued requests for this worker."""
        now = self.clock.now()
        with self.db.session() as session:
            return queue.claim_due(
                session,
                ResetRequest,
                ready=ResetStatus.QUEUED,
                claimed=ResetStatus.SENDING,
                worker_id=worker_id,
                now=now,
                lease_until=now + self.lease,
                limit=limit,
            )

    def execute(self, request_id: str, worker_id: str) -> ResetRequest | None:
        """Call the vendor for a request this worker claimed; record and return the result."""
        request = self.get(request_id)
        if request is None or request.status != ResetStatus.SENDING:
            return None
        if request.worker_id != worker_id:
            return None
        outcome = self._call_vendor(request)
        return self._finish(request, outcome, worker_id)

    def _call_vendor(self, request: ResetRequest) -> Outcome:
        location = self.locations.get(request.location_id)
        identity = dict(request.identity or {})
        try:
            if location is None:
                raise LookupError(f"location {request.location_id} is no longer configured")
            client = self.clients.for_location(request.location_id)
            if isinstance(location, ClubReadyLocation):
                return client.reset_password(
                    build(
                        PasswordReset,
                        StoreId=location.store_id,
                        ChainId=location.chain_id,
                        Email=identity.get("email"),
                        Username=identity.get("username"),
                        Filter=request.member_filter,
                    )
                )
            if isinstance(location, RegistrarLocation):
                return client.reset_customer_password(
                    build(
                        ResetCustomerPassword,
                        Email=identity.get("email"),
                        CustomerBrandName=location.customer_brand_name,
                    )
                )
            fields: dict[str, Any] = {
                "merchantId": location.merchant_id,
                "email": identity.get("email"),
                "username": identity.get("username"),
                "accountId": int(identity["account_id"]) if "account_id" in identity else None,
                "printedCardNumber": identity.get("card"),
            }
            if location.account_of_record == "third_party":
                if self.guest_codes is None:
                    raise VendorConfigurationError("no store for guest reset codes")
                code = self.guest_codes.issue(request.location_id, request.id)
                return client.send_reset_code(build(SendResetCode, **fields, resetCode=code))
            return client.generate_and_send_reset_code(build(GuestIdentity, **fields))
        except (InvalidVendorRequest, VendorError, LookupError, ValueError) as exc:
            # Nothing was sent: the request could not even be formed.
            return Outcome(
                kind=OutcomeKind.REFUSED,
                vendor=request.vendor,
                operation="password_reset",
                message=f"not sent: {exc}",
                code="not_sent",
            )

    def _finish(self, request: ResetRequest, outcome: Outcome, worker_id: str) -> ResetRequest:
        now = self.clock.now()
        status = _STATUS_FOR[outcome.kind]
        sent_to = outcome.data.get("email") if outcome.succeeded else None
        if outcome.succeeded and not sent_to and request.identity:
            sent_to = request.identity.get("email")
        with self.db.session() as session:
            session.add(
                VendorAttempt(
                    request_id=request.id,
                    vendor=outcome.vendor,
                    operation=outcome.operation,
                    outcome_kind=outcome.kind.value,
                    code=outcome.code,
                    message=outcome.message,
                    exchanges=outcome.to_record(),
                    latency_ms=outcome.elapsed_ms,
                    created_at=now,
                )
            )
            session.execute(
                update(ResetRequest)
                .where(
                    ResetRequest.id == request.id,
                    ResetRequest.status == ResetStatus.SENDING,
                    ResetRequest.worker_id == worker_id,
                )
                .values(
                    status=status,
                    outcome_kind=outcome.kind.value,
                    outcome_message=outcome.message,
                    sent_to_masked=mask_email(str(sent_to)) if sent_to else None,
                    finished_at=now,
                    updated_at=now,
                    lease_until=None,
                )
            )
            self._audit(
                session,
                "frontdesk",
                f"reset.{status.value}",
                request.id,
                request.location_id,
                {"vendor": outcome.vendor, "code": outcome.code},
            )
            return session.get(ResetRequest, request.id)  # type: ignore[return-value]

    def recover_abandoned(self) -> list[ResetRequest]:
        """Requests left ``sending`` by a dead process: unknown (never resent), for triage."""
        now = self.clock.now()
        recovered: list[ResetRequest] = []
        with self.db.session() as session:
            stale = session.scalars(
                select(ResetRequest).where(
                    ResetRequest.status == ResetStatus.SENDING, ResetRequest.lease_until < now
                )
            ).all()
            for request in stale:
                won = self._transition(
                    session,
                    request,
                    expected=(ResetRequest.status == ResetStatus.SENDING)
                    & (ResetRequest.lease_until < now),
                    values={
                        "status": ResetStatus.UNKNOWN,
                        "outcome_kind": OutcomeKind.UNKNOWN.value,
                        "outcome_message": (
                            "frontdesk stopped while calling the vendor: "
                            "the reset may or may not have been sent"
                        ),
                        "finished_at": now,
                    },
                    actor="frontdesk",
                    action="reset.abandoned",
                )
                if won:
                    session.flush()
                    session.refresh(request)
                    recovered.append(request)
        return recovered

    # -- triage -----------------------------------------------------------------------
    def claim(self, actor: Actor, request_id: str) -> tuple[bool, str | None]:
        """One claimant at a time: (won, who holds it)."""
        with self.db.session() as session:
            request = session.get(ResetRequest, request_id)
            if request is None:
                raise LookupError("That reset request no longer exists.")
            self.roles.require(session, actor, Permission.TRIAGE, request.location_id)
            if self._transition(
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

    def retry(self, actor: Actor, request_id: str) -> ResetRequest:
        """Support retries a failed reset: a new, queued request linked to the first."""
        now = self.clock.now()
        with self.db.session() as session:
            original = session.get(ResetRequest, request_id)
            if original is None:
                raise LookupError("That reset request no longer exists.")
            self.roles.require(session, actor, Permission.TRIAGE, original.location_id)
            if original.status not in NEEDS_TRIAGE:
                raise InvalidResetInput({"status": f"A {original.status} reset cannot be retried."})
            if original.identity is None:
                raise InvalidResetInput({"status": "This reset's member data has been purged."})
            retry = ResetRequest(
                id=str(uuid.uuid4()),
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
                channel_id=original.channel_id,
                created_at=now,
                confirmed_at=now,
                available_at=now,
                updated_at=now,
            )
            session.add(retry)
            self._audit(
                session,
                actor.key,
                "reset.retry",
                retry.id,
                original.location_id,
                {"retry_of": original.id},
            )
            # The retry carries the failure on: the original leaves the open list.
            session.execute(
                update(ResetRequest)
                .where(ResetRequest.id == original.id, ResetRequest.resolved_at.is_(None))
                .values(
                    resolved_by=actor.user_id,
                    resolved_at=now,
                    resolution_note=f"retried as {retry.id}",
                    updated_at=now,
                )
            )
        return retry
