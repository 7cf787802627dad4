from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.devtools.stack import Stack
from bot.workflows.roles import Role


@pytest.fixture
def stack(database_url: str, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(workdir=tmp_path, database_url=database_url)
    running.grant("UFRONT", Role.FRONT_DESK, "downtown")
    running.grant("UFRONT", Role.FRONT_DESK, "sparkle")
    running.grant("UFRONT", Role.FRONT_DESK, "bistro")
    running.grant("UFRONT", Role.FRONT_DESK, "partner-bistro")
    running.grant("UMANAGER", Role.MANAGER, "downtown")
    running.grant("UMANAGER2", Role.MANAGER, "downtown")
    running.grant("USUPPORT", Role.SUPPORT)
    running.grant("USUPPORT2", Role.SUPPORT)
    yield running
    running.stop()
    assert running.slack.invalid == [], "the app sent Slack an invalid view or blocks"
