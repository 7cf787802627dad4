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
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import ColumnElement, distinct, func, or_, select, update
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.config import Location
from bot.vendor_clients import VendorClients
from bot.workflows import audit, preferences
from bot.workflows.errors import Conflict, InvalidInput, NotFound
from bot.workflows.guest_codes import GuestCodes
from bot.workflows.lifecycle import ClaimResult, Lifecycle, NotSent, Settled, Spec
from bot.workflows.masking import identifier_hash, mask_email, mask_identifier, mask_member_in
from bot.workflows.outbox import PERSON_WAITING, Audience, NoticeKind, Outbox
from bot.workflows.people import named
from bot.workflows.ratelimit import hold
from bot.workflows.roles import Actor, Grant, Permission, Roles, allows
from bot.workflows.signals import Signals, Topic
from storage.db import Database
from storage.models import AuditEvent, ResetIdentifier, ResetRequest, UserPreference
from vendors import InvalidVendorRequest, MemberIdentity, Outcome, OutcomeKind


class ResetStatus(StrEnum):
    DRAFT = "draft"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    REFUSED = "refused"
    # The vendor refused because it knows no such member: the requester's to fix (a
    # typo), not a failure for support.
    NOT_FOUND = "not_found"
    # The vendor was unavailable: nothing suggests it was sent (not reached, 429, or a
    # gateway's 5xx, which a gateway may give after the vendor acted: rarely, sent).
    FAILED = "failed"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"


FINISHED = frozenset(
    {
        ResetStatus.SENT,
        ResetStatus.REFUSED,
        ResetStatus.NOT_FOUND,
        ResetStatus.FAILED,
        ResetStatus.UNKNOWN,
    }
)
NEEDS_TRIAGE = frozenset({ResetStatus.REFUSED, ResetStatus.FAILED, ResetStatus.UNKNOWN})
#: Outcomes after which a private screen has nothing more to show.
SCREEN_FINAL = (ResetStatus.SENT, ResetStatus.NOT_FOUND, ResetStatus.CANCELLED)


#: This many resets in a row at one location, within the hour, all "no such member":
#: support is told (the location's configuration may be wrong).
NOT_FOUND_STREAK = 5


def sent_late(request: ResetRequest) -> bool:
    """The vendor said, after frontdesk had given up waiting, that it sent the reset."""
    return request.late_outcome_kind == OutcomeKind.SUCCEEDED.value


def may_retry(request: ResetRequest) -> bool:
    """Whether Retry still applies (what posts and Homes offer): an open failure the
    vendor has not said, late, that it sent; a retry would email the member again.
    :func:`retryable` is the same rule as the database checks it."""
    return (
        ResetStatus(request.status) in NEEDS_TRIAGE
        and request.resolved_at is None
        and request.retried_at is None
        and not sent_late(request)
    )


def open_failure() -> ColumnElement[bool]:
    """A failure support still has to act on: failed or uncertain, neither resolved nor
    retried (a retry resolves it). Claim's compare-and-set condition."""
    return ResetRequest.status.in_([s.value for s in NEEDS_TRIAGE]) & ResetRequest.resolved_at.is_(
        None
    )


def retryable() -> ColumnElement[bool]:
    """:func:`may_retry` as Retry's compare-and-set condition."""
    return (
        open_failure()
        & ResetRequest.retried_at.is_(None)
        & or_(
            ResetRequest.late_outcome_kind.is_(None),
            ResetRequest.late_outcome_kind != OutcomeKind.SUCCEEDED.value,
        )
    )


SENT_LATE_WORDS = (
    "The vendor said, after frontdesk had given up waiting, that it did send this reset: "
    "nothing was sent again. Check with the member, then resolve it."
)


def closed_words(request: ResetRequest) -> str:
    """Why a reset is not an open failure (any more), naming who closed it."""
    if request.retried_at is not None:
        return f"{named(request.retried_by)} already retried this one (ref `{request.retry_id}`)"
    if request.resolved_at is not None:
        return f"{named(request.resolved_by)} already resolved this one"
    return "This reset did not fail, so support has nothing to do on it"


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
class Screen:
    """Where the person who clicked is looking at their reset, privately: the modal
    (``view_id``: updated with views.update) or the message in the conversation where
    they typed ``/reset …`` (``response_url``: replaced through it while Slack takes it,
    30 minutes). Either is short-lived: the DM keeps the record."""

    view_id: str | None = None
    response_url: str | None = None


#: How long Slack takes a response_url (30 minutes), less a margin.
SCREEN_URL_LIFETIME = timedelta(minutes=29)


@dataclass(frozen=True)
class RetryResult:
    """What a Retry click did: ``created`` only for the first one of a failure."""

    created: bool
    retry_id: str | None
    by: str | None
    at: datetime | None

    def as_notice(self) -> dict[str, Any]:
        return {
            "what": "retry",
            "created": self.created,
            "retry_id": self.retry_id,
            "by": self.by,
            "at": self.at.isoformat() if self.at else None,
        }

    @classmethod
    def from_notice(cls, data: dict[str, Any]) -> RetryResult:
        at = data.get("at")
        return cls(
            bool(data.get("created")),
            data.get("retry_id"),
            data.get("by"),
            datetime.fromisoformat(at) if at else None,
        )


class ResetNotices:
    """What people are told as a reset goes (recorded in the changing transaction)."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def confirmation(
        self, session: Session, request: ResetRequest, payload: dict[str, Any] | None = None
    ) -> None:
        self.outbox.slot(
            session,
            NoticeKind.RESET_CONFIRMATION,
            subject_type="reset",
            subject_id=request.id,
            location_id=request.location_id,
            payload=payload,
        )

    def screen(
        self, session: Session, request: ResetRequest, payload: dict[str, Any] | None = None
    ) -> None:
        """Bring the requester's private screen (modal or message) in step, if it has one."""
        if not (request.screen_view_id or request.screen_url):
            return
        self.outbox.slot(
            session,
            NoticeKind.RESET_SCREEN,
            subject_type="reset",
            subject_id=request.id,
            location_id=request.location_id,
            payload=payload,
            priority=PERSON_WAITING,
        )

    def triage(self, session: Session, request: ResetRequest) -> None:
        self.outbox.slot(
            session,
            NoticeKind.RESET_TRIAGE,
            subject_type="reset",
            subject_id=request.id,
            location_id=request.location_id,
        )

    # bot.workflows.lifecycle.Notices
    def changed(self, session: Session, request: ResetRequest, status: str) -> None:
        self.outbox.homes_changed(
            session,
            Audience(
                location_id=request.location_id,
                org_id=request.org_id,
                user_id=request.user_id,
                support=ResetStatus(status) in FINISHED,
            ),
        )

    def finished(self, session: Session, request: ResetRequest) -> None:
        if request.retry_of:
            # The failure's post leads with how its retry went.
            self.outbox.slot(
                session,
                NoticeKind.RESET_TRIAGE,
                subject_type="reset",
                subject_id=request.retry_of,
                location_id=request.location_id,
            )
            # A retry has no confirmation: its outcome goes in the first one's thread.
            self.outbox.post(
                session,
                NoticeKind.RESET_RETRY_NOTE,
                after=(NoticeKind.RESET_TRIAGE, request.retry_of),
                subject_type="reset",
                subject_id=request.id,
                location_id=request.location_id,
                payload={"retry_of": request.retry_of},
            )
            # The requester's record of the failure (and their screen) learns how it went.
            original = session.get(ResetRequest, request.retry_of)
            if original is not None:
                self.confirmation(session, original)
                self.screen(session, original)
            return
        self.confirmation(session, request)
        self.screen(session, request)
        if ResetStatus(request.status) in NEEDS_TRIAGE:
            self.triage(session, request)
        elif ResetStatus(request.status) is ResetStatus.NOT_FOUND:
            self.not_found_streak(session, request.location_id)

    def not_found_streak(self, session: Session, location_id: str) -> None:
        """A vendor's "no such member" is the front desk's, one reset at a time; but every
        reset at a location coming back so (:data:`NOT_FOUND_STREAK` in a row within the
        hour) is more likely the location's configuration (a wrong Registrar brand name
        answers CustomerNotFound): support is told once, in the location's triage channel."""
        clock = self.outbox.clock
        since = clock.now() - timedelta(hours=1)
        hold(session, clock, [f"not-found-streak:{location_id}"])  # one teller at a time
        latest = session.scalars(
            select(ResetRequest.status)
            .where(
                ResetRequest.location_id == location_id,
                ResetRequest.finished_at >= since,
                ResetRequest.status.in_([s.value for s in FINISHED]),
            )
            .order_by(ResetRequest.finished_at.desc())
            .limit(NOT_FOUND_STREAK)
        ).all()
        if len(latest) < NOT_FOUND_STREAK or set(latest) != {ResetStatus.NOT_FOUND.value}:
            return
        told = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.action == "reset.not_found_streak",
                AuditEvent.location_id == location_id,
                AuditEvent.at >= since,
            )
        )
        if told:
            return
        audit.record(
            session,
            clock,
            actor="frontdesk",
            action="reset.not_found_streak",
            subject_type="location",
            subject_id=location_id,
            location_id=location_id,
            details={"in_a_row": NOT_FOUND_STREAK},
        )
        self.outbox.post(
            session,
            NoticeKind.RESET_NOT_FOUND_STREAK,
            after=None,
            subject_type="location",
            subject_id=location_id,
            location_id=location_id,
            payload={"in_a_row": NOT_FOUND_STREAK},
        )

    def late(self, session: Session, request: ResetRequest) -> None:
        """The answer that came after the row was settled: on the triage post and on the
        requester's confirmation."""
        self.triage(session, request)
        self.confirmation(session, request)
        self.screen(session, request)


def identifier_fields(location: Location) -> tuple[str, ...]:
    """The identifier fields a location's vendor takes, in form order."""
    return location.identifier_fields


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


#: The fewest digits of a printed card number (fewer are an account id).
CARD_DIGITS = 12


def _invisible(value: str) -> str | None:
    """The first character in ``value`` a person cannot see (a control or format
    character, like a zero-width space from a paste), as ``U+200B``."""
    for i, ch in enumerate(value):
        if ch == "\u200d" and i and unicodedata.category(value[i - 1]) in ("So", "Sk", "Mn"):
            continue  # the joiner inside an emoji (a username may hold one)
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            return f"U+{ord(ch):04X}"
    return None


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
        if hidden := _invisible(value):
            errors[key] = (
                f"Remove the invisible or control characters ({hidden}) from this field: "
                "type it again rather than paste it."
            )
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
    if digits.isdigit() and len(digits) >= CARD_DIGITS:
        return ResetInput(card=digits)
    if digits.isdigit():
        # As typed: "555-123-4567" is pointed out (an account id is digits only).
        return ResetInput(account_id=text)
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
    status_of=lambda outcome: ResetStatus.NOT_FOUND if outcome.no_such_member else None,
    masker=lambda request: lambda text: mask_member_in(text, request.identity or {}),
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
        outbox: Outbox | None = None,
        signals: Signals | None = None,
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
        self.signals = signals or (outbox.signals if outbox else Signals())
        self.outbox = outbox or Outbox(db=db, clock=clock, signals=self.signals)
        self.notices = ResetNotices(self.outbox)
        self.lifecycle: Lifecycle[ResetRequest] = Lifecycle(
            db=db,
            clock=clock,
            spec=SPEC,
            lease_seconds=lease_seconds,
            signals=self.signals,
            notices=self.notices,
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

    def where_to_reset(self, actor: Actor) -> tuple[list[Location], str | None]:
        """The locations this person may reset at, and the one they used last (one
        session: what ``/reset`` needs before anything is recorded)."""
        with self.db.session() as session:
            allowed = self.roles.allowed_locations(session, actor, Permission.RESET, self.locations)
            pref = session.get(UserPreference, (actor.org_id, actor.user_id))
        return [self.locations[i] for i in allowed], (pref.last_location_id if pref else None)

    def grants_of(self, actor: Actor) -> list[Grant]:
        """This person's grants, as the database has them now (for ``help``)."""
        with self.db.session() as session:
            return self.roles.grants(session, actor)

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
            self.notices.confirmation(session, request)
        return request

    def get(self, request_id: str) -> ResetRequest | None:
        return self.lifecycle.get(request_id)

    def try_again(self, actor: Actor, request_id: str) -> tuple[str, dict[str, str], str]:
        """Where and whom a finished reset was for, and how it ended, to start a new one
        from (Try again after "no such member" or a refusal): the member as typed, for
        the person who typed it only. The old request's screen is left to the new form."""
        with self.db.session() as session:
            request, _ = self._load_for(session, actor, request_id)
            typed = actor.is_person(request.org_id, request.user_id)
            identity = dict(request.identity or {}) if typed else {}
            if typed:
                self._forget_screen(request)
        fields = ("email", "username", "account_id", "card")
        prefill = {k: str(v) for k, v in identity.items() if k in fields and v}
        return request.location_id, prefill, request.status

    def _load_for(
        self, session: Session, actor: Actor, request_id: str
    ) -> tuple[ResetRequest, list[Grant]]:
        """The request, for its requester or support; and the actor's grants (one query)."""
        request = session.get(ResetRequest, request_id)
        if request is None:
            raise NotFound("That reset request no longer exists.")
        grants = self.roles.grants(session, actor)
        needed: list[tuple[Permission, str | None]] = [(Permission.RESET, None)]
        if not actor.is_person(request.org_id, request.user_id):
            needed.insert(0, (Permission.TRIAGE, "act on a reset someone else asked for"))
        for permission, doing in needed:
            if not allows(grants, permission, request.location_id):
                raise self.roles.refusal(
                    session, actor, permission, request.location_id, doing=doing
                )
        return request, grants

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

    def _member_count(self, request: ResetRequest, hashes: list[str]) -> Any:
        """Resets that may have emailed this member here in the last hour, counted by
        every identifier known for them (an email and a username count together)."""
        since = self.clock.now() - timedelta(hours=1)
        return (
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

    def recent_count(
        self, session: Session, request: ResetRequest, hashes: list[str] | None = None
    ) -> int:
        hashes = hashes if hashes is not None else self.member_hashes(session, request)
        return session.scalar(self._member_count(request, hashes)) or 0

    def _watch(self, request: ResetRequest, screen: Screen | None) -> bool:
        """The click's screen becomes the one kept in step with the request; whether it
        is another one than before (a click elsewhere, the DM, changes nothing)."""
        if screen is None or not (screen.view_id or screen.response_url):
            return False
        if (screen.view_id, screen.response_url) == (request.screen_view_id, request.screen_url):
            return False
        request.screen_view_id = screen.view_id
        request.screen_url = screen.response_url
        request.screen_until = (
            self.clock.now() + SCREEN_URL_LIFETIME if screen.response_url else None
        )
        return True

    def screen_done(self, request_id: str, *, shown: str | None = None, gone: bool = False) -> None:
        """Wipe a private message's response_url once it has nothing more to carry:
        ``shown`` through it, the outcome nothing follows (sent, no such member,
        cancelled: :data:`SCREEN_FINAL`); ``gone``: Slack no longer takes the screen; or
        past its lifetime. (A failure keeps it while it lives: support's retry or a late
        answer may follow.) Only the URL that was used: a newer screen stays."""
        now = self.clock.now()
        wipe = update(ResetRequest).where(ResetRequest.id == request_id)
        if gone:
            wipe = wipe.values(screen_url=None, screen_until=None, screen_view_id=None)
        else:
            done = (ResetRequest.screen_until <= now) | (ResetRequest.screen_url == shown)
            wipe = wipe.where(ResetRequest.screen_url.is_not(None), done).values(
                screen_url=None, screen_until=None
            )
        with self.db.session() as session:
            session.execute(wipe)

    @staticmethod
    def _forget_screen(request: ResetRequest) -> None:
        request.screen_view_id = None
        request.screen_url = None
        request.screen_until = None

    def confirm(
        self,
        actor: Actor,
        request_id: str,
        *,
        override: bool = False,
        screen: Screen | None = None,
    ) -> ConfirmResult:
        """Send was clicked: queue the request exactly once, within the member's limit.
        The confirmation (and the ``screen`` it was clicked on) shows "Sending…" (or the
        limit), then the worker's outcome. Another click changes nothing."""
        now = self.clock.now()
        with self.db.session() as session:
            request, grants = self._load_for(session, actor, request_id)
            moved = self._watch(request, screen)
            session.flush()
            can_override = allows(grants, Permission.RESET_OVERRIDE_LIMIT, request.location_id)
            if override and not can_override:
                raise self.roles.refusal(
                    session, actor, Permission.RESET_OVERRIDE_LIMIT, request.location_id
                )
            if request.status != ResetStatus.DRAFT:
                # A screen new to it shows where it is now; the one it has is in step
                # already (each re-post would spend a use of its response_url).
                if moved:
                    self.notices.screen(session, request)
                return ConfirmResult.ALREADY_HANDLED
            # Count and queue under the member's (and the person's) lock.
            hashes = self.member_hashes(session, request)
            member_keys = [f"member:{request.location_id}:{h}" for h in hashes]
            hold(session, self.clock, [*member_keys, f"person:{actor.key}"])
            # The member's resets and this person's sends in the last hour, in one read;
            # every send counts for the person (a refusal was a vendor call too).
            sends = (
                select(func.count())
                .select_from(ResetRequest)
                .where(
                    ResetRequest.org_id == actor.org_id,
                    ResetRequest.user_id == actor.user_id,
                    ResetRequest.confirmed_at >= now - timedelta(hours=1),
                )
                .scalar_subquery()
            )
            member, sent = session.execute(
                select(self._member_count(request, hashes).scalar_subquery(), sends)
            ).one()
            if not override and member >= self.limit_per_hour:
                limited = {"limited": self.limit_per_hour, "override": can_override}
                self.notices.confirmation(session, request, limited)
                self.notices.screen(session, request, limited)
                return ConfirmResult.RATE_LIMITED
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
                session.refresh(request)
                if moved:
                    self.notices.screen(session, request)
                return ConfirmResult.ALREADY_HANDLED
            self.notices.confirmation(session, request)
            self.notices.screen(session, request)
        return ConfirmResult.QUEUED

    def cancel(self, actor: Actor, request_id: str, *, screen: Screen | None = None) -> bool:
        now = self.clock.now()
        with self.db.session() as session:
            request, _ = self._load_for(session, actor, request_id)
            moved = self._watch(request, screen)
            session.flush()
            won = self.lifecycle.transition(
                session,
                request,
                expected=ResetRequest.status == ResetStatus.DRAFT,
                values={"status": ResetStatus.CANCELLED, "finished_at": now},
                actor=actor.key,
                action="reset.cancel",
            )
            if won:
                self.notices.confirmation(session, request)
            if won or moved:
                self.notices.screen(session, request)
            return won

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

    def tell_support(self, request: ResetRequest) -> None:
        """Bring a reset's triage post (and the Homes that list it) up to date: for rows
        made or resolved elsewhere (the guest page)."""
        with self.db.session() as session:
            self.notices.triage(session, request)
            self.notices.changed(session, request, request.status)

    def recover_abandoned(self) -> list[ResetRequest]:
        return self.lifecycle.recover()

    # -- triage -----------------------------------------------------------------------
    def claim(self, actor: Actor, request_id: str, *, reply_to: str | None = None) -> ClaimResult:
        """One claimant at a time. The triage post shows the winner; a loser clicking in
        a channel is told who has it through ``reply_to`` (the click's response_url)."""
        with self.db.session() as session:
            request = session.get(ResetRequest, request_id)
            if request is None:
                raise NotFound("That reset request no longer exists.")
            self.roles.require(session, actor, Permission.TRIAGE, request.location_id)
            if self.lifecycle.transition(
                session,
                request,
                expected=ResetRequest.claimed_by.is_(None) & open_failure(),
                values={"claimed_by": actor.user_id},
                actor=actor.key,
                action="reset.claim",
            ):
                self.notices.triage(session, request)
                return ClaimResult(True, actor.user_id)
            session.refresh(request)
            if request.resolved_at is not None or ResetStatus(request.status) not in NEEDS_TRIAGE:
                raise Conflict(f"{closed_words(request)}: nothing was claimed.")
            self.outbox.reply(
                session, reply_to, {"what": "claim_lost", "holder": request.claimed_by}
            )
            return ClaimResult(False, request.claimed_by)

    def retry(self, actor: Actor, request_id: str, *, reply_to: str | None = None) -> RetryResult:
        """Support retries a failed reset: the first Retry of a failure resolves it and
        queues one new request linked to it; any later one changes nothing and is told
        who retried it and when (through ``reply_to``, the click's response_url)."""
        now = self.clock.now()
        with self.db.session() as session:
            original = session.get(ResetRequest, request_id)
            if original is None:
                raise NotFound("That reset request no longer exists.")
            self.roles.require(session, actor, Permission.TRIAGE, original.location_id)
            if original.retried_at is not None:
                told = RetryResult(
                    False, original.retry_id, original.retried_by, original.retried_at
                )
                self.outbox.reply(session, reply_to, told.as_notice())
                return told
            if original.status not in NEEDS_TRIAGE:
                raise Conflict("Only a failed or uncertain reset can be retried.")
            if original.resolved_at is not None:
                raise Conflict(
                    f"{closed_words(original)}: nothing was sent. "
                    "If the member still needs a reset, start a new one."
                )
            if sent_late(original):
                raise Conflict(SENT_LATE_WORDS)
            if original.identity is None:
                raise Conflict("This reset's member data has been purged: start a new one.")
            retry_id = str(uuid.uuid4())
            won = self.lifecycle.transition(
                session,
                original,
                expected=retryable(),
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
                if original.retried_at is None and original.resolved_at is not None:
                    raise Conflict(f"{closed_words(original)}: nothing was sent.")
                if original.retried_at is None:  # the vendor's late answer came meanwhile
                    raise Conflict(SENT_LATE_WORDS)
                told = RetryResult(
                    False, original.retry_id, original.retried_by, original.retried_at
                )
                self.outbox.reply(session, reply_to, told.as_notice())
                return told
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
            result = RetryResult(True, retry_id, actor.user_id, now)
            self.notices.triage(session, original)
            self.notices.confirmation(session, original)  # "support is retrying it"
            self.notices.screen(session, original)
            self.outbox.reply(session, reply_to, result.as_notice())
            self.signals.queued(session, Topic.WORK)
        return result
