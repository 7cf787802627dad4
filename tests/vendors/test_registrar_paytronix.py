"""Registrar and Paytronix adapters: wire format, outcomes, retry (respx)."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
import respx

from vendors import OutcomeKind, VendorConfigurationError, build
from vendors.paytronix import (
    AuthStyle,
    GuestIdentity,
    PaytronixClient,
    ResetGuestPassword,
    SendResetCode,
    new_reset_code,
)
from vendors.registrar import RegistrarClient, ResetCustomerPassword

REG = "https://registrar.test"
PX = "https://px.test"
PX_ROOT = f"{PX}/rest/24.1/guestmanagement"


@pytest.fixture
def registrar() -> RegistrarClient:
    return RegistrarClient(base_url=REG, sleep=lambda s: None)


def paytronix(style: AuthStyle = AuthStyle.ANONYMOUS) -> PaytronixClient:
    return PaytronixClient(
        base_url=PX,
        release="24.1",
        client_id="px-client",
        client_secret="px-secret-XYZ",
        auth_style=style,
        b2b_username="partner",
        b2b_password="partner-pass-QQQ",
        sleep=lambda s: None,
    )


@respx.mock
def test_registrar_wire_and_success(registrar: RegistrarClient) -> None:
    route = respx.post(f"{REG}/ResetCustomerPassword").respond(200, json={"ResponseStatus": None})
    outcome = registrar.reset_customer_password(
        build(ResetCustomerPassword, Email="jane@example.com", CustomerBrandName="Sparkle")
    )
    assert outcome.kind is OutcomeKind.SUCCEEDED
    assert json.loads(route.calls.last.request.content) == {
        "Email": "jane@example.com",
        "CustomerBrandName": "Sparkle",
    }


@respx.mock
def test_registrar_empty_body_is_success(registrar: RegistrarClient) -> None:
    respx.post(f"{REG}/ResetCustomerPassword").respond(204)
    assert registrar.reset_customer_password(build(ResetCustomerPassword, Email="a@b.io")).succeeded


@respx.mock
@pytest.mark.parametrize("status", [200, 404])
def test_registrar_error_code_is_refusal(registrar: RegistrarClient, status: int) -> None:
    respx.post(f"{REG}/ResetCustomerPassword").respond(
        status,
        json={"ResponseStatus": {"ErrorCode": "CustomerNotFound", "Message": "No customer"}},
    )
    outcome = registrar.reset_customer_password(build(ResetCustomerPassword, Email="a@b.io"))
    assert (outcome.kind, outcome.code, outcome.message) == (
        OutcomeKind.REFUSED,
        "CustomerNotFound",
        "No customer",
    )


@respx.mock
def test_registrar_retry_once_on_502(registrar: RegistrarClient) -> None:
    route = respx.post(f"{REG}/ResetCustomerPassword")
    route.side_effect = [httpx.Response(502), httpx.Response(502)]
    outcome = registrar.reset_customer_password(build(ResetCustomerPassword, Email="a@b.io"))
    assert outcome.kind is OutcomeKind.UNAVAILABLE and route.call_count == 2


@respx.mock
def test_registrar_garbage_is_unknown(registrar: RegistrarClient) -> None:
    respx.post(f"{REG}/ResetCustomerPassword").respond(200, text="<xml/>")
    outcome = registrar.reset_customer_password(build(ResetCustomerPassword, Email="a@b.io"))
    assert outcome.kind is OutcomeKind.UNKNOWN


@respx.mock
def test_paytronix_anonymous_wire_format() -> None:
    route = respx.post(f"{PX_ROOT}/generateAndSendGuestResetPasswordCode.json").respond(
        200, json={"result": "success", "email": "jane@example.com"}
    )
    outcome = paytronix().generate_and_send_reset_code(
        build(GuestIdentity, merchantId=1234, accountId=5001)
    )
    assert outcome.kind is OutcomeKind.SUCCEEDED and outcome.data == {"email": "jane@example.com"}
    request = route.calls.last.request
    expected = "Basic " + base64.b64encode(b"px-client:px-secret-XYZ").decode()
    assert request.headers["authorization"] == expected
    assert json.loads(request.content) == {
        "authentication": "anonymous",
        "merchantId": 1234,
        "accountId": 5001,
    }


@respx.mock
def test_paytronix_b2b_send_code_wire_format() -> None:
    route = respx.post(f"{PX_ROOT}/sendGuestResetPasswordCode.json").respond(
        200, json={"result": "success", "email": "tp@example.com"}
    )
    code = new_reset_code()
    assert len(code) >= 43 and code != new_reset_code()
    paytronix().send_reset_code(
        build(SendResetCode, merchantId=5678, email="tp@example.com", resetCode=code)
    )
    assert json.loads(route.calls.last.request.content) == {
        "authentication": "b2b",
        "username": "partner",
        "password": "partner-pass-QQQ",
        "merchantId": 5678,
        "email": "tp@example.com",
        "resetCode": code,
    }


def test_paytronix_b2b_with_guest_username_refused_before_sending() -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(f"{PX_ROOT}/generateAndSendGuestResetPasswordCode.json")
        with pytest.raises(VendorConfigurationError, match="share the body member"):
            paytronix(AuthStyle.B2B).generate_and_send_reset_code(
                build(GuestIdentity, merchantId=1, username="guestname")
            )
        assert route.call_count == 0


def test_paytronix_release_must_be_pinned() -> None:
    with pytest.raises(VendorConfigurationError):
        PaytronixClient(base_url=PX, release="latest", client_id="a", client_secret="b")


@respx.mock
@pytest.mark.parametrize("status", [200, 400, 500])
def test_paytronix_failure_decided_by_result(status: int) -> None:
    route = respx.post(f"{PX_ROOT}/generateAndSendGuestResetPasswordCode.json").respond(
        status, json={"result": "failure", "errorCode": "guest.notFound", "errorMessage": "none"}
    )
    outcome = paytronix().generate_and_send_reset_code(
        build(GuestIdentity, merchantId=1, email="a@b.io")
    )
    assert (outcome.kind, outcome.code) == (OutcomeKind.REFUSED, "guest.notFound")
    assert route.call_count == 1  # a failure is never retried


@respx.mock
def test_paytronix_more_info_and_unknown_result() -> None:
    route = respx.post(f"{PX_ROOT}/generateAndSendGuestResetPasswordCode.json")
    route.respond(200, json={"result": "more_info", "fields": ["phone"]})
    request = build(GuestIdentity, merchantId=1, email="a@b.io")
    outcome = paytronix().generate_and_send_reset_code(request)
    assert outcome.kind is OutcomeKind.REFUSED and "phone" in outcome.message
    route.respond(200, json={"result": "pending"})
    outcome = paytronix().generate_and_send_reset_code(request)
    assert outcome.kind is OutcomeKind.UNKNOWN and "pending" in outcome.message


@respx.mock
def test_paytronix_reset_password_never_echoed() -> None:
    respx.post(f"{PX_ROOT}/resetGuestPassword.json").respond(
        200, json={"result": "failure", "errorCode": "x", "errorMessage": "bad pw N3w-Passw0rd!"}
    )
    outcome = paytronix().reset_guest_password(
        build(
            ResetGuestPassword,
            merchantId=1,
            resetPasswordCode="code-123456",
            newPassword="N3w-Passw0rd!",
        )
    )
    text = json.dumps(outcome.to_record(), default=str)
    assert "N3w-Passw0rd!" not in text and "code-123456" not in text
    assert "partner-pass-QQQ" not in text and "px-secret-XYZ" not in text
