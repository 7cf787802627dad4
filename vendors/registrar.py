"""Registrar Web Services (ServiceStack): ``POST /ResetCustomerPassword``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import Field

from vendors import _servicestack as ss
from vendors._outcome import Outcome, OutcomeKind
from vendors._redact import Redactor
from vendors._transport import DEFAULT_TIMEOUT, Call, RetryPolicy, perform
from vendors._types import Email, Text, WireModel

VENDOR = "registrar"


class ResetCustomerPassword(WireModel):
    email: Email = Field(alias="Email")
    customer_brand_name: Text | None = Field(None, alias="CustomerBrandName")


class RegistrarClient:
    def __init__(
        self,
        *,
        base_url: str,
        http: httpx.Client | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        reset_retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._http = http or httpx.Client(timeout=timeout)
        self._reset_retry = reset_retry or RetryPolicy.once_if_not_arrived()
        self._sleep = sleep

    def close(self) -> None:
        self._http.close()

    def reset_customer_password(self, request: ResetCustomerPassword) -> Outcome:
        call = Call(
            vendor=VENDOR,
            operation="password_reset",
            method="POST",
            url=f"{self._base_url}/ResetCustomerPassword",
            body=request.wire(),
        )
        return perform(
            self._http,
            call,
            interpret=_interpret,
            redactor=Redactor(),
            policy=self._reset_retry,
            sleep=self._sleep,
        )


def _interpret(response: httpx.Response, body: Any) -> Outcome:
    operation = "password_reset"
    if response.status_code >= 500:
        return ss.server_error(VENDOR, operation, response, body)
    if response.status_code >= 400:
        return ss.refusal(VENDOR, operation, response, body)
    status = ss.response_status(body)
    if status is not None and ss.member(status, "ErrorCode"):
        return ss.refusal(VENDOR, operation, response, body)
    if not isinstance(body, dict) and (body is not None or response.content.strip()):
        return ss.not_understood(VENDOR, operation, response)
    return Outcome(kind=OutcomeKind.SUCCEEDED, vendor=VENDOR, operation=operation, message="sent")
