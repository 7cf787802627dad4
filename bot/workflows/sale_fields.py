"""A sale field by field as approval views may show it, and what changed between two
versions.

Member data is masked as the approvals channel shows it (first name, last initial,
``j•••@example.com``, ``•••88``), payments as amount, kind and ``…last4``: never a
token. A snapshot keeps each field's masked form with a digest keyed by the sale,
so that a change the mask hides (``jane@…`` to ``joan@…``) still shows as a change
while the digest means nothing outside this sale. A change no shown field accounts
for (a payment token with the same last four) is shown as such, without the token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.workflows.masking import mask_email, mask_phone, mask_text
from storage.models import Sale

GENDERS = {"M": "Male", "F": "Female", "U": "Prefer not to say"}


def _gender(value: str) -> str:
    return GENDERS.get(value, "")


def _initial(value: str) -> str:
    return f"{value[:1]}." if value else ""


#: Member fields in review order: key, label, and the masked form an approval view shows.
MEMBER_MASKS: tuple[tuple[str, str, Callable[[str], str]], ...] = (
    ("first_name", "First name", str),
    ("last_name", "Last name", _initial),
    ("email", "Email", mask_email),
    ("phone", "Phone", mask_phone),
    ("cell_phone", "Cell", mask_phone),
    ("emergency_contact_phone", "Emergency phone", mask_phone),
    ("date_of_birth", "Date of birth", mask_text),
    ("address", "Address", mask_text),
    ("city", "City", mask_text),
    ("state", "State", mask_text),
    ("zip", "Zip", mask_text),
    ("username", "Username", mask_text),
    ("emergency_contact_name", "Emergency contact", mask_text),
    ("gender", "Gender", _gender),
)
PAYMENT_KINDS = {"profile": "ProfileToken", "acct": "AcctToken"}
#: The label of a change that no shown field accounts for.
UNSHOWN = "Other details"


@dataclass(frozen=True)
class Change:
    """One field that differs; ``before`` or ``after`` is None where the field was
    added or removed. Both are masked forms."""

    label: str
    before: str | None
    after: str | None


def member_fields(member: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(key, label, masked form, value) of each member field given, in review order."""
    fields = []
    for key, label, mask in MEMBER_MASKS:
        value = member.get(key)
        if value in (None, ""):
            continue
        text = str(value)
        fields.append((key, label, mask(text), text))
    return fields


def payment_line(payment: dict[str, Any]) -> str:
    kind = PAYMENT_KINDS.get(str(payment.get("kind")), str(payment.get("kind")))
    return f"${payment.get('amount')} by {kind} …{payment.get('last4')}"


def _digest(sale_id: str, key: str, raw: Any) -> str:
    return hashlib.sha256(f"{sale_id}\x00{key}\x00{raw}".encode()).hexdigest()[:32]


def snapshot(sale: Sale) -> list[dict[str, str]]:
    """The sale as an approval view shows it, field by field, masked, with digests."""
    approvals = sale.required_approvals or 1
    fields: list[tuple[str, str, str, Any]] = [
        ("package", "Package", sale.package_name, f"{sale.package_id}:{sale.installment_plan_id}"),
        ("amount", "Amount", f"${sale.amount}", sale.amount),
        ("start_date", "Start date", sale.start_date.isoformat(), sale.start_date),
        ("promo_code", "Promo code", sale.promo_code or "none", sale.promo_code or ""),
        (
            "required_approvals",
            "Approvals needed",
            f"{approvals} manager{'s' if approvals > 1 else ''}",
            approvals,
        ),
    ]
    for key, label, shown, value in member_fields(sale.member or {}):
        fields.append((f"member.{key}", label, shown, value))
    for index, payment in enumerate(sale.payments or [], start=1):
        raw = (payment.get("kind"), payment.get("amount"), payment.get("last4"))
        fields.append((f"payment{index}", f"Payment {index}", payment_line(payment), raw))
    return [
        {"key": key, "label": label, "shown": shown, "digest": _digest(sale.id, key, raw)}
        for key, label, shown, raw in fields
    ]


def differences(
    before: list[dict[str, str]], after: list[dict[str, str]], *, fingerprint_changed: bool
) -> list[Change]:
    """What differs from ``before`` to ``after``, in review order. A changed
    fingerprint that no shown field accounts for is one "Other details" change."""
    old = {field["key"]: field for field in before}
    new = {field["key"] for field in after}
    changes: list[Change] = []
    for field in after:
        previous = old.get(field["key"])
        if previous is None:
            changes.append(Change(field["label"], None, field["shown"]))
        elif previous["digest"] != field["digest"]:
            changes.append(Change(field["label"], previous["shown"], field["shown"]))
    changes += [Change(f["label"], f["shown"], None) for f in before if f["key"] not in new]
    if fingerprint_changed and not changes:
        changes.append(Change(UNSHOWN, None, "changed (payment tokens are never shown)"))
    return changes
