"""ClubReady (a ServiceStack host): password reset and contract sale with a new user.

Wire rules (vendor-docs/NOTES.md): ``ApiKey``, ``StoreId`` and ``ChainId`` go in the
query string, everything else in a PascalCase JSON body; success is decided by the
body's ``Success``, not the HTTP status; a sale is never retried.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from enum import IntEnum
from ipaddress import IPv4Address, IPv6Address
from typing import Any, Protocol

import httpx
from pydantic import Field, SecretStr, model_validator

from vendors import _servicestack as ss
from vendors._outcome import Outcome, OutcomeKind
from vendors._redact import Redactor
from vendors._transport import DEFAULT_TIMEOUT, Call, RetryPolicy, perform
from vendors._types import Email, LongText, Money, PositiveId, Text, Username, WireModel

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
    """One entry of ``PaymentMethods`` (the current form)."""

    payment_amount: Money | None = Field(None, alias="PaymentAmount")
    use_preferred: bool | None = Field(None, alias="UsePreferred")
    acct_token: SecretStr | None = Field(None, alias="AcctToken", min_length=1)
    profile_token: SecretStr | None = Field(None, alias="ProfileToken", min_length=1)
    do_not_update_payment_type_preference: bool | None = Field(
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
    payment_methods: list[PaymentMethod] | None = Field(None, alias="PaymentMethods")

    # Deprecated card fields: modelled only so that mixing them with PaymentMethods
    # is refused here rather than by the vendor.
    acct_token: SecretStr | None = Field(None, alias="AcctToken")
    last4: Text | None = Field(None, alias="Last4")
    exp_month: int | None = Field(None, alias="ExpMonth")
    exp_year: int | None = Field(None, alias="ExpYear")
    acct_type: int | None = Field(None, alias="AcctType")
    bnk_route: int | None = Field(None, alias="BnkRoute")
    is_temp: bool | None = Field(None, alias="IsTemp")

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


class ContractSaleEndpoint(Protocol):
    """What a sale endpoint offers the sale workflow.

    ClubReady marks ``/sales/contract/sold/new/user`` as not Click-to-Cancel
    compliant; a successor (the agreement endpoints, unverified) implements this.
    """

    name: str

    def sell(self, sale: ContractSale) -> Outcome: ...


class ClubReadyClient:
    """One ClubReady API key. Thread-safe (httpx.Client is)."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        http: httpx.Client | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        reset_retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._http = http or httpx.Client(timeout=timeout)
        self._reset_retry = reset_retry or RetryPolicy.once_if_not_arrived()
        self._sleep = sleep
        self._redactor = Redactor([api_key])
        self.contract_sold_new_user: ContractSaleEndpoint = _ContractSoldNewUser(self)

    def close(self) -> None:
        self._http.close()

    def reset_password(self, request: PasswordReset) -> Outcome:
        call = Call(
            vendor=VENDOR,
            operation="password_reset",
            method="POST",
            url=f"{self._base_url}/users/passwordreset",
            params={"ApiKey": self._api_key, **request.query()},
            body=request.body(),
        )
        return perform(
            self._http,
            call,
            interpret=_interpret_reset,
            redactor=self._redactor.extended(request.secrets()),
            policy=self._reset_retry,
            sleep=self._sleep,
        )

    def _sell(self, sale: ContractSale) -> Outcome:
        call = Call(
            vendor=VENDOR,
            operation="contract_sale",
            method="POST",
            url=f"{self._base_url}/sales/contract/sold/new/user",
            params={"ApiKey": self._api_key, **sale.query()},
            headers=sale.headers(),
            body=sale.body(),
            gateway_errors_are_unknown=True,
        )
        return perform(
            self._http,
            call,
            interpret=_interpret_sale,
            redactor=self._redactor.extended(sale.secrets()),
            policy=RetryPolicy.never(),
            sleep=self._sleep,
        )


class _ContractSoldNewUser:
    name = "contract_sold_new_user"

    def __init__(self, client: ClubReadyClient) -> None:
        self._client = client

    def sell(self, sale: ContractSale) -> Outcome:
        return self._client._sell(sale)


def _interpret(operation: str, response: httpx.Response, body: Any, *, empty_ok: bool) -> Outcome:
    if response.status_code >= 500:
        return ss.server_error(VENDOR, operation, response, body)
    if response.status_code >= 400:
        return ss.refusal(VENDOR, operation, response, body)
    if not isinstance(body, dict):
        return ss.not_understood(VENDOR, operation, response)
    status = ss.response_status(body)
    if status is not None and ss.member(status, "ErrorCode"):
        return ss.refusal(VENDOR, operation, response, body)
    success = ss.member(body, "Success")
    message = ss.member(body, "Message")
    if success is False:
        return Outcome(
            kind=OutcomeKind.REFUSED,
            vendor=VENDOR,
            operation=operation,
            message=str(message or "the vendor did not do it and gave no reason"),
            code="Success=false",
        )
    if success is True or (success is None and empty_ok):
        return Outcome(
            kind=OutcomeKind.SUCCEEDED,
            vendor=VENDOR,
            operation=operation,
            message=str(message or "done"),
            data={k: v for k, v in body.items() if k.lower() != "responsestatus"},
        )
    return ss.not_understood(VENDOR, operation, response)


def _interpret_reset(response: httpx.Response, body: Any) -> Outcome:
    return _interpret("password_reset", response, body, empty_ok=False)


def _interpret_sale(response: httpx.Response, body: Any) -> Outcome:
    # ContractSoldNewUserResponse's fields are unpublished (its sample is `{}`):
    # a 2xx object without Success=false or an ErrorCode is a sale.
    return _interpret("contract_sale", response, body, empty_ok=True)
