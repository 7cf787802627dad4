"""Planted secrets never reach logs, exception strings or outcome records."""

from __future__ import annotations

import base64
import json
import logging

import httpx
import pytest
import respx

from vendors import InvalidVendorRequest, build
from vendors.clubready import ClubReadyClient, ContractSale, PasswordReset
from vendors.paytronix import AuthStyle, GuestIdentity, PaytronixClient, ResetGuestPassword
from vendors.sandbox import Fault, Sandbox

API_KEY = "PLANTED-APIKEY-7f3a9"
ACCT = "PLANTED-ACCT-TOKEN-4421"
PROFILE = "PLANTED-PROFILE-TOKEN-8812"
PASSWORD = "PLANTED-Passw0rd-551"
CLIENT_SECRET = "PLANTED-CLIENT-SECRET-3"
B2B_PASSWORD = "PLANTED-B2B-PASS-77"
BASIC = base64.b64encode(f"cid:{CLIENT_SECRET}".encode()).decode()
SECRETS = [API_KEY, ACCT, PROFILE, PASSWORD, CLIENT_SECRET, B2B_PASSWORD, BASIC]


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
        client = ClubReadyClient(base_url="https://cr.test/api", api_key=API_KEY)
        sale = build(
            ContractSale,
            StoreId=1,
            PackageId=1,
            InstallmentPlanId=1,
            PaymentAmount="10.00",
            FirstName="A",
            LastName="B",
            Email="a@example.com",
            PaymentMethods=[{"AcctToken": ACCT, "PaymentAmount": "5"}, {"ProfileToken": PROFILE}],
        )
        records.append(
            json.dumps(client.contract_sold_new_user.sell(sale).to_record(), default=str)
        )
        records.append(
            json.dumps(
                client.reset_password(
                    build(PasswordReset, StoreId=1, Email="a@example.com")
                ).to_record(),
                default=str,
            )
        )
        px = PaytronixClient(
            base_url="https://px.test",
            release="24.1",
            client_id="cid",
            client_secret=CLIENT_SECRET,
            auth_style=AuthStyle.B2B,
            b2b_username="partner",
            b2b_password=B2B_PASSWORD,
        )
        records.append(
            json.dumps(
                px.reset_guest_password(
                    build(
                        ResetGuestPassword,
                        merchantId=1,
                        resetPasswordCode="c" * 20,
                        newPassword=PASSWORD,
                    )
                ).to_record(),
                default=str,
            )
        )
        records.append(
            json.dumps(
                px.generate_and_send_reset_code(
                    build(GuestIdentity, merchantId=1, accountId=2)
                ).to_record(),
                default=str,
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
        client = ClubReadyClient(base_url=sandbox.base_url("clubready"), api_key=API_KEY)
        outcome = client.reset_password(build(PasswordReset, StoreId=101, Email="jane@example.com"))
    text = json.dumps(outcome.to_record(), default=str)
    assert outcome.exchanges[0].transport_error
    assert_clean(text + caplog.text)
