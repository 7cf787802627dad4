"""Every field rule refuses before anything is sent, naming the field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from vendors import InvalidVendorRequest, build
from vendors.clubready import ContractSale, PasswordReset, PaymentMethod
from vendors.paytronix import GuestIdentity, ResetGuestPassword, SendResetCode
from vendors.registrar import ResetCustomerPassword

SALE: dict[str, Any] = {
    "StoreId": 101,
    "PackageId": 2001,
    "InstallmentPlanId": 3001,
    "PaymentAmount": "49.00",
    "FirstName": "Ana",
    "LastName": "Lopez",
    "Email": "ana@example.com",
    "PaymentMethods": [{"ProfileToken": "tok_profile_abcd"}],
}


def refusal(model: type, **data: Any) -> str:
    with pytest.raises(InvalidVendorRequest) as caught:
        build(model, **data)
    return str(caught.value)


@pytest.mark.parametrize(
    "missing",
    [
        "PackageId",
        "InstallmentPlanId",
        "PaymentAmount",
        "FirstName",
        "LastName",
        "Email",
        "StoreId",
    ],
)
def test_sale_required_fields(missing: str) -> None:
    data = {k: v for k, v in SALE.items() if k != missing}
    assert missing in refusal(ContractSale, **data)


def test_reset_needs_store_or_chain() -> None:
    assert "StoreId or ChainId is required" in refusal(PasswordReset, Email="a@example.com")
    assert build(PasswordReset, ChainId=1, Email="a@example.com").chain_id == 1


def test_reset_needs_username_or_email() -> None:
    assert "Username or Email is required" in refusal(PasswordReset, StoreId=1)


@pytest.mark.parametrize("username", ["abc", "x" * 256])
def test_username_length(username: str) -> None:
    assert "Username" in refusal(PasswordReset, StoreId=1, Username=username)
    assert "Username" in refusal(ContractSale, **{**SALE, "Username": username})


def test_username_bounds_accepted() -> None:
    assert build(PasswordReset, StoreId=1, Username="abcd").username == "abcd"
    assert build(ContractSale, **{**SALE, "Username": "y" * 255}).username == "y" * 255


@pytest.mark.parametrize("email", ["plainaddress", "a@", "@example.com", "a b@example.com"])
def test_malformed_email(email: str) -> None:
    assert "Email" in refusal(ContractSale, **{**SALE, "Email": email})
    assert "Email" in refusal(ResetCustomerPassword, Email=email)
    assert "email" in refusal(GuestIdentity, merchantId=1, email=email)


def test_filter_range() -> None:
    assert "Filter" in refusal(PasswordReset, StoreId=1, Email="a@example.com", Filter=6)
    assert build(PasswordReset, StoreId=1, Email="a@example.com", Filter=5).filter == 5


@pytest.mark.parametrize(
    ("amount", "words"),
    [("-1.00", "negative"), ("1.001", "two decimal"), (1.5, "never floats"), ("abc", "amount")],
)
def test_amount_rules(amount: Any, words: str) -> None:
    message = refusal(ContractSale, **{**SALE, "PaymentAmount": amount})
    assert "PaymentAmount" in message and words in message


def test_amount_is_decimal_with_two_places() -> None:
    sale = build(ContractSale, **{**SALE, "PaymentAmount": "49"})
    assert sale.payment_amount == Decimal("49.00")
    assert str(sale.body()["PaymentAmount"]) == "49.00"


def test_method_amount_rules() -> None:
    message = refusal(
        ContractSale, **{**SALE, "PaymentMethods": [{"ProfileToken": "t", "PaymentAmount": "-2"}]}
    )
    assert "PaymentMethods[0].PaymentAmount" in message


@pytest.mark.parametrize(
    "method",
    [
        {"AcctToken": "a", "ProfileToken": "p"},
        {"UsePreferred": True, "AcctToken": "a"},
        {"UsePreferred": True, "ProfileToken": "p"},
    ],
)
def test_one_token_kind_per_method(method: dict[str, Any]) -> None:
    assert "use only one of UsePreferred, AcctToken, ProfileToken" in refusal(
        PaymentMethod, **method
    )


def test_method_needs_a_kind() -> None:
    assert "required" in refusal(PaymentMethod, PaymentAmount="1.00")


def test_do_not_update_preference_needs_profile_token() -> None:
    message = refusal(PaymentMethod, AcctToken="a", DoNotUpdatePaymentTypePreference=True)
    assert "DoNotUpdatePaymentTypePreference" in message
    method = build(PaymentMethod, ProfileToken="p123", DoNotUpdatePaymentTypePreference=True)
    assert method.do_not_update_payment_type_preference is True


def test_use_preferred_refused_for_new_user() -> None:
    message = refusal(ContractSale, **{**SALE, "PaymentMethods": [{"UsePreferred": True}]})
    assert "new user" in message


@pytest.mark.parametrize(
    "field", ["AcctToken", "Last4", "ExpMonth", "ExpYear", "AcctType", "BnkRoute", "IsTemp"]
)
def test_deprecated_fields_never_mixed_with_payment_methods(field: str) -> None:
    value: Any = {"AcctToken": "tok", "Last4": "1234", "IsTemp": True}.get(field, 1)
    assert "deprecated" in refusal(ContractSale, **{**SALE, field: value})


def test_unknown_field_refused() -> None:
    assert "Bogus" in refusal(ContractSale, **{**SALE, "Bogus": 1})


def test_paytronix_exactly_one_identifier() -> None:
    message = refusal(GuestIdentity, merchantId=1, email="a@example.com", username="abcd")
    assert "exactly one of" in message and "got username, email" in message
    assert "exactly one of" in refusal(GuestIdentity, merchantId=1)
    assert "merchantId" in refusal(GuestIdentity, email="a@example.com")


def test_paytronix_reset_code_and_password_rules() -> None:
    assert "resetCode" in refusal(
        SendResetCode, merchantId=1, email="a@example.com", resetCode="short"
    )
    # The guest's password has no local rule and is never stripped: Paytronix decides.
    for typed in ("short", "  spaced out  ", "\tü ", ""):
        sent = build(ResetGuestPassword, merchantId=1, resetPasswordCode="c", newPassword=typed)
        assert sent.wire()["newPassword"] == typed


def test_refusal_never_echoes_secret_input() -> None:
    message = refusal(PaymentMethod, AcctToken="SECRET-ACCT-9999", ProfileToken="SECRET-PROF-8888")
    assert "SECRET" not in message
    message = refusal(ResetGuestPassword, merchantId=0, resetPasswordCode="c", newPassword="pw1")
    assert "merchantId" in message and "pw1" not in message


def test_wire_body_omits_nulls_and_query_fields() -> None:
    sale = build(ContractSale, **{**SALE, "ChainId": 7, "DateOfBirth": "1990-05-04"})
    body = sale.body()
    assert "StoreId" not in body and "ChainId" not in body and "ApiKey" not in body
    assert None not in body.values()
    assert body["DateOfBirth"] == "1990-05-04"
    assert sale.query() == {"StoreId": 101, "ChainId": 7}
    for name in ("AcctToken", "Last4", "ExpMonth", "ExpYear", "AcctType", "BnkRoute", "IsTemp"):
        assert name not in body
