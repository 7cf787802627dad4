"""Planted secrets never reach logs, exception strings or outcome records."""

from __future__ import annotations

import base64
import json
import logging
from decimal import Decimal

import httpx
import pytest
import respx

from tests.vendors.helpers import identity, new_sale, vendor_http
from vendors import InvalidVendorRequest, PaymentInstruction, build
from vendors.clubready import ClubReadyAccount, ClubReadyReset, ContractSale, ContractSoldNewUser
from vendors.paytronix import (
    AuthStyle,
    Credentials,
    GuestManagement,
    PaytronixGuestPasswords,
    PaytronixReset,
)
from vendors.sandbox import Fault, Sandbox

API_KEY = "PLANTED-APIKEY-7f3a9"
ACCT = "PLANTED-ACCT-TOKEN-4421"
PROFILE = "PLANTED-PROFILE-TOKEN-8812"
PASSWORD = "PLANTED-Passw0rd-551"
CLIENT_SECRET = "PLANTED-CLIENT-SECRET-3"
B2B_PASSWORD = "PLANTED-B2B-PASS-77"
BASIC = base64.b64encode(f"cid:{CLIENT_SECRET}".encode()).decode()
B2B_BASIC = base64.b64encode(f"partner:{B2B_PASSWORD}".encode()).decode()
RESET_CODE = "PLANTED-RESET-CODE-0123456789"
SECRETS = [API_KEY, ACCT, PROFILE, PASSWORD, CLIENT_SECRET, B2B_PASSWORD, BASIC, B2B_BASIC]
SECRETS.append(RESET_CODE)


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"secret leaked: {secret[:12]}…"


def test_no_secret_anywhere(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    records: list[str] = []
    errors: list[str] = []
    with respx.mock:
        # The vendor echoes everything back, in the body and in error messages.
        def echo(request: httpx.Request) -> httpx.Response:
            return httpx.Response(
                400,
                json={
                    "ResponseStatus": {
                        "ErrorCode": "Echo",
                        "Message": f"bad {request.url} {request.content.decode()}",
                        "Errors": [{"FieldName": "AcctToken", "Message": request.content.decode()}],
                    },
                    "AcctToken": ACCT,
                },
            )

        respx.route(host="cr.test").mock(side_effect=echo)
        respx.route(host="px.test").mock(
            side_effect=lambda r: httpx.Response(
                200,
                json={
                    "result": "failure",
                    "errorCode": "x",
                    "errorMessage": f"{r.headers['authorization']} {r.content.decode()}",
                },
            )
        )
        account = ClubReadyAccount(base_url="https://cr.test/api", api_key=API_KEY, store_id=1)
        http = vendor_http()
        sale = new_sale(
            amount=Decimal("10.00"),
            payments=(
                PaymentInstruction("acct", ACCT, Decimal("5")),
                PaymentInstruction("profile", PROFILE),
            ),
        )
        records.append(json.dumps(ContractSoldNewUser(account, http).sell(sale).to_record()))
        records.append(
            json.dumps(
                ClubReadyReset(account, http).reset(identity(email="a@example.com")).to_record()
            )
        )
        guests = GuestManagement(
            base_url="https://px.test",
            release="24.1",
            merchant_id=1,
            integration=Credentials("cid", CLIENT_SECRET),
            b2b=Credentials("partner", B2B_PASSWORD),
            http=http,
        )
        records.append(
            json.dumps(
                PaytronixGuestPasswords(guests)
                .set_password(reset_code="c" * 20, new_password=PASSWORD)
                .to_record()
            )
        )
        records.append(
            json.dumps(
                PaytronixReset(guests, style=AuthStyle.ANONYMOUS, third_party=False)
                .reset(identity(account_id="2"))
                .to_record()
            )
        )
        records.append(
            json.dumps(
                PaytronixReset(guests, style=AuthStyle.B2B, third_party=True)
                .reset(identity(username="guest1"), reset_code=RESET_CODE)
                .to_record()
            )
        )
    for bad in (
        {"PaymentMethods": [{"AcctToken": ACCT, "ProfileToken": PROFILE}]},
        {"PaymentAmount": ACCT},
    ):
        try:
            fields = {
                "StoreId": 1,
                "PackageId": 1,
                "InstallmentPlanId": 1,
                "PaymentAmount": "1",
                "FirstName": "A",
                "LastName": "B",
                "Email": "a@example.com",
            }
            build(ContractSale, **{**fields, **bad})
        except InvalidVendorRequest as exc:
            errors.append(f"{exc!s} {exc!r} {exc.field_errors!r}")
    assert len(errors) == 2
    assert "[REDACTED]" in records[0]
    for text in [*records, *errors, caplog.text]:
        assert_clean(text)


def test_transport_errors_are_clean(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with Sandbox() as sandbox:
        sandbox.inject(Fault("drop_after", vendor="clubready"))
        account = ClubReadyAccount(
            base_url=sandbox.base_url("clubready"), api_key=API_KEY, store_id=101
        )
        outcome = ClubReadyReset(account, vendor_http()).reset(identity(email="jane@example.com"))
    text = json.dumps(outcome.to_record(), default=str)
    assert outcome.exchanges[0].transport_error
    assert_clean(text + caplog.text)


def test_a_secret_echoed_url_encoded_is_redacted() -> None:
    """A vendor echoing its query string carries the key URL-encoded."""
    from vendors import Redactor

    key = "k3y+With/Slash=="
    redactor = Redactor([key])
    for echoed in ("ApiKey=k3y%2BWith%2FSlash%3D%3D", "k3y%2BWith%2FSlash%3D%3D", key):
        assert "Slash" not in redactor.text(f"bad request for {echoed} at store 101")


def test_a_short_secret_is_redacted_where_it_stands_alone() -> None:
    """A guest's three-letter password that Paytronix echoes in its refusal (the review's
    echo_short.py): redacted as a whole word, without shredding the words around it."""
    from vendors import Redactor

    redactor = Redactor(["api-key-long-enough"]).extended(["q7Z", "a", "%!"])
    assert redactor.text("Password q7Z is too weak") == "Password [REDACTED] is too weak"
    assert redactor.text("'q7Z' (3 characters)") == "'[REDACTED]' (3 characters)"
    assert redactor.text("a is not a password") == "[REDACTED] is not [REDACTED] password"
    assert redactor.text("use %! or more") == "use [REDACTED] or more"
    assert redactor.text("q7Zq7Z and xq7Z stay") == "q7Zq7Z and xq7Z stay"
    assert redactor.json({"errorMessage": "newPassword=q7Z"}) == {
        "errorMessage": "newPassword=[REDACTED]"
    }
