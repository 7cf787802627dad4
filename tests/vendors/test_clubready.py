"""ClubReady adapter: exact wire format, every outcome class, retry policy (respx)."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
import respx

from vendors import OutcomeKind, RetryPolicy, build
from vendors.clubready import ClubReadyClient, ContractSale, PasswordReset

BASE = "https://clubready.test/api/current"
RESET_URL = f"{BASE}/users/passwordreset"
SALE_URL = f"{BASE}/sales/contract/sold/new/user"
KEY = "cr-api-key-SECRET-1234"


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sleeps: list[float]) -> ClubReadyClient:
    return ClubReadyClient(base_url=BASE, api_key=KEY, sleep=sleeps.append)


def reset_request() -> PasswordReset:
    return build(PasswordReset, StoreId=101, Email="jane@example.com", Filter=2)


def sale_request() -> ContractSale:
    return build(
        ContractSale,
        StoreId=101,
        ChainId=9,
        PackageId=2001,
        InstallmentPlanId=3001,
        PaymentAmount="49",
        FirstName="Ana",
        LastName="Lopez",
        Email="ana@example.com",
        StartDate="2026-12-01",
        DateOfBirth="1990-05-04",
        ExternalId="sale-42",
        Username="analopez",
        PaymentMethods=[
            {"ProfileToken": "PROFILE-TOKEN-SECRET-9876", "PaymentAmount": "20"},
            {"AcctToken": "ACCT-TOKEN-SECRET-5555"},
        ],
        **{"X-Forwarded-For": "203.0.113.7"},
    )


@respx.mock
def test_reset_wire_format(client: ClubReadyClient) -> None:
    route = respx.post(RESET_URL).respond(200, json={"Success": True, "Message": "sent"})
    outcome = client.reset_password(reset_request())
    assert outcome.kind is OutcomeKind.SUCCEEDED
    request = route.calls.last.request
    assert dict(request.url.params) == {"ApiKey": KEY, "StoreId": "101"}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    assert json.loads(request.content) == {"Email": "jane@example.com", "Filter": 2}


@respx.mock
def test_sale_wire_format(client: ClubReadyClient) -> None:
    route = respx.post(SALE_URL).respond(200, json={"Success": True, "UserId": 77})
    outcome = client.contract_sold_new_user.sell(sale_request())
    assert outcome.kind is OutcomeKind.SUCCEEDED
    assert outcome.data["UserId"] == 77
    request = route.calls.last.request
    assert dict(request.url.params) == {"ApiKey": KEY, "StoreId": "101", "ChainId": "9"}
    assert request.headers["x-forwarded-for"] == "203.0.113.7"
    raw = request.content.decode()
    assert '"PaymentAmount":49.00' in raw and '"PaymentAmount":20.00' in raw
    body = json.loads(raw, parse_float=Decimal)
    assert body == {
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
            {"PaymentAmount": Decimal("20.00"), "ProfileToken": "PROFILE-TOKEN-SECRET-9876"},
            {"AcctToken": "ACCT-TOKEN-SECRET-5555"},
        ],
    }


@respx.mock
@pytest.mark.parametrize(
    "body", [{"Success": False, "Message": "No user"}, {"success": False, "message": "No user"}]
)
def test_success_false_is_a_refusal_in_either_casing(client: ClubReadyClient, body: dict) -> None:
    respx.post(RESET_URL).respond(200, json=body)
    outcome = client.reset_password(reset_request())
    assert outcome.kind is OutcomeKind.REFUSED
    assert outcome.message == "No user"


@respx.mock
def test_camel_case_success(client: ClubReadyClient) -> None:
    respx.post(RESET_URL).respond(200, json={"success": True, "message": "ok"})
    assert client.reset_password(reset_request()).kind is OutcomeKind.SUCCEEDED


@respx.mock
def test_response_status_error_with_field_errors(client: ClubReadyClient) -> None:
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
    outcome = client.contract_sold_new_user.sell(sale_request())
    assert outcome.kind is OutcomeKind.REFUSED
    assert outcome.code == "ValidationException"
    assert outcome.field_errors[0].field == "Email"
    assert "Email: required" in outcome.message
    assert "Secret.Internal" not in json.dumps(outcome.to_record(), default=str)


@respx.mock
def test_error_code_in_a_200_is_a_refusal(client: ClubReadyClient) -> None:
    respx.post(RESET_URL).respond(
        200, json={"responseStatus": {"errorCode": "Forbidden", "message": "nope"}}
    )
    outcome = client.reset_password(reset_request())
    assert (outcome.kind, outcome.code) == (OutcomeKind.REFUSED, "Forbidden")


@respx.mock
def test_unauthorized_says_what_to_check(client: ClubReadyClient) -> None:
    respx.post(RESET_URL).respond(401, text="")
    outcome = client.reset_password(reset_request())
    assert outcome.kind is OutcomeKind.REFUSED
    assert "API key" in outcome.message


@respx.mock
@pytest.mark.parametrize("status", [500, 501])
def test_server_error_is_unknown_and_never_retried(client: ClubReadyClient, status: int) -> None:
    route = respx.post(RESET_URL).respond(status, text="boom")
    assert client.reset_password(reset_request()).kind is OutcomeKind.UNKNOWN
    assert route.call_count == 1


@respx.mock
def test_unparseable_body_is_unknown(client: ClubReadyClient) -> None:
    respx.post(SALE_URL).respond(200, text="<html>gateway</html>")
    outcome = client.contract_sold_new_user.sell(sale_request())
    assert outcome.kind is OutcomeKind.UNKNOWN
    assert "do not understand" in outcome.message


@respx.mock
def test_reset_without_success_member_is_unknown(client: ClubReadyClient) -> None:
    respx.post(RESET_URL).respond(200, json={})
    assert client.reset_password(reset_request()).kind is OutcomeKind.UNKNOWN


@respx.mock
def test_sale_with_empty_object_is_sold(client: ClubReadyClient) -> None:
    respx.post(SALE_URL).respond(200, json={})
    assert client.contract_sold_new_user.sell(sale_request()).kind is OutcomeKind.SUCCEEDED


# -- retry policy ----------------------------------------------------------------------
@respx.mock
def test_reset_retried_once_after_connect_error(client: ClubReadyClient, sleeps: list) -> None:
    route = respx.post(RESET_URL)
    route.side_effect = [httpx.ConnectError("refused"), httpx.Response(200, json={"Success": True})]
    outcome = client.reset_password(reset_request())
    assert outcome.kind is OutcomeKind.SUCCEEDED
    assert route.call_count == 2 and outcome.attempts == 2
    assert len(sleeps) == 1


@respx.mock
def test_reset_retried_at_most_once(client: ClubReadyClient) -> None:
    route = respx.post(RESET_URL).mock(side_effect=httpx.ConnectError("refused"))
    outcome = client.reset_password(reset_request())
    assert outcome.kind is OutcomeKind.UNAVAILABLE
    assert route.call_count == 2


@respx.mock
@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_reset_retried_on_unavailable_statuses(client: ClubReadyClient, status: int) -> None:
    route = respx.post(RESET_URL)
    route.side_effect = [httpx.Response(status), httpx.Response(200, json={"Success": True})]
    assert client.reset_password(reset_request()).kind is OutcomeKind.SUCCEEDED
    assert route.call_count == 2


@respx.mock
def test_retry_after_is_honoured_up_to_a_bound(sleeps: list) -> None:
    client = ClubReadyClient(
        base_url=BASE,
        api_key=KEY,
        sleep=sleeps.append,
        reset_retry=RetryPolicy.once_if_not_arrived(max_retry_after=3),
    )
    route = respx.post(RESET_URL)
    route.side_effect = [
        httpx.Response(429, headers={"Retry-After": "2"}),
        httpx.Response(200, json={"Success": True}),
    ]
    assert client.reset_password(reset_request()).succeeded
    assert sleeps == [2.0]
    route.side_effect = [httpx.Response(429, headers={"Retry-After": "60"})]
    outcome = client.reset_password(reset_request())
    assert outcome.kind is OutcomeKind.UNAVAILABLE and outcome.attempts == 1
    assert sleeps == [2.0]


@respx.mock
@pytest.mark.parametrize(
    "error",
    [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped"), httpx.ReadError("reset")],
)
def test_reset_not_retried_when_it_may_have_arrived(
    client: ClubReadyClient, error: Exception
) -> None:
    route = respx.post(RESET_URL).mock(side_effect=error)
    assert client.reset_password(reset_request()).kind is OutcomeKind.UNKNOWN
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
    ],
)
def test_sale_is_never_retried(client: ClubReadyClient, effect: object, kind: OutcomeKind) -> None:
    route = respx.post(SALE_URL).mock(side_effect=[effect])
    assert client.contract_sold_new_user.sell(sale_request()).kind is kind
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
