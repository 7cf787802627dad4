"""Rotating the payment-token key and retiring the old one (issue 12, defect 10).

A token sealed under a retired key can no longer be opened, wherever its bytes
survived; `frontdesk keys rotate` re-seals what the app still holds so that the
old key can be retired, and `frontdesk keys check` says when it can.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.clock import ManualClock
from bot.config import Settings, load_locations
from bot.devtools.residue import scan_database
from bot.devtools.stack import DEMO_SECRETS, LOCATIONS_YAML
from bot.vendor_clients import VendorClients
from bot.workflows.roles import Actor, Role, Roles
from bot.workflows.sales import PaymentInput, SaleDetails, SaleService, SaleStart, SaleStatus
from bot.workflows.vault import TokenVault, VaultError, key_use, rotate
from storage.db import Database
from storage.models import AuditEvent, Sale

FRONT = Actor("T1", "UFRONT")
OLD, NEW, OTHER = (TokenVault.new_key() for _ in range(3))
MEMBER = {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"}


@pytest.fixture
def service(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SaleService:
    """The sale workflow as a process configured with only the old key sees it."""
    for key, value in DEMO_SECRETS.items():
        monkeypatch.setenv(key, value)
    path = tmp_path / "locations.yml"
    path.write_text(textwrap.dedent(LOCATIONS_YAML))
    locations = load_locations(path)
    clock = ManualClock(datetime(2026, 11, 23, 15, tzinfo=UTC))
    roles = Roles(clock=clock)
    service = SaleService(
        db=Database(database_url),
        roles=roles,
        clients=VendorClients(Settings(database_url=database_url), locations),
        locations=locations,
        clock=clock,
        vault=TokenVault(OLD),
    )
    with service.db.session() as session:
        roles.grant(session, by="t", target=FRONT, role=Role.FRONT_DESK, location_id="downtown")
    yield service
    service.db.dispose()


def _draft(service: SaleService, token: str) -> Sale:
    sale = service.start(FRONT, SaleStart("downtown", "2001:3001", start_date=date(2026, 11, 23)))
    payments = (PaymentInput(amount="49.00", token=token),)
    return service.add_details(FRONT, sale.id, SaleDetails(member=MEMBER, payments=payments))


def _sealed(service: SaleService, sale_id: str) -> str | None:
    sale = service.get(sale_id)
    assert sale is not None
    return sale.sealed_tokens


def _keys(monkeypatch: pytest.MonkeyPatch, database_url: str, keys: str, *args: str) -> Any:
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", database_url)
    monkeypatch.setenv("FRONTDESK_PAYMENT_TOKEN_KEYS", keys)
    return CliRunner().invoke(cli, ["keys", *args])


def test_rotate_then_retire_leaves_old_ciphertexts_unreadable(
    service: SaleService, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pending = _draft(service, "tok_profile_ROTATE_pending_1111")
    service.submit(FRONT, pending.id, pending.fingerprint)
    held = _draft(service, "tok_profile_ROTATE_draft_2222")
    ended = _draft(service, "tok_profile_ROTATE_ended_3333")
    assert service.withdraw(FRONT, ended.id)
    under_old = {sale_id: _sealed(service, sale_id) for sale_id in (pending.id, held.id)}
    # A process already restarted with the new key first seals under it.
    service.vault = TokenVault(f"{NEW},{OLD}")
    fresh = _draft(service, "tok_profile_ROTATE_fresh_4444")
    fresh_sealed = _sealed(service, fresh.id)

    before = _keys(monkeypatch, database_url, f"{NEW},{OLD}", "check")
    assert before.exit_code == 1, before.output
    assert "key 1 (newest): 1 " in before.output and "key 2: 2 " in before.output
    assert "2 still need an older key" in before.output

    rotated = _keys(monkeypatch, database_url, f"{NEW},{OLD}", "rotate")
    assert rotated.exit_code == 0, rotated.output
    assert "re-sealed 2, already under the newest key 1, ended meanwhile 0" in rotated.output
    assert "remove every key but the first" in rotated.output
    assert _sealed(service, fresh.id) == fresh_sealed  # already current: untouched
    again = _keys(monkeypatch, database_url, f"{NEW},{OLD}", "rotate")
    assert "re-sealed 0, already under the newest key 3" in again.output

    # The old key is retired: removed from the configuration, destroyed.
    retired = _keys(monkeypatch, database_url, NEW, "check")
    assert retired.exit_code == 0, retired.output
    assert "key 1 (newest): 3 " in retired.output
    vault = TokenVault(NEW)
    for sale_id, old in under_old.items():
        assert old is not None
        with pytest.raises(VaultError):
            vault.open(old)  # a copy in a backup, a WAL archive, a freed block: unreadable
        current = _sealed(service, sale_id)
        assert current is not None and current != old
        assert vault.open(current) == TokenVault(OLD).open(old)  # the same tokens
    # The sale workflow under the new key alone still opens them (an edit re-reads them).
    service.vault = vault
    edited, _ = service.edit(FRONT, held.id, SaleStart("downtown", "2001:3001", date(2026, 11, 23)))
    assert edited.status == SaleStatus.DRAFT

    # The database files hold nothing the old key opens, nor anything of the ended sale.
    needles = {
        "ended": "tok_profile_ROTATE_ended_3333",
        "pending": "tok_profile_ROTATE_pending_1111",
    }
    with_old = scan_database(database_url, needles, [OLD])
    assert all(source.opened == 0 for source in with_old.sources), with_old.report()
    with_new = scan_database(database_url, needles, [NEW])
    assert not with_new.found(["ended"]), with_new.report()
    assert with_new.found(["pending"]), "the scan finds what is still held"

    with service.db.session() as session:
        audit = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "payment_keys.rotate")
        ).all()
    assert [a.details["resealed"] for a in audit] == [2, 0]


def test_rotation_never_overwrites_a_sale_that_changed_meanwhile(
    service: SaleService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sale that ends while it is re-sealed stays wiped; one whose tokens the app
    replaced meanwhile gets its new tokens re-sealed, never the stale ones back."""
    ending = _draft(service, "tok_profile_RACE_ending_5555")
    service.submit(FRONT, ending.id, ending.fingerprint)
    changing = _draft(service, "tok_profile_RACE_old_6666")
    ending_sealed, changing_sealed = _sealed(service, ending.id), _sealed(service, changing.id)
    vault = TokenVault(f"{NEW},{OLD}")
    reseal = vault.reseal

    def racing(sealed: str) -> str:
        result = reseal(sealed)
        if sealed == ending_sealed:
            assert service.withdraw(FRONT, ending.id)
        elif sealed == changing_sealed:
            payments = (PaymentInput(amount="49.00", token="tok_profile_RACE_new_7777"),)
            service.add_details(FRONT, changing.id, SaleDetails(member=MEMBER, payments=payments))
        return result

    monkeypatch.setattr(vault, "reseal", racing)
    report = rotate(service.db, vault, service.clock)
    assert (report.resealed, report.ended) == (1, 1), report
    gone = service.get(ending.id)
    assert gone is not None
    assert gone.status == SaleStatus.CANCELLED and gone.sealed_tokens is None
    now = _sealed(service, changing.id)
    assert now is not None and vault.key_of(now) == 0
    assert vault.open(now)[0]["token"] == "tok_profile_RACE_new_7777"
    assert key_use(service.db, vault).retirable


def test_check_fails_on_values_no_configured_key_opens(
    service: SaleService, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _draft(service, "tok_profile_LOST_8888")  # sealed under OLD
    result = _keys(monkeypatch, database_url, f"{NEW},{OTHER}", "check")
    assert result.exit_code == 1
    assert "1 sealed payment token sets open with none of these keys" in result.output
    rotated = _keys(monkeypatch, database_url, f"{NEW},{OTHER}", "rotate")
    assert rotated.exit_code == 1 and "unreadable 1" in rotated.output
    assert _keys(monkeypatch, database_url, "", "check").exit_code == 2
    assert OLD not in result.output + rotated.output and NEW not in result.output
