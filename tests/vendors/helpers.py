"""Adapters and requests the vendor tests share."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from vendors import MemberIdentity, NewMemberSale, PaymentInstruction, VendorHttp
from vendors.clubready import ClubReadyAccount, ClubReadyReset, ContractSoldNewUser
from vendors.paytronix import (
    AuthStyle,
    B2BBodyMembers,
    Credentials,
    GuestManagement,
    PaytronixGuestPasswords,
    PaytronixReset,
)
from vendors.registrar import RegistrarReset

CR_BASE = "https://clubready.test/api/current"
CR_KEY = "cr-api-key-SECRET-1234"
RESET_URL = f"{CR_BASE}/users/passwordreset"
SALE_URL = f"{CR_BASE}/sales/contract/sold/new/user"
REG = "https://registrar.test"
REG_URL = f"{REG}/ResetCustomerPassword"
PX = "https://px.test"
PX_ROOT = f"{PX}/rest/24.1/guestmanagement"
PX_CLIENT = Credentials("px-client", "px-secret-XYZ")
PX_B2B = Credentials("partner", "partner-pass-QQQ")
PROFILE = "PROFILE-TOKEN-SECRET-9876"
ACCT = "ACCT-TOKEN-SECRET-5555"


def vendor_http(sleeps: list[float] | None = None, **kw: Any) -> VendorHttp:
    sleep = sleeps.append if sleeps is not None else (lambda seconds: None)
    return VendorHttp(sleep=sleep, **kw)


def clubready(
    http: VendorHttp | None = None, *, base: str = CR_BASE, key: str = CR_KEY, chain: int | None = 9
) -> tuple[ClubReadyReset, ContractSoldNewUser]:
    account = ClubReadyAccount(base_url=base, api_key=key, store_id=101, chain_id=chain)
    http = http or vendor_http()
    return ClubReadyReset(account, http), ContractSoldNewUser(account, http)


def registrar(http: VendorHttp | None = None, *, base: str = REG) -> RegistrarReset:
    return RegistrarReset(base_url=base, customer_brand_name="Sparkle", http=http or vendor_http())


def guests(
    http: VendorHttp | None = None,
    *,
    base: str = PX,
    merchant_id: int = 1234,
    integration: Credentials = PX_CLIENT,
    b2b: Credentials | None = PX_B2B,
    body_members: B2BBodyMembers | None = None,
) -> GuestManagement:
    return GuestManagement(
        base_url=base,
        release="24.1",
        merchant_id=merchant_id,
        integration=integration,
        b2b=b2b,
        b2b_body_members=body_members,
        http=http or vendor_http(),
    )


def paytronix_reset(
    management: GuestManagement | None = None,
    *,
    style: AuthStyle = AuthStyle.ANONYMOUS,
    third_party: bool = False,
) -> PaytronixReset:
    return PaytronixReset(management or guests(), style=style, third_party=third_party)


def guest_passwords(management: GuestManagement | None = None) -> PaytronixGuestPasswords:
    return PaytronixGuestPasswords(management or guests(merchant_id=5678))


def identity(**given: Any) -> MemberIdentity:
    return MemberIdentity(**given)


def new_sale(**overrides: Any) -> NewMemberSale:
    fields: dict[str, Any] = {
        "correlation_id": "sale-42",
        "package_id": 2001,
        "installment_plan_id": 3001,
        "amount": Decimal("49.00"),
        "paid_in_full": False,
        "member": {
            "first_name": "Ana",
            "last_name": "Lopez",
            "email": "ana@example.com",
            "date_of_birth": date(1990, 5, 4),
            "username": "analopez",
        },
        "payments": (
            PaymentInstruction("profile", PROFILE, Decimal("20")),
            PaymentInstruction("acct", ACCT, Decimal("29")),
        ),
        "start_date": date(2026, 12, 1),
        "client_ip": "203.0.113.7",
    }
    fields.update(overrides)
    return NewMemberSale(**fields)


def respond(status: int, body: Any = None, *, raw: bytes | None = None) -> httpx.Response:
    if raw is not None:
        return httpx.Response(status, content=raw)
    return httpx.Response(status, json=body)
