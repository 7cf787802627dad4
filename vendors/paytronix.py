"""Paytronix guest management: reset-password codes and completing a reset.

Every call carries HTTP Basic client credentials plus the endpoint's
authentication style in the body (anonymous, or b2b with a partner username and
password). The release is pinned in the URL. Success is decided by ``result``,
whatever the HTTP status.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import httpx
from pydantic import ConfigDict, Field, SecretStr, model_validator

from vendors._errors import VendorConfigurationError
from vendors._outcome import Outcome, OutcomeKind
from vendors._redact import Redactor
from vendors._transport import DEFAULT_TIMEOUT, Call, RetryPolicy, perform
from vendors._types import Email, PositiveId, Text, WireModel

VENDOR = "paytronix"

#: The b2b style's body members. The public pages name the style but not its
#: member names for certain: they live here and nowhere else.
B2B_STYLE = "b2b"
B2B_USERNAME_FIELD = "username"
B2B_PASSWORD_FIELD = "password"
AUTH_STYLE_FIELD = "authentication"


class AuthStyle(StrEnum):
    ANONYMOUS = "anonymous"
    B2B = "b2b"


class GuestIdentity(WireModel):
    merchant_id: PositiveId = Field(alias="merchantId")
    printed_card_number: Text | None = Field(None, alias="printedCardNumber")
    username: Text | None = Field(None, alias="username")
    email: Email | None = Field(None, alias="email")
    account_id: PositiveId | None = Field(None, alias="accountId")

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
    """The guest's new password goes exactly as typed: never stripped, no local length
    or character rules (the merchant's program decides, and its failure says why)."""

    model_config = ConfigDict(str_strip_whitespace=False)  # merged with WireModel's

    merchant_id: PositiveId = Field(alias="merchantId")
    reset_password_code: SecretStr = Field(alias="resetPasswordCode", min_length=1)
    new_password: SecretStr = Field(alias="newPassword")


def new_reset_code() -> str:
    """A reset code from the operating system's secure generator (256 bits)."""
    return secrets.token_urlsafe(32)


class PaytronixClient:
    def __init__(
        self,
        *,
        base_url: str,
        release: str,
        client_id: str,
        client_secret: str,
        auth_style: AuthStyle = AuthStyle.ANONYMOUS,
        b2b_username: str | None = None,
        b2b_password: str | None = None,
        http: httpx.Client | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not release or release.lower() == "latest":
            raise VendorConfigurationError("Paytronix release must be pinned (not 'latest')")
        self._root = f"{base_url.rstrip('/')}/rest/{release}/guestmanagement"
        self._auth = httpx.BasicAuth(client_id, client_secret)
        self._auth_style = auth_style
        self._b2b = (b2b_username, b2b_password)
        self._http = http or httpx.Client(timeout=timeout)
        self._retry = retry or RetryPolicy.once_if_not_arrived()
        self._sleep = sleep
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self._redactor = Redactor([client_secret, b2b_password, basic])

    def close(self) -> None:
        self._http.close()

    def generate_and_send_reset_code(self, request: GuestIdentity) -> Outcome:
        """Paytronix holds the account of record: it makes the code and emails it."""
        return self._post("generateAndSendGuestResetPasswordCode", request, style=self._auth_style)

    def send_reset_code(self, request: SendResetCode) -> Outcome:
        """A third party holds the account of record: we make the code (b2b only)."""
        return self._post("sendGuestResetPasswordCode", request, style=AuthStyle.B2B)

    def reset_guest_password(self, request: ResetGuestPassword) -> Outcome:
        return self._post("resetGuestPassword", request, style=AuthStyle.B2B)

    def _auth_fields(self, style: AuthStyle, body: dict[str, Any]) -> dict[str, Any]:
        if style is AuthStyle.ANONYMOUS:
            return {AUTH_STYLE_FIELD: AuthStyle.ANONYMOUS.value}
        username, password = self._b2b
        if not username or not password:
            raise VendorConfigurationError(
                "Paytronix b2b credentials (username and password) are not configured"
            )
        if B2B_USERNAME_FIELD in body:
            raise VendorConfigurationError(
                "Paytronix b2b authentication and a guest username share the body member "
                f"'{B2B_USERNAME_FIELD}': identify the guest by email, account id or card"
            )
        return {
            AUTH_STYLE_FIELD: B2B_STYLE,
            B2B_USERNAME_FIELD: username,
            B2B_PASSWORD_FIELD: password,
        }

    def _post(self, endpoint: str, request: WireModel, *, style: AuthStyle) -> Outcome:
        body = request.wire()
        body = {**self._auth_fields(style, body), **body}
        call = Call(
            vendor=VENDOR,
            operation=endpoint,
            method="POST",
            url=f"{self._root}/{endpoint}.json",
            body=body,
            auth=self._auth,
        )
        return perform(
            self._http,
            call,
            interpret=lambda response, parsed: _interpret(endpoint, response, parsed),
            redactor=self._redactor.extended(request.secrets()),
            policy=self._retry,
            sleep=self._sleep,
        )


def _interpret(operation: str, response: httpx.Response, body: Any) -> Outcome:
    result = body.get("result") if isinstance(body, dict) else None
    if result == "success":
        data = {"email": body["email"]} if body.get("email") else {}
        return Outcome(
            kind=OutcomeKind.SUCCEEDED,
            vendor=VENDOR,
            operation=operation,
            message="sent",
            data=data,
        )
    if result == "failure":
        return Outcome(
            kind=OutcomeKind.REFUSED,
            vendor=VENDOR,
            operation=operation,
            message=str(body.get("errorMessage") or "the vendor refused the request"),
            code=str(body.get("errorCode") or "failure"),
        )
    if result == "more_info":
        fields = body.get("fields") or []
        return Outcome(
            kind=OutcomeKind.REFUSED,
            vendor=VENDOR,
            operation=operation,
            message="the vendor needs more information: " + ", ".join(map(str, fields)),
            code="more_info",
        )
    if result is None and 400 <= response.status_code < 500:
        return Outcome(
            kind=OutcomeKind.REFUSED,
            vendor=VENDOR,
            operation=operation,
            message=f"the vendor refused the request (HTTP {response.status_code})",
            code=f"HTTP {response.status_code}",
        )
    return Outcome(
        kind=OutcomeKind.UNKNOWN,
        vendor=VENDOR,
        operation=operation,
        message=(
            "the vendor answered something we do not understand"
            + (f" (result '{result}')" if result else f" (HTTP {response.status_code})")
        ),
        code=f"result={result}" if result else f"HTTP {response.status_code}",
    )
