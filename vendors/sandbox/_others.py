"""Registrar and Paytronix as the sandbox plays them."""

from __future__ import annotations

import base64
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from vendors.sandbox._common import (
    Incoming,
    Refusal,
    Reply,
    ci_get,
    not_found,
    servicestack_error,
)

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class RegistrarState:
    customers: dict[str, str] = field(
        default_factory=lambda: {
            "jane@example.com": "SparkleWash",
            "sam@example.com": "SparkleWash",
        }
    )


class Registrar:
    def __init__(self, state: RegistrarState | None = None) -> None:
        self.state = state or RegistrarState()

    def operation(self, method: str, path: str) -> str | None:
        if method == "POST" and path.lower() in (
            "/resetcustomerpassword",
            "/json/reply/resetcustomerpasswordrequest",
        ):
            return "password_reset"
        return None

    def not_found(self, method: str, path: str) -> Reply:
        return not_found(method, path)

    def handle(self, operation: str, req: Incoming) -> Reply:
        if not isinstance(req.json, dict):
            raise servicestack_error(
                400,
                "SerializationException",
                "Request body is not JSON (or not sent as Content-Type: application/json)",
            )
        email = ci_get(req.json, "Email")
        if not email:
            raise servicestack_error(
                400,
                "ValidationException",
                "'Email' must not be empty.",
                [("NotEmpty", "Email", "'Email' must not be empty.")],
            )
        if not EMAIL.match(str(email)):
            raise servicestack_error(
                400,
                "ValidationException",
                "'Email' is not a valid email address.",
                [("Email", "Email", "'Email' is not a valid email address.")],
            )
        brand = ci_get(req.json, "CustomerBrandName")
        known = self.state.customers.get(str(email).lower())
        if known is None or (brand and brand != known):
            raise servicestack_error(
                404, "CustomerNotFound", "No customer with that email address."
            )
        return Reply(200, {"ResponseStatus": None})

    def failure_body(self, message: str) -> Any:
        return {"ResponseStatus": {"ErrorCode": "Failed", "Message": message, "Errors": []}}


@dataclass
class Guest:
    merchant_id: int
    account_id: int
    username: str
    email: str
    printed_card_number: str
    password: str = "initial-password"


@dataclass
class PaytronixState:
    releases: frozenset[str] = frozenset({"23.4", "24.1"})
    #: Integration pairs (HTTP Basic of anonymous calls).
    clients: dict[str, str] = field(default_factory=lambda: {"sandbox-client": "sandbox-secret"})
    #: Pairs client services assigned for b2b (HTTP Basic of b2b calls).
    partners: dict[str, str] = field(
        default_factory=lambda: {"sandbox-partner": "sandbox-b2b-pass"}
    )
    guests: list[Guest] = field(
        default_factory=lambda: [
            Guest(1234, 5001, "janeloyal", "jane@example.com", "6000100020003000"),
            Guest(1234, 5002, "bobloyal", "bob@example.com", "6000100020004000"),
            Guest(5678, 7001, "thirdparty", "tp@example.com", "6000900000001111"),
        ]
    )
    reset_codes: dict[str, Guest] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _failure(code: str, message: str, status: int = 200) -> Refusal:
    return Refusal(Reply(status, {"result": "failure", "errorCode": code, "errorMessage": message}))


IDENTIFIERS = ("printedCardNumber", "username", "email", "accountId")


class Paytronix:
    ENDPOINTS = {
        "generateAndSendGuestResetPasswordCode": {"anonymous", "b2b"},
        "sendGuestResetPasswordCode": {"b2b"},
        "resetGuestPassword": {"b2b"},
    }
    #: The body members each endpoint defines; anything else is refused.
    MEMBERS = {
        "generateAndSendGuestResetPasswordCode": {"authentication", "merchantId", *IDENTIFIERS},
        "sendGuestResetPasswordCode": {"authentication", "merchantId", "resetCode", *IDENTIFIERS},
        "resetGuestPassword": {
            "authentication",
            "merchantId",
            "resetPasswordCode",
            "newPassword",
        },
    }
    _PATH = re.compile(r"^/rest/(?P<release>[^/]+)/guestmanagement/(?P<endpoint>[A-Za-z]+)\.json$")

    def __init__(self, state: PaytronixState | None = None) -> None:
        self.state = state or PaytronixState()

    def operation(self, method: str, path: str) -> str | None:
        match = self._PATH.match(path)
        if method == "POST" and match and match["endpoint"] in self.ENDPOINTS:
            return match["endpoint"]
        return None

    def failure_body(self, message: str) -> Any:
        return {"result": "failure", "errorCode": "sandbox.fault", "errorMessage": message}

    def not_found(self, method: str, path: str) -> Reply:
        return Reply(404, "<html><body>Not Found</body></html>", content_type="text/html")

    def handle(self, operation: str, req: Incoming) -> Reply:
        match = self._PATH.match(req.path)
        assert match is not None
        if match["release"] not in self.state.releases:
            raise _failure("release.unknown", f"Unknown release {match['release']}", 404)
        body = req.json
        if not isinstance(body, dict):
            raise _failure(
                "request.invalid",
                "Request body is not a JSON object sent as Content-Type: application/json",
                400,
            )
        style = body.get("authentication")
        if style not in self.ENDPOINTS[operation]:
            raise _failure(
                "authentication.notAllowed",
                f"Authentication '{style}' is not allowed for {operation}",
                401,
            )
        self._no_credentials_in(body)
        unknown = sorted(set(body) - self.MEMBERS[operation])
        if unknown:
            raise _failure("request.invalid", f"Unknown members: {', '.join(unknown)}")
        # anonymous: the integration's pair; b2b: the pair assigned for b2b.
        pairs = self.state.partners if style == "b2b" else self.state.clients
        self._check_basic(req.headers.get("authorization", ""), pairs)
        merchant_id = body.get("merchantId")
        if not isinstance(merchant_id, int) or isinstance(merchant_id, bool):
            raise _failure("request.invalid", "merchantId is required and must be an integer")
        if operation == "resetGuestPassword":
            return self._reset_password(merchant_id, body)
        guest = self._find_guest(merchant_id, body, style)
        if operation == "sendGuestResetPasswordCode":
            code = body.get("resetCode")
            if not isinstance(code, str) or len(code) < 16:
                raise _failure("request.invalid", "resetCode is required")
            with self.state.lock:
                self.state.reset_codes[code] = guest
        return Reply(200, {"result": "success", "email": guest.email})

    def _no_credentials_in(self, body: dict[str, Any]) -> None:
        """Credentials travel in HTTP Basic: a body member holding one is refused,
        whatever it is called (``password``, ``b2bPassword``, ``username``…)."""
        known = {
            *self.state.clients.values(),
            *self.state.partners.values(),
            *self.state.partners,  # the b2b identifiers
        }
        carrying = sorted(
            name
            for name, value in body.items()
            if name.lower() in ("password", "secret", "clientsecret")
            or (isinstance(value, str) and value in known)
        )
        if carrying:
            raise _failure(
                "authentication.credentialsInBody",
                f"Credentials belong in the HTTP Basic header, not in {', '.join(carrying)}",
                400,
            )

    def _check_basic(self, header: str, pairs: dict[str, str]) -> None:
        scheme, _, encoded = header.partition(" ")
        try:
            client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            client_id, secret = "", ""
        if scheme.lower() != "basic" or pairs.get(client_id) != secret:
            raise _failure("authentication.invalid", "Invalid credentials", 401)

    def _find_guest(self, merchant_id: int, body: dict[str, Any], style: str) -> Guest:
        # Whatever the style: "username" always identifies the guest.
        given = {k: body[k] for k in IDENTIFIERS if body.get(k) is not None}
        if len(given) != 1:
            raise _failure(
                "request.invalid",
                "Exactly one of printedCardNumber, username, email, accountId must be provided",
            )
        ((key, value),) = given.items()
        if key == "accountId" and (not isinstance(value, int) or isinstance(value, bool)):
            raise _failure("request.invalid", "accountId must be an integer")
        attribute = {
            "printedCardNumber": "printed_card_number",
            "username": "username",
            "email": "email",
            "accountId": "account_id",
        }[key]
        for guest in self.state.guests:
            found = getattr(guest, attribute)
            if guest.merchant_id == merchant_id and (
                found == value or (key == "email" and str(found).lower() == str(value).lower())
            ):
                return guest
        raise _failure("guest.notFound", "No guest matches the given identity")

    def _reset_password(self, merchant_id: int, body: dict[str, Any]) -> Reply:
        """Only a code this sandbox was given through sendGuestResetPasswordCode, for this
        merchant, once; the password must pass the program's own rule, and a refused
        password leaves the code usable."""
        code, password = body.get("resetPasswordCode"), body.get("newPassword")
        if not isinstance(code, str) or not isinstance(password, str):
            raise _failure("request.invalid", "resetPasswordCode and newPassword are required")
        with self.state.lock:
            guest = self.state.reset_codes.get(code)
            if guest is None or guest.merchant_id != merchant_id:
                raise _failure("resetCode.invalid", "The reset code is invalid or has been used")
            if len(password) < 8 or not any(ch.isdigit() for ch in password):
                raise _failure(
                    "password.tooWeak",
                    "The new password must be at least 8 characters and contain a digit",
                )
            del self.state.reset_codes[code]
            guest.password = password
        return Reply(200, {"result": "success"})
