"""ClubReady (a ServiceStack host): password reset and contract sale with a new user.

Wire rules (vendor-docs/NOTES.md): ``ApiKey``, ``StoreId`` and ``ChainId`` go in the
query string, everything else in a PascalCase JSON body; success is decided by the
body's ``Success`` (either casing), never by the status alone; a sale is never retried.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import IntEnum
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import httpx
from pydantic import Field, SecretStr, model_validator

from vendors import _servicestack as ss
from vendors._adapters import MemberIdentity, NewMemberSale
from vendors._errors import InvalidVendorRequest, VendorConfigurationError, build_for_form
from vendors._outcome import FieldError, Outcome, OutcomeKind
from vendors._redact import Redactor
from vendors._transport import Call, RetryPolicy, VendorHttp, is_http_url, left_to_transport
from vendors._types import Email, Flag, LongText, Money, PositiveId, Text, Username, WireModel

VENDOR = "clubready"


class ResetFilter(IntEnum):
    ALL = 0
    PROSPECTS = 1
    ACTIVE = 2
    INACTIVE = 3
    ALL_MEMBERS = 4
    PAST_DUE = 5


class PasswordReset(WireModel):
    """``POST /users/passwordreset``."""

    store_id: PositiveId | None = Field(None, alias="StoreId")
    chain_id: PositiveId | None = Field(None, alias="ChainId")
    username: Username | None = Field(None, alias="Username")
    email: Email | None = Field(None, alias="Email")
    filter: ResetFilter = Field(ResetFilter.ALL, alias="Filter")

    @model_validator(mode="after")
    def _scope_and_identity(self) -> PasswordReset:
        if self.store_id is None and self.chain_id is None:
            raise ValueError("StoreId or ChainId is required")
        if self.username is None and self.email is None:
            raise ValueError("Username or Email is required")
        return self

    def query(self) -> dict[str, int]:
        return {
            k: v
            for k, v in (("StoreId", self.store_id), ("ChainId", self.chain_id))
            if v is not None
        }

    def body(self) -> dict[str, Any]:
        return self.wire(exclude={"store_id", "chain_id"})


class PaymentMethod(WireModel):
    """One entry of ``PaymentMethods`` (the current form). Flags go out only when true."""

    payment_amount: Money | None = Field(None, alias="PaymentAmount")
    use_preferred: Flag = Field(None, alias="UsePreferred")
    acct_token: SecretStr | None = Field(None, alias="AcctToken", min_length=1)
    profile_token: SecretStr | None = Field(None, alias="ProfileToken", min_length=1)
    do_not_update_payment_type_preference: Flag = Field(
        None, alias="DoNotUpdatePaymentTypePreference"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> PaymentMethod:
        kinds = [
            name
            for name, present in (
                ("UsePreferred", bool(self.use_preferred)),
                ("AcctToken", self.acct_token is not None),
                ("ProfileToken", self.profile_token is not None),
            )
            if present
        ]
        if len(kinds) > 1:
            raise ValueError(f"use only one of UsePreferred, AcctToken, ProfileToken (got {kinds})")
        if not kinds:
            raise ValueError("one of UsePreferred, AcctToken or ProfileToken is required")
        if self.do_not_update_payment_type_preference and self.profile_token is None:
            raise ValueError("DoNotUpdatePaymentTypePreference is valid only with ProfileToken")
        return self


class ContractSale(WireModel):
    """``POST /sales/contract/sold/new/user`` (ContractSoldNewUserEndpoint)."""

    store_id: PositiveId = Field(alias="StoreId")
    chain_id: PositiveId | None = Field(None, alias="ChainId")
    forwarded_for: IPv4Address | IPv6Address | None = Field(None, alias="X-Forwarded-For")

    package_id: PositiveId = Field(alias="PackageId")
    installment_plan_id: PositiveId = Field(alias="InstallmentPlanId")
    payment_amount: Money = Field(alias="PaymentAmount")
    first_name: Text = Field(alias="FirstName")
    last_name: Text = Field(alias="LastName")
    email: Email = Field(alias="Email")
    start_date: date | None = Field(None, alias="StartDate")
    date_of_birth: date | None = Field(None, alias="DateOfBirth")
    gender: Text | None = Field(None, alias="Gender")
    address: Text | None = Field(None, alias="Address")
    city: Text | None = Field(None, alias="City")
    state: Text | None = Field(None, alias="State")
    zip: Text | None = Field(None, alias="Zip")
    phone: Text | None = Field(None, alias="Phone")
    work_phone: Text | None = Field(None, alias="WorkPhone")
    cell_phone: Text | None = Field(None, alias="CellPhone")
    note: LongText | None = Field(None, alias="Note")
    external_id: Text | None = Field(None, alias="ExternalId")
    promo_code: Text | None = Field(None, alias="PromoCode")
    username: Username | None = Field(None, alias="Username")
    referral_type_id: PositiveId | None = Field(None, alias="ReferralTypeId")
    emergency_contact_name: Text | None = Field(None, alias="EmergencyContactName")
    emergency_contact_phone: Text | None = Field(None, alias="EmergencyContactPhone")
    emergency_contact_type: Text | None = Field(None, alias="EmergencyContactType")
    #: Omitted (never empty): an empty array is not "no payment", it is a guess.
    payment_methods: list[PaymentMethod] | None = Field(None, alias="PaymentMethods", min_length=1)

    # Deprecated card fields: modelled only so that mixing them with PaymentMethods
    # is refused here rather than by the vendor.
    acct_token: SecretStr | None = Field(None, alias="AcctToken")
    last4: Text | None = Field(None, alias="Last4")
    exp_month: int | None = Field(None, alias="ExpMonth")
    exp_year: int | None = Field(None, alias="ExpYear")
    acct_type: int | None = Field(None, alias="AcctType")
    bnk_route: int | None = Field(None, alias="BnkRoute")
    is_temp: Flag = Field(None, alias="IsTemp")

    @model_validator(mode="after")
    def _payment_form(self) -> ContractSale:
        deprecated = [
            alias
            for alias, value in (
                ("AcctToken", self.acct_token),
                ("Last4", self.last4),
                ("ExpMonth", self.exp_month),
                ("ExpYear", self.exp_year),
                ("AcctType", self.acct_type),
                ("BnkRoute", self.bnk_route),
                ("IsTemp", self.is_temp),
            )
            if value is not None
        ]
        if deprecated and self.payment_methods is not None:
            raise ValueError(
                f"deprecated card fields {deprecated} cannot be sent with PaymentMethods"
            )
        for method in self.payment_methods or []:
            if method.use_preferred:
                raise ValueError(
                    "UsePreferred is not applicable: a new user has no payment method on file"
                )
        return self

    def query(self) -> dict[str, int]:
        return {
            k: v
            for k, v in (("StoreId", self.store_id), ("ChainId", self.chain_id))
            if v is not None
        }

    def headers(self) -> dict[str, str]:
        return {"X-Forwarded-For": str(self.forwarded_for)} if self.forwarded_for else {}

    def body(self) -> dict[str, Any]:
        body = self.wire(exclude={"store_id", "chain_id", "forwarded_for"})
        for key in ("StartDate", "DateOfBirth"):
            if key in body:
                body[key] = body[key].isoformat()
        return body


@dataclass(frozen=True, slots=True)
class ClubReadyAccount:
    """One location's access to ClubReady: base URL, API key, store and chain."""

    base_url: str
    api_key: str = field(repr=False)
    store_id: int
    chain_id: int | None = None

    def __post_init__(self) -> None:
        if not self.api_key:
            raise VendorConfigurationError("a ClubReady API key is required")
        if not is_http_url(self.base_url):
            raise VendorConfigurationError("the ClubReady base URL must be an http(s) URL")

    def call(self, operation: str, path: str, query: Mapping[str, int], **kw: Any) -> Call:
        return Call(
            vendor=VENDOR,
            operation=operation,
            method="POST",
            url=f"{self.base_url.rstrip('/')}{path}",
            params={"ApiKey": self.api_key, **query},
            **kw,
        )

    def redactor(self, secrets: list[str]) -> Redactor:
        return Redactor([self.api_key, *secrets])


# -- password reset ---------------------------------------------------------------------
_RESET_FORM = {"Email": "email", "Username": "username", "Filter": "member_filter"}


class ClubReadyReset:
    """``ResetAdapter``: ClubReady emails the member its own reset link."""

    vendor = VENDOR
    operation = "password_reset"
    issues_own_code = False

    def __init__(
        self, account: ClubReadyAccount, http: VendorHttp, *, retry: RetryPolicy | None = None
    ) -> None:
        self._account = account
        self._http = http
        # The docs allow one retry of a reset, only where it did not arrive.
        self._retry = retry or RetryPolicy.once_if_not_arrived()

    def check(self, identity: MemberIdentity) -> None:
        self._request(identity)

    def reset(self, identity: MemberIdentity, *, reset_code: str | None = None) -> Outcome:
        if reset_code is not None:
            raise VendorConfigurationError("ClubReady makes its own reset link: pass no code")
        request = self._request(identity)
        return self._http.perform(
            self._account.call(
                self.operation, "/users/passwordreset", request.query(), body=request.body()
            ),
            interpret=_interpret_reset,
            redactor=self._account.redactor(request.secrets()),
            policy=self._retry,
        )

    def _request(self, identity: MemberIdentity) -> PasswordReset:
        errors = [
            FieldError(name, "ClubReady finds members by email or username only.")
            for name in ("account_id", "card")
            if getattr(identity, name) is not None
        ]
        if identity.email is None and identity.username is None:
            errors.append(FieldError("email", "Enter the member's email or username."))
        if errors:
            raise InvalidVendorRequest(errors)
        return build_for_form(
            _RESET_FORM.get,
            PasswordReset,
            StoreId=self._account.store_id,
            ChainId=self._account.chain_id,
            Email=identity.email,
            Username=identity.username,
            Filter=identity.member_filter,
        )


# -- contract sale ----------------------------------------------------------------------
#: NewMemberSale.member keys and the wire names ClubReady binds them to.
MEMBER_WIRE = {
    "first_name": "FirstName",
    "last_name": "LastName",
    "email": "Email",
    "phone": "Phone",
    "cell_phone": "CellPhone",
    "date_of_birth": "DateOfBirth",
    "address": "Address",
    "city": "City",
    "state": "State",
    "zip": "Zip",
    "gender": "Gender",
    "username": "Username",
    "emergency_contact_name": "EmergencyContactName",
    "emergency_contact_phone": "EmergencyContactPhone",
}
_SALE_FORM = {
    **{wire: name for name, wire in MEMBER_WIRE.items()},
    "StartDate": "start_date",
    "PromoCode": "promo_code",
    "PackageId": "package",
    "InstallmentPlanId": "package",
    "PaymentAmount": "package",
    "PaymentMethods": "payment1_token",
}
_METHOD = re.compile(r"^PaymentMethods\[(\d+)\](?:\.(\w+))?")

NEEDS_PROFILE_TOKEN = (
    "Paste the member's ProfileToken here: a new member has no payment method on file, "
    "and only a ProfileToken leaves one for the instalments (an AcctToken alone is enough "
    "only for a package paid in full)."
)
#: An AcctToken alone: the choice to change is "Pays with" (the error sits there).
CHOOSE_PROFILE_TOKEN = (
    "Choose ProfileToken here, then paste the member's ProfileToken under Token: a new "
    "member has no payment method on file, and only a ProfileToken leaves one for the "
    "instalments (an AcctToken alone is enough only for a package paid in full)."
)


def _sale_form_field(wire: str) -> str | None:
    match = _METHOD.match(wire)
    if match:
        n = int(match.group(1)) + 1
        return f"payment{n}_amount" if match.group(2) == "PaymentAmount" else f"payment{n}_token"
    return _SALE_FORM.get(wire)


def payment_errors(sale: NewMemberSale) -> list[FieldError]:
    """What ClubReady's contract for a *new* user requires of its payment methods."""
    errors: list[FieldError] = []
    payments = sale.payments
    profile = any(p.kind == "profile" for p in payments)
    if not payments and sale.amount > 0:
        errors.append(FieldError("payment1_token", NEEDS_PROFILE_TOKEN, "payment_required"))
    elif not profile and not sale.paid_in_full:
        errors.append(
            FieldError("payment1_method", CHOOSE_PROFILE_TOKEN, "profile_token_required")
            if payments
            else FieldError("payment1_token", NEEDS_PROFILE_TOKEN, "profile_token_required")
        )
    last = len(payments) - 1
    for index, payment in enumerate(payments):
        if payment.amount is None and index != last:
            errors.append(
                FieldError(
                    f"payment{index + 1}_amount",
                    "Enter this payment method's amount: only the last one takes the rest.",
                    "amount_required",
                )
            )
    if len(payments) == 1 and payments[0].amount is not None and payments[0].amount < sale.amount:
        errors.append(
            FieldError(
                "payment1_amount",
                f"This payment covers {payments[0].amount:.2f} of {sale.amount:.2f}: "
                "add a method for the rest.",
                "amount_short",
            )
        )
    return errors


def _methods(sale: NewMemberSale) -> list[dict[str, Any]] | None:
    """The PaymentMethods array: omitted when there is none; with several methods the
    last carries no PaymentAmount, so it takes what the others did not (a gift card
    that approves only part)."""
    last = len(sale.payments) - 1
    methods = []
    for index, payment in enumerate(sale.payments):
        method: dict[str, Any] = {
            "ProfileToken" if payment.kind == "profile" else "AcctToken": payment.token
        }
        if payment.amount is not None and not (last > 0 and index == last):
            method["PaymentAmount"] = payment.amount
        methods.append(method)
    return methods or None


class ContractSoldNewUser:
    """``ContractSaleEndpoint`` on ``/sales/contract/sold/new/user``.

    ClubReady marks this endpoint as not Click-to-Cancel compliant; a successor (the
    agreement endpoints, unverified) implements the same interface.
    """

    name = "contract_sold_new_user"
    vendor = VENDOR
    operation = "contract_sale"

    def __init__(self, account: ClubReadyAccount, http: VendorHttp) -> None:
        self._account = account
        self._http = http

    def check(self, sale: NewMemberSale) -> None:
        self._request(sale)

    def sell(self, sale: NewMemberSale) -> Outcome:
        request = self._request(sale)
        return self._http.perform(
            self._account.call(
                self.operation,
                "/sales/contract/sold/new/user",
                request.query(),
                headers=request.headers(),
                body=request.body(),
                gateway_errors_are_unknown=True,
            ),
            interpret=_interpret_sale,
            redactor=self._account.redactor(request.secrets()),
            policy=RetryPolicy.never(),
        )

    def _request(self, sale: NewMemberSale) -> ContractSale:
        errors = payment_errors(sale)
        unknown = sorted(set(sale.member) - set(MEMBER_WIRE))
        if unknown:
            errors.append(FieldError(None, f"unknown member fields {unknown}"))
        if errors:
            raise InvalidVendorRequest(errors)
        member = {MEMBER_WIRE[k]: v for k, v in sale.member.items() if v is not None}
        return build_for_form(
            _sale_form_field,
            ContractSale,
            StoreId=self._account.store_id,
            ChainId=self._account.chain_id,
            PackageId=sale.package_id,
            InstallmentPlanId=sale.installment_plan_id,
            PaymentAmount=sale.amount,
            StartDate=sale.start_date,
            PromoCode=sale.promo_code,
            ExternalId=sale.correlation_id,
            PaymentMethods=_methods(sale),
            **member,
            **{"X-Forwarded-For": sale.client_ip},
        )


# -- answers ----------------------------------------------------------------------------
def _user_id(body: Mapping[str, Any]) -> str | None:
    value = ss.member(body, "UserId")
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return str(value)
    if isinstance(value, str) and value.strip() not in ("", "0"):
        return value.strip()
    return None


def _interpret(operation: str, response: httpx.Response, body: Any) -> Outcome | None:
    """Done only when the body says ``Success: true`` (either casing) on a 200/201."""
    if left_to_transport(response.status_code):
        return None
    verdict = ss.status_only(VENDOR, operation, response, body)
    if verdict is not None:
        return verdict
    if not isinstance(body, Mapping):
        return ss.not_understood(VENDOR, operation, response)
    try:
        error = ss.error_code(body)
    except ss.Malformed:
        return ss.not_understood(VENDOR, operation, response)
    verdicts = ss.members(body, "Success")
    if len({repr(v) for v in verdicts}) > 1:  # "Success": true and "success": false
        return ss.not_understood(VENDOR, operation, response)
    success = verdicts[0] if verdicts else None
    message = ss.member(body, "Message")
    if success is True and error is None:
        return Outcome(
            kind=OutcomeKind.SUCCEEDED,
            vendor=VENDOR,
            operation=operation,
            message=str(message or "done"),
            data={k: v for k, v in body.items() if str(k).lower() != "responsestatus"},
            vendor_user_id=_user_id(body),
        )
    if success is True:  # success and an error code at once: we cannot tell
        return ss.not_understood(VENDOR, operation, response)
    if error is not None:
        return ss.refusal(VENDOR, operation, response, body)
    if success is False:
        return Outcome(
            kind=OutcomeKind.REFUSED,
            vendor=VENDOR,
            operation=operation,
            message=str(message or "the vendor did not do it and gave no reason"),
            code="Success=false",
            vendor_user_id=_user_id(body),
        )
    # {} / {"Success": null} / {"UserId": 0, "Message": "Declined"}: no verdict.
    return ss.not_understood(VENDOR, operation, response)


def _interpret_reset(response: httpx.Response, body: Any) -> Outcome | None:
    return _interpret("password_reset", response, body)


def _interpret_sale(response: httpx.Response, body: Any) -> Outcome | None:
    return _interpret("contract_sale", response, body)
