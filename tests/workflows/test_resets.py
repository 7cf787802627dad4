"""The reset workflow without Slack: validation, masking, roles, compare-and-set."""

from __future__ import annotations

import textwrap
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.config import Settings, load_locations
from bot.devtools.stack import DEMO_SECRETS, LOCATIONS_YAML
from bot.vendor_clients import VendorClients
from bot.workflows.errors import InvalidInput, NotAuthorized
from bot.workflows.masking import mask_card, mask_email, mask_member_in, mask_phone
from bot.workflows.resets import (
    ConfirmResult,
    ResetInput,
    ResetService,
    ResetStatus,
    guess_identity,
    validate_input,
)
from bot.workflows.roles import (
    Actor,
    Permission,
    Role,
    Roles,
)
from storage.db import Database
from storage.models import ResetRequest
from vendors import FieldError, InvalidVendorRequest, MemberIdentity


@pytest.fixture
def locations(tmp_path: Path) -> dict:
    path = tmp_path / "locations.yml"
    path.write_text(textwrap.dedent(LOCATIONS_YAML))
    return load_locations(path)


def test_masking() -> None:
    assert mask_email("jane@example.com") == "j•••@example.com"
    assert mask_phone("+1 (555) 010-9876") == "•••76"
    assert mask_card("6000 1000 2000 3000") == "•••• 3000"


def test_a_vendors_words_are_masked_where_they_echo_the_member() -> None:
    identity = {"email": "jane@example.com", "username": "janedoe", "card": "6000100020003000"}
    words = "No JANE@example.com; user janedoe/janedoes; card 6000100020003000; ann@x.org"
    assert mask_member_in(words, identity) == (
        "No j•••@example.com; user j•••/janedoes; card •••• 3000; a•••@x.org"
    )
    assert mask_member_in("Member account is locked.", identity) == "Member account is locked."
    # As a stored exchange's URL carries it.
    assert mask_member_in("/reset?Email=jane%40example.com&x=1", identity) == (
        "/reset?Email=j•••@example.com&x=1"
    )


def test_guess_identity() -> None:
    assert guess_identity(" jane@example.com ") == ResetInput(email="jane@example.com")
    assert guess_identity("6000 1000 2000 3000") == ResetInput(card="6000100020003000")
    assert guess_identity("7001") == ResetInput(account_id="7001")
    assert guess_identity("janedoe") == ResetInput(username="janedoe")
    # A phone number is not an account id: kept as typed, for validation to point out.
    assert guess_identity("555-123-4567") == ResetInput(account_id="555-123-4567")


def test_validation_per_vendor(locations: dict) -> None:
    assert validate_input(
        locations["downtown"], ResetInput(email="Jane@Example.com", username="janedoe")
    ) == {
        "email": "Jane@example.com",
        "username": "janedoe",
    }
    with pytest.raises(InvalidInput) as caught:
        validate_input(locations["sparkle"], ResetInput(username="janedoe"))
    assert set(caught.value.errors) == {"email"}  # Registrar takes an email only
    with pytest.raises(InvalidInput) as caught:
        validate_input(locations["bistro"], ResetInput(email="a@b.io", account_id="12"))
    assert set(caught.value.errors) == {"email", "account_id"}
    with pytest.raises(InvalidInput) as caught:
        validate_input(locations["downtown"], ResetInput(email="jane\x00@example.com"))
    assert "control characters" in caught.value.errors["email"]
    for invisible in ("\u200b", "\u200e", "\ufeff", "\u2028"):
        with pytest.raises(InvalidInput) as caught:
            validate_input(locations["downtown"], ResetInput(username=f"jane{invisible}doe"))
        assert f"U+{ord(invisible):04X}" in caught.value.errors["username"]
    # The joiner inside an emoji is part of it.
    assert validate_input(locations["downtown"], ResetInput(username="jane👩\u200d💻")) == {
        "username": "jane👩\u200d💻"
    }


@pytest.fixture
def service(database_url: str, locations: dict, monkeypatch: pytest.MonkeyPatch) -> ResetService:
    for key, value in DEMO_SECRETS.items():
        monkeypatch.setenv(key, value)
    clock = ManualClock(datetime(2026, 11, 23, 12, tzinfo=UTC))
    settings = Settings(database_url=database_url)
    return ResetService(
        db=Database(database_url),
        roles=Roles(clock=clock),
        clients=VendorClients(settings, locations),
        locations=locations,
        clock=clock,
    )


FRONT = Actor("T1", "UFRONT")


def grant(service: ResetService, actor: Actor, role: Role, location: str | None) -> None:
    with service.db.session() as session:
        service.roles.grant(session, by="test", target=actor, role=role, location_id=location)


def test_roles_are_scoped_and_read_at_each_call(service: ResetService) -> None:
    with pytest.raises(NotAuthorized) as caught:
        service.prepare(FRONT, "downtown", ResetInput(email="jane@example.com"))
    # Plain words: what, where, which role, and who can grant it (the admins, named).
    assert str(caught.value) == (
        "You can't reset members' passwords at downtown: that needs the front desk, manager "
        "or support role there. Ask whoever installed frontdesk in Slack (its admin) to give "
        "it to you."
    )
    admin = Actor("T1", "UADMIN")
    grant(service, admin, Role.ADMIN, None)
    with pytest.raises(NotAuthorized) as caught:
        service.prepare(FRONT, "downtown", ResetInput(email="jane@example.com"))
    assert "Ask <@UADMIN> (frontdesk's admin) to give it to you." in str(caught.value)
    grant(service, FRONT, Role.FRONT_DESK, "downtown")
    service.prepare(FRONT, "downtown", ResetInput(email="jane@example.com"))
    with pytest.raises(NotAuthorized):
        service.prepare(FRONT, "sparkle", ResetInput(email="jane@example.com"))
    assert [loc.id for loc in service.locations_for(FRONT)] == ["downtown"]
    support = Actor("T1", "USUP")
    grant(service, support, Role.SUPPORT, "downtown")  # support resets anywhere
    assert len(service.locations_for(support)) == 4
    with service.db.session() as session:
        assert not service.roles.can(session, FRONT, Permission.TRIAGE, "downtown")
        service.roles.revoke(
            session, by="t", target=FRONT, role=Role.FRONT_DESK, location_id="downtown"
        )
    with pytest.raises(NotAuthorized):
        service.prepare(FRONT, "downtown", ResetInput(email="jane@example.com"))


def test_confirm_is_compare_and_set_under_concurrency(service: ResetService) -> None:
    grant(service, FRONT, Role.FRONT_DESK, None)
    request = service.prepare(FRONT, "downtown", ResetInput(email="jane@example.com"))
    results: list[ConfirmResult] = []
    barrier = threading.Barrier(12)

    def click() -> None:
        barrier.wait()
        results.append(service.confirm(FRONT, request.id))

    threads = [threading.Thread(target=click) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(ConfirmResult.QUEUED) == 1
    assert results.count(ConfirmResult.ALREADY_HANDLED) == 11


def test_claim_next_hands_each_request_to_one_worker(service: ResetService) -> None:
    grant(service, FRONT, Role.FRONT_DESK, None)
    ids = set()
    for n in range(20):
        request = service.prepare(FRONT, "downtown", ResetInput(email=f"m{n}@example.com"))
        assert service.confirm(FRONT, request.id) is ConfirmResult.QUEUED
        ids.add(request.id)
    claimed: list[str] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        while batch := service.claim_next(name, limit=2):
            with lock:
                claimed.extend(batch)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(ids)
    assert all(service.get(i).status == ResetStatus.SENDING for i in ids)


def test_rate_limit_counts_the_last_hour(service: ResetService) -> None:
    grant(service, FRONT, Role.FRONT_DESK, None)
    for _ in range(3):
        request = service.prepare(FRONT, "downtown", ResetInput(email="jane@example.com"))
        assert service.confirm(FRONT, request.id) is ConfirmResult.QUEUED
    fourth = service.prepare(FRONT, "downtown", ResetInput(email="JANE@example.com"))
    assert service.confirm(FRONT, fourth.id) is ConfirmResult.RATE_LIMITED
    other_place = service.prepare(FRONT, "sparkle", ResetInput(email="jane@example.com"))
    assert service.confirm(FRONT, other_place.id) is ConfirmResult.QUEUED
    service.clock.advance(minutes=61)  # type: ignore[attr-defined]
    assert service.confirm(FRONT, fourth.id) is ConfirmResult.QUEUED


def test_what_the_vendor_would_refuse_is_shown_on_the_form(
    service: ResetService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13, deviation 4: a refusal frontdesk can make before sending is a form
    error (named by the form's field), never recorded nor worded as the vendor's."""
    grant(service, FRONT, Role.FRONT_DESK, "bistro")

    class Refusing:
        def check(self, identity: MemberIdentity) -> None:
            assert identity == MemberIdentity(username="guest1")
            raise InvalidVendorRequest(
                [FieldError("username", "Not a username here."), FieldError(None, "Nor this.")]
            )

    monkeypatch.setattr(service.clients, "resetter", lambda location_id: Refusing())
    with pytest.raises(InvalidInput) as caught:
        service.prepare(FRONT, "bistro", ResetInput(username="guest1"))
    assert caught.value.errors == {"username": "Not a username here.", "email": "Nor this."}
    with service.db.session() as session:
        assert session.scalar(select(func.count()).select_from(ResetRequest)) == 0


def test_a_b2b_guest_username_passes_the_form(service: ResetService) -> None:
    grant(service, FRONT, Role.FRONT_DESK, "partner-bistro")
    request = service.prepare(FRONT, "partner-bistro", ResetInput(username="thirdparty"))
    assert request.identity == {"username": "thirdparty"}
