"""ClubReady adapters: exact wire format, every outcome class, retry policy (respx)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from tests.vendors.helpers import (
    ACCT,
    CR_KEY,
    PROFILE,
    RESET_URL,
    SALE_URL,
    clubready,
    identity,
    new_sale,
    vendor_http,
)
from vendors import InvalidVendorRequest, OutcomeKind, PaymentInstruction, RetryPolicy, VendorError
from vendors.clubready import ClubReadyAccount, ClubReadyReset


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def adapters(sleeps: list[float]) -> Any:
    return clubready(vendor_http(sleeps))


def reset_identity() -> Any:
    return identity(email="jane@example.com", member_filter=2)


# -- wire format ------------------------------------------------------------------------
@respx.mock
def test_reset_wire_format() -> None:
    resetter, _ = clubready(chain=None)
    route = respx.post(RESET_URL).respond(200, json={"Success": True, "Message": "sent"})
    outcome = resetter.reset(reset_identity())
    assert outcome.kind is OutcomeKind.SUCCEEDED
    request = route.calls.last.request
    assert dict(request.url.params) == {"ApiKey": CR_KEY, "StoreId": "101"}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    assert json.loads(request.content) == {"Email": "jane@example.com", "Filter": 2}


@respx.mock
def test_sale_wire_format(adapters: Any) -> None:
    """Several methods: the last carries no PaymentAmount (it takes the remainder);
    the correlation id is the ExternalId; no false flag goes out."""
    route = respx.post(SALE_URL).respond(200, json={"Success": True, "UserId": 77})
    outcome = adapters[1].sell(new_sale())
    assert outcome.kind is OutcomeKind.SUCCEEDED and outcome.vendor_user_id == "77"
    request = route.calls.last.request
    assert dict(request.url.params) == {"ApiKey": CR_KEY, "StoreId": "101", "ChainId": "9"}
    assert request.headers["x-forwarded-for"] == "203.0.113.7"
    raw = request.content.decode()
    assert '"PaymentAmount":49.00' in raw and '"PaymentAmount":20.00' in raw
    assert "false" not in raw.lower()
    assert json.loads(raw, parse_float=Decimal) == {
        "PackageId": 2001,
        "InstallmentPlanId": 3001,
        "PaymentAmount": Decimal("49.00"),
        "FirstName": "Ana",
        "LastName": "Lopez",
        "Email": "ana@example.com",
        "StartDate": "2026-12-01",
        "DateOfBirth": "1990-05-04",
        "ExternalId": "sale-42",
        "Username": "analopez",
        "PaymentMethods": [
            {"PaymentAmount": Decimal("20.00"), "ProfileToken": PROFILE},
            {"AcctToken": ACCT},
        ],
    }


@respx.mock
def test_single_method_keeps_its_amount(adapters: Any) -> None:
    route = respx.post(SALE_URL).respond(200, json={"Success": True})
    single = (PaymentInstruction("profile", PROFILE, Decimal("49")),)
    adapters[1].sell(new_sale(payments=single, client_ip=None))
    body = json.loads(route.calls.last.request.content, parse_float=Decimal)
    assert body["PaymentMethods"] == [{"PaymentAmount": Decimal("49.00"), "ProfileToken": PROFILE}]
    assert "x-forwarded-for" not in route.calls.last.request.headers


@respx.mock
def test_free_package_paid_in_full_omits_payment_methods(adapters: Any) -> None:
    route = respx.post(SALE_URL).respond(200, json={"Success": True})
    adapters[1].sell(new_sale(amount=Decimal("0"), paid_in_full=True, payments=()))
    body = json.loads(route.calls.last.request.content)
    assert "PaymentMethods" not in body  # omitted, never an empty array


# -- deviation 1: sold only on Success: true --------------------------------------------
NOT_A_VERDICT = [
    {},
    {"Success": None},
    {"UserId": 0, "Message": "Declined"},
    {"userId": 1234},
    {"Success": "true"},
    {"Success": 1},
    None,
    [],
    [{"Success": True}],
    "Success",
]


@respx.mock
@pytest.mark.parametrize("body", NOT_A_VERDICT)
def test_a_2xx_without_success_true_is_unknown_never_sold(adapters: Any, body: Any) -> None:
    respx.post(SALE_URL).respond(
        200, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    outcome = adapters[1].sell(new_sale())
    assert outcome.kind is OutcomeKind.UNKNOWN, outcome
    assert "do not understand" in outcome.message
    kept = outcome.exchanges[0].response_body  # kept (redacted) for support
    assert kept == (body if body is not None else "null")


@respx.mock
@pytest.mark.parametrize("raw", [b"", b"<html><body>Thanks!</body></html>", b"null", b"not json {"])
def test_a_2xx_that_is_not_an_answer_is_unknown(adapters: Any, raw: bytes) -> None:
    respx.post(SALE_URL).respond(200, content=raw)
    assert adapters[1].sell(new_sale()).kind is OutcomeKind.UNKNOWN


@respx.mock
def test_the_answer_is_kept_redacted(adapters: Any) -> None:
    respx.post(SALE_URL).respond(200, json={"Note": f"token {PROFILE}", "AcctToken": ACCT})
    outcome = adapters[1].sell(new_sale())
    assert outcome.kind is OutcomeKind.UNKNOWN
    text = json.dumps(outcome.to_record())
    assert PROFILE not in text and ACCT not in text and CR_KEY not in text


@respx.mock
@pytest.mark.parametrize(
    ("body", "user_id"),
    [
        ({"Success": True, "UserId": 77}, "77"),
        ({"success": True, "userId": 78}, "78"),
        ({"success": True, "UserID": "79"}, "79"),
        ({"Success": True}, None),
        ({"Success": True, "UserId": 0}, None),
    ],
)
def test_sold_in_either_casing_with_the_user_id(
    adapters: Any, body: dict[str, Any], user_id: str | None
) -> None:
    respx.post(SALE_URL).respond(200, json=body)
    outcome = adapters[1].sell(new_sale())
    assert (outcome.kind, outcome.vendor_user_id) == (OutcomeKind.SUCCEEDED, user_id)


@respx.mock
@pytest.mark.parametrize(
    "body", [{"Success": True, "success": False}, {"success": True, "SUCCESS": None}]
)
def test_contradicting_verdicts_in_two_casings_are_unknown(adapters: Any, body: dict) -> None:
    respx.post(SALE_URL).respond(200, json=body)
    assert adapters[1].sell(new_sale()).kind is OutcomeKind.UNKNOWN


@respx.mock
def test_success_and_an_error_code_at_once_is_unknown(adapters: Any) -> None:
    respx.post(SALE_URL).respond(
        200, json={"Success": True, "ResponseStatus": {"ErrorCode": "Declined"}}
    )
    assert adapters[1].sell(new_sale()).kind is OutcomeKind.UNKNOWN


@respx.mock
@pytest.mark.parametrize(
    "body", [{"Success": False, "Message": "No user"}, {"success": False, "message": "No user"}]
)
def test_success_false_is_a_refusal_in_either_casing(adapters: Any, body: dict) -> None:
    respx.post(RESET_URL).respond(200, json=body)
    outcome = adapters[0].reset(reset_identity())
    assert outcome.kind is OutcomeKind.REFUSED
    assert outcome.message == "No user"


@respx.mock
@pytest.mark.parametrize("body", [{}, {"Success": None}, {"Message": "ok"}, None])
def test_reset_without_success_true_is_unknown(adapters: Any, body: Any) -> None:
    respx.post(RESET_URL).respond(200, json=body)
    assert adapters[0].reset(reset_identity()).kind is OutcomeKind.UNKNOWN


# -- deviation 2: new-user payment ------------------------------------------------------
def check_errors(adapters: Any, sale: Any) -> dict[str | None, str]:
    with pytest.raises(InvalidVendorRequest) as caught:
        adapters[1].check(sale)
    return {e.field: e.message for e in caught.value.field_errors}


def test_acct_token_only_needs_a_profile_token_unless_paid_in_full(adapters: Any) -> None:
    acct_only = (PaymentInstruction("acct", ACCT, Decimal("49.00")),)
    errors = check_errors(adapters, new_sale(payments=acct_only))
    # On "Pays with": the choice to change is named, not only the token to paste.
    assert set(errors) == {"payment1_method"}
    assert "Choose ProfileToken" in errors["payment1_method"]
    assert "instalments" in errors["payment1_method"]
    adapters[1].check(new_sale(payments=acct_only, paid_in_full=True))  # accepted


def test_a_new_member_sale_needs_a_payment_method(adapters: Any) -> None:
    assert set(check_errors(adapters, new_sale(payments=()))) == {"payment1_token"}
    # A free package that bills instalments later needs a method on file too.
    free = new_sale(amount=Decimal("0"), payments=())
    assert set(check_errors(adapters, free)) == {"payment1_token"}


def test_only_the_last_method_may_leave_its_amount_open(adapters: Any) -> None:
    payments = (
        PaymentInstruction("profile", PROFILE, None),
        PaymentInstruction("acct", ACCT, None),
    )
    assert set(check_errors(adapters, new_sale(payments=payments))) == {"payment1_amount"}
    short = (PaymentInstruction("profile", PROFILE, Decimal("40")),)
    assert "add a method" in check_errors(adapters, new_sale(payments=short))["payment1_amount"]


def test_refused_before_sending() -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(SALE_URL)
        _, seller = clubready()
        acct_only = (PaymentInstruction("acct", ACCT, Decimal("49.00")),)
        with pytest.raises(InvalidVendorRequest):
            seller.sell(new_sale(payments=acct_only))
        assert route.call_count == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount": Decimal("1e30")}, "package"),
        (
            {
                "payments": (
                    PaymentInstruction("profile", PROFILE, Decimal("123456789012345678901234567")),
                    PaymentInstruction("acct", ACCT),
                )
            },
            "payment1_amount",
        ),
        ({"member": {"first_name": "A", "last_name": "B", "email": "nope"}}, "email"),
        (
            {"member": {"first_name": "A", "last_name": "B", "email": "a@b.io", "username": "ab"}},
            "username",
        ),
        ({"payments": (PaymentInstruction("profile", ""),)}, "payment1_token"),
    ],
)
def test_check_names_form_fields(adapters: Any, overrides: dict, field: str) -> None:
    """An amount too large for a decimal is a field error, not decimal.InvalidOperation."""
    assert field in check_errors(adapters, new_sale(**overrides))


# -- refusals and failures --------------------------------------------------------------
@respx.mock
def test_response_status_error_with_field_errors(adapters: Any) -> None:
    respx.post(SALE_URL).respond(
        400,
        json={
            "ResponseStatus": {
                "ErrorCode": "ValidationException",
                "Message": "Validation failed",
                "StackTrace": "at Secret.Internal.Frame()",
                "Errors": [{"ErrorCode": "NotEmpty", "FieldName": "Email", "Message": "required"}],
            }
        },
    )
    outcome = adapters[1].sell(new_sale())
    assert outcome.kind is OutcomeKind.REFUSED
    assert outcome.code == "ValidationException"
    assert outcome.field_errors[0].field == "Email"
    assert "Email: required" in outcome.message
    assert "Secret.Internal" not in json.dumps(outcome.to_record(), default=str)


@respx.mock
@pytest.mark.parametrize(
    "body", [{"Success": False, "Message": "Store is closed"}, {"message": "Store is closed"}]
)
def test_a_4xx_without_response_status_shows_clubreadys_own_message(
    adapters: Any, body: dict
) -> None:
    respx.post(RESET_URL).respond(400, json=body)
    outcome = adapters[0].reset(reset_identity())
    assert (outcome.kind, outcome.message) == (OutcomeKind.REFUSED, "Store is closed")


@respx.mock
def test_error_code_in_a_200_is_a_refusal(adapters: Any) -> None:
    respx.post(RESET_URL).respond(
        200, json={"responseStatus": {"errorCode": "Forbidden", "message": "nope"}}
    )
    outcome = adapters[0].reset(reset_identity())
    assert (outcome.kind, outcome.code) == (OutcomeKind.REFUSED, "Forbidden")


@respx.mock
def test_unauthorized_says_what_to_check(adapters: Any) -> None:
    respx.post(RESET_URL).respond(401, text="")
    outcome = adapters[0].reset(reset_identity())
    assert outcome.kind is OutcomeKind.REFUSED
    assert "API key" in outcome.message


@respx.mock
@pytest.mark.parametrize("status", [500, 501])
def test_server_error_is_unknown_and_never_retried(adapters: Any, status: int) -> None:
    route = respx.post(RESET_URL).respond(status, text="boom")
    assert adapters[0].reset(reset_identity()).kind is OutcomeKind.UNKNOWN
    assert route.call_count == 1


@respx.mock
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_unknown_and_named_a_configuration_problem(
    adapters: Any, status: int
) -> None:
    respx.post(SALE_URL).respond(status, headers={"Location": "https://elsewhere.test/"})
    outcome = adapters[1].sell(new_sale())
    assert outcome.kind is OutcomeKind.UNKNOWN
    assert outcome.code == "configuration: redirected" and "base URL" in outcome.message


def test_a_reset_code_is_not_taken() -> None:
    resetter, _ = clubready()
    with pytest.raises(VendorError):  # raised: nothing was sent
        resetter.reset(reset_identity(), reset_code="x" * 20)


def test_reset_check_names_form_fields() -> None:
    resetter, _ = clubready()
    with pytest.raises(InvalidVendorRequest) as caught:
        resetter.check(identity(card="6000100020003000"))
    assert {e.field for e in caught.value.field_errors} == {"card", "email"}
    with pytest.raises(InvalidVendorRequest) as caught:
        resetter.check(identity(username="abc"))
    assert [e.field for e in caught.value.field_errors] == ["username"]
    with pytest.raises(InvalidVendorRequest) as caught:
        resetter.check(identity(email="a@b.io", member_filter=9))
    assert [e.field for e in caught.value.field_errors] == ["member_filter"]


# -- retry policy -----------------------------------------------------------------------
@respx.mock
def test_reset_retried_once_after_connect_error(adapters: Any, sleeps: list) -> None:
    route = respx.post(RESET_URL)
    route.side_effect = [httpx.ConnectError("refused"), httpx.Response(200, json={"Success": True})]
    outcome = adapters[0].reset(reset_identity())
    assert outcome.kind is OutcomeKind.SUCCEEDED
    assert route.call_count == 2 and outcome.attempts == 2
    assert len(sleeps) == 1


@respx.mock
def test_reset_retried_at_most_once(adapters: Any) -> None:
    route = respx.post(RESET_URL).mock(side_effect=httpx.ConnectError("refused"))
    outcome = adapters[0].reset(reset_identity())
    assert outcome.kind is OutcomeKind.UNAVAILABLE
    assert route.call_count == 2


@respx.mock
@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_reset_retried_on_unavailable_statuses(adapters: Any, status: int) -> None:
    route = respx.post(RESET_URL)
    route.side_effect = [httpx.Response(status), httpx.Response(200, json={"Success": True})]
    assert adapters[0].reset(reset_identity()).kind is OutcomeKind.SUCCEEDED
    assert route.call_count == 2


@respx.mock
@pytest.mark.parametrize("status", [502, 504])
def test_a_gateway_error_is_not_called_certainly_not_done(adapters: Any, status: int) -> None:
    """The documented one retry stays, but the words name the risk: a gateway may give
    up after the vendor acted."""
    respx.post(RESET_URL).respond(status)
    outcome = adapters[0].reset(reset_identity())
    assert outcome.kind is OutcomeKind.UNAVAILABLE
    assert "may have been done" in outcome.message and "certainly" not in outcome.message


@respx.mock
def test_retry_after_is_honoured_up_to_a_bound(sleeps: list) -> None:
    account = ClubReadyAccount(
        base_url="https://clubready.test/api/current", api_key=CR_KEY, store_id=101
    )
    resetter = ClubReadyReset(
        account, vendor_http(sleeps), retry=RetryPolicy.once_if_not_arrived(max_retry_after=3)
    )
    route = respx.post(RESET_URL)
    route.side_effect = [
        httpx.Response(429, headers={"Retry-After": "2"}),
        httpx.Response(200, json={"Success": True}),
    ]
    assert resetter.reset(reset_identity()).succeeded
    assert sleeps == [2.0]
    route.side_effect = [httpx.Response(429, headers={"Retry-After": "60"})]
    outcome = resetter.reset(reset_identity())
    assert outcome.kind is OutcomeKind.UNAVAILABLE and outcome.attempts == 1
    assert sleeps == [2.0]


@respx.mock
@pytest.mark.parametrize(
    "error",
    [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped"), httpx.ReadError("reset")],
)
def test_reset_not_retried_when_it_may_have_arrived(adapters: Any, error: Exception) -> None:
    route = respx.post(RESET_URL).mock(side_effect=error)
    assert adapters[0].reset(reset_identity()).kind is OutcomeKind.UNKNOWN
    assert route.call_count == 1


@respx.mock
@pytest.mark.parametrize(
    ("effect", "kind"),
    [
        (httpx.ConnectError("refused"), OutcomeKind.UNAVAILABLE),
        (httpx.Response(429), OutcomeKind.UNAVAILABLE),
        (httpx.Response(502), OutcomeKind.UNKNOWN),
        (httpx.Response(503), OutcomeKind.UNKNOWN),
        (httpx.Response(504), OutcomeKind.UNKNOWN),
        (httpx.ReadTimeout("slow"), OutcomeKind.UNKNOWN),
        (httpx.Response(500), OutcomeKind.UNKNOWN),
        (RuntimeError("anything at all"), OutcomeKind.UNKNOWN),
    ],
)
def test_sale_is_never_retried(adapters: Any, effect: object, kind: OutcomeKind) -> None:
    route = respx.post(SALE_URL).mock(side_effect=[effect])
    assert adapters[1].sell(new_sale()).kind is kind
    assert route.call_count == 1


def test_servicestack_dates_and_money_are_understood() -> None:
    from datetime import UTC, date, datetime, timedelta

    from vendors._servicestack import parse_date, parse_money

    assert parse_date("/Date(785635200000)/") == datetime(1994, 11, 24, tzinfo=UTC)
    offset = parse_date("\\/Date(785635200000-0500)\\/")
    assert offset == datetime(1994, 11, 24, tzinfo=UTC)
    assert offset.utcoffset() == -timedelta(hours=5)
    assert parse_date("1990-05-04") == date(1990, 5, 4)
    assert parse_date("2026-11-23T10:00:00Z") == datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert parse_money("49.00") == parse_money(49) == Decimal("49")
    with pytest.raises(ValueError):
        parse_money("forty")
