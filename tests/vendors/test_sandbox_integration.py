"""Each adapter against the sandbox over real loopback HTTP, faults included."""

from __future__ import annotations

import json
import socket

import httpx

from vendors import OutcomeKind, build
from vendors.clubready import ClubReadyClient, ContractSale, PasswordReset
from vendors.paytronix import (
    AuthStyle,
    GuestIdentity,
    PaytronixClient,
    ResetGuestPassword,
    SendResetCode,
    new_reset_code,
)
from vendors.registrar import RegistrarClient, ResetCustomerPassword
from vendors.sandbox import Fault, Sandbox

KEY = "sandbox-clubready-key"


def clubready(sandbox: Sandbox, read_timeout: float = 5.0) -> ClubReadyClient:
    return ClubReadyClient(
        base_url=sandbox.base_url("clubready"),
        api_key=KEY,
        timeout=httpx.Timeout(5.0, read=read_timeout),
        sleep=lambda s: None,
    )


def paytronix(sandbox: Sandbox, style: AuthStyle = AuthStyle.ANONYMOUS) -> PaytronixClient:
    return PaytronixClient(
        base_url=sandbox.base_url("paytronix"),
        release="24.1",
        client_id="sandbox-client",
        client_secret="sandbox-secret",
        auth_style=style,
        b2b_username="sandbox-partner",
        b2b_password="sandbox-b2b-pass",
        sleep=lambda s: None,
    )


def sale(email: str = "new.member@example.com", token: str = "tok_profile_0001") -> ContractSale:
    return build(
        ContractSale,
        StoreId=101,
        PackageId=2001,
        InstallmentPlanId=3001,
        PaymentAmount="49.00",
        FirstName="New",
        LastName="Member",
        Email=email,
        ExternalId="fd-sale-1",
        PaymentMethods=[{"ProfileToken": token}],
        **{"X-Forwarded-For": "198.51.100.4"},
    )


def test_clubready_reset_against_sandbox(sandbox: Sandbox) -> None:
    client = clubready(sandbox)
    ok = client.reset_password(build(PasswordReset, StoreId=101, Email="jane@example.com"))
    assert ok.kind is OutcomeKind.SUCCEEDED
    missing = client.reset_password(build(PasswordReset, ChainId=1, Username="nobody1"))
    assert missing.kind is OutcomeKind.REFUSED and "No user" in missing.message
    wire = sandbox.received("clubready", "password_reset")[0]
    assert wire.query == {"ApiKey": KEY, "StoreId": "101"}
    assert wire.json == {"Email": "jane@example.com", "Filter": 0}


def test_camel_case_answers_understood(sandbox: Sandbox) -> None:
    sandbox.set_casing("camel")
    outcome = clubready(sandbox).reset_password(
        build(PasswordReset, StoreId=101, Email="jane@example.com")
    )
    assert outcome.kind is OutcomeKind.SUCCEEDED
    assert outcome.exchanges[0].response_body == {
        "success": True,
        "message": "Password reset email sent.",
    }


def test_wrong_api_key_refused_in_vendor_shape(sandbox: Sandbox) -> None:
    client = ClubReadyClient(base_url=sandbox.base_url("clubready"), api_key="wrong-key-000")
    outcome = client.reset_password(build(PasswordReset, StoreId=101, Email="jane@example.com"))
    assert (outcome.kind, outcome.code) == (OutcomeKind.REFUSED, "Unauthorized")
    assert "wrong-key-000" not in json.dumps(outcome.to_record(), default=str)


def test_sale_happy_path_and_wire(sandbox: Sandbox) -> None:
    outcome = clubready(sandbox).contract_sold_new_user.sell(sale())
    assert outcome.kind is OutcomeKind.SUCCEEDED
    [wire] = sandbox.received("clubready", "contract_sale")
    assert wire.headers["x-forwarded-for"] == "198.51.100.4"
    assert '"PaymentAmount":49.00' in wire.body_text
    assert sandbox.vendors["clubready"].state.sales[-1]["ExternalId"] == "fd-sale-1"


def test_sale_decline_is_refused(sandbox: Sandbox) -> None:
    outcome = clubready(sandbox).contract_sold_new_user.sell(sale(token="tok_decline_0001"))
    assert outcome.kind is OutcomeKind.REFUSED and "declined" in outcome.message


def test_sale_read_timeout_is_unknown_with_one_request(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("read_timeout", vendor="clubready", operation="contract_sale", seconds=2))
    outcome = clubready(sandbox, read_timeout=0.5).contract_sold_new_user.sell(sale())
    assert outcome.kind is OutcomeKind.UNKNOWN
    assert len(sandbox.received("clubready", "contract_sale")) == 1


def test_sale_dropped_after_processing_is_unknown(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("drop_after", operation="contract_sale"))
    outcome = clubready(sandbox).contract_sold_new_user.sell(sale())
    assert outcome.kind is OutcomeKind.UNKNOWN
    assert len(sandbox.received(operation="contract_sale")) == 1
    assert len(sandbox.vendors["clubready"].state.sales) == 1  # it did happen


def test_sale_503_is_unknown_and_not_retried(sandbox: Sandbox) -> None:
    # A gateway may answer 503/504 after ClubReady sold it: never "not sold".
    sandbox.inject(Fault("status", operation="contract_sale", status=503))
    outcome = clubready(sandbox).contract_sold_new_user.sell(sale())
    assert outcome.kind is OutcomeKind.UNKNOWN
    assert len(sandbox.received(operation="contract_sale")) == 1


def test_success_false_fault(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("success_false", vendor="clubready", message="Store closed"))
    outcome = clubready(sandbox).reset_password(
        build(PasswordReset, StoreId=101, Email="jane@example.com")
    )
    assert (outcome.kind, outcome.message) == (OutcomeKind.REFUSED, "Store closed")


def test_reset_retried_once_after_503(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("status", vendor="registrar", status=503, retry_after=0))
    outcome = RegistrarClient(base_url=sandbox.base_url("registrar"), sleep=lambda s: None)
    result = outcome.reset_customer_password(build(ResetCustomerPassword, Email="jane@example.com"))
    assert result.kind is OutcomeKind.SUCCEEDED
    assert len(sandbox.received("registrar")) == 2


def test_connect_failure_on_reset_yields_one_retry() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = RegistrarClient(base_url=f"http://127.0.0.1:{port}", sleep=lambda s: None)
    outcome = client.reset_customer_password(build(ResetCustomerPassword, Email="a@b.io"))
    assert outcome.kind is OutcomeKind.UNAVAILABLE
    assert outcome.attempts == 2
    assert all(e.transport_error and "ConnectError" in e.transport_error for e in outcome.exchanges)


def test_reset_read_timeout_is_not_retried(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("read_timeout", vendor="registrar", seconds=2))
    client = RegistrarClient(
        base_url=sandbox.base_url("registrar"), timeout=httpx.Timeout(5.0, read=0.5)
    )
    outcome = client.reset_customer_password(build(ResetCustomerPassword, Email="jane@example.com"))
    assert outcome.kind is OutcomeKind.UNKNOWN
    assert len(sandbox.received("registrar")) == 1


def test_registrar_refusals(sandbox: Sandbox) -> None:
    client = RegistrarClient(base_url=sandbox.base_url("registrar"))
    outcome = client.reset_customer_password(
        build(ResetCustomerPassword, Email="ghost@example.com")
    )
    assert (outcome.kind, outcome.code) == (OutcomeKind.REFUSED, "CustomerNotFound")
    raw = httpx.post(f"{sandbox.base_url('registrar')}/ResetCustomerPassword", json={})
    assert raw.status_code == 400
    assert raw.json()["ResponseStatus"]["Errors"][0]["FieldName"] == "Email"


def test_paytronix_flows(sandbox: Sandbox) -> None:
    anonymous = paytronix(sandbox)
    sent = anonymous.generate_and_send_reset_code(
        build(GuestIdentity, merchantId=1234, printedCardNumber="6000100020003000")
    )
    assert sent.kind is OutcomeKind.SUCCEEDED and sent.data["email"] == "jane@example.com"
    assert "authorization" in sandbox.received("paytronix")[0].headers
    b2b = paytronix(sandbox, AuthStyle.B2B)
    code = new_reset_code()
    assert b2b.send_reset_code(
        build(SendResetCode, merchantId=5678, email="tp@example.com", resetCode=code)
    ).succeeded
    done = b2b.reset_guest_password(
        build(
            ResetGuestPassword, merchantId=5678, resetPasswordCode=code, newPassword="a-long-pass-1"
        )
    )
    assert done.succeeded
    again = b2b.reset_guest_password(
        build(
            ResetGuestPassword, merchantId=5678, resetPasswordCode=code, newPassword="a-long-pass-1"
        )
    )
    assert (again.kind, again.code) == (OutcomeKind.REFUSED, "resetCode.invalid")
    assert (
        sandbox.received("paytronix")[0].path
        == "/paytronix/rest/24.1/guestmanagement/generateAndSendGuestResetPasswordCode.json"
    )


def test_paytronix_refuses_bad_credentials_and_two_identifiers(sandbox: Sandbox) -> None:
    bad = PaytronixClient(
        base_url=sandbox.base_url("paytronix"), release="24.1", client_id="x", client_secret="y"
    )
    outcome = bad.generate_and_send_reset_code(
        build(GuestIdentity, merchantId=1234, accountId=5001)
    )
    assert (outcome.kind, outcome.code) == (OutcomeKind.REFUSED, "authentication.invalid")
    raw = httpx.post(
        f"{sandbox.base_url('paytronix')}/rest/24.1/guestmanagement/generateAndSendGuestResetPasswordCode.json",
        json={
            "authentication": "anonymous",
            "merchantId": 1234,
            "email": "jane@example.com",
            "accountId": 5001,
        },
        auth=("sandbox-client", "sandbox-secret"),
    )
    assert raw.json()["result"] == "failure"


def test_sandbox_strictness_over_raw_http(sandbox: Sandbox) -> None:
    url = f"{sandbox.base_url('clubready')}/sales/contract/sold/new/user"
    body = {
        "PackageId": 2001,
        "InstallmentPlanId": 3001,
        "PaymentAmount": 49.00,
        "FirstName": "A",
        "LastName": "B",
        "Email": "ab@example.com",
        "PaymentMethods": [{"ProfileToken": "t"}],
        "AcctToken": "legacy",
    }
    raw = httpx.post(url, params={"ApiKey": KEY, "StoreId": 101}, json=body)
    assert raw.status_code == 400
    assert raw.json()["ResponseStatus"]["Errors"][0]["FieldName"] == "AcctToken"
    body.pop("AcctToken")
    body["PaymentMethods"] = [{"UsePreferred": True}]
    assert httpx.post(url, params={"ApiKey": KEY, "StoreId": 101}, json=body).status_code == 400
    body["PaymentMethods"] = [{"ProfileToken": "t", "PaymentAmount": 10}]
    assert httpx.post(url, params={"ApiKey": KEY, "StoreId": 101}, json=body).status_code == 400


def test_control_endpoints_over_http(sandbox: Sandbox) -> None:
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"kind": "status", "status": 504})
    client = RegistrarClient(base_url=sandbox.base_url("registrar"), sleep=lambda s: None)
    client.reset_customer_password(build(ResetCustomerPassword, Email="jane@example.com"))
    recorded = httpx.get(f"{sandbox.url}/_sandbox/requests").json()
    assert [r["operation"] for r in recorded] == ["password_reset", "password_reset"]


def test_paytronix_reset_guest_password_is_strict(sandbox: Sandbox) -> None:
    """Only codes the sandbox was sent, for that merchant, once; its own password rule
    refuses without spending the code; the password is kept exactly as sent."""
    b2b = paytronix(sandbox, AuthStyle.B2B)

    def reset(code: str, password: str, merchant: int = 5678) -> tuple[OutcomeKind, str | None]:
        outcome = b2b.reset_guest_password(
            build(
                ResetGuestPassword,
                merchantId=merchant,
                resetPasswordCode=code,
                newPassword=password,
            )
        )
        return outcome.kind, outcome.code

    never_sent = new_reset_code()
    assert reset(never_sent, "s3cret-enough") == (OutcomeKind.REFUSED, "resetCode.invalid")
    code = new_reset_code()
    assert b2b.send_reset_code(
        build(SendResetCode, merchantId=5678, accountId=7001, resetCode=code)
    ).succeeded
    assert reset(code, "s3cret-enough", merchant=1234) == (
        OutcomeKind.REFUSED,
        "resetCode.invalid",
    )
    assert reset(code, "no-digits-here") == (OutcomeKind.REFUSED, "password.tooWeak")
    assert reset(code, "sh0rt") == (OutcomeKind.REFUSED, "password.tooWeak")
    assert reset(code, "  s3cret enough ") == (OutcomeKind.SUCCEEDED, None)
    guest = next(g for g in sandbox.vendors["paytronix"].state.guests if g.account_id == 7001)
    assert guest.password == "  s3cret enough "
    assert reset(code, "an0ther-one") == (OutcomeKind.REFUSED, "resetCode.invalid")
