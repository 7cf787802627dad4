"""What the sandbox's vendor handlers share: the request they get and the reply they give."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Incoming:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body_text: str
    json: Any


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, str | bytes):
            return self.body.encode() if isinstance(self.body, str) else self.body
        return json.dumps(self.body).encode()


class Refusal(Exception):
    """Raised inside a handler to answer with the vendor's error shape."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def ci_get(mapping: Any, name: str) -> Any:
    """Case-insensitive member lookup, as ServiceStack binds properties."""
    if not isinstance(mapping, Mapping):
        return None
    lowered = name.lower()
    for key, value in mapping.items():
        if str(key).lower() == lowered:
            return value
    return None


def servicestack_error(
    status: int, code: str, message: str, errors: list[tuple[str, str, str]] | None = None
) -> Refusal:
    """``{"ResponseStatus": {...}}`` exactly as ServiceStack answers (StackTrace included)."""
    return Refusal(
        Reply(
            status,
            {
                "ResponseStatus": {
                    "ErrorCode": code,
                    "Message": message,
                    "StackTrace": "   at ServiceStack.Host.ServiceRunner`1.ExecuteAsync(...)",
                    "Errors": [
                        {"ErrorCode": c, "FieldName": f, "Message": m, "Meta": {}}
                        for (c, f, m) in (errors or [])
                    ],
                    "Meta": {},
                }
            },
        )
    )


def is_json(content_type: str) -> bool:
    """A JSON media type (``application/json``, ``…+json``), parameters ignored."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def not_found(method: str, path: str) -> Reply:
    """What a ServiceStack host answers a route it has no handler for."""
    return servicestack_error(
        404, "NotFound", f"Handler for Request not found (404): {method} {path}"
    ).reply


def recase(body: Any, casing: str) -> Any:
    """PascalCase bodies turned camelCase when the sandbox is asked to answer that way."""
    if casing != "camel":
        return body
    if isinstance(body, dict):
        return {(k[:1].lower() + k[1:]): recase(v, casing) for k, v in body.items()}
    if isinstance(body, list):
        return [recase(v, casing) for v in body]
    return body
