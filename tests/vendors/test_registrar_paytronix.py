"""Registrar and Paytronix adapters: wire format, outcomes, retry (respx)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
import respx

from tests.vendors.helpers import (
    PX,
    PX_B2B,
    PX_CLIENT,
    PX_ROOT,
    REG_URL,
    guest_passwords,
    guests,
    identity,
    paytronix_reset,
    registrar,
    vendor_http,
)
from vendors import InvalidVendorRequest, OutcomeKind, VendorConfigurationError, new_reset_code
from vendors.paytronix import AuthStyle, B2BBodyMembers, Credentials, GuestManagement

GENERATE = f"{PX_ROOT}/generateAndSendGuestResetPasswordCode.json"
SEND = f"{PX_ROOT}/sendGuestResetPasswordCode.json"
RESET = f"{PX_ROOT}/resetGuestPassword.json"


def basic(credentials: Credentials) -> str:
    pair = f"{credentials.identifier}:{credentials.secret}".encode()
    return "Basic " + base64.b64encode(pair).decode()


# -- Registrar --------------------------------------------------------------------------
@respx.mock
def test_registrar_wire_and_success() -> None:
    route = respx.post(REG_URL).respond(200, json={"ResponseStatus": None})
    outcome = registrar().reset(identity(email="jane@example.com"))
    assert outcome.kind is OutcomeKind.SUCCEEDED
    assert json.loads(route.calls.last.request.content) == {
        "Email": "jane@example.com",
        "CustomerBrandName": "Sparkle",
    }


@respx.mock
@pytest.mark.parametrize(
    ("status", "body"),
    [(204, None), (200, None), (201, {}), (200, {"ResponseStatus": {"Message": "ok"}})],
)
def test_registrar_success_is_200_201_204_without_error_code(status: int, body: Any) -> None:
    respx.post(REG_URL).respond(status, json=body)
    assert registrar().reset(identity(email="a@b.io")).succeeded


@respx.mock
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_registrar_redirect_is_unknown_and_a_configuration_error(status: int) -> None:
    route = respx.post(REG_URL).respond(status, headers={"Location": "https://www.registrar.test/"})
    outcome = registrar().reset(identity(email="a@b.io"))
    assert outcome.kind is OutcomeKind.UNKNOWN
    assert outcome.code == "configuration: redirected"
    assert "configuration" in outcome.message and "base URL" in outcome.message
    assert route.call_count == 1  # never followed, never retried


@respx.mock
@pytest.mark.parametrize("status", [202, 203, 205, 206])
def test_registrar_other_2xx_is_unknown(status: int) -> None:
    respx.post(REG_URL).respond(status, json={})
    outcome = registrar().reset(identity(email="a@b.io"))
    assert outcome.kind is OutcomeKind.UNKNOWN


@respx.mock
@pytest.mark.parametrize("status", [200, 404])
def test_registrar_error_code_is_refusal(status: int) -> None:
    respx.post(REG_URL).respond(
        status,
        json={"ResponseStatus": {"ErrorCode": "CustomerNotFound", "Message": "No customer"}},
    )
    outcome = registrar().reset(identity(email="a@b.io"))
    assert (outcome.kind, outcome.code, outcome.message) == (
        OutcomeKind.REFUSED,
        "CustomerNotFound",
        "No customer",
    )


@respx.mock
def test_registrar_retry_once_on_502() -> None:
    route = respx.post(REG_URL)
    route.side_effect = [httpx.Response(502), httpx.Response(502)]
    outcome = registrar().reset(identity(email="a@b.io"))
    assert outcome.kind is OutcomeKind.UNAVAILABLE and route.call_count == 2


@respx.mock
@pytest.mark.parametrize(
    "raw", [b"<xml/>", b"null", b"[]", b'"sent"', b'{"ResponseStatus": "failed"}']
)
def test_registrar_garbage_is_unknown(raw: bytes) -> None:
    respx.post(REG_URL).respond(200, content=raw)
    assert registrar().reset(identity(email="a@b.io")).kind is OutcomeKind.UNKNOWN


def test_registrar_check_names_form_fields() -> None:
    with pytest.raises(InvalidVendorRequest) as caught:
        registrar().check(identity(username="janedoe"))
    assert {e.field for e in caught.value.field_errors} == {"username", "email"}


# -- Paytronix wire format --------------------------------------------------------------
@respx.mock
def test_paytronix_anonymous_wire_format() -> None:
    route = respx.post(GENERATE).respond(
        200, json={"result": "success", "email": "jane@example.com"}
    )
    outcome = paytronix_reset().reset(identity(account_id="5001"))
    assert outcome.kind is OutcomeKind.SUCCEEDED and outcome.sent_to == "jane@example.com"
    request = route.calls.last.request
    assert request.headers["authorization"] == basic(PX_CLIENT)
    assert json.loads(request.content) == {
        "authentication": "anonymous",
        "merchantId": 1234,
        "accountId": 5001,
    }


@respx.mock
def test_paytronix_b2b_generate_by_guest_username() -> None:
    """Deviation 4: b2b puts no credential in the body, so a guest's username is a
    valid identifier; HTTP Basic carries the b2b pair."""
    route = respx.post(GENERATE).respond(200, json={"result": "success", "email": "g@x.io"})
    outcome = paytronix_reset(style=AuthStyle.B2B).reset(identity(username="guestname"))
    assert outcome.succeeded
    request = route.calls.last.request
    assert request.headers["authorization"] == basic(PX_B2B)
    assert json.loads(request.content) == {
        "authentication": "b2b",
        "merchantId": 1234,
        "username": "guestname",
    }


@respx.mock
def test_paytronix_b2b_send_code_wire_format() -> None:
    route = respx.post(SEND).respond(200, json={"result": "success", "email": "tp@example.com"})
    code = new_reset_code()
    assert len(code) >= 43 and code != new_reset_code()
    adapter = paytronix_reset(guests(merchant_id=5678), third_party=True)
    assert adapter.issues_own_code and adapter.operation == "sendGuestResetPasswordCode"
    adapter.reset(identity(username="thirdparty"), reset_code=code)
    request = route.calls.last.request
    assert request.headers["authorization"] == basic(PX_B2B)
    assert json.loads(request.content) == {
        "authentication": "b2b",
        "merchantId": 5678,
        "username": "thirdparty",
        "resetCode": code,
    }


@respx.mock
def test_paytronix_reset_guest_password_wire_format() -> None:
    """Deviation 5: the new password goes exactly as typed (spaces kept, no length rule)."""
    route = respx.post(RESET).respond(200, json={"result": "success"})
    outcome = guest_passwords().set_password(reset_code="code-1234567890", new_password=" ab ")
    assert outcome.succeeded
    request = route.calls.last.request
    assert request.headers["authorization"] == basic(PX_B2B)
    assert json.loads(request.content) == {
        "authentication": "b2b",
        "merchantId": 5678,
        "resetPasswordCode": "code-1234567890",
        "newPassword": " ab ",
    }


@respx.mock
def test_paytronix_b2b_uses_the_integration_pair_when_no_b2b_pair_is_configured() -> None:
    route = respx.post(GENERATE).respond(200, json={"result": "success"})
    paytronix_reset(guests(b2b=None), style=AuthStyle.B2B).reset(identity(email="a@b.io"))
    request = route.calls.last.request
    assert request.headers["authorization"] == basic(PX_CLIENT)
    assert set(json.loads(request.content)) == {"authentication", "merchantId", "email"}


@respx.mock
def test_paytronix_b2b_body_members_are_configuration() -> None:
    """Where a merchant's guide names body members for the b2b pair, they are used by
    those names, and HTTP Basic keeps the integration's pair."""
    route = respx.post(GENERATE).respond(200, json={"result": "success"})
    members = B2BBodyMembers("partnerUser", "partnerSecret")
    management = guests(body_members=members)
    outcome = paytronix_reset(management, style=AuthStyle.B2B).reset(identity(username="guest1"))
    request = route.calls.last.request
    assert request.headers["authorization"] == basic(PX_CLIENT)
    assert json.loads(request.content) == {
        "authentication": "b2b",
        "partnerUser": "partner",
        "partnerSecret": "partner-pass-QQQ",
        "merchantId": 1234,
        "username": "guest1",
    }
    assert "partner-pass-QQQ" not in json.dumps(outcome.to_record())


@pytest.mark.parametrize(
    ("identifier", "secret"),
    [("username", "secret1"), ("user", "newPassword"), ("a", "a"), ("x y", "z"), ("email", "pw")],
)
def test_b2b_body_members_cannot_take_the_endpoints_names(identifier: str, secret: str) -> None:
    with pytest.raises(VendorConfigurationError):
        B2BBodyMembers(identifier, secret)


def test_b2b_body_members_need_b2b_credentials() -> None:
    with pytest.raises(VendorConfigurationError):
        guests(b2b=None, body_members=B2BBodyMembers("partnerUser", "partnerSecret"))


# -- Paytronix: what is refused before sending is a form error ----------------------------
def test_paytronix_check_names_form_fields() -> None:
    adapter = paytronix_reset(style=AuthStyle.B2B)
    adapter.check(identity(username="guestname"))  # a valid identifier under b2b
    with pytest.raises(InvalidVendorRequest) as caught:
        adapter.check(identity(username="guestname", email="a@b.io"))
    assert {e.field for e in caught.value.field_errors} == {"username", "email"}
    assert all("exactly one" in e.message for e in caught.value.field_errors)
    assert all("vendor" not in e.message.lower() for e in caught.value.field_errors)
    with pytest.raises(InvalidVendorRequest) as caught:
        adapter.check(identity(account_id="12a"))
    assert [e.field for e in caught.value.field_errors] == ["account_id"]


@pytest.mark.parametrize("merchant_id", [True, 5.0, "5", 0])
def test_paytronix_merchant_id_strictly_an_integer(merchant_id: Any) -> None:
    with pytest.raises(VendorConfigurationError):
        GuestManagement(
            base_url=PX,
            release="24.1",
            merchant_id=merchant_id,
            integration=PX_CLIENT,
            http=vendor_http(),
        )


def test_paytronix_release_must_be_pinned() -> None:
    with pytest.raises(VendorConfigurationError):
        GuestManagement(
            base_url=PX,
            release="latest",
            merchant_id=1,
            integration=PX_CLIENT,
            http=vendor_http(),
        )


def test_paytronix_third_party_needs_the_code_we_issue() -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(SEND)
        with pytest.raises(VendorConfigurationError):
            paytronix_reset(third_party=True).reset(identity(email="a@b.io"))
        assert route.call_count == 0


# -- Paytronix answers --------------------------------------------------------------------
@respx.mock
@pytest.mark.parametrize("status", [200, 400, 429, 500, 502, 503, 504])
def test_paytronix_failure_decided_by_result_whatever_the_status(status: int) -> None:
    """Deviation 6: the body is read before acting on 429/5xx: a failure is a failure."""
    route = respx.post(GENERATE).respond(
        status, json={"result": "failure", "errorCode": "guest.notFound", "errorMessage": "none"}
    )
    outcome = paytronix_reset().reset(identity(email="a@b.io"))
    assert (outcome.kind, outcome.code) == (OutcomeKind.REFUSED, "guest.notFound")
    assert route.call_count == 1  # a failure is never retried


@respx.mock
@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_paytronix_gateway_without_result_is_retried_once(status: int) -> None:
    route = respx.post(GENERATE)
    route.side_effect = [
        httpx.Response(status, text="<html>busy</html>"),
        httpx.Response(200, json={"result": "success"}),
    ]
    assert paytronix_reset().reset(identity(email="a@b.io")).succeeded
    assert route.call_count == 2


@respx.mock
@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_spent_code_is_never_resent_after_a_gateway_error(status: int) -> None:
    route = respx.post(RESET).respond(status, text="<html>gateway</html>")
    outcome = guest_passwords().set_password(reset_code="c" * 20, new_password="pw")
    assert outcome.kind is OutcomeKind.UNKNOWN and route.call_count == 1


@respx.mock
def test_paytronix_more_info_and_unknown_result() -> None:
    route = respx.post(GENERATE)
    route.respond(200, json={"result": "more_info", "fields": ["phone"]})
    adapter = paytronix_reset()
    outcome = adapter.reset(identity(email="a@b.io"))
    assert outcome.kind is OutcomeKind.REFUSED and "phone" in outcome.message
    route.respond(200, json={"result": "pending"})
    outcome = adapter.reset(identity(email="a@b.io"))
    assert outcome.kind is OutcomeKind.UNKNOWN and "pending" in outcome.message
    route.respond(200, json={"Result": "success"})
    assert adapter.reset(identity(email="a@b.io")).kind is OutcomeKind.UNKNOWN


@respx.mock
def test_paytronix_reset_password_never_echoed() -> None:
    respx.post(RESET).respond(
        200, json={"result": "failure", "errorCode": "x", "errorMessage": "bad pw N3w-Passw0rd!"}
    )
    outcome = guest_passwords().set_password(reset_code="code-123456", new_password="N3w-Passw0rd!")
    text = json.dumps(outcome.to_record(), default=str)
    assert "N3w-Passw0rd!" not in text and "code-123456" not in text
    assert "partner-pass-QQQ" not in text and "px-secret-XYZ" not in text
    assert base64.b64encode(b"partner:partner-pass-QQQ").decode() not in text


@respx.mock
@pytest.mark.parametrize(
    ("error_code", "about_the_code"),
    [
        ("resetCode.invalid", True),  # the sandbox's
        ("guestmanagement.invalid_reset_password_code", True),  # Paytronix's naming style
        ("guest_management.reset_code_expired", True),
        ("guestmanagement.invalid_code", True),
        ("password.tooWeak", False),
        ("guestmanagement.password_invalid", False),
        ("request.invalid", False),
        ("", False),
    ],
)
def test_a_refusal_of_the_reset_code_itself_names_the_code_not_the_password(
    error_code: str, about_the_code: bool
) -> None:
    """Review finding 4: Paytronix refusing the code (expired or spent on its side) is not
    a refusal of the password: the refusal names the code as its field."""
    from vendors.paytronix import RESET_CODE_FIELD

    respx.post(RESET).respond(
        200,
        json={"result": "failure", "errorCode": error_code, "errorMessage": "The code is bad"},
    )
    outcome = guest_passwords().set_password(reset_code="c" * 43, new_password="N3w-pass")
    assert outcome.kind is OutcomeKind.REFUSED and outcome.code == (error_code or "failure")
    named = [error.field for error in outcome.field_errors]
    assert named == ([RESET_CODE_FIELD] if about_the_code else [])
