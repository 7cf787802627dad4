"""The contract sale, Slack-free: draft, approval, execution exactly once, reconciliation.

States::

    draft ──submit──▶ pending_approval ──approve(s)──▶ approved ──worker──▶ submitting
      │  └─sell now (manager, within limit)──────────────▲                     │
      │                   │ reject / expire / withdraw                          ▼
      └─withdraw/stale─▶ cancelled | rejected | expired        sold | refused | unknown
                                                                               │ reconcile
                                                                               ▼
                                                                        sold | not_sold

Every transition is a compare-and-set ``UPDATE … WHERE status = <expected>``: the
one that moves ``approved`` to ``submitting`` is the single gate before the
vendor, so clicks, approvers, processes and restarts cannot sell twice. A sale
left in ``submitting`` by a dead process becomes ``unknown``, never resent.

An approval is bound to the sale's fingerprint (a digest of everything sold,
tokens included): a sale that changes after review needs a new approval.
Payment tokens are sealed with :class:`TokenVault` and wiped the moment the
sale leaves draft, pending approval, approved or submitting.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.config import CatalogItem, ClubReadyLocation, Location
from bot.vendor_clients import VendorClients
from bot.workflows import audit
from bot.workflows.asks import AskReason, Target, escalated_to, version_started
from bot.workflows.errors import Conflict, InvalidInput, NotFound, SelfApproval
from bot.workflows.lifecycle import ClaimResult, Lifecycle, NotSent, Settled, Spec
from bot.workflows.masking import identifier_hash, mask_email
from bot.workflows.outbox import Audience, NoticeKind, Outbox
from bot.workflows.people import named
from bot.workflows.roles import Actor, Grant, Permission, Roles, allows
from bot.workflows.sale_fields import (
    GENDERS,
    PAYMENT_KINDS,
    Change,
    differences,
    member_fields,
    snapshot,
)
from bot.workflows.signals import Signals
from bot.workflows.vault import TokenVault, VaultError
from storage.db import Database, insert_once
from storage.models import Sale, SaleApproval, SaleAsk, SaleSeen
from vendors import InvalidVendorRequest, NewMemberSale, Outcome, OutcomeKind, PaymentInstruction


class SaleStatus(StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    SUBMITTING = "submitting"
    SOLD = "sold"
    REFUSED = "refused"
    UNKNOWN = "unknown"
    NOT_SOLD = "not_sold"  # an unknown outcome that support found was not sold
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


#: The only states in which the sealed payment tokens may exist.
HOLDS_TOKENS = frozenset(
    {SaleStatus.DRAFT, SaleStatus.PENDING_APPROVAL, SaleStatus.APPROVED, SaleStatus.SUBMITTING}
)
NEEDS_TRIAGE = frozenset({SaleStatus.REFUSED, SaleStatus.UNKNOWN})
_STATUS_FOR = {
    OutcomeKind.SUCCEEDED: SaleStatus.SOLD,
    OutcomeKind.REFUSED: SaleStatus.REFUSED,
    # For a sale "unavailable" means nothing was sent or the vendor refused it before
    # any processing (a connect error, the deadline before the first byte, a 429; a
    # gateway's 502/503/504 is unknown for a sale): nothing was charged.
    OutcomeKind.UNAVAILABLE: SaleStatus.REFUSED,
    OutcomeKind.UNKNOWN: SaleStatus.UNKNOWN,
}
MAX_PAYMENT_METHODS = 2
#: No membership costs this much: a larger amount is a typo.
MAX_AMOUNT = Decimal("100000")
MEMBER_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "cell_phone",
    "date_of_birth",
    "address",
    "city",
    "state",
    "zip",
    "gender",
    "username",
    "emergency_contact_name",
    "emergency_contact_phone",
)
REQUIRED_MEMBER_FIELDS = ("first_name", "last_name", "email")


class SubmitResult(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    QUEUED = "queued"  # approved: the worker sells it
    ALREADY_HANDLED = "already_handled"


#: Another sale to the same member in these states may sell the membership twice.
OPEN_ELSEWHERE = (
    SaleStatus.PENDING_APPROVAL,
    SaleStatus.APPROVED,
    SaleStatus.SUBMITTING,
    SaleStatus.UNKNOWN,
)

#: What people see of a sale once it has finished (support's counts, managers' lists).
FINISHED = frozenset({SaleStatus.SOLD, SaleStatus.REFUSED, SaleStatus.UNKNOWN, SaleStatus.NOT_SOLD})


def asks_approvers(sale: Sale) -> bool:
    """Whether the sale went to the approvers (so has an approval message): submitted
    for approval, or sold now above the location's limit; not a manager's sale within
    their limit, which they decided alone, nor a draft withdrawn before submitting."""
    if sale.submitted_at is None:
        return False
    if sale.status == SaleStatus.PENDING_APPROVAL:
        return True
    return not (sale.decided_by == sale.user_id and sale.required_approvals <= 1)


class SaleNotices:
    """What people are told as a sale goes (recorded in the changing transaction):
    the approval message, the requester's DM (kept up to date), a new DM that
    notifies at each outcome, notes in the approval thread, the triage post."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def _slot(self, session: Session, kind: NoticeKind, sale: Sale) -> None:
        self.outbox.slot(
            session, kind, subject_type="sale", subject_id=sale.id, location_id=sale.location_id
        )

    def status(self, session: Session, sale: Sale) -> None:
        """The approval message and the requester's DM show the sale as it is now."""
        self._slot(session, NoticeKind.SALE_APPROVAL, sale)
        self._slot(session, NoticeKind.SALE_DM, sale)

    def triage(self, session: Session, sale: Sale) -> None:
        self._slot(session, NoticeKind.SALE_TRIAGE, sale)

    def invite(self, session: Session, sale: Sale) -> None:
        """A draft started for someone (a Workflow Builder step): their DM asks them to
        continue it privately; later states update that same message."""
        self.outbox.slot(
            session,
            NoticeKind.SALE_DM,
            subject_type="sale",
            subject_id=sale.id,
            location_id=sale.location_id,
            payload={"continue": True},
        )

    def note(self, session: Session, sale: Sale, note: str, by: str) -> None:
        """A note in the approval message's thread (after the message itself)."""
        self.outbox.post(
            session,
            NoticeKind.SALE_NOTE,
            after=(NoticeKind.SALE_APPROVAL, sale.id),
            subject_type="sale",
            subject_id=sale.id,
            location_id=sale.location_id,
            payload={"note": note, "by": by},
        )

    def tell(self, session: Session, sale: Sale) -> None:
        """A new DM to the requester with the sale's outcome (so that it notifies)."""
        self.outbox.post(
            session,
            NoticeKind.SALE_TELL,
            after=(NoticeKind.SALE_DM, sale.id),
            subject_type="sale",
            subject_id=sale.id,
            location_id=sale.location_id,
            payload={"status": sale.status},
        )

    # bot.workflows.lifecycle.Notices
    def changed(self, session: Session, sale: Sale, status: str) -> None:
        self.outbox.homes_changed(
            session,
            Audience(
                location_id=sale.location_id,
                org_id=sale.org_id,
                user_id=sale.user_id,
                managers=status != SaleStatus.DRAFT,
                support=SaleStatus(status) in FINISHED,
            ),
        )

    def finished(self, session: Session, sale: Sale) -> None:
        self.status(session, sale)
        self.tell(session, sale)
        if SaleStatus(sale.status) in NEEDS_TRIAGE:
            self.triage(session, sale)

    def late(self, session: Session, sale: Sale) -> None:
        self.triage(session, sale)


class ApproveResult(StrEnum):
    APPROVED = "approved"  # enough approvals: queued for the vendor
    RECORDED = "recorded"  # counted; another manager must approve too
    ALREADY_APPROVED_BY_YOU = "already_approved_by_you"
    CHANGED = "changed"  # the sale changed after this review
    EXPIRED = "expired"
    CLOSED = "closed"  # decided already (approved, rejected, sold, …)


class ReconcileFinding(StrEnum):
    SOLD = "sold"
    NOT_SOLD = "not_sold"


@dataclass(frozen=True)
class ReviewSheet:
    """What an approver's Review shows: the sale, its approvals so far, and first what
    changed since this approver last saw it (nothing the first time, or if nothing did)."""

    sale: Sale
    approvals: list[SaleApproval]
    changes: list[Change]
    last_seen_at: datetime | None
    #: Other open sales to the same member at the same location (same email).
    others: list[Sale] = field(default_factory=list)


@dataclass(frozen=True)
class SaleStart:
    """The first view: where, what, from when."""

    location_id: str
    package: str | None  # "<package_id>:<installment_plan_id>"
    start_date: date | None = None
    promo_code: str | None = None


@dataclass(frozen=True)
class PaymentInput:
    """One payment method as typed: an amount, the kind of token and the token."""

    amount: str | None = None
    token: str | None = None
    kind: str | None = "profile"

    @property
    def empty(self) -> bool:
        return not (_clean(self.amount) or _clean(self.token))


@dataclass(frozen=True)
class SaleDetails:
    """The second view: the new member and how they pay."""

    member: dict[str, Any]
    payments: tuple[PaymentInput, ...] = field(default_factory=tuple)


def package_key(item: CatalogItem) -> str:
    return f"{item.package_id}:{item.installment_plan_id}"


def money(value: Decimal | str) -> str:
    return f"{Decimal(value):.2f}"


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _has_control(value: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in value)


def _today_at(location: Location, now: datetime) -> date:
    return now.astimezone(ZoneInfo(location.timezone)).date()


def _uuid(value: str | None) -> str | None:
    try:
        return str(uuid.UUID(value)) if value else None
    except ValueError:
        return None


def last4(token: str) -> str:
    return token[-4:] if len(token) >= 8 else "…"


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def validate_start(location: ClubReadyLocation, raw: SaleStart, now: datetime) -> CatalogItem:
    errors: dict[str, str] = {}
    item = None
    if raw.package:
        try:
            package_id, plan_id = (int(part) for part in raw.package.split(":"))
            item = location.package(package_id, plan_id)
        except ValueError:
            item = None
    if item is None:
        errors["package"] = "Choose a package from this location's catalog."
    today = _today_at(location, now)
    if raw.start_date is None:
        errors["start_date"] = "Choose the day the membership starts."
    elif raw.start_date < today:
        errors["start_date"] = (
            f"The start date cannot be in the past: at {location.name} it is "
            f"{today:%A, %B} {today.day}."
        )
    promo = _clean(raw.promo_code)
    if promo and (len(promo) > 100 or _has_control(promo)):
        errors["promo_code"] = "A promo code is up to 100 characters, with no control characters."
    if errors:
        raise InvalidInput(errors)
    assert item is not None
    return item


_AMOUNT = re.compile(r"^\$?\s*(\d{1,3}(?:,\d{3})+|\d+)(\.\d{1,2})?$")
_DECIMAL_COMMA = re.compile(r"^\$?\s*\d+,\d{1,2}$")


def _parse_amount(text: str | None) -> Decimal | None:
    """A positive amount with at most two decimals ("49", "49.00", "$1,049.50"). A comma
    is only ever a thousands separator in groups of three: "49,00" is refused, never
    read as 4900."""
    cleaned = _clean(text) or ""
    match = _AMOUNT.match(cleaned)
    if match is None:
        return None
    try:
        amount = Decimal(match.group(1).replace(",", "") + (match.group(2) or ""))
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount <= 0 or amount > MAX_AMOUNT:
        return None
    return amount


def _amount_error(text: str | None) -> str:
    if _DECIMAL_COMMA.match(_clean(text) or ""):
        return "Use a dot for the cents, like 49.00 (a comma only separates thousands)."
    return "An amount like 49.00 (more than zero, two decimals)."


_PHONE = re.compile(r"^\+?[0-9 ().-]{7,25}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-.:+/=]{4,500}$")


def validate_details(
    location: ClubReadyLocation, price: Decimal, raw: SaleDetails, now: datetime
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """(member fields, payment methods with their tokens) or InvalidInput."""
    errors: dict[str, str] = {}
    member: dict[str, Any] = {}
    for name in MEMBER_FIELDS:
        value = raw.member.get(name)
        if isinstance(value, date):
            member[name] = value
            continue
        text = _clean(value)
        if text is None:
            if name in REQUIRED_MEMBER_FIELDS:
                errors[name] = "Required."
            continue
        if _has_control(text):
            errors[name] = "Remove the control characters from this field."
        elif len(text) > 255 and name != "username":
            errors[name] = "At most 255 characters."
        member[name] = text
    if "email" in member and "email" not in errors:
        try:
            member["email"] = validate_email(member["email"], check_deliverability=False).normalized
        except EmailNotValidError:
            errors["email"] = "This is not a valid email address (like jane@example.com)."
    if (
        "username" in member
        and "username" not in errors
        and len(member["username"]) not in range(4, 256)
    ):
        errors["username"] = "A username is 4 to 255 characters long."
    for name in ("phone", "cell_phone", "emergency_contact_phone"):
        if name in member and name not in errors and not _PHONE.match(member[name]):
            errors[name] = "A phone number is digits, with an optional leading +."
    if "gender" in member and member["gender"] not in GENDERS:
        errors["gender"] = "Choose from the list."
    birth = member.get("date_of_birth")
    if birth is not None:
        if not isinstance(birth, date):
            errors["date_of_birth"] = "Choose a date."
        elif birth >= _today_at(location, now):
            errors["date_of_birth"] = "A date of birth is in the past."
        elif birth.year < 1900:
            errors["date_of_birth"] = "Check the year of birth."
    methods: list[dict[str, str]] = []
    total = Decimal(0)
    for index, payment in enumerate(raw.payments[:MAX_PAYMENT_METHODS], start=1):
        if payment.empty:
            continue
        prefix = f"payment{index}_"
        amount = _parse_amount(payment.amount)
        if amount is None:
            errors[prefix + "amount"] = _amount_error(payment.amount)
        elif price > 0 and amount > price:
            errors[prefix + "amount"] = (
                f"At most the package's price, {money(price)}: this is the most "
                "ClubReady will try to charge this method."
            )
        kind = _clean(payment.kind) or "profile"
        token = _clean(payment.token)
        if kind not in PAYMENT_KINDS:
            errors[prefix + "method"] = "Choose ProfileToken or AcctToken."
        elif token is None:
            errors[prefix + "token"] = (
                f"Paste the {PAYMENT_KINDS[kind]} from ClubReady's payment page."
            )
        elif not _TOKEN.match(token):
            errors[prefix + "token"] = (
                "That does not look like a token: paste it exactly as ClubReady shows it."
            )
        elif amount is not None and prefix + "amount" not in errors:
            total += amount
            methods.append({"kind": kind, "amount": money(amount), "token": token})
    if price > 0 and not errors:
        if not methods:
            errors["payment1_amount"] = (
                f"This package costs {money(price)}: add a payment method that covers it."
            )
        elif total != price:
            errors.update(coverage_errors(total, price, methods))
    if price == 0 and methods and not errors:
        errors["payment1_amount"] = "This package is free: leave the payment fields empty."
    if errors:
        raise InvalidInput(errors)
    return member, methods


def coverage_errors(
    total: Decimal, price: Decimal, methods: list[dict[str, str]]
) -> dict[str, str]:
    """The amounts must add up to exactly the price: less leaves the sale unpaid, more
    than the price is never charged (ClubReady charges the first methods their amounts
    and the last one what is left, nothing once the price is reached). The error sits
    on the amount to change, with the amount that makes the total right."""
    if total == price:
        return {}
    what = f"The payments add up to {money(total)} but the package costs {money(price)}"
    if len(methods) < 2:
        return {"payment1_amount": f"{what}: the amount is the price, {money(price)}."}
    others = total - Decimal(methods[0]["amount"])
    fix = price - others
    if fix > 0:
        return {"payment1_amount": f"{what}: make Payment 1 {money(fix)}, so they add up."}
    return {"payment2_amount": f"{what}: lower Payment 2 so they add up to the price."}


def new_member_sale(
    sale: Sale,
    methods: list[dict[str, str]],
    *,
    paid_in_full: bool,
    member: dict[str, Any] | None = None,
) -> NewMemberSale:
    """The vendor-neutral sale. With several payment methods the last carries no
    amount: it takes the remainder (after a gift card approves only part, say)."""
    stored = dict(member if member is not None else sale.member or {})
    birth = stored.get("date_of_birth")
    if isinstance(birth, str):
        stored["date_of_birth"] = date.fromisoformat(birth)
    payments = tuple(
        PaymentInstruction(
            kind="profile" if m["kind"] == "profile" else "acct",
            token=m["token"],
            amount=None if len(methods) > 1 and i == len(methods) - 1 else Decimal(m["amount"]),
        )
        for i, m in enumerate(methods)
    )
    return NewMemberSale(
        correlation_id=sale.id,
        package_id=sale.package_id,
        installment_plan_id=sale.installment_plan_id,
        amount=Decimal(sale.amount),
        paid_in_full=paid_in_full,
        member=stored,
        payments=payments,
        start_date=sale.start_date,
        promo_code=sale.promo_code,
    )


def _form_errors(exc: InvalidVendorRequest) -> dict[str, str]:
    """A sale endpoint's check errors on this form's fields (the adapter names them:
    ``payment1_token``, ``start_date``, …); an error without a field goes first."""
    errors: dict[str, str] = {}
    for error in exc.field_errors:
        errors.setdefault(error.field or "first_name", error.message)
    return errors


def content_of(sale: Sale) -> dict[str, Any]:
    """What is being sold, as an approval sees it (tokens aside)."""
    return {
        "location_id": sale.location_id,
        "package_id": sale.package_id,
        "installment_plan_id": sale.installment_plan_id,
        "amount": sale.amount,
        "start_date": sale.start_date,
        "promo_code": sale.promo_code,
        "member": sale.member,
    }


def fingerprint(content: dict[str, Any], methods: list[dict[str, str]]) -> str:
    """The digest an approval is bound to: everything sold, the tokens included
    (hashed), so that no part of a sale can change under an approval."""
    return _digest(
        {
            **content,
            "payments": [
                {**m, "token": hashlib.sha256(m["token"].encode()).hexdigest()} for m in methods
            ],
        }
    )


def masked_member(member: dict[str, Any]) -> str:
    """What a channel may see: first name, last initial, masked email."""
    last = str(member.get("last_name") or "")
    name = f"{member.get('first_name', '')} {last[:1]}." if last else str(member.get("first_name"))
    return f"{name} · {mask_email(str(member.get('email', '')))}"


def masked_member_lines(member: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Every member field masked, for views that show the whole sale."""
    if not member:
        return [("Member", "purged")]
    lines = [("Name", masked_member(member).split(" · ")[0])]
    lines += [
        (label, shown)
        for key, label, shown, _ in member_fields(member)
        if key not in ("first_name", "last_name")
    ]
    return lines


def _preview(sale: Sale, values: dict[str, Any]) -> Sale:
    """A detached copy of ``sale`` with ``values`` applied: what it would show."""
    columns = {c.key: getattr(sale, c.key) for c in Sale.__table__.columns}
    return Sale(**{**columns, **{k: v for k, v in values.items() if k in columns}})


def _member_values(
    member: dict[str, Any], methods: list[dict[str, str]], vault: TokenVault
) -> dict[str, Any]:
    """A sale's member and payment columns: the member, masked forms, the payments as
    shown (``…last4``) and the tokens sealed."""
    return {
        "member": member,
        "typed_member": None,
        "member_masked": masked_member(member),
        "member_email_hash": identifier_hash("email", member["email"]),
        "payments": [
            {"kind": m["kind"], "amount": m["amount"], "last4": last4(m["token"])} for m in methods
        ],
        "sealed_tokens": vault.seal(methods) if methods else None,
    }


def _wipe_tokens(status: str) -> dict[str, Any]:
    """Payment tokens exist only while a sale may still be sold; what was typed but
    never added, only while it is a draft."""
    wiped: dict[str, Any] = {} if SaleStatus(status) in HOLDS_TOKENS else {"sealed_tokens": None}
    if SaleStatus(status) is not SaleStatus.DRAFT:
        wiped["typed_member"] = None
    return wiped


def _vendor_user(sale: Sale, outcome: Outcome) -> dict[str, Any]:
    return {"vendor_user_id": outcome.vendor_user_id}


SPEC = Spec(
    model=Sale,
    subject="sale",
    operation="contract_sale",
    ready=SaleStatus.APPROVED,
    in_flight=SaleStatus.SUBMITTING,
    unknown=SaleStatus.UNKNOWN,
    status_for=_STATUS_FOR,
    abandoned_message=(
        "frontdesk stopped while sending the sale: it may or may not have been sold"
    ),
    vendor_of=lambda sale: "clubready",
    on_status=_wipe_tokens,
    secret_column="sealed_tokens",
    from_outcome=_vendor_user,
)


class SaleService:
    def __init__(
        self,
        *,
        db: Database,
        roles: Roles,
        clients: VendorClients,
        locations: dict[str, Location],
        clock: Clock,
        vault: TokenVault | None,
        approval_hours: float = 24.0,
        draft_minutes: float = 60.0,
        lease_seconds: float = 120.0,
        drafts_per_person_hour: int = 20,
        outbox: Outbox | None = None,
        signals: Signals | None = None,
    ) -> None:
        self.db = db
        self.roles = roles
        self.clients = clients
        self.locations = locations
        self.clock = clock
        self.vault = vault
        self.approval_window = timedelta(hours=approval_hours)
        self.draft_window = timedelta(minutes=draft_minutes)
        self.drafts_per_person_hour = drafts_per_person_hour
        self.signals = signals or (outbox.signals if outbox else Signals())
        self.outbox = outbox or Outbox(db=db, clock=clock, signals=self.signals)
        self.notices = SaleNotices(self.outbox)
        self.lifecycle: Lifecycle[Sale] = Lifecycle(
            db=db,
            clock=clock,
            spec=SPEC,
            lease_seconds=lease_seconds,
            signals=self.signals,
            notices=self.notices,
        )

    # -- helpers ----------------------------------------------------------------------
    def _location(self, location_id: str) -> ClubReadyLocation:
        location = self.locations.get(location_id)
        if not isinstance(location, ClubReadyLocation) or not location.catalog:
            raise InvalidInput({"location": "Choose one of your locations that sells."})
        return location

    def _vault(self) -> TokenVault:
        if self.vault is None:
            raise Conflict(
                "Sales are not set up here: an admin must set FRONTDESK_PAYMENT_TOKEN_KEYS."
            )
        return self.vault

    def _audit(
        self,
        session: Session,
        actor: str,
        action: str,
        sale: Sale,
        details: dict[str, Any] | None = None,
    ) -> None:
        audit.record(
            session,
            self.clock,
            actor=actor,
            action=action,
            subject_type="sale",
            subject_id=sale.id,
            location_id=sale.location_id,
            details=details,
        )

    def _transition(
        self,
        session: Session,
        sale: Sale,
        *,
        expected: ColumnElement[bool],
        values: dict[str, Any],
        actor: str,
        action: str,
        details: dict[str, Any] | None = None,
    ) -> bool:
        """Compare-and-set one sale with its audit event (the shared lifecycle's)."""
        return self.lifecycle.transition(
            session,
            sale,
            expected=expected,
            values=values,
            actor=actor,
            action=action,
            details=details,
        )

    def _load(self, session: Session, sale_id: str, *, lock: bool = False) -> Sale:
        query = select(Sale).where(Sale.id == sale_id)
        if lock:
            query = query.with_for_update()
        sale = session.scalars(query).one_or_none()
        if sale is None:
            raise NotFound("That sale no longer exists.")
        return sale

    def _require_requester(self, session: Session, actor: Actor, sale: Sale) -> None:
        if not actor.is_person(sale.org_id, sale.user_id):
            raise Conflict("Only the person who started this sale can change it.")
        self.roles.require(session, actor, Permission.REQUEST_SALE, sale.location_id)

    def _ask_approvals_channel(self, session: Session, sale: Sale) -> None:
        """Record that the location's approvals channel was asked about this round (the
        submission, or the change just made)."""
        location = self.locations.get(sale.location_id)
        channel = getattr(location, "approvals_channel", None)
        started = version_started(sale)
        if not channel or started is None:
            return
        try:
            # A savepoint: the edit that changed nothing is this round already (its
            # notices, recorded before, wait for the outermost commit: storage.db).
            with session.begin_nested():
                session.add(
                    SaleAsk(
                        sale_id=sale.id,
                        fingerprint=sale.fingerprint,
                        round_at=started,
                        reason=AskReason.REQUEST.value,
                        target_kind=Target.CHANNEL.value,
                        target_id=channel,
                        at=self.clock.now(),
                    )
                )
        except IntegrityError:
            pass  # asked in this very round already

    def asks(self, sale_id: str) -> list[SaleAsk]:
        """Who has been asked to decide this sale, how and when, oldest first."""
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(SaleAsk)
                    .where(SaleAsk.sale_id == sale_id)
                    .order_by(SaleAsk.at, SaleAsk.id)
                )
            )

    def required_approvals(self, location_id: str, amount: str) -> int:
        limit = self._location(location_id).manager_sale_limit
        return 2 if limit is not None and Decimal(amount) > limit else 1

    def same_member(self, sale: Sale) -> list[Sale]:
        """Other open sales (waiting, approved, being sold, or of unknown outcome) to the
        same member (same email) at the same location: pointed out to the requester and
        the approvers, so that nobody sells a membership twice."""
        with self.db.session() as session:
            return self._same_member(session, sale)

    def _same_member(self, session: Session, sale: Sale) -> list[Sale]:
        if not sale.member_email_hash:
            return []
        return list(
            session.scalars(
                select(Sale)
                .where(
                    Sale.location_id == sale.location_id,
                    Sale.member_email_hash == sale.member_email_hash,
                    Sale.id != sale.id,
                    Sale.status.in_(OPEN_ELSEWHERE),
                )
                .order_by(Sale.created_at)
                .limit(5)
            )
        )

    def get(self, sale_id: str) -> Sale | None:
        with self.db.session() as session:
            return session.get(Sale, sale_id)

    def approvals(self, sale: Sale) -> list[SaleApproval]:
        with self.db.session() as session:
            return self._approvals(session, sale)

    def _approvals(self, session: Session, sale: Sale) -> list[SaleApproval]:
        return list(
            session.scalars(
                select(SaleApproval)
                .where(
                    SaleApproval.sale_id == sale.id,
                    SaleApproval.fingerprint == sale.fingerprint,
                )
                .order_by(SaleApproval.at)
            )
        )

    # -- the requester ----------------------------------------------------------------
    def locations_for(self, actor: Actor) -> list[ClubReadyLocation]:
        with self.db.session() as session:
            allowed = self.roles.allowed_locations(
                session, actor, Permission.REQUEST_SALE, self.locations
            )
        result = []
        for location_id in allowed:
            location = self.locations[location_id]
            if isinstance(location, ClubReadyLocation) and location.catalog:
                result.append(location)
        return result

    def today_at(self, location: Location) -> date:
        return _today_at(location, self.clock.now())

    def new_draft_id(self) -> str:
        """The id a sale's first view carries, so that submitting that view again (after
        Back) changes the same draft instead of starting another."""
        return str(uuid.uuid4())

    def start(self, actor: Actor, raw: SaleStart, draft_id: str | None = None) -> Sale:
        """Authorize and record a draft from the first view. The same view submitted
        again (``draft_id``, after Back) changes that draft: its new start, without the
        member and payment, which the next view takes again (tokens are typed again:
        they are never shown back)."""
        location = self._location(raw.location_id)
        self._vault()
        now = self.clock.now()
        item = validate_start(location, raw, now)
        wanted = _uuid(draft_id)
        with self.db.session() as session:
            self.roles.require(session, actor, Permission.REQUEST_SALE, location.id)
            existing = session.get(Sale, wanted) if wanted else None
            if existing is not None:
                return self._restart(session, actor, existing, location, item, raw)
            drafts = (
                session.scalar(
                    select(func.count())
                    .select_from(Sale)
                    .where(
                        Sale.org_id == actor.org_id,
                        Sale.user_id == actor.user_id,
                        Sale.created_at >= now - timedelta(hours=1),
                    )
                )
                or 0
            )
            if drafts >= self.drafts_per_person_hour:
                raise Conflict(
                    f"You have started {drafts} sales in the last hour, the most frontdesk "
                    "takes from one person. Finish or withdraw some, or wait a little."
                )
            sale = Sale(
                id=wanted or self.new_draft_id(),
                org_id=actor.org_id,
                enterprise_id=actor.enterprise_id,
                team_id=actor.team_id,
                user_id=actor.user_id,
                location_id=location.id,
                package_id=item.package_id,
                installment_plan_id=item.installment_plan_id,
                package_name=item.name,
                amount=money(item.amount),
                start_date=raw.start_date,
                promo_code=_clean(raw.promo_code),
                payments=[],
                status=SaleStatus.DRAFT,
                created_at=now,
                updated_at=now,
            )
            sale.fingerprint = fingerprint(content_of(sale), [])
            try:
                with session.begin_nested():
                    session.add(sale)
                    session.flush()
            except IntegrityError:  # the same first view submitted twice at once
                session.expunge(sale)
                existing = self._load(session, sale.id)
                return self._restart(session, actor, existing, location, item, raw)
            self._audit(session, actor.key, "sale.draft", sale, {"package": item.name})
        return sale

    def _restart(
        self,
        session: Session,
        actor: Actor,
        sale: Sale,
        location: ClubReadyLocation,
        item: CatalogItem,
        raw: SaleStart,
    ) -> Sale:
        """The first view again (Back, then Next): the draft takes the new start and
        drops its member, payment and tokens, by compare-and-set on the draft."""
        if not actor.is_person(sale.org_id, sale.user_id):
            raise Conflict("Only the person who started this sale can change it.")
        values: dict[str, Any] = {
            "location_id": location.id,
            "package_id": item.package_id,
            "installment_plan_id": item.installment_plan_id,
            "package_name": item.name,
            "amount": money(item.amount),
            "start_date": raw.start_date,
            "promo_code": _clean(raw.promo_code),
            "member": None,
            "member_masked": "",
            "member_email_hash": None,
            "payments": [],
            "sealed_tokens": None,
        }
        values["fingerprint"] = fingerprint(content_of(_preview(sale, values)), [])
        if not self._transition(
            session,
            sale,
            expected=(Sale.status == SaleStatus.DRAFT) & (Sale.user_id == sale.user_id),
            values=values,
            actor=actor.key,
            action="sale.draft_restarted",
            details={"package": item.name},
        ):
            raise Conflict(
                f"This sale is {_words(SaleStatus(sale.status))}: start a new one with /sell."
            )
        return sale

    def add_details(self, actor: Actor, sale_id: str, raw: SaleDetails) -> Sale:
        """The second view: member and payment, sealed; the sale stays a draft."""
        return self.add_details_for_review(actor, sale_id, raw)[0]

    def can_sell_now(self, actor: Actor, sale: Sale) -> bool:
        """Whether this person may sell this sale without approval (a manager there,
        within the location's limit)."""
        with self.db.session() as session:
            return self.may_sell_now(self.roles.grants(session, actor), sale)

    def add_details_for_review(
        self, actor: Actor, sale_id: str, raw: SaleDetails
    ) -> tuple[Sale, bool]:
        """:meth:`add_details`, and whether this person may sell it now (a manager of
        its location): what the review view needs, from one read of their roles."""
        vault = self._vault()
        now = self.clock.now()
        with self.db.session() as session:
            sale = self._load(session, sale_id)
            if not actor.is_person(sale.org_id, sale.user_id):
                raise Conflict("Only the person who started this sale can change it.")
            grants = self.roles.grants(session, actor)
            if not allows(grants, Permission.REQUEST_SALE, sale.location_id):
                raise self.roles.refusal(session, actor, Permission.REQUEST_SALE, sale.location_id)
            location = self._location(sale.location_id)
            member, methods = validate_details(location, Decimal(sale.amount), raw, now)
            stored_member = self._checked(location, sale, member, methods)
            if not self._transition(
                session,
                sale,
                expected=Sale.status == SaleStatus.DRAFT,
                values={
                    **_member_values(stored_member, methods, vault),
                    "fingerprint": fingerprint(
                        {**content_of(sale), "member": stored_member}, methods
                    ),
                },
                actor=actor.key,
                action="sale.details",
                details={"member": masked_member(stored_member), "methods": len(methods)},
            ):
                session.refresh(sale)
                raise Conflict(_gone(sale))
        return sale, self.may_sell_now(grants, sale)

    def _checked(
        self,
        location: ClubReadyLocation,
        sale: Sale,
        member: dict[str, Any],
        methods: list[dict[str, str]],
    ) -> dict[str, Any]:
        """ClubReady's own checks of the sale as it would be sent (issue 13: a new
        member needs a ProfileToken unless the package is paid in full; the last method
        carries no amount), as field errors; the member as stored."""
        item = location.package(sale.package_id, sale.installment_plan_id)
        order = new_member_sale(
            sale, methods, paid_in_full=bool(item and item.paid_in_full), member=member
        )
        try:
            self.clients.seller(location.id).check(order)
        except InvalidVendorRequest as exc:
            raise InvalidInput(_form_errors(exc)) from None
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in member.items()}

    def require(self, actor: Actor, permission: Permission, location_id: str | None) -> None:
        with self.db.session() as session:
            self.roles.require(session, actor, permission, location_id)

    def for_edit(self, actor: Actor, sale_id: str) -> Sale:
        """The requester's own sale, while it can still change."""
        with self.db.session() as session:
            sale = self._load(session, sale_id)
            self._require_requester(session, actor, sale)
            status = SaleStatus(sale.status)
            if status not in (SaleStatus.DRAFT, SaleStatus.PENDING_APPROVAL):
                raise Conflict(f"This sale is {_words(status)}: it can no longer change.")
            return sale

    def submit(self, actor: Actor, sale_id: str, fingerprint: str) -> SubmitResult:
        """Submit for approval the exact draft the requester reviewed."""
        now = self.clock.now()
        with self.db.session() as session:
            sale = self._load(session, sale_id)
            self._require_requester(session, actor, sale)
            if sale.member is None:
                raise Conflict("Add the member and payment first.")
            if not self._require_open_draft(sale, fingerprint):
                return SubmitResult.ALREADY_HANDLED
            won = self._transition(
                session,
                sale,
                expected=(Sale.status == SaleStatus.DRAFT) & (Sale.fingerprint == fingerprint),
                values={
                    "status": SaleStatus.PENDING_APPROVAL,
                    "submitted_at": now,
                    "expires_at": now + self.approval_window,
                    "required_approvals": self.required_approvals(sale.location_id, sale.amount),
                },
                actor=actor.key,
                action="sale.submit",
                details={"amount": sale.amount},
            )
            if won:
                self.notices.status(session, sale)
                self._ask_approvals_channel(session, sale)
        return SubmitResult.PENDING_APPROVAL if won else SubmitResult.ALREADY_HANDLED

    def sell_now(self, actor: Actor, sale_id: str, fingerprint: str) -> SubmitResult:
        """A manager of the location sells directly, within the location's limit only:
        above it the sale needs two managers other than the requester (who never
        approves their own sale), so it is submitted for approval instead."""
        now = self.clock.now()
        with self.db.session() as session:
            sale = self._load(session, sale_id, lock=True)
            self._require_requester(session, actor, sale)
            self.roles.require(session, actor, Permission.APPROVE_SALE, sale.location_id)
            if sale.member is None:
                raise Conflict("Add the member and payment first.")
            if not self._require_open_draft(sale, fingerprint):
                return SubmitResult.ALREADY_HANDLED
            if self.required_approvals(sale.location_id, sale.amount) > 1:
                raise Conflict(
                    f"${sale.amount} is above this location's limit for selling without "
                    "approval: two other managers must approve it. Choose “Ask another "
                    "manager to approve”."
                )
            won = self._transition(
                session,
                sale,
                expected=(Sale.status == SaleStatus.DRAFT) & (Sale.fingerprint == fingerprint),
                values={
                    "status": SaleStatus.APPROVED,
                    "submitted_at": now,
                    "expires_at": now + self.approval_window,
                    "required_approvals": 1,
                    "decided_by": actor.user_id,
                    "decided_at": now,
                    "available_at": now,
                },
                actor=actor.key,
                action="sale.sell_now",
                details={"amount": sale.amount, "required_approvals": 1},
            )
            if not won:
                return SubmitResult.ALREADY_HANDLED
            self.notices.status(session, sale)
        return SubmitResult.QUEUED

    def may_sell_now(self, grants: list[Grant], sale: Sale) -> bool:
        """A manager of the sale's location, within its limit (PRODUCT: Sell now)."""
        return (
            allows(grants, Permission.APPROVE_SALE, sale.location_id)
            and self.required_approvals(sale.location_id, sale.amount) <= 1
        )

    def _require_open_draft(self, sale: Sale, fingerprint: str) -> bool:
        """Whether a Submit or Sell now has a draft to act on: False when this very
        version was submitted already (a retry); a draft that is gone or changed says
        so (never a modal that closes as if the sale was sent)."""
        status = SaleStatus(sale.status)
        if status is SaleStatus.DRAFT:
            if sale.fingerprint != fingerprint:
                raise Conflict(
                    "This sale changed after this review was opened: nothing was submitted. "
                    "Go back and review it again."
                )
            return True
        if sale.submitted_at is not None and sale.fingerprint == fingerprint:
            return False
        raise Conflict(_gone(sale))

    def edit(
        self,
        actor: Actor,
        sale_id: str,
        raw: SaleStart,
        member: SaleDetails | None = None,
        seen: str | None = None,
    ) -> tuple[Sale, bool]:
        """Change package, start date or promo code before the sale is approved, and
        with ``member`` (the member and payment view) those too (a payment whose token is left empty
        keeps the token on file for the same kind of method: tokens are never shown
        back, so only a new method needs one pasted).

        ``seen``: the fingerprint the Change view was opened on; a sale changed since
        (from another screen) is not overwritten with that view's older values.

        Returns (sale, was_pending). A pending sale's earlier approvals no longer
        count (they are bound to the old fingerprint) and its expiry restarts; saved
        with nothing changed, nothing happens (the expiry stays).
        """
        now = self.clock.now()
        with self.db.session() as session:
            sale = self._load(session, sale_id, lock=True)
            self._require_requester(session, actor, sale)
            if raw.location_id != sale.location_id:
                raise InvalidInput(
                    {"location": "A sale's location cannot change: withdraw it and start again."}
                )
            location = self._location(sale.location_id)
            item = validate_start(location, raw, now)
            status = SaleStatus(sale.status)
            if status not in (SaleStatus.DRAFT, SaleStatus.PENDING_APPROVAL):
                raise Conflict(f"This sale is {_words(status)}: it can no longer change.")
            if seen is not None and seen != sale.fingerprint:
                raise Conflict(
                    "This sale was changed after you opened this view (on another screen?): "
                    "nothing was saved. Open Change again from your message to see it as it is."
                )
            methods: list[dict[str, str]] = (
                self._vault().open(sale.sealed_tokens) if sale.sealed_tokens else []
            )
            member_values: dict[str, Any] = {}
            if member is not None and sale.member is not None:
                methods, member_values = self._edited_details(
                    location, sale, item, member, methods, now
                )
            covered = sum((Decimal(m["amount"]) for m in methods), Decimal(0))
            if sale.member is not None and item.amount == 0 and methods:
                raise InvalidInput(
                    {"package": "This package is free: withdraw this sale and start a new one."}
                )
            if sale.member is not None and covered != item.amount:
                # Kept payments too: a cheaper package cannot keep a larger payment.
                if member is not None and methods:
                    raise InvalidInput(coverage_errors(covered, item.amount, methods))
                raise InvalidInput(
                    {
                        "package": f"The payments add up to {money(covered)} but {item.name} "
                        f"costs {money(item.amount)}: withdraw this sale and start a new one."
                    }
                )
            amount = money(item.amount)
            changes: dict[str, Any] = {
                "package_id": item.package_id,
                "installment_plan_id": item.installment_plan_id,
                "amount": amount,
                "start_date": raw.start_date,
                "promo_code": _clean(raw.promo_code),
            }
            content = {**content_of(sale), **changes}
            if member_values:
                content["member"] = member_values["member"]
            values: dict[str, Any] = {
                **changes,
                **member_values,
                "package_name": item.name,
                "fingerprint": fingerprint(content, methods),
            }
            details: dict[str, Any] = {"package": item.name, "amount": money(item.amount)}
            pending = status is SaleStatus.PENDING_APPROVAL
            if values["fingerprint"] == sale.fingerprint:
                return sale, pending  # nothing changed: the approval window stays
            if pending:
                values["expires_at"] = now + self.approval_window
                values["required_approvals"] = self.required_approvals(sale.location_id, amount)
                if values["fingerprint"] != sale.fingerprint:
                    # After the approvers were asked: say what changed, and when.
                    labels = [
                        change.label
                        for change in differences(
                            snapshot(sale),
                            snapshot(_preview(sale, values)),
                            fingerprint_changed=True,
                        )
                    ]
                    values.update(changed_at=now, changed_fields=labels)
                    details["changed"] = labels
            if not self._transition(
                session,
                sale,
                expected=(Sale.status == status.value) & (Sale.fingerprint == sale.fingerprint),
                values=values,
                actor=actor.key,
                action="sale.edit",
                details=details,
            ):
                raise Conflict("This sale changed meanwhile: open it again.")
            if pending:
                self.notices.status(session, sale)
                if "changed_at" in values:  # a real change, after the approvers were asked
                    self.notices.note(session, sale, "changed", actor.user_id)
                self._ask_approvals_channel(session, sale)
        return sale, pending

    def _edited_details(
        self,
        location: ClubReadyLocation,
        sale: Sale,
        item: CatalogItem,
        raw: SaleDetails,
        stored: list[dict[str, str]],
        now: datetime,
    ) -> tuple[list[dict[str, str]], dict[str, Any]]:
        """(payment methods, the member's new column values) of a Change that may edit
        the member and payment. Payments submitted as they are on file (same kinds and
        amounts, no token pasted) stay as they are; any other payment is validated like
        a new one, an empty token taken from the method on file of the same kind."""
        typed = [p for p in raw.payments[:MAX_PAYMENT_METHODS] if not p.empty]
        kept = len(typed) == len(stored) and all(
            _clean(p.token) is None
            and (_clean(p.kind) or "profile") == m["kind"]
            and _parse_amount(p.amount) == Decimal(m["amount"])
            for p, m in zip(typed, stored, strict=False)
        )
        if kept:
            member, _ = validate_details(location, Decimal(0), SaleDetails(raw.member), now)
            methods = stored
        else:
            filled = []
            for index, payment in enumerate(raw.payments[:MAX_PAYMENT_METHODS]):
                on_file = stored[index] if index < len(stored) else None
                kind = _clean(payment.kind) or "profile"
                if (
                    not payment.empty
                    and _clean(payment.token) is None
                    and on_file is not None
                    and on_file["kind"] == kind
                ):
                    payment = PaymentInput(payment.amount, on_file["token"], kind)
                filled.append(payment)
            member, methods = validate_details(
                location, item.amount, SaleDetails(raw.member, tuple(filled)), now
            )
        preview = _preview(
            sale,
            {
                "package_id": item.package_id,
                "installment_plan_id": item.installment_plan_id,
                "amount": money(item.amount),  # ClubReady checks the new package's price
            },
        )
        stored_member = self._checked(location, preview, member, methods)
        return methods, _member_values(stored_member, methods, self._vault())

    def withdraw(self, actor: Actor, sale_id: str) -> bool:
        now = self.clock.now()
        with self.db.session() as session:
            sale = self._load(session, sale_id)
            self._require_requester(session, actor, sale)
            won = self._transition(
                session,
                sale,
                expected=Sale.status.in_([SaleStatus.DRAFT, SaleStatus.PENDING_APPROVAL]),
                values={"status": SaleStatus.CANCELLED, "finished_at": now},
                actor=actor.key,
                action="sale.withdraw",
            )
            if won and sale.submitted_at is not None:
                self.notices.status(session, sale)
                self.notices.note(session, sale, "withdrawn", actor.user_id)
            return won

    def keep_typed(self, actor: Actor, sale_id: str, typed: dict[str, Any]) -> bool:
        """The requester went Back from the member view without submitting it: the
        member fields they typed (text only, never a token) are kept on their draft, so
        that Next shows them again. Compare-and-set on their own draft; bounded like
        the fields themselves."""
        kept = {
            name: text[:255]
            for name in MEMBER_FIELDS
            if isinstance(typed.get(name), str | date)
            and (text := str(typed[name]).strip())
            and not _has_control(text)
        }
        with self.db.session() as session:
            sale = session.get(Sale, sale_id)
            if sale is None or not actor.is_person(sale.org_id, sale.user_id):
                return False
            if sale.status != SaleStatus.DRAFT or not kept:
                return False
            return bool(
                session.execute(
                    update(Sale)
                    .where(
                        Sale.id == sale.id,
                        Sale.status == SaleStatus.DRAFT,
                        Sale.user_id == sale.user_id,
                    )
                    .values(typed_member=kept, updated_at=self.clock.now())
                ).rowcount  # type: ignore[attr-defined]
            )

    def abandon_draft(self, actor: Actor, sale_id: str) -> bool:
        """The requester closed a sale's modal without submitting it: its sealed payment
        tokens are wiped at once, with the member and payment they go with (the draft
        goes back to needing them; the hourly sweep still cancels it). Compare-and-set
        on the draft as it was, so a Submit that won first is untouched. No role is
        needed to wipe one's own tokens."""
        with self.db.session() as session:
            sale = session.get(Sale, sale_id)
            if sale is None or not actor.is_person(sale.org_id, sale.user_id):
                return False
            if sale.status != SaleStatus.DRAFT or sale.sealed_tokens is None:
                return False
            return self._transition(
                session,
                sale,
                expected=(Sale.status == SaleStatus.DRAFT)
                & (Sale.fingerprint == sale.fingerprint)
                & Sale.sealed_tokens.is_not(None),
                values={
                    "sealed_tokens": None,
                    "member": None,
                    "member_masked": "",
                    "member_email_hash": None,
                    "payments": [],
                    "fingerprint": fingerprint({**content_of(sale), "member": None}, []),
                },
                actor=actor.key,
                action="sale.draft_closed",
                details={"wiped": "payment tokens"},
            )

    # -- approvers --------------------------------------------------------------------
    def _require_approver(self, session: Session, actor: Actor, sale: Sale) -> None:
        # A manager of the location, or someone this sale was escalated to (the
        # escalation is there to get it decided: PRODUCT.md, Contract sale step 3).
        if not self.roles.can(session, actor, Permission.APPROVE_SALE, sale.location_id) and not (
            actor.org_id == sale.org_id and escalated_to(session, sale, actor.user_id)
        ):
            self.roles.require(session, actor, Permission.APPROVE_SALE, sale.location_id)
        if actor.is_person(sale.org_id, sale.user_id):
            raise SelfApproval()

    def review(self, actor: Actor, sale_id: str) -> Sale:
        """The sale for an approver's review; refuses anyone who may not decide it."""
        with self.db.session() as session:
            return self._reviewable(session, actor, sale_id)

    def open_review(self, actor: Actor, sale_id: str) -> ReviewSheet:
        """An approver opens Review: the sale, what changed since they last saw it, and
        (recorded now) what they see this time, masked and without tokens."""
        now = self.clock.now()
        with self.db.session() as session:
            sale = self._reviewable(session, actor, sale_id)
            shown = snapshot(sale)
            seen = session.get(SaleSeen, (sale.id, actor.key))
            changes: list[Change] = []
            last_seen_at = seen.seen_at if seen is not None else None
            if seen is not None and seen.fingerprint != sale.fingerprint:
                changes = differences(seen.snapshot, shown, fingerprint_changed=True)
            values = {
                "approver_user_id": actor.user_id,
                "fingerprint": sale.fingerprint,
                "seen_at": now,
                "snapshot": shown,
            }
            if seen is not None:
                session.execute(
                    update(SaleSeen)
                    .where(SaleSeen.sale_id == sale.id, SaleSeen.approver == actor.key)
                    .values(**values)
                )
            else:
                try:
                    with session.begin_nested():
                        session.add(SaleSeen(sale_id=sale.id, approver=actor.key, **values))
                except IntegrityError:  # the same approver in two places at once
                    session.execute(
                        update(SaleSeen)
                        .where(SaleSeen.sale_id == sale.id, SaleSeen.approver == actor.key)
                        .values(**values)
                    )
            approvals = self._approvals(session, sale)
            others = self._same_member(session, sale)
        return ReviewSheet(sale, approvals, changes, last_seen_at, others)

    def _reviewable(self, session: Session, actor: Actor, sale_id: str) -> Sale:
        sale = self._load(session, sale_id)
        self._require_approver(session, actor, sale)
        status = SaleStatus(sale.status)
        if status is not SaleStatus.PENDING_APPROVAL:
            raise Conflict(f"This sale is {_words(status)}: there is nothing to decide.")
        if sale.expires_at and sale.expires_at <= self.clock.now():
            raise Conflict("This request has expired: the requester can submit it again.")
        mine = session.scalar(
            select(func.count())
            .select_from(SaleApproval)
            .where(
                SaleApproval.sale_id == sale.id,
                SaleApproval.approver == actor.key,
                SaleApproval.fingerprint == sale.fingerprint,
            )
        )
        if mine:
            raise Conflict("You have already approved this sale: another manager must.")
        return sale

    def approve(self, actor: Actor, sale_id: str, fingerprint: str) -> ApproveResult:
        now = self.clock.now()
        with self.db.session() as session:
            # The row lock serializes approvers of one sale on PostgreSQL; SQLite
            # serializes writers anyway.
            sale = self._load(session, sale_id, lock=True)
            self._require_approver(session, actor, sale)
            if sale.status != SaleStatus.PENDING_APPROVAL:
                return ApproveResult.CLOSED
            if sale.fingerprint != fingerprint:
                self._audit(session, actor.key, "sale.approve_stale", sale)
                return ApproveResult.CHANGED
            if sale.expires_at is not None and sale.expires_at <= now:
                return ApproveResult.EXPIRED
            added = insert_once(
                session,
                SaleApproval,
                ["sale_id", "approver", "fingerprint"],
                sale_id=sale.id,
                approver=actor.key,
                approver_user_id=actor.user_id,
                fingerprint=fingerprint,
                at=now,
            )
            if not added:
                return ApproveResult.ALREADY_APPROVED_BY_YOU
            count = session.scalar(
                select(func.count())
                .select_from(SaleApproval)
                .where(SaleApproval.sale_id == sale.id, SaleApproval.fingerprint == fingerprint)
            )
            if (count or 0) < sale.required_approvals:
                self._audit(
                    session,
                    actor.key,
                    "sale.approve_partial",
                    sale,
                    {"approvals": count, "required": sale.required_approvals},
                )
                self.notices.status(session, sale)
                self.notices.note(session, sale, "approved_once", actor.user_id)
                return ApproveResult.RECORDED
            won = self._transition(
                session,
                sale,
                expected=(Sale.status == SaleStatus.PENDING_APPROVAL)
                & (Sale.fingerprint == fingerprint)
                & (Sale.expires_at > now),
                values={
                    "status": SaleStatus.APPROVED,
                    "decided_by": actor.user_id,
                    "decided_at": now,
                    "available_at": now,
                },
                actor=actor.key,
                action="sale.approve",
                details={"approvals": count},
            )
            if not won:
                session.rollback()
                return ApproveResult.CLOSED
            self.notices.status(session, sale)
        return ApproveResult.APPROVED

    def reject(self, actor: Actor, sale_id: str, reason: str, seen: str | None = None) -> bool:
        """Reject with a reason the version the approver reviewed (``seen``, its
        fingerprint): a sale changed since (its requester fixed it) is not rejected."""
        reason = (reason or "").strip()
        if not reason:
            raise InvalidInput({"reason": "Say why, so the requester can fix it."})
        if len(reason) > 1000:
            raise InvalidInput({"reason": "At most 1000 characters."})
        now = self.clock.now()
        with self.db.session() as session:
            sale = self._load(session, sale_id)
            self._require_approver(session, actor, sale)
            expected = Sale.status == SaleStatus.PENDING_APPROVAL
            if seen is not None:
                if sale.status == SaleStatus.PENDING_APPROVAL and sale.fingerprint != seen:
                    raise Conflict(
                        "This sale changed after you opened it: nothing was rejected. "
                        "Open Review again from the approvals channel to see the new version."
                    )
                expected = expected & (Sale.fingerprint == seen)
            won = self._transition(
                session,
                sale,
                expected=expected,
                values={
                    "status": SaleStatus.REJECTED,
                    "rejection_reason": reason,
                    "decided_by": actor.user_id,
                    "decided_at": now,
                    "finished_at": now,
                },
                actor=actor.key,
                action="sale.reject",
                details={"reason": reason},
            )
            if won:
                self.notices.status(session, sale)
                self.notices.tell(session, sale)
            return won

    def expire_due(self) -> list[Sale]:
        """Pending sales past their window expire (returned, to tell people);
        drafts untouched for the draft window are cancelled quietly (their Submit or
        Review then says so). Both lose their tokens."""
        now = self.clock.now()
        expired: list[Sale] = []
        with self.db.session() as session:
            due = session.scalars(
                select(Sale).where(
                    Sale.status == SaleStatus.PENDING_APPROVAL, Sale.expires_at <= now
                )
            ).all()
            for sale in due:
                if self._transition(
                    session,
                    sale,
                    expected=(Sale.status == SaleStatus.PENDING_APPROVAL)
                    & (Sale.expires_at <= now),
                    values={"status": SaleStatus.EXPIRED, "finished_at": now},
                    actor="frontdesk",
                    action="sale.expire",
                ):
                    self.notices.status(session, sale)
                    self.notices.tell(session, sale)
                    expired.append(sale)
            stale = session.scalars(
                select(Sale).where(
                    # By last activity (each step of the modal writes the draft), not by
                    # creation: a person still working on the sale keeps it.
                    Sale.status == SaleStatus.DRAFT,
                    Sale.updated_at <= now - self.draft_window,
                )
            ).all()
            for sale in stale:
                self._transition(
                    session,
                    sale,
                    expected=Sale.status == SaleStatus.DRAFT,
                    values={"status": SaleStatus.CANCELLED, "finished_at": now},
                    actor="frontdesk",
                    action="sale.draft_abandoned",
                )
        return expired

    # -- the worker's side ------------------------------------------------------------
    def claim_next(self, worker_id: str, limit: int = 1) -> list[str]:
        """Move approved sales to ``submitting`` for this worker: the one gate before
        the vendor."""
        return self.lifecycle.claim(worker_id, limit)

    def execute(self, sale_id: str, worker_id: str) -> Settled[Sale] | None:
        return self.lifecycle.run(sale_id, worker_id, self.call_vendor)

    def call_vendor(self, sale: Sale) -> Outcome:
        """The one ClubReady call of a claimed sale. Everything that can fail before the
        request may leave raises NotSent (nothing charged); the endpoint itself returns
        an outcome for everything after (the lifecycle calls anything else unknown)."""
        try:
            location = self._location(sale.location_id)
            methods = self._vault().open(sale.sealed_tokens) if sale.sealed_tokens else []
        except (InvalidInput, Conflict, VaultError) as exc:
            raise NotSent(str(exc)) from None
        if not sale.member:
            raise NotSent("the member's data is gone")
        item = location.package(sale.package_id, sale.installment_plan_id)
        order = new_member_sale(sale, methods, paid_in_full=bool(item and item.paid_in_full))
        return self.clients.seller(sale.location_id).sell(order)

    def recover_abandoned(self) -> list[Sale]:
        """Sales left ``submitting`` by a dead process: unknown, never resent."""
        return self.lifecycle.recover()

    # -- triage -----------------------------------------------------------------------
    def _require_triage(self, session: Session, actor: Actor, sale: Sale) -> None:
        if not (
            self.roles.can(session, actor, Permission.TRIAGE, sale.location_id)
            or self.roles.can(session, actor, Permission.APPROVE_SALE, sale.location_id)
        ):
            self.roles.require(session, actor, Permission.TRIAGE, sale.location_id)

    def claim(self, actor: Actor, sale_id: str, *, reply_to: str | None = None) -> ClaimResult:
        """One claimant at a time; a loser in a channel is told through ``reply_to``."""
        with self.db.session() as session:
            sale = self._load(session, sale_id)
            self._require_triage(session, actor, sale)
            if self._transition(
                session,
                sale,
                # Only an open failure is claimed, whatever a stale or forged click says.
                expected=Sale.claimed_by.is_(None)
                & Sale.status.in_([s.value for s in NEEDS_TRIAGE])
                & Sale.resolved_at.is_(None),
                values={"claimed_by": actor.user_id},
                actor=actor.key,
                action="sale.claim",
            ):
                self.notices.triage(session, sale)
                return ClaimResult(True, actor.user_id)
            session.refresh(sale)
            if sale.resolved_at is not None:
                raise Conflict(
                    f"{named(sale.resolved_by)} already resolved this sale: nothing was claimed."
                )
            if SaleStatus(sale.status) not in NEEDS_TRIAGE:
                raise Conflict(
                    f"This sale is {_words(SaleStatus(sale.status))}, not a failure: "
                    "nothing was claimed."
                )
            self.outbox.reply(session, reply_to, {"what": "claim_lost", "holder": sale.claimed_by})
            return ClaimResult(False, sale.claimed_by)

    def for_reconciliation(self, actor: Actor, sale_id: str) -> Sale:
        """The unknown sale, for someone allowed to record what ClubReady shows."""
        with self.db.session() as session:
            sale = self._load(session, sale_id)
            self._require_triage(session, actor, sale)
            status = SaleStatus(sale.status)
            if status is not SaleStatus.UNKNOWN:
                raise Conflict(f"This sale is {_words(status)}: there is nothing to reconcile.")
            return sale

    def reconcile(self, actor: Actor, sale_id: str, finding: ReconcileFinding, note: str) -> bool:
        """Support or a manager records what ClubReady shows for an unknown sale."""
        note = (note or "").strip()
        if len(note) > 1000:
            raise InvalidInput({"note": "At most 1000 characters."})
        now = self.clock.now()
        with self.db.session() as session:
            sale = self._load(session, sale_id)
            self._require_triage(session, actor, sale)
            won = self._transition(
                session,
                sale,
                expected=Sale.status == SaleStatus.UNKNOWN,
                values={
                    "status": (
                        SaleStatus.SOLD if finding is ReconcileFinding.SOLD else SaleStatus.NOT_SOLD
                    ),
                    "reconciled_by": actor.user_id,
                    "reconciled_note": note or None,
                    "finished_at": now,
                },
                actor=actor.key,
                action="sale.reconcile",
                details={"found": finding.value, "note": note, "external_id": sale.id},
            )
            if won:
                self.notices.triage(session, sale)
                self.notices.status(session, sale)
                self.notices.tell(session, sale)
            return won


def _gone(sale: Sale) -> str:
    """Why a sale's draft views can no longer change it, in plain words."""
    status = SaleStatus(sale.status)
    if status is SaleStatus.CANCELLED and sale.submitted_at is None:
        return (
            "This sale was closed before it was submitted (withdrawn, or left untouched "
            "for a while): nothing was submitted or charged. Start again with /sell."
        )
    if status is SaleStatus.DRAFT:
        return "This sale changed meanwhile: open it again."
    return f"This sale is {_words(status)}: it can no longer change here."


def _words(status: SaleStatus) -> str:
    return {
        SaleStatus.DRAFT: "still a draft",
        SaleStatus.PENDING_APPROVAL: "waiting for approval",
        SaleStatus.APPROVED: "approved and being sold",
        SaleStatus.SUBMITTING: "being sent to ClubReady",
        SaleStatus.SOLD: "sold",
        SaleStatus.REFUSED: "refused by ClubReady",
        SaleStatus.UNKNOWN: "of unknown outcome (with support)",
        SaleStatus.NOT_SOLD: "not sold",
        SaleStatus.REJECTED: "rejected",
        SaleStatus.EXPIRED: "expired",
        SaleStatus.CANCELLED: "withdrawn",
    }[status]


describe_status = _words
