"""Redaction of secrets from anything we keep or print about a vendor call.

Two nets, both always applied: by key (a JSON member, query parameter or header
whose *name* says it is secret) and by value (every secret the adapter knows for
this call, wherever it turns up: a vendor echoing a token in an error message,
an exception text carrying a URL).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

REDACTED = "[REDACTED]"

SECRET_KEYS = frozenset(
    {
        "apikey",
        "authorization",
        "proxy-authorization",
        "accttoken",
        "profiletoken",
        "authtoken",
        "password",
        "newpassword",
        "resetcode",
        "resetpasswordcode",
        "client_secret",
        "secret",
        "token",
    }
)
# Never kept at all: ServiceStack stack traces leak server internals.
DROPPED_KEYS = frozenset({"stacktrace"})


_NORMALISED_SECRET_KEYS = frozenset(k.replace("_", "") for k in SECRET_KEYS)


def _is_secret_key(key: str) -> bool:
    return key.lower().replace("_", "") in _NORMALISED_SECRET_KEYS


#: A secret shorter than this (a guest's three-letter password) is redacted only where
#: it stands alone, as a whole word: replaced inside other words it would shred every
#: text ("a" in "password"). Longer ones are redacted wherever they appear.
WHOLE_WORD_BELOW = 4


class Redactor:
    """Redacts a fixed set of secret values plus every secret-named field."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Each secret as sent and as a URL or a form would carry it (a vendor may echo
        # the query string); longest first so that a secret containing another is
        # replaced whole.
        self._known = frozenset(s for s in secrets if s)
        forms = {f for s in self._known for f in (s, quote(s, safe=""), quote_plus(s))}
        self._secrets = sorted(
            (f for f in forms if len(f) >= WHOLE_WORD_BELOW), key=len, reverse=True
        )
        short = sorted((f for f in forms if len(f) < WHOLE_WORD_BELOW), key=len, reverse=True)
        self._short = (
            re.compile("|".join(rf"(?<!\w){re.escape(f)}(?!\w)" for f in short)) if short else None
        )

    def extended(self, secrets: Iterable[str | None]) -> Redactor:
        return Redactor([*self._known, *secrets])

    def text(self, value: str) -> str:
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        if self._short is not None:
            value = self._short.sub(REDACTED, value)
        return value

    def url(self, url: str) -> str:
        parts = urlsplit(url)
        query = [
            (k, REDACTED if _is_secret_key(k) else self.text(v))
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
        rebuilt = urlunsplit(
            (parts.scheme, parts.netloc, parts.path, urlencode(query, safe="[]"), "")
        )
        return self.text(rebuilt)

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {k: (REDACTED if _is_secret_key(k) else self.text(v)) for k, v in headers.items()}

    def json(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {
                str(k): (REDACTED if _is_secret_key(str(k)) and v is not None else self.json(v))
                for k, v in value.items()
                if str(k).lower() not in DROPPED_KEYS
            }
        if isinstance(value, list | tuple):
            return [self.json(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value
