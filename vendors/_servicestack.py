"""Reading ServiceStack answers (ClubReady and Registrar are both ServiceStack hosts)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from vendors._outcome import FieldError, Outcome, OutcomeKind

_WCF_DATE = re.compile(r"^\\?/Date\((-?\d+)([+-]\d{4})?\)\\?/$")


def member(body: Any, name: str, default: Any = None) -> Any:
    """A member of a JSON object by name, whatever its casing (PascalCase or camelCase)."""
    if not isinstance(body, Mapping):
        return default
    if name in body:
        return body[name]
    lowered = name.lower()
    for key, value in body.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return default


def members(body: Any, name: str) -> list[Any]:
    """Every member of a JSON object named ``name`` in any casing (a body may carry
    both ``Success`` and ``success``)."""
    if not isinstance(body, Mapping):
        return []
    lowered = name.lower()
    return [v for k, v in body.items() if isinstance(k, str) and k.lower() == lowered]


def parse_date(value: Any) -> datetime | date | None:
    """``\\/Date(785635200000-0500)\\/``, ISO-8601 date or datetime, or None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a date: {type(value).__name__}")
    match = _WCF_DATE.match(value.strip())
    if match:
        millis, offset = match.groups()
        moment = datetime.fromtimestamp(int(millis) / 1000, tz=UTC)
        if offset:
            sign = 1 if offset[0] == "+" else -1
            delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
            moment = moment.astimezone(timezone(sign * delta))
        return moment
    text = value.strip()
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_money(value: Any) -> Decimal | None:
    """A decimal sent as a number or a string; never through float."""
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc


#: The statuses a ServiceStack host answers a handled request with. Anything else in
#: 2xx (a 206 when a request was cancelled mid-way) is not success.
SUCCESS_STATUSES = frozenset({200, 201, 204})


class Malformed(ValueError):
    """The body has a shape no ServiceStack answer has."""


def response_status(body: Any) -> Mapping[str, Any] | None:
    status = member(body, "ResponseStatus")
    return status if isinstance(status, Mapping) else None


def error_code(body: Any) -> str | None:
    """``ResponseStatus.ErrorCode`` when the body carries one (either casing)."""
    status = member(body, "ResponseStatus")
    if status is None:
        return None
    if not isinstance(status, Mapping):
        raise Malformed("ResponseStatus is not an object")
    code = member(status, "ErrorCode")
    return None if code in (None, "") else str(code)


def status_only(vendor: str, operation: str, response: httpx.Response, body: Any) -> Outcome | None:
    """The outcome a status gives on its own (a 4xx, a 5xx, a 2xx other than
    200/201/204); ``None`` where the body must decide."""
    status = response.status_code
    if status >= 500:
        return server_error(vendor, operation, response, body)
    if status >= 400:
        return refusal(vendor, operation, response, body)
    if status not in SUCCESS_STATUSES:
        return not_understood(vendor, operation, response)
    return None


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def field_errors(status: Mapping[str, Any]) -> tuple[FieldError, ...]:
    errors = member(status, "Errors") or []
    result = []
    for err in errors if isinstance(errors, list) else []:
        result.append(
            FieldError(
                field=_text(member(err, "FieldName")),
                message=str(member(err, "Message") or member(err, "ErrorCode") or "invalid"),
                code=_text(member(err, "ErrorCode")),
            )
        )
    return tuple(result)


_STATUS_WORDS = {
    400: "the vendor refused the request as invalid",
    401: "the vendor refused our credentials: check this location's API key",
    403: "the vendor does not allow this for our account at this location",
    404: "the vendor could not find what we asked for",
    405: "the vendor does not support this operation",
    409: "the vendor reported a conflict with another change",
}


def refusal(vendor: str, operation: str, response: httpx.Response, body: Any) -> Outcome:
    """An outcome for a 4xx answer, or for a 2xx answer carrying an ErrorCode."""
    status = response_status(body)
    default = _STATUS_WORDS.get(response.status_code, "the vendor refused the request")
    if status is None:
        # ClubReady answers some refusals as {"Success": false, "Message": ...} with a 4xx.
        own = member(body, "Message")
        return Outcome(
            kind=OutcomeKind.REFUSED,
            vendor=vendor,
            operation=operation,
            message=own.strip() if isinstance(own, str) and own.strip() else default,
            code=f"HTTP {response.status_code}",
        )
    errors = field_errors(status)
    message = str(member(status, "Message") or default)
    if errors:
        message = f"{message} ({'; '.join(str(e) for e in errors)})"
    return Outcome(
        kind=OutcomeKind.REFUSED,
        vendor=vendor,
        operation=operation,
        message=message,
        code=_text(member(status, "ErrorCode")) or f"HTTP {response.status_code}",
        field_errors=errors,
    )


def not_understood(vendor: str, operation: str, response: httpx.Response) -> Outcome:
    return Outcome(
        kind=OutcomeKind.UNKNOWN,
        vendor=vendor,
        operation=operation,
        message=(
            f"the vendor answered something we do not understand (HTTP {response.status_code}):"
            " it may have been done"
        ),
        code=f"HTTP {response.status_code}",
    )


def server_error(vendor: str, operation: str, response: httpx.Response, body: Any) -> Outcome:
    status = response_status(body)
    code = (
        _text(member(status, "ErrorCode")) if status else None
    ) or f"HTTP {response.status_code}"
    return Outcome(
        kind=OutcomeKind.UNKNOWN,
        vendor=vendor,
        operation=operation,
        message=f"the vendor failed while handling the request (HTTP {response.status_code})",
        code=code,
    )
