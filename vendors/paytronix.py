"""Paytronix guest management: reset-password codes and completing a reset.

Every call authenticates with HTTP Basic and names its style in the body member
``authentication`` (``anonymous`` or ``b2b``). Under b2b the body carries no
credentials: HTTP Basic carries the pair Paytronix assigned for b2b (by default the
integration's own pair). Only where a merchant's integration guide names body
members for the b2b credentials are they sent there, under the configured names.
The release is pinned in the URL. Success is decided by ``result``, whatever the
HTTP status: a ``failure`` on a 429 or 5xx is a failure, never retried.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import httpx
from pydantic import ConfigDict, Field, SecretStr, model_validator

from vendors._adapters import MemberIdentity
from vendors._errors import InvalidVendorRequest, VendorConfigurationError, build, build_for_form
from vendors._outcome import FieldError, Outcome, OutcomeKind
from vendors._redact import Redactor
from vendors._transport import Call, RetryPolicy, VendorHttp, is_http_url, left_to_transport
from vendors._types import Email, StrictPositiveId, Text, WireModel

VENDOR = "paytronix"
AUTH_STYLE_FIELD = "authentication"
#: Every member the guest management endpoints define: configured b2b credential
#: members may not take any of these names (``username`` identifies the guest).
ENDPOINT_MEMBERS = frozenset(
    {
        AUTH_STYLE_FIELD,
        "merchantId",
        "printedCardNumber",
        "username",
        "email",
        "accountId",
        "resetCode",
        "resetPasswordCode",
        "newPassword",
    }
)


class AuthStyle(StrEnum):
    ANONYMOUS = "anonymous"
    B2B = "b2b"


class GuestIdentity(WireModel):
    merchant_id: StrictPositiveId = Field(alias="merchantId")
    printed_card_number: Text | None = Field(None, alias="printedCardNumber")
    username: Text | None = Field(None, alias="username")
    email: Email | None = Field(None, alias="email")
    account_id: StrictPositiveId | None = Field(None, alias="accountId")

    @model_validator(mode="after")
    def _exactly_one_identifier(self) -> GuestIdentity:
        given = [
            alias
            for alias, value in (
                ("printedCardNumber", self.printed_card_number),
                ("username", self.username),
                ("email", self.email),
                ("accountId", self.account_id),
            )
            if value is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "exactly one of printedCardNumber, username, email, accountId is required"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


class SendResetCode(GuestIdentity):
    reset_code: SecretStr = Field(alias="resetCode", min_length=16)


class ResetGuestPassword(WireModel):
    """Code and password go exactly as given: no stripping, no local length rule."""

    model_config = ConfigDict(**{**WireModel.model_config, "str_strip_whitespace": False})

    merchant_id: StrictPositiveId = Field(alias="merchantId")
    reset_password_code: SecretStr = Field(alias="resetPasswordCode", min_length=1)
    new_password: SecretStr = Field(alias="newPassword")


def new_reset_code() -> str:
    """A reset code from the operating system's secure generator (256 bits)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Credentials:
    """An identifier and secret pair Paytronix assigned."""

    identifier: str
    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.identifier or not self.secret:
            raise VendorConfigurationError("Paytronix credentials need an identifier and a secret")

    def basic(self) -> httpx.BasicAuth:
        return httpx.BasicAuth(self.identifier, self.secret)

    def secrets(self) -> list[str]:
        encoded = base64.b64encode(f"{self.identifier}:{self.secret}".encode()).decode()
        return [self.secret, encoded]


@dataclass(frozen=True, slots=True)
class B2BBodyMembers:
    """Body member names for the b2b credentials, where a merchant's guide names them."""

    identifier: str
    secret: str

    def __post_init__(self) -> None:
        check_b2b_body_members(self.identifier, self.secret)


def check_b2b_body_members(identifier: str, secret: str) -> None:
    """Refuse names that are not JSON member names or that the endpoints already use."""
    for name in (identifier, secret):
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", name or ""):
            raise VendorConfigurationError(f"{name!r} is not a usable body member name")
        if name in ENDPOINT_MEMBERS:
            raise VendorConfigurationError(
                f"the body member {name!r} already means something to Paytronix "
                "(username identifies the guest): b2b credentials cannot go there"
            )
    if identifier == secret:
        raise VendorConfigurationError("the b2b identifier and secret need two member names")


class GuestManagement:
    """One merchant's guest management endpoints, shared by its adapters."""

    def __init__(
        self,
        *,
        base_url: str,
        release: str,
        merchant_id: int,
        integration: Credentials,
        http: VendorHttp,
        b2b: Credentials | None = None,
        b2b_body_members: B2BBodyMembers | None = None,
    ) -> None:
        if not release or release.lower() == "latest":
            raise VendorConfigurationError("Paytronix release must be pinned (not 'latest')")
        if not is_http_url(base_url):
            raise VendorConfigurationError("the Paytronix base URL must be an http(s) URL")
        if isinstance(merchant_id, bool) or not isinstance(merchant_id, int) or merchant_id < 1:
            raise VendorConfigurationError("a Paytronix merchant id is a positive integer")
        if b2b_body_members is not None and b2b is None:
            raise VendorConfigurationError(
                "b2b body members are configured but no b2b credentials to put in them"
            )
        self.merchant_id = merchant_id
        self._root = f"{base_url.rstrip('/')}/rest/{release}/guestmanagement"
        self._integration = integration
        self._b2b = b2b
        self._body_members = b2b_body_members
        self._http = http
        self._redactor = Redactor(
            [*integration.secrets(), *(b2b.secrets() if b2b is not None else [])]
        )

    def authentication(self, style: AuthStyle) -> tuple[httpx.BasicAuth, dict[str, str]]:
        """(HTTP Basic, body members) for a style. Under b2b by default the body has
        only ``authentication``: the b2b pair (else the integration's) is the Basic."""
        if style is AuthStyle.ANONYMOUS:
            return self._integration.basic(), {AUTH_STYLE_FIELD: style.value}
        if self._body_members is None or self._b2b is None:
            return (self._b2b or self._integration).basic(), {AUTH_STYLE_FIELD: style.value}
        return self._integration.basic(), {
            AUTH_STYLE_FIELD: style.value,
            self._body_members.identifier: self._b2b.identifier,
            self._body_members.secret: self._b2b.secret,
        }

    def post(
        self,
        endpoint: str,
        request: WireModel,
        *,
        style: AuthStyle,
        retry: RetryPolicy,
        gateway_errors_are_unknown: bool = False,
    ) -> Outcome:
        auth, members = self.authentication(style)
        call = Call(
            vendor=VENDOR,
            operation=endpoint,
            method="POST",
            url=f"{self._root}/{endpoint}.json",
            body={**members, **request.wire()},
            auth=auth,
            gateway_errors_are_unknown=gateway_errors_are_unknown,
        )
        return self._http.perform(
            call,
            interpret=lambda response, parsed: _interpret(endpoint, response, parsed),
            redactor=self._redactor.extended(request.secrets()),
            policy=retry,
        )


_IDENTITY_FORM = {
    "email": "email",
    "username": "username",
    "accountId": "account_id",
    "printedCardNumber": "card",
}


class PaytronixReset:
    """``ResetAdapter``. Where Paytronix holds the account of record it makes the code
    and emails it (generateAndSendGuestResetPasswordCode, anonymous or b2b); where a
    third party does, frontdesk makes the code (sendGuestResetPasswordCode, b2b)."""

    vendor = VENDOR

    def __init__(
        self,
        guests: GuestManagement,
        *,
        style: AuthStyle,
        third_party: bool,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._guests = guests
        self._style = AuthStyle.B2B if third_party else style
        self.issues_own_code = third_party
        self.operation = (
            "sendGuestResetPasswordCode" if third_party else "generateAndSendGuestResetPasswordCode"
        )
        self._retry = retry or RetryPolicy.once_if_not_arrived()

    def check(self, identity: MemberIdentity) -> None:
        self._identity(identity)

    def reset(self, identity: MemberIdentity, *, reset_code: str | None = None) -> Outcome:
        fields = self._identity(identity).wire()
        if self.issues_own_code:
            if not reset_code:
                raise VendorConfigurationError(
                    "a third party holds this merchant's accounts: pass the reset code"
                )
            request: WireModel = build(SendResetCode, **fields, resetCode=reset_code)
        elif reset_code is not None:
            raise VendorConfigurationError("Paytronix makes its own code here: pass none")
        else:
            request = build(GuestIdentity, **fields)
        return self._guests.post(self.operation, request, style=self._style, retry=self._retry)

    def _identity(self, identity: MemberIdentity) -> GuestIdentity:
        given = identity.given()
        if len(given) > 1:
            raise InvalidVendorRequest(
                [
                    FieldError(name, "Give exactly one identifier for Paytronix: clear the others.")
                    for name in given
                ]
            )
        if not given:
            raise InvalidVendorRequest(
                [FieldError("email", "Enter the guest's email, username, account id or card.")]
            )
        account_id = identity.account_id
        if account_id is not None and not re.fullmatch(r"[0-9]{1,18}", account_id):
            raise InvalidVendorRequest([FieldError("account_id", "An account id is digits only.")])
        return build_for_form(
            _IDENTITY_FORM.get,
            GuestIdentity,
            merchantId=self._guests.merchant_id,
            email=identity.email,
            username=identity.username,
            accountId=int(account_id) if account_id is not None else None,
            printedCardNumber=identity.card,
        )


#: The field a refusal of resetGuestPassword names when Paytronix refused the reset code
#: itself (expired, spent or unknown on its side), not the password: the guest's link no
#: longer works, and no other password would be accepted with it.
RESET_CODE_FIELD = "reset_code"

#: What an errorCode about the reset code contains, letters only, lower case. Paytronix
#: documents no list of error codes for this endpoint (vendor-docs NOTES.md: "not known");
#: its documented codes read ``<service>.<snake_case>`` (``event_reward.invalid_code``),
#: and the sandbox answers ``resetCode.invalid``. So a code naming the reset code, or an
#: invalid, expired, used or unknown code, is taken as about the link. A guess: check it
#: against the codes the merchant's Paytronix integration guide lists.
_CODE_REFUSALS = (
    "resetcode",
    "resetpasswordcode",
    "invalidcode",
    "codeinvalid",
    "expiredcode",
    "codeexpired",
    "usedcode",
    "codeused",
    "unknowncode",
    "codenotfound",
)


def refuses_the_code(error_code: str | None) -> bool:
    """Whether a resetGuestPassword failure's errorCode is about the reset code itself."""
    letters = re.sub(r"[^a-z]", "", (error_code or "").lower())
    return any(marker in letters for marker in _CODE_REFUSALS)


class PaytronixGuestPasswords:
    """``GuestPasswordAdapter``: resetGuestPassword (b2b) with the code we issued.

    A code works once, so a gateway's 502/503/504 is unknown here (the password may
    have been set and the code spent: a retry would be told the code is invalid);
    only an attempt that certainly did not leave is retried, once.
    """

    vendor = VENDOR
    operation = "resetGuestPassword"

    def __init__(self, guests: GuestManagement, *, retry: RetryPolicy | None = None) -> None:
        self._guests = guests
        self._retry = retry or RetryPolicy.once_if_not_arrived()

    def set_password(self, *, reset_code: str, new_password: str) -> Outcome:
        request = build(
            ResetGuestPassword,
            merchantId=self._guests.merchant_id,
            resetPasswordCode=reset_code,
            newPassword=new_password,
        )
        outcome = self._guests.post(
            self.operation,
            request,
            style=AuthStyle.B2B,
            retry=self._retry,
            gateway_errors_are_unknown=True,
        )
        if outcome.kind is OutcomeKind.REFUSED and refuses_the_code(outcome.code):
            about = FieldError(RESET_CODE_FIELD, outcome.message, outcome.code)
            return replace(outcome, field_errors=(about,))
        return outcome


def _interpret(operation: str, response: httpx.Response, body: Any) -> Outcome | None:
    """Decided by ``result`` whatever the status; without one, by the status."""
    result = body.get("result") if isinstance(body, Mapping) else None
    if isinstance(body, Mapping) and result == "success":
        email = body.get("email")
        return Outcome(
            kind=OutcomeKind.SUCCEEDED,
            vendor=VENDOR,
            operation=operation,
            message="done",
            sent_to=email if isinstance(email, str) and email else None,
        )
    if isinstance(body, Mapping) and result == "failure":
        return Outcome(
            kind=OutcomeKind.REFUSED,
            vendor=VENDOR,
            operation=operation,
            message=str(body.get("errorMessage") or "the vendor refused the request"),
            code=str(body.get("errorCode") or "failure"),
        )
    if isinstance(body, Mapping) and result == "more_info":
        fields = body.get("fields")
        named = ", ".join(map(str, fields)) if isinstance(fields, list) else ""
        return Outcome(
            kind=OutcomeKind.REFUSED,
            vendor=VENDOR,
            operation=operation,
            message="the vendor needs more information" + (f": {named}" if named else ""),
            code="more_info",
        )
    status = response.status_code
    if result is None and left_to_transport(status):
        return None
    if result is None and 400 <= status < 500:
        return Outcome(
            kind=OutcomeKind.REFUSED,
            vendor=VENDOR,
            operation=operation,
            message=f"the vendor refused the request (HTTP {status})",
            code=f"HTTP {status}",
        )
    return Outcome(
        kind=OutcomeKind.UNKNOWN,
        vendor=VENDOR,
        operation=operation,
        message=(
            "the vendor answered something we do not understand"
            + (f" (result {str(result)[:40]!r})" if result is not None else f" (HTTP {status})")
            + ": it may have been done"
        ),
        code="result=" + str(result)[:40] if result is not None else f"HTTP {status}",
    )
