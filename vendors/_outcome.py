"""The one outcome model every vendor call returns.

Four kinds, chosen by what the caller may safely do next:

- ``SUCCEEDED``: the vendor said it did it, with its documented success marker
  (ClubReady ``Success: true``, Registrar 200/201/204 without an ``ErrorCode``,
  Paytronix ``result: success``); ``data`` holds what it said (redacted).
- ``REFUSED``: the vendor answered that it did not do it (a failure body, a 4xx);
  ``code``, ``message`` and ``field_errors`` say why in words staff can act on.
  ``partial`` marks an answer where part was done (a sale's member created, nothing
  sold).
- ``UNAVAILABLE``: nothing suggests it took effect, and the vendor's documented
  retry applies: nothing was sent (connection refused, the total deadline passed
  before the first byte), a 429, or a gateway's 502/503/504 on an operation the
  vendors allow to retry (a reset email). A gateway may give up after the vendor
  acted, so a 502/503/504 *may* have been done: a reset's one retry can then send
  a second email. An operation that must not be doubled (a sale) gets ``UNKNOWN``
  for those statuses instead.
- ``UNKNOWN``: it may have taken effect (a timeout or the total deadline after the
  request may have been sent, a dropped connection, a 5xx, a redirect, an answer we
  cannot parse or that lacks the success marker). Never resend a sale after this.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any


class OutcomeKind(StrEnum):
    SUCCEEDED = "succeeded"
    REFUSED = "refused"
    UNAVAILABLE = "unavailable"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str | None
    message: str
    code: str | None = None

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass(frozen=True, slots=True)
class Exchange:
    """One HTTP attempt, already redacted: safe to store and show to support."""

    method: str
    url: str
    request_headers: Mapping[str, str]
    request_body: Any
    status: int | None
    response_body: Any
    elapsed_ms: float
    transport_error: str | None = None

    def to_record(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.url,
            "request_headers": dict(self.request_headers),
            "request_body": jsonable(self.request_body),
            "status": self.status,
            "response_body": jsonable(self.response_body),
            "elapsed_ms": round(self.elapsed_ms, 1),
            "transport_error": self.transport_error,
        }


def jsonable(value: Any) -> Any:
    """Storable as JSON: decimals (money on the wire) become their exact text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


_NO_SUCH_MEMBER_CODE = re.compile(r"(customer|guest|member|user)\.?notfound", re.IGNORECASE)
_NO_SUCH_MEMBER_WORDS = re.compile(r"\s*no (user|member|customer|guest)s? found", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    vendor: str
    operation: str
    message: str
    code: str | None = None
    field_errors: tuple[FieldError, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    exchanges: tuple[Exchange, ...] = ()
    #: Where the vendor says it sent a reset (an address; masked before anyone sees it).
    sent_to: str | None = None
    #: The member's id at the vendor, when it says one (a sale's new user).
    vendor_user_id: str | None = None
    #: Part of it was done (a sale's member created, nothing sold).
    partial: bool = False

    @property
    def succeeded(self) -> bool:
        return self.kind is OutcomeKind.SUCCEEDED

    @property
    def no_such_member(self) -> bool:
        """The vendor refused because it knows no member with that identity: a typo for
        the person who typed it to fix, not a failure for support. The vendors document
        no code for it; these are the refusals they give: ClubReady's ``Success: false``
        with "No user found…", Registrar's ``CustomerNotFound``, Paytronix's
        ``guest.notFound``. Anything else (a 404 for a wrong route included) is not."""
        if self.kind is not OutcomeKind.REFUSED:
            return False
        if _NO_SUCH_MEMBER_CODE.fullmatch(self.code or ""):
            return True
        return self.code == "Success=false" and bool(_NO_SUCH_MEMBER_WORDS.match(self.message))

    @property
    def attempts(self) -> int:
        return len(self.exchanges)

    @property
    def elapsed_ms(self) -> float:
        return sum(e.elapsed_ms for e in self.exchanges)

    def with_exchanges(self, exchanges: tuple[Exchange, ...]) -> Outcome:
        return replace(self, exchanges=exchanges)

    def to_record(self) -> dict[str, Any]:
        """A JSON-serialisable copy for storage (everything in it is already redacted)."""
        return {
            "kind": self.kind.value,
            "vendor": self.vendor,
            "operation": self.operation,
            "message": self.message,
            "code": self.code,
            "field_errors": [
                {"field": f.field, "message": f.message, "code": f.code} for f in self.field_errors
            ],
            "data": jsonable(dict(self.data)),
            "vendor_user_id": self.vendor_user_id,
            "partial": self.partial,
            "exchanges": [e.to_record() for e in self.exchanges],
        }
