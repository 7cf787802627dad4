from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.devtools.stack import Stack
from bot.workflows.roles import Role
from tests.web import browser


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = browser.start(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.fixture
def page(chromium: Any) -> Any:
    """The browser, without any site's cookies from an earlier test."""
    chromium.execute_cdp_cmd("Network.clearBrowserCookies", {})
    chromium.get("about:blank")
    return chromium


@pytest.fixture
def make_stack(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    started: list[Stack] = []

    def make(**options: Any) -> Stack:
        stack = Stack(workdir=tmp_path, database_url=database_url, **options)
        started.append(stack)
        stack.grant("UFRONT", Role.FRONT_DESK, "partner-bistro")
        stack.grant("USUPPORT", Role.SUPPORT)
        return stack

    yield make
    for stack in started:
        stack.stop()
        assert stack.slack.invalid == [], "the app sent Slack an invalid view or blocks"


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack()


@pytest.fixture
def screens(tmp_path: Path) -> Path:
    return tmp_path / "screens"
