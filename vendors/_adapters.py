"""The two typed seams between frontdesk's workflows and a vendor: reset and sale.

An adapter is built once per location (its store, merchant, credentials and base
URL bound at construction) and offers one operation behind a vendor-neutral
interface, so the workflows never branch on the vendor.

The contract every adapter keeps, on which "not sent" versus "unknown" hangs:

- ``check(...)`` is pure (no I/O). It raises :class:`~vendors.InvalidVendorRequest`
  whose field errors are named by the *form* fields (``email``, ``username``,
  ``account_id``, ``card``; for a sale ``payment1_token``, ``first_name``, …), so the
  caller can show them on the form before anything is recorded or sent.
- ``reset(...)`` / ``sell(...)`` raise a :class:`~vendors.VendorError` only
  *before* the first byte of the request may have left (a request that cannot be
  formed, a missing credential): the caller records "not sent". Once a request may
  have been sent, every path returns an :class:`~vendors.Outcome` and never raises;
  the transport turns anything unexpected after that point into ``UNKNOWN``.
  Any other exception escaping an adapter is a bug, and the caller treats it as
  ``UNKNOWN`` (it may have been sent).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal, Protocol

from vendors._outcome import Outcome

#: The identifier fields a reset may carry, in the order forms show them.
IDENTIFIER_FIELDS = ("email", "username", "account_id", "card")


@dataclass(frozen=True, slots=True)
class MemberIdentity:
    """Who a password reset is for, as staff entered it (already validated)."""

    email: str | None = None
    username: str | None = None
    account_id: str | None = None
    card: str | None = None
    #: ClubReady's member filter (0 All … 5 Past Due); ignored by other vendors.
    member_filter: int = 0

    def given(self) -> dict[str, str]:
        return {
            name: value for name in IDENTIFIER_FIELDS if (value := getattr(self, name)) is not None
        }


class ResetAdapter(Protocol):
    """A password reset at one location's vendor."""

    vendor: str
    operation: str
    #: True when frontdesk itself must generate the reset code and pass it to
    #: :meth:`reset` (Paytronix, where a third party holds the account of record).
    issues_own_code: bool

    def check(self, identity: MemberIdentity) -> None:
        """Refuse, before anything is recorded, what this vendor cannot take."""

    def reset(self, identity: MemberIdentity, *, reset_code: str | None = None) -> Outcome:
        """Ask the vendor to send the member a reset. ``Outcome.sent_to`` holds the
        address the vendor says it used, when it says one."""


@dataclass(frozen=True, slots=True)
class PaymentInstruction:
    """One payment method of a sale. ``amount`` None: the remainder (the last one only)."""

    kind: Literal["profile", "acct"]
    token: str = field(repr=False)
    amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class NewMemberSale:
    """A membership sold to a new member, vendor-neutral."""

    #: Our id for the sale, sent to the vendor so that an unknown outcome can be
    #: reconciled (ClubReady keeps it as ExternalUserId).
    correlation_id: str
    package_id: int
    installment_plan_id: int
    amount: Decimal
    #: The catalog says the package is paid in full at the sale (no instalments).
    paid_in_full: bool
    #: first_name, last_name, email (required); phone, cell_phone, date_of_birth,
    #: address, city, state, zip, gender, username, emergency_contact_name,
    #: emergency_contact_phone (optional). Dates as ``date``.
    member: Mapping[str, Any]
    payments: tuple[PaymentInstruction, ...] = ()
    start_date: date | None = None
    promo_code: str | None = None
    #: The end user's address, where the vendor wants it (X-Forwarded-For).
    client_ip: str | None = None


class ContractSaleEndpoint(Protocol):
    """A contract sale at one location's vendor. Never retried by anyone."""

    name: str
    vendor: str
    operation: str

    def check(self, sale: NewMemberSale) -> None:
        """Refuse, before anything is recorded, what this endpoint cannot take."""

    def sell(self, sale: NewMemberSale) -> Outcome:
        """Sell once. SUCCEEDED only when the vendor says so; ``Outcome.vendor_user_id``
        holds the member's id at the vendor when it says one. A partial outcome (the
        member was created but nothing was sold) is REFUSED with ``partial=True``."""


class GuestPasswordEndpoint(Protocol):
    """Completing a guest's own reset with the code from their email (Paytronix, where a
    third party holds the account of record). Built per location, like the others."""

    vendor: str
    operation: str

    def set_password(self, *, reset_code: str, new_password: str) -> Outcome:
        """Set the guest's password: sent exactly as given. SUCCEEDED only when the vendor
        says so; a refusal's ``message`` is the vendor's own words (safe to show the guest).
        Raises a VendorError only before anything may have been sent."""
