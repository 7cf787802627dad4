"""Properties of every operation against arbitrary answers (Hypothesis + respx).

For any HTTP status and any body (JSON objects with and without the vendor's success
marker in both casings, null, arrays, strings, numbers, HTML, bytes, nothing):

- an operation succeeds only when the vendor's documented success marker is there
  (and, where the marker is unambiguous, always when it is there);
- a sale is never "not sold" (REFUSED, or UNAVAILABLE which the sale workflow
  records as refused) unless the vendor said so;
- nothing raises, and no sale is ever sent twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import respx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.vendors.helpers import (
    PX_ROOT,
    REG_URL,
    RESET_URL,
    SALE_URL,
    clubready,
    guest_passwords,
    guests,
    identity,
    new_sale,
    paytronix_reset,
    registrar,
    vendor_http,
)
from vendors import Outcome, OutcomeKind, new_reset_code
from vendors._servicestack import member
from vendors.paytronix import AuthStyle

SERVICESTACK_SUCCESS = {200, 201, 204}
STATUSES = st.one_of(
    st.sampled_from([200, 201, 202, 204, 206, 301, 302, 400, 401, 404, 409, 429, 500, 502, 503]),
    st.integers(min_value=200, max_value=599),
)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**6), st.text(max_size=12), st.floats(-1e3, 1e3)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def objects(keys: list[str], marker_values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.dictionaries(
        st.one_of(st.sampled_from(keys), st.text(max_size=8)),
        st.one_of(marker_values, json_values),
        max_size=5,
    )


error_status = st.one_of(
    st.none(),
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "ErrorCode": st.one_of(st.none(), st.sampled_from(["", "Declined", "NotFound"])),
            "errorCode": st.sampled_from(["", "Oops"]),
            "Message": st.text(max_size=12),
            "Errors": json_values,
        },
    ),
)
CLUBREADY_OBJECTS = objects(
    ["Success", "success", "SUCCESS", "Message", "message", "UserId", "userId"]
    + ["ResponseStatus", "responseStatus"],
    st.one_of(st.sampled_from([True, False, "true", 1, 0]), error_status),
)
REGISTRAR_OBJECTS = objects(["ResponseStatus", "responseStatus", "Message"], error_status)
PAYTRONIX_OBJECTS = objects(
    ["result", "Result", "email", "errorCode", "errorMessage", "fields"],
    st.sampled_from(["success", "failure", "more_info", "SUCCESS", "pending", "a@b.io"]),
)


@dataclass(frozen=True)
class Answer:
    status: int
    raw: bytes
    content_type: str

    @property
    def json(self) -> Any:
        """The parsed JSON body, or a sentinel when it is not JSON."""
        try:
            return json.loads(self.raw)
        except ValueError:
            return NOT_JSON


NOT_JSON = object()


def answers(json_objects: st.SearchStrategy[Any]) -> st.SearchStrategy[Answer]:
    encoded = st.one_of(
        json_objects, st.none(), st.lists(json_values, max_size=3), st.text(max_size=20)
    ).map(lambda value: (json.dumps(value).encode(), "application/json"))
    other = st.one_of(
        st.just((b"", "application/json")),
        st.just((b"<html><body>Thank you</body></html>", "text/html")),
        st.just((b"OK", "text/plain")),
        st.binary(max_size=30).map(lambda raw: (raw, "application/octet-stream")),
        st.integers().map(lambda n: (str(n).encode(), "application/json")),
    )
    return st.builds(
        lambda status, body: Answer(status, body[0], body[1]),
        STATUSES,
        st.one_of(encoded, other),
    )


def run(url: str, answer: Answer, operation: Callable[[], Outcome]) -> tuple[Outcome, int]:
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(url).respond(
            answer.status, content=answer.raw, headers={"Content-Type": answer.content_type}
        )
        outcome = operation()  # never raises, whatever the answer
        return outcome, route.call_count


def servicestack_error_code(body: Any) -> Any:
    status = member(body, "ResponseStatus")
    return member(status, "ErrorCode") if isinstance(status, dict) else None


def clubready_marker(answer: Answer) -> bool:
    body = answer.json
    return (
        answer.status in SERVICESTACK_SUCCESS
        and isinstance(body, dict)
        and member(body, "Success") is True
    )


def clubready_unambiguous_success(answer: Answer) -> bool:
    body = answer.json
    rs = member(body, "ResponseStatus") if isinstance(body, dict) else None
    return clubready_marker(answer) and (
        rs is None or (isinstance(rs, dict) and servicestack_error_code(body) in (None, ""))
    )


def clubready_said_no(answer: Answer) -> bool:
    body = answer.json
    if 400 <= answer.status < 500:
        return True
    return (
        answer.status in SERVICESTACK_SUCCESS
        and isinstance(body, dict)
        and (member(body, "Success") is False or servicestack_error_code(body) not in (None, ""))
    )


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: One client for every example (respx answers under it).
HTTP = vendor_http()


def shapes(*bodies: bytes) -> Callable[[Any], Any]:
    """The shapes the issue names, always tried (with the marker in both casings)."""

    def decorate(test: Any) -> Any:
        for status in (200, 502):
            for raw in (
                b"{}",
                b"null",
                b"[]",
                b'"done"',
                b"",
                b"<html><body>OK</body></html>",
                *bodies,
            ):
                test = example(answer=Answer(status, raw, "application/json"))(test)
        return test

    return decorate


CLUBREADY_SHAPES = shapes(
    b'{"Success": true}',
    b'{"success": true, "userId": 5}',
    b'{"Success": null}',
    b'{"UserId": 0, "Message": "Declined"}',
    b'{"Success": false, "Message": "No"}',
    b'{"success": false}',
    b'{"Success": true, "ResponseStatus": {"ErrorCode": "X"}}',
)


@FAST
@given(answer=answers(CLUBREADY_OBJECTS))
@CLUBREADY_SHAPES
def test_clubready_sale(answer: Answer) -> None:
    _, seller = clubready(HTTP)
    outcome, calls = run(SALE_URL, answer, lambda: seller.sell(new_sale()))
    assert calls == 1  # never resent
    if outcome.kind is OutcomeKind.SUCCEEDED:
        assert clubready_marker(answer)
    if clubready_unambiguous_success(answer):
        assert outcome.kind is OutcomeKind.SUCCEEDED
    if outcome.kind in (OutcomeKind.REFUSED, OutcomeKind.UNAVAILABLE):  # "not sold"
        assert clubready_said_no(answer), (answer, outcome)
    if outcome.kind is OutcomeKind.UNKNOWN:
        assert outcome.exchanges[0].status == answer.status  # kept for support


@FAST
@given(answer=answers(CLUBREADY_OBJECTS))
@CLUBREADY_SHAPES
def test_clubready_reset(answer: Answer) -> None:
    resetter, _ = clubready(HTTP)
    outcome, calls = run(RESET_URL, answer, lambda: resetter.reset(identity(email="a@b.io")))
    assert calls <= 2
    if outcome.kind is OutcomeKind.SUCCEEDED:
        assert clubready_marker(answer)
    if clubready_unambiguous_success(answer):
        assert outcome.kind is OutcomeKind.SUCCEEDED
    if outcome.kind is OutcomeKind.REFUSED:
        assert clubready_said_no(answer)


@FAST
@given(answer=answers(REGISTRAR_OBJECTS))
@shapes(b'{"ResponseStatus": null}', b'{"ResponseStatus": {"ErrorCode": "NotFound"}}')
def test_registrar_reset(answer: Answer) -> None:
    adapter = registrar(HTTP)
    outcome, calls = run(REG_URL, answer, lambda: adapter.reset(identity(email="a@b.io")))
    assert calls <= 2
    body = answer.json
    marker = answer.status in SERVICESTACK_SUCCESS and (
        not answer.raw.strip()
        or (
            isinstance(body, dict)
            and (
                member(body, "ResponseStatus") is None
                or (
                    isinstance(member(body, "ResponseStatus"), dict)
                    and servicestack_error_code(body) in (None, "")
                )
            )
        )
    )
    assert (outcome.kind is OutcomeKind.SUCCEEDED) == marker, (answer, outcome)
    if outcome.kind is OutcomeKind.REFUSED:
        assert 400 <= answer.status < 500 or servicestack_error_code(body) not in (None, "")


def paytronix_checks(answer: Answer, outcome: Outcome) -> None:
    body = answer.json
    result = body.get("result") if isinstance(body, dict) else None
    assert (outcome.kind is OutcomeKind.SUCCEEDED) == (result == "success"), (answer, outcome)
    if result in ("failure", "more_info"):
        assert outcome.kind is OutcomeKind.REFUSED  # whatever the status, never retried
        assert outcome.attempts == 1
    if outcome.kind is OutcomeKind.REFUSED:
        assert result in ("failure", "more_info") or (
            result is None and 400 <= answer.status < 500 and answer.status != 429
        )


PAYTRONIX_SHAPES = shapes(
    b'{"result": "success", "email": "a@b.io"}',
    b'{"Result": "success"}',
    b'{"result": "failure", "errorCode": "x"}',
    b'{"result": "more_info", "fields": ["x"]}',
    b'{"result": "SUCCESS"}',
)


@FAST
@given(answer=answers(PAYTRONIX_OBJECTS))
@PAYTRONIX_SHAPES
def test_paytronix_generate_and_send(answer: Answer) -> None:
    adapter = paytronix_reset(guests(HTTP), style=AuthStyle.B2B)
    outcome, _ = run(
        f"{PX_ROOT}/generateAndSendGuestResetPasswordCode.json",
        answer,
        lambda: adapter.reset(identity(username="guest1")),
    )
    paytronix_checks(answer, outcome)


@FAST
@given(answer=answers(PAYTRONIX_OBJECTS))
@PAYTRONIX_SHAPES
def test_paytronix_send_code(answer: Answer) -> None:
    adapter = paytronix_reset(guests(HTTP, merchant_id=5678), third_party=True)
    outcome, _ = run(
        f"{PX_ROOT}/sendGuestResetPasswordCode.json",
        answer,
        lambda: adapter.reset(identity(email="a@b.io"), reset_code=new_reset_code()),
    )
    paytronix_checks(answer, outcome)


@FAST
@given(answer=answers(PAYTRONIX_OBJECTS))
@PAYTRONIX_SHAPES
def test_paytronix_reset_guest_password(answer: Answer) -> None:
    adapter = guest_passwords(guests(HTTP, merchant_id=5678))
    outcome, calls = run(
        f"{PX_ROOT}/resetGuestPassword.json",
        answer,
        lambda: adapter.set_password(reset_code="c" * 20, new_password="pw"),
    )
    paytronix_checks(answer, outcome)
    if answer.status in (502, 503, 504):
        assert calls == 1  # a spent code is never sent again
