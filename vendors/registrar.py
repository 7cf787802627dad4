"""Registrar Web Services (ServiceStack): ``POST /ResetCustomerPassword``.

Success is HTTP 200/201/204 with ``ResponseStatus`` absent, null or without an
``ErrorCode``. A redirect (a wrong base URL) or a 206 (a request ServiceStack
cancelled mid-way) is unknown, never "sent".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import Field

from vendors import _servicestack as ss
from vendors._adapters import MemberIdentity
from vendors._errors import InvalidVendorRequest, VendorConfigurationError, build_for_form
from vendors._outcome import FieldError, Outcome, OutcomeKind
from vendors._redact import Redactor
from vendors._transport import Call, RetryPolicy, VendorHttp, is_http_url, left_to_transport
from vendors._types import Email, Text, WireModel

VENDOR = "registrar"


class ResetCustomerPassword(WireModel):
    email: Email = Field(alias="Email")
    customer_brand_name: Text | None = Field(None, alias="CustomerBrandName")


class RegistrarReset:
    """``ResetAdapter``: Registrar emails the customer its own reset link."""

    vendor = VENDOR
    operation = "password_reset"
    issues_own_code = False

    def __init__(
        self,
        *,
        base_url: str,
        http: VendorHttp,
        customer_brand_name: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not is_http_url(base_url):
            raise VendorConfigurationError("the Registrar base URL must be an http(s) URL")
        self._url = f"{base_url.rstrip('/')}/ResetCustomerPassword"
        self._brand = customer_brand_name
        self._http = http
        self._retry = retry or RetryPolicy.once_if_not_arrived()

    def check(self, identity: MemberIdentity) -> None:
        self._request(identity)

    def reset(self, identity: MemberIdentity, *, reset_code: str | None = None) -> Outcome:
        if reset_code is not None:
            raise VendorConfigurationError("Registrar makes its own reset link: pass no code")
        request = self._request(identity)
        call = Call(
            vendor=VENDOR,
            operation=self.operation,
            method="POST",
            url=self._url,
            body=request.wire(),
        )
        return self._http.perform(
            call, interpret=_interpret, redactor=Redactor(), policy=self._retry
        )

    def _request(self, identity: MemberIdentity) -> ResetCustomerPassword:
        errors = [
            FieldError(name, "Registrar finds customers by email only.")
            for name in ("username", "account_id", "card")
            if getattr(identity, name) is not None
        ]
        if identity.email is None:
            errors.append(FieldError("email", "Enter the customer's email."))
        if errors:
            raise InvalidVendorRequest(errors)
        return build_for_form(
            {"Email": "email"}.get,
            ResetCustomerPassword,
            Email=identity.email,
            CustomerBrandName=self._brand,
        )


def _interpret(response: httpx.Response, body: Any) -> Outcome | None:
    operation = "password_reset"
    if left_to_transport(response.status_code):
        return None
    verdict = ss.status_only(VENDOR, operation, response, body)
    if verdict is not None:
        return verdict
    empty = not response.content.strip()
    if not empty and not isinstance(body, Mapping):  # null, an array, text, HTML
        return ss.not_understood(VENDOR, operation, response)
    try:
        error = ss.error_code(body)
    except ss.Malformed:
        return ss.not_understood(VENDOR, operation, response)
    if error is not None:
        return ss.refusal(VENDOR, operation, response, body)
    return Outcome(kind=OutcomeKind.SUCCEEDED, vendor=VENDOR, operation=operation, message="sent")
