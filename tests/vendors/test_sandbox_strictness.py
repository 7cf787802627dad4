"""The sandbox refuses what the vendors' contracts refuse, over raw HTTP (it shares no
guess with the adapters: these tests speak to it directly)."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from vendors.sandbox import Fault, Sandbox
from vendors.sandbox._clubready import Package

KEY = "sandbox-clubready-key"
CLIENT = ("sandbox-client", "sandbox-secret")
PARTNER = ("sandbox-partner", "sandbox-b2b-pass")


def sell(sandbox: Sandbox, **body: Any) -> httpx.Response:
    fields = {
        "PackageId": 2001,
        "InstallmentPlanId": 3001,
        "PaymentAmount": 49.00,
        "FirstName": "A",
        "LastName": "B",
        "Email": "ab@example.com",
        **body,
    }
    return httpx.post(
        f"{sandbox.base_url('clubready')}/sales/contract/sold/new/user",
        params={"ApiKey": KEY, "StoreId": 101},
        json=fields,
    )


def field_names(response: httpx.Response) -> list[str]:
    return [e["FieldName"] for e in response.json()["ResponseStatus"]["Errors"]]


# -- ClubReady: new-user payment ----------------------------------------------------------
def test_an_acct_token_only_new_user_sale_is_refused(sandbox: Sandbox) -> None:
    refused = sell(sandbox, PaymentMethods=[{"AcctToken": "tok_acct_0001"}])
    assert refused.status_code == 400
    assert field_names(refused) == ["PaymentMethods"]
    assert "ProfileToken" in refused.json()["ResponseStatus"]["Message"]
    assert sandbox.vendors["clubready"].state.sales == []
    # With a ProfileToken among the methods the same sale goes through.
    sold = sell(
        sandbox,
        PaymentMethods=[
            {"AcctToken": "tok_acct_0001", "PaymentAmount": 20},
            {"ProfileToken": "tok_profile_0001"},
        ],
    )
    assert sold.json()["Success"] is True


def test_an_acct_token_alone_pays_for_a_package_paid_in_full(sandbox: Sandbox) -> None:
    sandbox.vendors["clubready"].state.packages[101].append(
        Package(2004, 3004, Decimal("120.00"), "Ten Visits", paid_in_full=True)
    )
    sold = sell(
        sandbox,
        PackageId=2004,
        InstallmentPlanId=3004,
        PaymentAmount=120,
        PaymentMethods=[{"AcctToken": "tok_acct_0001"}],
    )
    assert sold.json()["Success"] is True


def test_an_empty_payment_methods_is_refused(sandbox: Sandbox) -> None:
    refused = sell(sandbox, PaymentMethods=[])
    assert refused.status_code == 400 and field_names(refused) == ["PaymentMethods"]


# -- ServiceStack conventions -------------------------------------------------------------
def test_camel_case_mode_recases_error_bodies_too(sandbox: Sandbox) -> None:
    sandbox.set_casing("camel")
    refused = sell(sandbox, PaymentMethods=[{"AcctToken": "tok_acct_0001"}])
    status = refused.json()["responseStatus"]
    assert status["errorCode"] == "ValidationException"
    assert status["errors"][0]["fieldName"] == "PaymentMethods"
    unauthorized = httpx.post(
        f"{sandbox.base_url('clubready')}/users/passwordreset",
        params={"ApiKey": "wrong", "StoreId": 101},
        json={"Email": "jane@example.com"},
    )
    assert unauthorized.status_code == 401
    assert unauthorized.json()["responseStatus"]["errorCode"] == "Unauthorized"
    missing = httpx.post(f"{sandbox.base_url('clubready')}/no/such/route", json={})
    assert missing.json()["responseStatus"]["errorCode"] == "NotFound"


@pytest.mark.parametrize(
    "path", ["/clubready/api/current/users/nowhere", "/registrar/Nowhere", "/elsewhere"]
)
def test_unknown_routes_get_a_servicestack_shaped_404(sandbox: Sandbox, path: str) -> None:
    answer = httpx.post(sandbox.url + path, json={"Email": "jane@example.com"})
    assert answer.status_code == 404
    status = answer.json()["ResponseStatus"]
    assert (
        status["ErrorCode"] == "NotFound" and "Handler for Request not found" in status["Message"]
    )


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_json_is_parsed_only_with_a_json_content_type(sandbox: Sandbox, content_type: str) -> None:
    body = json.dumps({"Email": "jane@example.com"})
    headers = {"Content-Type": content_type} if content_type else {}
    answer = httpx.post(
        f"{sandbox.base_url('registrar')}/ResetCustomerPassword", content=body, headers=headers
    )
    assert answer.status_code == 400
    assert answer.json()["ResponseStatus"]["ErrorCode"] == "SerializationException"
    ok = httpx.post(
        f"{sandbox.base_url('registrar')}/ResetCustomerPassword",
        content=body,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert ok.status_code == 200


# -- Paytronix ------------------------------------------------------------------------------
def paytronix(
    sandbox: Sandbox, endpoint: str, body: dict[str, Any], auth: tuple[str, str], **kw: Any
) -> httpx.Response:
    return httpx.post(
        f"{sandbox.base_url('paytronix')}/rest/24.1/guestmanagement/{endpoint}.json",
        json=body,
        auth=auth,
        **kw,
    )


@pytest.mark.parametrize(
    ("style", "auth"), [("anonymous", CLIENT), ("b2b", PARTNER)], ids=["anonymous", "b2b"]
)
@pytest.mark.parametrize(
    "identifiers",
    [
        {"username": "janeloyal", "email": "jane@example.com"},
        {"username": "janeloyal", "accountId": 5001},
        {"printedCardNumber": "6000100020003000", "email": "jane@example.com"},
    ],
)
def test_two_guest_identifiers_are_refused_whatever_their_names(
    sandbox: Sandbox, style: str, auth: tuple[str, str], identifiers: dict[str, Any]
) -> None:
    answer = paytronix(
        sandbox,
        "generateAndSendGuestResetPasswordCode",
        {"authentication": style, "merchantId": 1234, **identifiers},
        auth,
    )
    assert answer.json()["result"] == "failure"
    assert "Exactly one" in answer.json()["errorMessage"]


@pytest.mark.parametrize(
    "extra",
    [
        {"username": "sandbox-partner", "password": "sandbox-b2b-pass"},  # the old guess
        {"partnerSecret": "sandbox-b2b-pass"},
        {"b2bUser": "sandbox-partner"},
        {"password": "anything"},
    ],
)
def test_b2b_credentials_in_the_body_are_refused(sandbox: Sandbox, extra: dict[str, Any]) -> None:
    answer = paytronix(
        sandbox,
        "generateAndSendGuestResetPasswordCode",
        {"authentication": "b2b", "merchantId": 5678, "email": "tp@example.com", **extra},
        PARTNER,
    )
    assert answer.json() == {
        "result": "failure",
        "errorCode": "authentication.credentialsInBody",
        "errorMessage": answer.json()["errorMessage"],
    }
    assert sandbox.vendors["paytronix"].state.reset_codes == {}


def test_b2b_is_authenticated_by_http_basic_with_the_b2b_pair(sandbox: Sandbox) -> None:
    body = {"authentication": "b2b", "merchantId": 5678, "username": "thirdparty"}
    ok = paytronix(sandbox, "generateAndSendGuestResetPasswordCode", body, PARTNER)
    assert ok.json() == {"result": "success", "email": "tp@example.com"}
    # The integration pair authenticates anonymous calls, not b2b ones.
    refused = paytronix(sandbox, "generateAndSendGuestResetPasswordCode", body, CLIENT)
    assert refused.status_code == 401 and refused.json()["errorCode"] == "authentication.invalid"
    # And b2b is not a body-only affair.
    bare = httpx.post(
        f"{sandbox.base_url('paytronix')}/rest/24.1/guestmanagement/"
        "generateAndSendGuestResetPasswordCode.json",
        json=body,
    )
    assert bare.status_code == 401


def test_unknown_members_and_non_json_are_refused(sandbox: Sandbox) -> None:
    body = {"authentication": "anonymous", "merchantId": 1234, "email": "jane@example.com"}
    odd = paytronix(
        sandbox, "generateAndSendGuestResetPasswordCode", {**body, "locale": "en"}, CLIENT
    )
    assert odd.json()["errorCode"] == "request.invalid" and "locale" in odd.json()["errorMessage"]
    text = httpx.post(
        f"{sandbox.base_url('paytronix')}/rest/24.1/guestmanagement/"
        "generateAndSendGuestResetPasswordCode.json",
        content=json.dumps(body),
        headers={
            "Content-Type": "text/plain",
            "Authorization": "Basic " + base64.b64encode(b"sandbox-client:sandbox-secret").decode(),
        },
    )
    assert text.status_code == 400 and text.json()["errorCode"] == "request.invalid"


@pytest.mark.parametrize("merchant_id", [True, 1234.0, "1234"])
def test_paytronix_merchant_id_must_be_an_integer(sandbox: Sandbox, merchant_id: Any) -> None:
    body = {"authentication": "anonymous", "merchantId": merchant_id, "email": "jane@example.com"}
    answer = paytronix(sandbox, "generateAndSendGuestResetPasswordCode", body, CLIENT)
    assert answer.json()["result"] == "failure"


def test_the_drip_fault_sends_a_whole_answer_slowly(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("drip", vendor="registrar", seconds=0.002))
    answer = httpx.post(
        f"{sandbox.base_url('registrar')}/ResetCustomerPassword",
        json={"Email": "jane@example.com"},
        timeout=10,
    )
    assert answer.status_code == 200 and answer.json() == {"ResponseStatus": None}
