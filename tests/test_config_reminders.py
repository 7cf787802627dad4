"""Issue 18 item 1: the locations file's escalation_group and quiet_hours, the reminder
settings, and the quiet-hours arithmetic (local time, across midnight and DST)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import (
    ConfigurationError,
    EscalationGroup,
    QuietHours,
    Settings,
    load_locations,
)
from bot.devtools.stack import LOCATIONS_YAML
from bot.workflows.reminders import quiet_until

GROUP = "    escalation_group: S0LEADS\n"


def downtown(tmp_path: Path, lines: str) -> object:
    """Load the demo locations with downtown's escalation_group line replaced."""
    assert GROUP in LOCATIONS_YAML
    path = tmp_path / "locations.yml"
    path.write_text(textwrap.dedent(LOCATIONS_YAML.replace(GROUP, lines)))
    return load_locations(path)["downtown"]


@pytest.mark.parametrize(
    ("line", "usergroup", "users"),
    [
        ("escalation_group: S0LEADS", "S0LEADS", ()),
        ("escalation_group: U012AB3CD", None, ("U012AB3CD",)),
        ("escalation_group: W012AB3CD", None, ("W012AB3CD",)),
        ("escalation_group: [U012AB3CD, U045EF6GH]", None, ("U012AB3CD", "U045EF6GH")),
        ("escalation_group: {usergroup: S0LEADS}", "S0LEADS", ()),
    ],
)
def test_escalation_group_is_a_user_group_or_user_ids(
    tmp_path: Path, line: str, usergroup: str | None, users: tuple[str, ...]
) -> None:
    location = downtown(tmp_path, f"    {line}\n")
    group = location.escalation_group  # type: ignore[attr-defined]
    assert (group.usergroup, group.users) == (usergroup, users)


def test_escalation_group_and_quiet_hours_are_optional(tmp_path: Path) -> None:
    location = downtown(tmp_path, "")
    assert location.escalation_group is None  # type: ignore[attr-defined]
    assert location.quiet_hours is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("escalation_group: leads", "'leads' is neither a Slack user group id"),
        ("escalation_group: '@area-managers'", "is neither a Slack user group id"),
        ("escalation_group: [U012AB3CD, jane]", "'jane': not Slack user ids"),
        ("escalation_group: [S0LEADS]", "'S0LEADS': not Slack user ids"),
        ("escalation_group: []", "name a user group or at least one user"),
        ("escalation_group: {usergroup: S0LEADS, users: [U1]}", "not both"),
        ("escalation_group: {team: S0LEADS}", "Extra inputs are not permitted"),
        ('quiet_hours: {start: "21:00"}', "Field required"),
        ("quiet_hours: {start: 21:00, end: 07:00}", 'a time of day in quotes, like "21:00"'),
        ('quiet_hours: {start: "25:00", end: "07:00"}', "a time of day in quotes"),
        ('quiet_hours: {start: "9pm", end: "07:00"}', "a time of day in quotes"),
        ('quiet_hours: {start: "07:00", end: "7:00"}', "must start and end at different"),
        ('quiet_hours: {start: "21:00", end: "07:00", days: [sat]}', "Extra inputs"),
    ],
)
def test_a_wrong_escalation_group_or_quiet_hours_is_named(
    tmp_path: Path, line: str, says: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        downtown(tmp_path, f"    {line}\n")
    message = str(raised.value)
    assert "location 'downtown'" in message and says in message, message
    field = line.split(":")[0]
    assert f"field '{field}" in message, message


def test_quiet_hours_are_normalised(tmp_path: Path) -> None:
    location = downtown(tmp_path, '    quiet_hours: {start: "9:05", end: " 07:00 "}\n')
    quiet = location.quiet_hours  # type: ignore[attr-defined]
    assert (quiet.start, quiet.end) == ("09:05", "07:00")
    assert (quiet.start_minute, quiet.end_minute) == (545, 420)


def test_reminder_settings_default_to_30_minutes_and_2_hours() -> None:
    settings = Settings()
    assert (settings.sale_reminder_minutes, settings.sale_escalation_minutes) == (30.0, 120.0)


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"sale_reminder_minutes": 0}, "greater than 0"),
        ({"sale_reminder_minutes": 120}, "FRONTDESK_SALE_REMINDER_MINUTES (120) must be less"),
        ({"sale_escalation_minutes": 20}, "must be less than FRONTDESK_SALE_ESCALATION"),
        (
            {"sale_escalation_minutes": 180, "sale_approval_hours": 2},
            "FRONTDESK_SALE_ESCALATION_MINUTES (180) must be less than "
            "FRONTDESK_SALE_APPROVAL_HOURS (2)",
        ),
    ],
)
def test_reminder_settings_are_checked(values: dict[str, float], says: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(**values)  # type: ignore[arg-type]
    assert says in str(raised.value)


# -- the quiet-hours arithmetic -------------------------------------------------------------
class _Place:
    def __init__(self, start: str, end: str, timezone: str = "America/New_York") -> None:
        self.quiet_hours = QuietHours(start=start, end=end)
        self.timezone = timezone


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (_utc(2026, 11, 30, 15, 0), None),  # 10:00 in New York
        (_utc(2026, 12, 1, 1, 59), None),  # 20:59
        (_utc(2026, 12, 1, 2, 0), _utc(2026, 12, 1, 12, 0)),  # 21:00 → 07:00 (EST)
        (_utc(2026, 12, 1, 5, 30), _utc(2026, 12, 1, 12, 0)),  # 00:30, after midnight
        (_utc(2026, 12, 1, 11, 59), _utc(2026, 12, 1, 12, 0)),  # 06:59
        (_utc(2026, 12, 1, 12, 0), None),  # 07:00: over
        # The night the clocks go back (1 November 2026): 07:00 EST is 12:00 UTC.
        (_utc(2026, 11, 1, 1, 30), _utc(2026, 11, 1, 12, 0)),  # 21:30 EDT on 31 Oct
        # The night they go forward (8 March 2026): 07:00 EDT is 11:00 UTC.
        (_utc(2026, 3, 8, 3, 0), _utc(2026, 3, 8, 11, 0)),  # 22:00 EST on 7 March
    ],
)
def test_quiet_hours_across_midnight(now: datetime, until: datetime | None) -> None:
    assert quiet_until(_Place("21:00", "07:00"), now) == until  # type: ignore[arg-type]


def test_quiet_hours_within_a_day_and_no_quiet_hours() -> None:
    lunch = _Place("12:00", "13:30", "Europe/Paris")
    assert quiet_until(lunch, _utc(2026, 11, 30, 10, 59)) is None  # type: ignore[arg-type]
    assert quiet_until(lunch, _utc(2026, 11, 30, 11, 0)) == _utc(2026, 11, 30, 12, 30)  # type: ignore[arg-type]
    assert quiet_until(lunch, _utc(2026, 11, 30, 12, 30)) is None  # type: ignore[arg-type]
    never = _Place("21:00", "07:00")
    never.quiet_hours = None  # type: ignore[assignment]
    assert quiet_until(never, _utc(2026, 12, 1, 5, 0)) is None  # type: ignore[arg-type]


def test_escalation_group_model_directly() -> None:
    assert EscalationGroup.model_validate(" S0LEADS ").usergroup == "S0LEADS"
    with pytest.raises(ValidationError):
        EscalationGroup.model_validate("U0 two words")
