"""What the words typed after a command mean, Slack-free: ``help``, a location (by id
or by name, any case, several words long), a member's identifier; and, for anything
else, a plain sentence that points at the words not understood (never a guess).

``/reset jane@example.com Downtown Fitness``, ``/reset downtown``, ``/reset help``,
``/sell sparkle``: each command reads its words with :func:`plan_reset` or
:func:`read_location`; the listener acts on the plan.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.config import Location
from bot.workflows.resets import CARD_DIGITS, ResetInput, guess_identity

#: Words that ask for help rather than name anything.
HELP_WORDS = frozenset(
    {"help", "?", "-h", "--help", "-help", "aide", "ayuda", "info", "usage", "examples"}
)

#: An identifier kind as a person reads it.
KIND_WORDS = {
    "email": "an email",
    "username": "a username",
    "account_id": "an account id",
    "card": "a printed card number",
}


def is_help(text: str) -> bool:
    """``help``, ``Help!``, ``usage``, ``?``…"""
    word = text.strip().casefold()
    return word in HELP_WORDS or word.rstrip("!?.") in HELP_WORDS


def _names(location: Location) -> set[str]:
    names = {location.id, location.name, getattr(location, "display_name", None) or ""}
    return {" ".join(n.casefold().split()) for n in names if n}


def take_locations(
    tokens: Sequence[str], locations: Iterable[Location]
) -> tuple[list[Location], list[str]]:
    """The locations named among ``tokens`` (longest names first, by id or name, any
    case) and the tokens left over, in order."""
    known = list(locations)
    found: list[Location] = []
    left = list(tokens)
    longest = max((len(n.split()) for loc in known for n in _names(loc)), default=1)
    size = min(longest, len(left))
    while size >= 1:
        start = 0
        while start + size <= len(left):
            phrase = " ".join(left[start : start + size]).casefold()
            match = next((loc for loc in known if phrase in _names(loc)), None)
            if match is None:
                start += 1
                continue
            if match not in found:
                found.append(match)
            del left[start : start + size]
        size -= 1
    return found, left


def near_location(words: str, locations: Iterable[Location]) -> Location | None:
    """The location ``words`` look like a misspelling of, if one is close."""
    wanted = " ".join(words.casefold().split())
    if not wanted:
        return None
    by_name = {name: loc for loc in locations for name in _names(loc)}
    close = difflib.get_close_matches(wanted, list(by_name), n=1, cutoff=0.75)
    return by_name[close[0]] if close else None


def location_list(locations: Sequence[Location], limit: int = 6) -> str:
    """``Downtown Fitness (downtown), Sparkle Car Wash (sparkle)``, shortened."""
    shown = [f"{loc.name} (`{loc.id}`)" for loc in locations[:limit]]
    more = len(locations) - limit
    if more > 0:
        shown.append(f"and {more} more")
    return ", ".join(shown)


def quoted(text: str) -> str:
    """What the person typed, quoted so that Slack shows it as typed."""
    clean = text.replace("`", "'").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"“{clean[:200]}”"


def read_location(
    text: str, known: dict[str, Location], allowed: Sequence[Location]
) -> tuple[Location | None, str | None]:
    """A command whose only words may be a location (``/sell downtown``): (the location,
    or None for none named; a sentence about words not understood, or None)."""
    tokens = text.split()
    if not tokens:
        return None, None
    found, left = take_locations(tokens, known.values())
    if len(found) > 1:
        return None, _two_places(found)
    if left:
        return None, _unknown_place(" ".join(left), allowed)
    return found[0], None


def _two_places(found: Sequence[Location]) -> str:
    names = " and ".join(loc.name for loc in found[:2])
    return f"Name one location at a time: you named {names}."


def _unknown_place(words: str, allowed: Sequence[Location]) -> str:
    near = near_location(words, allowed)
    guess = f" Did you mean {near.name} (`{near.id}`)?" if near else ""
    yours = f" Your locations: {location_list(allowed)}." if allowed and not near else ""
    return f"{quoted(words)} is not one of your locations.{guess}{yours}"


@dataclass(frozen=True)
class ResetPlan:
    """What ``/reset <words>`` asks for. Exactly one of: ``help``; ``problem`` (words not
    understood, in plain words: nothing is started); ``refuse`` (a location the person
    may not reset at: the refusal names who can grant it); ``member`` (a member to
    confirm at ``location``); else the modal, at ``location`` if one was named."""

    help: bool = False
    problem: str | None = None
    refuse: str | None = None
    location: Location | None = None
    member: ResetInput | None = None
    #: The member's identifier as typed (shown back in full to the person who typed it).
    typed: str = ""
    kind: str = ""


def _take_member(tokens: Sequence[str]) -> tuple[str | None, list[str], str | None]:
    """(the identifier typed, the tokens left, a problem) from what is not a location."""
    emails = [t for t in tokens if "@" in t]
    if len(emails) > 1:
        return (
            None,
            [],
            "Give one member at a time: I see " + " and ".join(quoted(e) for e in emails[:2]) + ".",
        )
    if emails:
        return emails[0], [t for t in tokens if t != emails[0]], None
    if len(tokens) > 1 and all(re.fullmatch(r"[\d-]+", t) for t in tokens):
        if len(re.sub(r"\D", "", "".join(tokens))) >= CARD_DIGITS:
            return " ".join(tokens), [], None  # a card number typed in groups
        # Shorter runs are several numbers (two account ids, a phone number): never joined.
        return (
            None,
            [],
            "Give one member at a time: I see the numbers "
            + " and ".join(quoted(t) for t in tokens[:2])
            + ". An account id is typed as one number, a card number in full.",
        )
    if len(tokens) == 1:
        return tokens[0], [], None
    return None, list(tokens), None


def plan_reset(
    text: str,
    known: dict[str, Location],
    allowed: Sequence[Location],
    last: str | None = None,
) -> ResetPlan:
    """Read ``/reset <text>`` for a person who may reset at ``allowed`` (``known``: every
    configured location, so one they may not act at is refused by name, not misread);
    ``last``: the location they used last, the default when none is named."""
    tokens = text.split()
    if not tokens:
        return ResetPlan()
    if len(tokens) == 1 and is_help(tokens[0]):
        return ResetPlan(help=True)
    found, rest = take_locations(tokens, known.values())
    if len(found) > 1:
        return ResetPlan(problem=_two_places(found))
    place = found[0] if found else None
    if place is not None and all(loc.id != place.id for loc in allowed):
        return ResetPlan(refuse=place.id)
    if not rest:
        return ResetPlan(location=place)
    typed, left, problem = _take_member(rest)
    if problem:
        return ResetPlan(problem=problem)
    if typed is None:
        return ResetPlan(problem=_not_understood(left, allowed, place))
    if left and "@" in typed and len(left) == 1:
        both = _email_and_username(typed, left[0], allowed, place, last)
        if both is not None:
            return both
    if left:
        # A member was found: the other words were meant as a location.
        return ResetPlan(problem=_unknown_place(" ".join(left), allowed))
    raw = guess_identity(typed)
    kind = next(k for k in KIND_WORDS if getattr(raw, k))
    if place is None:
        near = near_location(typed, allowed) if kind == "username" else None
        if near is not None:
            return ResetPlan(
                problem=f"{quoted(typed)} is not one of your locations: did you mean "
                f"{near.name} (`{near.id}`)? If it is a member's username, type "
                f"`/reset` and enter it in the form."
            )
        takers = [loc for loc in allowed if kind in loc.identifier_fields]
        if not takers:
            return ResetPlan(problem=_no_taker(typed, kind, allowed))
        place = next((loc for loc in takers if loc.id == last), takers[0])
    elif kind not in place.identifier_fields:
        return ResetPlan(problem=_not_taken(typed, kind, place))
    return ResetPlan(location=place, member=raw, typed=typed, kind=kind)


def _email_and_username(
    email: str,
    word: str,
    allowed: Sequence[Location],
    place: Location | None,
    last: str | None,
) -> ResetPlan | None:
    """``/reset jane@example.com janedoe``: an email and a username, where the location
    finds members by both (ClubReady); None where the word may be a misspelt location
    or no location of theirs takes both."""
    if near_location(word, allowed) is not None:
        return None
    both = ("email", "username")
    if place is None:
        takers = [loc for loc in allowed if all(k in loc.identifier_fields for k in both)]
        place = next((loc for loc in takers if loc.id == last), takers[0] if takers else None)
    if place is None or place.one_identifier or any(k not in place.identifier_fields for k in both):
        return None
    return ResetPlan(
        location=place,
        member=ResetInput(email=email, username=word),
        typed=f"{email} {word}",
        kind="email",
    )


def takes(location: Location) -> str:
    """``an email or a username``: what a location's vendor finds a member by."""
    words = [KIND_WORDS[f] for f in location.identifier_fields]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _not_taken(typed: str, kind: str, place: Location) -> str:
    return (
        f"{quoted(typed)} looks like {KIND_WORDS[kind]}, and {place.name} "
        f"({place.vendor_label}) finds members by {takes(place)}. Nothing was started."
    )


def _no_taker(typed: str, kind: str, allowed: Sequence[Location]) -> str:
    return (
        f"{quoted(typed)} looks like {KIND_WORDS[kind]}, and none of your locations finds "
        f"members by that: {location_list(allowed)}. Nothing was started."
    )


def _not_understood(
    left: Sequence[str], allowed: Sequence[Location], place: Location | None
) -> str:
    for word in left:
        near = near_location(word, allowed)
        if near is not None and (place is None or near.id != place.id):
            return (
                f"{quoted(word)} is not one of your locations: did you mean {near.name} "
                f"(`{near.id}`)? Nothing was started."
            )
    return (
        f"I could not tell the member from {quoted(' '.join(left))}: give one email, "
        "username, account id or card number, and a location if you like. Nothing was "
        "started. `/reset help` shows examples."
    )
