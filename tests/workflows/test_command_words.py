"""The words after /reset and /sell, read without Slack: help, locations by id or name,
the member, and anything else pointed out (never guessed)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import Location, load_locations
from bot.devtools.stack import LOCATIONS_YAML
from bot.workflows.command_words import plan_reset, read_location, take_locations


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Location]:
    path: Path = tmp_path_factory.mktemp("words") / "locations.yml"
    path.write_text(textwrap.dedent(LOCATIONS_YAML))
    return load_locations(path)


def test_help_and_empty(known: dict[str, Location]) -> None:
    allowed = list(known.values())
    assert plan_reset("help", known, allowed).help
    assert plan_reset(" HELP ", known, allowed).help
    empty = plan_reset("", known, allowed)
    assert not empty.help and empty.member is None and empty.location is None


def test_help_words_with_their_punctuation(known: dict[str, Location]) -> None:
    allowed = list(known.values())
    for word in ("info", "usage", "help!", "Help?", "?"):
        assert plan_reset(word, known, allowed).help, word


def test_numbers_are_never_merged_into_one_account_id(known: dict[str, Location]) -> None:
    allowed = list(known.values())
    plan = plan_reset("7001 7002", known, allowed)
    assert plan.member is None and plan.problem is not None and "“7001” and “7002”" in plan.problem
    # A card number typed in groups is one number.
    card = plan_reset("6000 1000 2000 3000", known, allowed)
    assert card.member is not None and card.member.card == "6000100020003000"


def test_an_email_and_a_username_where_the_location_takes_both(
    known: dict[str, Location],
) -> None:
    allowed = list(known.values())
    plan = plan_reset("jane@example.com janedoe", known, allowed)
    assert plan.location is not None and plan.location.id == "downtown"
    assert plan.member is not None
    assert (plan.member.email, plan.member.username) == ("jane@example.com", "janedoe")
    # Where the location takes an email alone, the word is pointed out as a place.
    plan = plan_reset("jane@example.com janedoe sparkle", known, allowed)
    assert plan.member is None and "is not one of your locations" in str(plan.problem)
    # A word close to a location's name is asked about, not read as a username.
    plan = plan_reset("jane@example.com downtwn", known, allowed)
    assert plan.member is None and "Downtown Fitness" in str(plan.problem)


def test_locations_by_id_or_name_any_case_longest_first(known: dict[str, Location]) -> None:
    found, left = take_locations(["jane@example.com", "PARTNER", "bistro"], known.values())
    assert [loc.id for loc in found] == ["partner-bistro"] and left == ["jane@example.com"]
    found, left = take_locations(["sparkle", "car", "wash", "x"], known.values())
    assert [loc.id for loc in found] == ["sparkle"] and left == ["x"]


def test_the_last_location_is_the_default_when_it_takes_the_identifier(
    known: dict[str, Location],
) -> None:
    allowed = list(known.values())
    assert plan_reset("jane@example.com", known, allowed, "sparkle").location.id == "sparkle"
    # Sparkle (Registrar) finds members by email only: an account id goes elsewhere.
    assert plan_reset("7001", known, allowed, "sparkle").location.id == "bistro"


def test_a_location_the_person_may_not_act_at_is_refused_by_name(
    known: dict[str, Location],
) -> None:
    plan = plan_reset("jane@example.com downtown", known, [known["sparkle"]])
    assert plan.refuse == "downtown"


def test_read_location_for_sell(known: dict[str, Location]) -> None:
    selling = [known["downtown"]]
    assert read_location("Downtown Fitness", known, selling) == (known["downtown"], None)
    place, problem = read_location("downtown extra", known, selling)
    assert (
        place is None
        and problem
        == "“extra” is not one of your locations. Your locations: Downtown Fitness (`downtown`)."
    )


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_words_give_one_clear_answer(known: dict[str, Location], text: str) -> None:
    """Whatever is typed: exactly one kind of answer, a member only with a location
    that finds members that way, and a problem never blames a valid email."""
    allowed = list(known.values())
    plan = plan_reset(text, known, allowed)
    kinds = [plan.help, plan.problem is not None, plan.refuse is not None, plan.member is not None]
    assert sum(kinds) <= 1
    if plan.member is not None:
        assert plan.location is not None and plan.kind in plan.location.identifier_fields
    if plan.problem and "@" in text and "looks like" not in plan.problem:
        assert "email" not in plan.problem.split("“")[0]
