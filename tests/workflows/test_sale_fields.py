"""What an approver saw and what changed since: masked, keyed by the sale, no tokens."""

from __future__ import annotations

from datetime import date

from bot.workflows.sale_fields import UNSHOWN, Change, differences, snapshot
from storage.models import Sale

MEMBER = {
    "first_name": "Jane",
    "last_name": "Walker",
    "email": "jane@example.com",
    "cell_phone": "+1 555 010 7788",
    "gender": "F",
}


def a_sale(**changes: object) -> Sale:
    values: dict[str, object] = {
        "id": "sale-1",
        "package_id": 2001,
        "installment_plan_id": 3001,
        "package_name": "Monthly Basic",
        "amount": "49.00",
        "start_date": date(2026, 5, 1),
        "promo_code": None,
        "required_approvals": 1,
        "member": dict(MEMBER),
        "payments": [{"kind": "profile", "amount": "49.00", "last4": "4242"}],
        **changes,
    }
    return Sale(**values)


def test_a_snapshot_is_masked_and_holds_no_token() -> None:
    shown = {f["label"]: f["shown"] for f in snapshot(a_sale())}
    assert shown == {
        "Package": "Monthly Basic",
        "Amount": "$49.00",
        "Start date": "2026-05-01",
        "Promo code": "none",
        "Approvals needed": "1 manager",
        "First name": "Jane",
        "Last name": "W.",
        "Email": "j•••@example.com",
        "Cell": "•••88",
        "Gender": "Female",
        "Payment 1": "$49.00 by ProfileToken …4242",
    }
    assert "Walker" not in str(snapshot(a_sale())) and "jane@" not in str(snapshot(a_sale()))


def test_a_change_the_mask_hides_still_shows() -> None:
    before = snapshot(a_sale())
    after = snapshot(a_sale(member={**MEMBER, "email": "joan@example.com"}))
    assert differences(before, after, fingerprint_changed=True) == [
        Change("Email", "j•••@example.com", "j•••@example.com")
    ]


def test_added_removed_and_unshown_changes() -> None:
    before = snapshot(a_sale())
    after = snapshot(a_sale(promo_code="SPRING", member={**MEMBER, "cell_phone": None}))
    assert differences(before, after, fingerprint_changed=True) == [
        Change("Promo code", "none", "SPRING"),
        Change("Cell", "•••88", None),
    ]
    # Only a token changed (same last four): said so, never shown.
    same = snapshot(a_sale())
    assert differences(before, same, fingerprint_changed=True) == [
        Change(UNSHOWN, None, "changed (payment tokens are never shown)")
    ]
    assert differences(before, same, fingerprint_changed=False) == []


def test_digests_mean_nothing_outside_their_sale() -> None:
    one = {f["key"]: f["digest"] for f in snapshot(a_sale())}
    other = {f["key"]: f["digest"] for f in snapshot(a_sale(id="sale-2"))}
    assert one.keys() == other.keys()
    assert all(one[key] != other[key] for key in one)
