"""ClubReady as the sandbox plays it: strict about what the real host refuses."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from vendors.sandbox._common import (
    Incoming,
    Refusal,
    Reply,
    ci_get,
    not_found,
    recase,
    servicestack_error,
)

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DEPRECATED = ("AcctToken", "Last4", "ExpMonth", "ExpYear", "AcctType", "BnkRoute", "IsTemp")
DECLINE_PREFIX = "tok_decline"


@dataclass
class Member:
    user_id: int
    store_id: int
    username: str
    email: str
    status: int  # ResetFilter: 1 Prospect, 2 Active, 3 Inactive, 5 Past Due


@dataclass
class Package:
    package_id: int
    installment_plan_id: int
    amount: Decimal
    name: str
    #: Nothing is owed after the sale: an AcctToken alone may pay for it. Any other
    #: package bills instalments, so a new user must leave a method on file (a
    #: ProfileToken, which ClubReady converts to the new user's payment profile).
    paid_in_full: bool = False


@dataclass
class ClubReadyState:
    api_keys: dict[str, int] = field(default_factory=lambda: {"sandbox-clubready-key": 1})
    stores: dict[int, int] = field(default_factory=lambda: {101: 1, 102: 1})  # store -> chain
    members: list[Member] = field(
        default_factory=lambda: [
            Member(1, 101, "janedoe", "jane@example.com", 2),
            Member(2, 101, "tommy", "tom@example.com", 1),
            Member(3, 102, "patp", "pat@example.com", 5),
        ]
    )
    packages: dict[int, list[Package]] = field(
        default_factory=lambda: {
            101: [
                Package(2001, 3001, Decimal("49.00"), "Monthly Basic"),
                Package(2002, 3002, Decimal("0.00"), "Free Trial Week", paid_in_full=True),
                Package(2003, 3003, Decimal("599.00"), "Annual Premium"),
            ],
            102: [Package(2001, 3001, Decimal("49.00"), "Monthly Basic")],
        }
    )
    sales: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _money(value: Any, field_name: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise servicestack_error(
            400,
            "SerializationException",
            f"'{field_name}' is not a decimal",
            [("InvalidFormat", field_name, "not a decimal")],
        )
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise servicestack_error(
            400,
            "SerializationException",
            f"'{field_name}' is not a decimal",
            [("InvalidFormat", field_name, "not a decimal")],
        ) from None
    if amount < 0:
        raise servicestack_error(
            400,
            "ValidationException",
            f"'{field_name}' must not be negative",
            [("GreaterThanOrEqual", field_name, "must not be negative")],
        )
    return amount


class ClubReady:
    def __init__(self, state: ClubReadyState | None = None) -> None:
        self.state = state or ClubReadyState()
        self.casing = "pascal"

    def operation(self, method: str, path: str) -> str | None:
        if method == "POST" and path.lower() in (
            "/users/passwordreset",
            "/json/reply/passwordresetrequest",
        ):
            return "password_reset"
        if method == "POST" and path.lower() in (
            "/sales/contract/sold/new/user",
            "/json/reply/contractsoldnewuserendpoint",
        ):
            return "contract_sale"
        return None

    def not_found(self, method: str, path: str) -> Reply:
        reply = not_found(method, path)
        reply.body = recase(reply.body, self.casing)
        return reply

    def handle(self, operation: str, req: Incoming) -> Reply:
        """Answers and errors alike in the configured casing (newer endpoints: camel)."""
        try:
            return self._handle(operation, req)
        except Refusal as refusal:
            refusal.reply.body = recase(refusal.reply.body, self.casing)
            raise

    def _handle(self, operation: str, req: Incoming) -> Reply:
        if not isinstance(req.json, dict):
            raise servicestack_error(
                400,
                "SerializationException",
                "Request body is not JSON (or not sent as Content-Type: application/json)",
            )
        params = {**{k: v for k, v in req.json.items()}, **req.query}
        api_key = ci_get(params, "ApiKey")
        if not api_key or api_key not in self.state.api_keys:
            raise servicestack_error(401, "Unauthorized", "Invalid ApiKey")
        if operation == "password_reset":
            body = self._reset(params)
        else:
            body = self._sell(params, req)
        return Reply(200, recase(body, self.casing))

    def failure_body(self, message: str) -> Any:
        return recase({"Success": False, "Message": message}, self.casing)

    # -- operations -----------------------------------------------------------------
    def _int(self, params: Mapping[str, Any], name: str) -> int | None:
        value = ci_get(params, name)
        if value in (None, ""):
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise servicestack_error(
                400,
                "SerializationException",
                f"'{name}' is not an integer",
                [("InvalidFormat", name, "not an integer")],
            ) from None

    def _reset(self, params: dict[str, Any]) -> dict[str, Any]:
        store_id = self._int(params, "StoreId")
        chain_id = self._int(params, "ChainId")
        if store_id is None and chain_id is None:
            raise servicestack_error(
                400,
                "ValidationException",
                "StoreId OR ChainId is required",
                [("NotEmpty", "StoreId", "StoreId OR ChainId is required")],
            )
        username = ci_get(params, "Username")
        email = ci_get(params, "Email")
        if not username and not email:
            raise servicestack_error(
                400,
                "ValidationException",
                "Username or Email is required",
                [("NotEmpty", "Email", "Username or Email is required")],
            )
        filter_value = self._int(params, "Filter") or 0
        if filter_value not in range(6):
            raise servicestack_error(
                400,
                "ValidationException",
                "Filter must be 0 to 5",
                [("InclusiveBetween", "Filter", "Filter must be 0 to 5")],
            )
        for member in self.state.members:
            if store_id is not None and member.store_id != store_id:
                continue
            if chain_id is not None and self.state.stores.get(member.store_id) != chain_id:
                continue
            if username and member.username.lower() != str(username).lower():
                continue
            if email and member.email.lower() != str(email).lower():
                continue
            if not _filter_matches(filter_value, member.status):
                continue
            return {"Success": True, "Message": "Password reset email sent."}
        return {"Success": False, "Message": "No user found matching the criteria."}

    def _sell(self, params: dict[str, Any], req: Incoming) -> dict[str, Any]:
        store_id = self._int(req.query, "StoreId")
        if store_id is None:
            raise servicestack_error(
                400,
                "ValidationException",
                "StoreId is required",
                [("NotEmpty", "StoreId", "StoreId is required")],
            )
        if store_id not in self.state.stores:
            raise servicestack_error(403, "Forbidden", "ApiKey has no access to this store")
        missing = [
            name
            for name in (
                "PackageId",
                "InstallmentPlanId",
                "PaymentAmount",
                "FirstName",
                "LastName",
                "Email",
            )
            if ci_get(params, name) in (None, "")
        ]
        if missing:
            raise servicestack_error(
                400,
                "ValidationException",
                f"{', '.join(missing)} required",
                [("NotEmpty", name, f"'{name}' must not be empty.") for name in missing],
            )
        email = str(ci_get(params, "Email"))
        if not EMAIL.match(email):
            raise servicestack_error(
                400,
                "ValidationException",
                "Email is not valid",
                [("Email", "Email", "'Email' is not a valid email address.")],
            )
        username = ci_get(params, "Username")
        if username is not None and not 4 <= len(str(username)) <= 255:
            raise servicestack_error(
                400,
                "ValidationException",
                "Username should be between 4 and 255 characters long",
                [("Length", "Username", "Username should be between 4 and 255 characters long")],
            )
        methods = ci_get(params, "PaymentMethods")
        deprecated = [name for name in DEPRECATED if ci_get(params, name) not in (None, False)]
        if methods is not None and deprecated:
            raise servicestack_error(
                400,
                "ValidationException",
                "Deprecated fields must be omitted or null when PaymentMethods is used",
                [("Null", name, "must be null with PaymentMethods") for name in deprecated],
            )
        amount = _money(ci_get(params, "PaymentAmount"), "PaymentAmount")
        package_id = self._int(params, "PackageId")
        plan_id = self._int(params, "InstallmentPlanId")
        package = next(
            (
                p
                for p in self.state.packages.get(store_id, [])
                if p.package_id == package_id and p.installment_plan_id == plan_id
            ),
            None,
        )
        if package is None:
            raise servicestack_error(
                404, "NotFound", "Package or installment plan not found at this store"
            )
        if amount != package.amount:
            raise servicestack_error(
                400,
                "ValidationException",
                "PaymentAmount does not match the package price",
                [("Equal", "PaymentAmount", f"must be {package.amount}")],
            )
        decline = self._check_methods(methods, amount, package)
        with self.state.lock:
            if decline:
                return {"Success": False, "Message": "Payment declined by the processor."}
            if any(
                m.email.lower() == email.lower() and m.store_id == store_id
                for m in self.state.members
            ):
                return {
                    "Success": False,
                    "Message": "A user with this email already exists at this store.",
                }
            if username and any(
                m.username.lower() == str(username).lower() for m in self.state.members
            ):
                return {"Success": False, "Message": "Username is already taken."}
            user_id = 1000 + len(self.state.members) + 1
            self.state.members.append(Member(user_id, store_id, str(username or email), email, 2))
            sale = {
                "UserId": user_id,
                "StoreId": store_id,
                "PackageId": package_id,
                "Amount": str(amount),
                "ExternalId": ci_get(params, "ExternalId"),
                "ForwardedFor": req.headers.get("x-forwarded-for"),
            }
            self.state.sales.append(sale)
        return {"Success": True, "Message": "Contract sold.", "UserId": user_id}

    def _check_methods(self, methods: Any, amount: Decimal, package: Package) -> bool:
        """Validate PaymentMethods; True where the processor declines."""
        if methods is None:
            if amount > 0:
                raise servicestack_error(
                    400,
                    "ValidationException",
                    "A new user has no preferred payment method: PaymentMethods is required",
                    [("NotEmpty", "PaymentMethods", "required for a new user")],
                )
            if not package.paid_in_full:
                raise _profile_required()
            return False
        if not isinstance(methods, list):
            raise servicestack_error(
                400, "SerializationException", "PaymentMethods is not an array"
            )
        if not methods:
            raise servicestack_error(
                400,
                "ValidationException",
                "PaymentMethods is empty: omit it or give at least one method",
                [("NotEmpty", "PaymentMethods", "must not be empty when given")],
            )
        covered = Decimal(0)
        unlimited = False
        decline = False
        for index, method in enumerate(methods):
            name = f"PaymentMethods[{index}]"
            kinds = [
                k
                for k in ("UsePreferred", "AcctToken", "ProfileToken")
                if ci_get(method, k) not in (None, False, "")
            ]
            if len(kinds) != 1:
                raise servicestack_error(
                    400,
                    "ValidationException",
                    "Use only one of UsePreferred, AcctToken, ProfileToken",
                    [("Invalid", name, "use exactly one of UsePreferred, AcctToken, ProfileToken")],
                )
            if kinds[0] == "UsePreferred":
                raise servicestack_error(
                    400,
                    "ValidationException",
                    "No preferred payment method on file for a new user",
                    [("Invalid", f"{name}.UsePreferred", "not applicable for a new user")],
                )
            if ci_get(method, "DoNotUpdatePaymentTypePreference") and kinds[0] != "ProfileToken":
                raise servicestack_error(
                    400,
                    "ValidationException",
                    "DoNotUpdatePaymentTypePreference is only valid with ProfileToken",
                    [
                        (
                            "Invalid",
                            f"{name}.DoNotUpdatePaymentTypePreference",
                            "only with ProfileToken",
                        )
                    ],
                )
            token = str(ci_get(method, kinds[0]))
            decline = decline or token.startswith(DECLINE_PREFIX)
            raw = ci_get(method, "PaymentAmount")
            if raw is None:
                unlimited = True
            else:
                covered += _money(raw, f"{name}.PaymentAmount")
        profile = any(ci_get(m, "ProfileToken") not in (None, "") for m in methods)
        if not profile and not package.paid_in_full:
            raise _profile_required()
        if amount > 0 and not unlimited and covered < amount:
            raise servicestack_error(
                400,
                "ValidationException",
                "PaymentMethods do not cover PaymentAmount",
                [("Invalid", "PaymentMethods", "amounts do not cover PaymentAmount")],
            )
        return decline


def _profile_required() -> Refusal:
    return servicestack_error(
        400,
        "ValidationException",
        "A new user needs a ProfileToken: the package bills instalments and an AcctToken "
        "leaves no payment profile on file",
        [("ProfileTokenRequired", "PaymentMethods", "a ProfileToken is required")],
    )


def _filter_matches(filter_value: int, status: int) -> bool:
    if filter_value == 0:
        return True
    if filter_value == 4:  # All Members: anyone past prospect
        return status != 1
    return filter_value == status


__all__ = ["ClubReady", "ClubReadyState", "Member", "Package", "Refusal"]
