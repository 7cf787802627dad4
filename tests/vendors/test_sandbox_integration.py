"""Each adapter against the sandbox over real loopback HTTP, faults included."""

from __future__ import annotations

import json
import socket
from decimal import Decimal

import httpx

from tests.vendors.helpers import identity, new_sale, vendor_http
from vendors import NewMemberSale, OutcomeKind, PaymentInstruction, new_reset_code
from vendors.clubready import ClubReadyAccount, ClubReadyReset, ContractSoldNewUser
from vendors.paytronix import (
    AuthStyle,
    Credentials,
    GuestManagement,
    PaytronixGuestPasswords,
    PaytronixReset,
)
from vendors.registrar import RegistrarReset
from vendors.sandbox import Fault, Sandbox

KEY = "sandbox-clubready-key"
CLIENT = Credentials("sandbox-client", "sandbox-secret")
PARTNER = Credentials("sandbox-partner", "sandbox-b2b-pass")


def clubready(
    sandbox: Sandbox, read_timeout: float = 5.0, key: str = KEY
) -> tuple[ClubReadyReset, ContractSoldNewUser]:
    account = ClubReadyAccount(base_url=sandbox.base_url("clubready"), api_key=key, store_id=101)
    http = vendor_http(timeout=httpx.Timeout(5.0, read=read_timeout))
    return ClubReadyReset(account, http), ContractSoldNewUser(account, http)


def guests(
    sandbox: Sandbox,
    merchant_id: int = 1234,
    *,
    integration: Credentials = CLIENT,
    b2b: Credentials | None = PARTNER,
) -> GuestManagement:
    return GuestManagement(
        base_url=sandbox.base_url("paytronix"),
        release="24.1",
        merchant_id=merchant_id,
        integration=integration,
        b2b=b2b,
        http=vendor_http(),
    )


def registrar(sandbox: Sandbox, timeout: httpx.Timeout | None = None) -> RegistrarReset:
    http = vendor_http(timeout=timeout) if timeout is not None else vendor_http()
    return RegistrarReset(base_url=sandbox.base_url("registrar"), http=http)


def sale(email: str = "new.member@example.com", token: str = "tok_profile_0001") -> NewMemberSale:
    return new_sale(
        correlation_id="fd-sale-1",
        amount=Decimal("49.00"),
        member={"first_name": "New", "last_name": "Member", "email": email},
        payments=(PaymentInstruction("profile", token, Decimal("49.00")),),
        start_date=None,
        client_ip="198.51.100.4",
    )


def test_clubready_reset_against_sandbox(sandbox: Sandbox) -> None:
    resetter, _ = clubready(sandbox)
    ok = resetter.reset(identity(email="jane@example.com"))
    assert ok.kind is OutcomeKind.SUCCEEDED
    missing = resetter.reset(identity(username="nobody1"))
    assert missing.kind is OutcomeKind.REFUSED and "No user" in missing.message
    wire = sandbox.received("clubready", "password_reset")[0]
    assert wire.query == {"ApiKey": KEY, "StoreId": "101"}
    assert wire.json == {"Email": "jane@example.com", "Filter": 0}


def test_camel_case_answers_understood(sandbox: Sandbox) -> None:
    sandbox.set_casing("camel")
    resetter, seller = clubready(sandbox)
    outcome = resetter.reset(identity(email="jane@example.com"))
    assert outcome.kind is OutcomeKind.SUCCEEDED
    assert outcome.exchanges[0].response_body == {
        "success": True,
        "message": "Password reset email sent.",
    }
    sold = seller.sell(sale())
    assert sold.succeeded and sold.vendor_user_id is not None
    # Error bodies come camelCase too, and are still read as ServiceStack errors.
    refused = clubready(sandbox, key="wrong-key-000")[0].reset(identity(email="jane@example.com"))
    assert (refused.kind, refused.code) == (OutcomeKind.REFUSED, "Unauthorized")
    assert "responseStatus" in refused.exchanges[0].response_body


def test_wrong_api_key_refused_in_vendor_shape(sandbox: Sandbox) -> None:
    resetter, _ = clubready(sandbox, key="wrong-key-000")
    outcome = resetter.reset(identity(email="jane@example.com"))
    assert (outcome.kind, outcome.code) == (OutcomeKind.REFUSED, "Unauthorized")
    assert "wrong-key-000" not in json.dumps(outcome.to_record(), default=str)


def test_sale_happy_path_and_wire(sandbox: Sandbox) -> None:
    outcome = clubready(sandbox)[1].sell(sale())
    assert outcome.kind is OutcomeKind.SUCCEEDED
    assert outcome.vendor_user_id == str(sandbox.vendors["clubready"].state.sales[-1]["UserId"])
    [wire] = sandbox.received("clubready", "contract_sale")
    assert wire.headers["x-forwarded-for"] == "198.51.100.4"
    assert '"PaymentAmount":49.00' in wire.body_text
    assert sandbox.vendors["clubready"].state.sales[-1]["ExternalId"] == "fd-sale-1"


def test_sale_gift_card_then_card_for_the_rest(sandbox: Sandbox) -> None:
    payments = (
        PaymentInstruction("acct", "tok_giftcard_0001", Decimal("20.00")),
        PaymentInstruction("profile", "tok_profile_0002", Decimal("29.00")),
    )
    outcome = clubready(sandbox)[1].sell(new_sale(payments=payments, client_ip=None))
    assert outcome.succeeded, outcome.message
    wire = sandbox.received("clubready", "contract_sale")[-1].json
    assert "PaymentAmount" not in wire["PaymentMethods"][-1]


def test_sale_decline_is_refused(sandbox: Sandbox) -> None:
    outcome = clubready(sandbox)[1].sell(sale(token="tok_decline_0001"))
    assert outcome.kind is OutcomeKind.REFUSED and "declined" in outcome.message


def test_sale_read_timeout_is_unknown_with_one_request(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("read_timeout", vendor="clubready", operation="contract_sale", seconds=2))
    outcome = clubready(sandbox, read_timeout=0.5)[1].sell(sale())
    assert outcome.kind is OutcomeKind.UNKNOWN
    assert len(sandbox.received("clubready", "contract_sale")) == 1


def test_sale_dropped_after_processing_is_unknown(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("drop_after", operation="contract_sale"))
    outcome = clubready(sandbox)[1].sell(sale())
    assert outcome.kind is OutcomeKind.UNKNOWN
    assert len(sandbox.received(operation="contract_sale")) == 1
    assert len(sandbox.vendors["clubready"].state.sales) == 1  # it did happen


def test_sale_503_is_unknown_and_not_retried(sandbox: Sandbox) -> None:
    # A gateway may answer 503/504 after ClubReady sold it: never "not sold".
    sandbox.inject(Fault("status", operation="contract_sale", status=503))
    outcome = clubready(sandbox)[1].sell(sale())
    assert outcome.kind is OutcomeKind.UNKNOWN
    assert len(sandbox.received(operation="contract_sale")) == 1


def test_success_false_fault(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("success_false", vendor="clubready", message="Store closed"))
    outcome = clubready(sandbox)[0].reset(identity(email="jane@example.com"))
    assert (outcome.kind, outcome.message) == (OutcomeKind.REFUSED, "Store closed")


def test_reset_retried_once_after_503(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("status", vendor="registrar", status=503, retry_after=0))
    result = registrar(sandbox).reset(identity(email="jane@example.com"))
    assert result.kind is OutcomeKind.SUCCEEDED
    assert len(sandbox.received("registrar")) == 2


def test_connect_failure_on_reset_yields_one_retry() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    resetter = RegistrarReset(base_url=f"http://127.0.0.1:{port}", http=vendor_http())
    outcome = resetter.reset(identity(email="a@b.io"))
    assert outcome.kind is OutcomeKind.UNAVAILABLE
    assert outcome.attempts == 2
    assert all(e.transport_error and "ConnectError" in e.transport_error for e in outcome.exchanges)


def test_reset_read_timeout_is_not_retried(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("read_timeout", vendor="registrar", seconds=2))
    outcome = registrar(sandbox, timeout=httpx.Timeout(5.0, read=0.5)).reset(
        identity(email="jane@example.com")
    )
    assert outcome.kind is OutcomeKind.UNKNOWN
    assert len(sandbox.received("registrar")) == 1


def test_registrar_refusals(sandbox: Sandbox) -> None:
    outcome = registrar(sandbox).reset(identity(email="ghost@example.com"))
    assert (outcome.kind, outcome.code) == (OutcomeKind.REFUSED, "CustomerNotFound")
    raw = httpx.post(f"{sandbox.base_url('registrar')}/ResetCustomerPassword", json={})
    assert raw.status_code == 400
    assert raw.json()["ResponseStatus"]["Errors"][0]["FieldName"] == "Email"


def test_registrar_wrong_base_url_is_unknown_not_sent(sandbox: Sandbox) -> None:
    resetter = RegistrarReset(base_url=sandbox.url + "/nowhere", http=vendor_http())
    outcome = resetter.reset(identity(email="jane@example.com"))
    assert (outcome.kind, outcome.code) == (OutcomeKind.REFUSED, "NotFound")


def test_paytronix_flows(sandbox: Sandbox) -> None:
    sent = PaytronixReset(guests(sandbox), style=AuthStyle.ANONYMOUS, third_party=False).reset(
        identity(card="6000100020003000")
    )
    assert sent.kind is OutcomeKind.SUCCEEDED and sent.sent_to == "jane@example.com"
    assert "authorization" in sandbox.received("paytronix")[0].headers
    third_party = guests(sandbox, merchant_id=5678)
    code = new_reset_code()
    resetter = PaytronixReset(third_party, style=AuthStyle.B2B, third_party=True)
    assert resetter.reset(identity(email="tp@example.com"), reset_code=code).succeeded
    passwords = PaytronixGuestPasswords(third_party)
    assert passwords.set_password(reset_code=code, new_password="a-long-pass-1").succeeded
    again = passwords.set_password(reset_code=code, new_password="a-long-pass-1")
    assert (again.kind, again.code) == (OutcomeKind.REFUSED, "resetCode.invalid")
    assert (
        sandbox.received("paytronix")[0].path
        == "/paytronix/rest/24.1/guestmanagement/generateAndSendGuestResetPasswordCode.json"
    )


def test_paytronix_b2b_reset_by_guest_username(sandbox: Sandbox) -> None:
    """Deviation 4 end to end: a guest of a third-party-held merchant, by username."""
    resetter = PaytronixReset(
        guests(sandbox, merchant_id=5678), style=AuthStyle.B2B, third_party=True
    )
    outcome = resetter.reset(identity(username="thirdparty"), reset_code=new_reset_code())
    assert outcome.succeeded, outcome.message
    assert outcome.sent_to == "tp@example.com"
    body = sandbox.received("paytronix")[-1].json
    assert set(body) == {"authentication", "merchantId", "username", "resetCode"}


def test_paytronix_refuses_bad_credentials(sandbox: Sandbox) -> None:
    bad = guests(sandbox, integration=Credentials("x", "y"))
    outcome = PaytronixReset(bad, style=AuthStyle.ANONYMOUS, third_party=False).reset(
        identity(account_id="5001")
    )
    assert (outcome.kind, outcome.code) == (OutcomeKind.REFUSED, "authentication.invalid")
    # The integration pair is not a b2b pair: a b2b call with it is refused.
    only_client = guests(sandbox, merchant_id=5678, b2b=None)
    outcome = PaytronixReset(only_client, style=AuthStyle.B2B, third_party=True).reset(
        identity(email="tp@example.com"), reset_code=new_reset_code()
    )
    assert (outcome.kind, outcome.code) == (OutcomeKind.REFUSED, "authentication.invalid")


def test_control_endpoints_over_http(sandbox: Sandbox) -> None:
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"kind": "status", "status": 504})
    registrar(sandbox).reset(identity(email="jane@example.com"))
    recorded = httpx.get(f"{sandbox.url}/_sandbox/requests").json()
    assert [r["operation"] for r in recorded] == ["password_reset", "password_reset"]


def test_paytronix_reset_guest_password_is_strict(sandbox: Sandbox) -> None:
    """Only codes the sandbox was sent, for that merchant, once; its own password rule
    refuses without spending the code; the password is kept exactly as sent."""
    third_party = guests(sandbox, merchant_id=5678)
    passwords = PaytronixGuestPasswords(third_party)
    elsewhere = PaytronixGuestPasswords(guests(sandbox, merchant_id=1234))

    def reset(
        code: str, password: str, where: PaytronixGuestPasswords = passwords
    ) -> tuple[OutcomeKind, str | None]:
        outcome = where.set_password(reset_code=code, new_password=password)
        return outcome.kind, outcome.code

    never_sent = new_reset_code()
    assert reset(never_sent, "s3cret-enough") == (OutcomeKind.REFUSED, "resetCode.invalid")
    code = new_reset_code()
    resetter = PaytronixReset(third_party, style=AuthStyle.B2B, third_party=True)
    assert resetter.reset(identity(account_id="7001"), reset_code=code).succeeded
    assert reset(code, "s3cret-enough", elsewhere) == (OutcomeKind.REFUSED, "resetCode.invalid")
    assert reset(code, "no-digits-here") == (OutcomeKind.REFUSED, "password.tooWeak")
    assert reset(code, "sh0rt") == (OutcomeKind.REFUSED, "password.tooWeak")
    assert reset(code, "  s3cret enough ") == (OutcomeKind.SUCCEEDED, None)
    guest = next(g for g in sandbox.vendors["paytronix"].state.guests if g.account_id == 7001)
    assert guest.password == "  s3cret enough "
    assert reset(code, "an0ther-one") == (OutcomeKind.REFUSED, "resetCode.invalid")


def test_no_such_member_is_told_apart_from_other_refusals(sandbox: Sandbox) -> None:
    """Each vendor's "no such member" (a typo for the front desk to fix) is recognised;
    other refusals, and a 404 for a route that does not exist, are not."""
    ghost = identity(email="ghost@example.com")
    reset, _ = clubready(sandbox)
    paytronix = PaytronixReset(guests(sandbox), style=AuthStyle.ANONYMOUS, third_party=False)
    for outcome in (reset.reset(ghost), registrar(sandbox).reset(ghost), paytronix.reset(ghost)):
        assert outcome.kind is OutcomeKind.REFUSED and outcome.no_such_member, outcome
    sandbox.inject(Fault("success_false", vendor="clubready", message="Store is closed"))
    refused = reset.reset(identity(email="jane@example.com"))
    assert refused.kind is OutcomeKind.REFUSED and not refused.no_such_member
    wrong_route = RegistrarReset(
        base_url=f"{sandbox.base_url('registrar')}/nowhere", http=vendor_http()
    ).reset(identity(email="jane@example.com"))
    assert not wrong_route.no_such_member, wrong_route
