"""Posts whose answer Slack lost, or whose recording failed (issue 15's independent
review): posted once, found under Slack's history limits, looked for only among this
app's messages, and a lookup that Slack refuses ends at once instead of after a day."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from bot.clock import SystemClock
from bot.devtools.fake_slack import BOT_ID
from bot.devtools.stack import Stack, wait_for
from bot.notices import notifier
from bot.notices.notifier import Notifier
from bot.notices.slack import SlackCalls
from bot.slack.ids import Command
from bot.workflows.outbox import NoticeStatus, Outbox
from bot.workflows.signals import Signals
from storage.db import Database
from tests.slack.test_outbox import all_delivered, notices

DM = "DFRONT"
HISTORY = ("conversations.history", "conversations.replies")


def ours(stack: Stack) -> list[dict[str, Any]]:
    """The messages this app posted in the requester's DM."""
    return [m for m in stack.slack.messages_in(DM) if m.get("bot_id") == BOT_ID]


def settled(stack: Stack) -> bool:
    return bool(notices(stack)) and all_delivered(stack)


@pytest.mark.parametrize("error", ["internal_error", "fatal_error"])
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_post_answered_internal_error_after_slack_acted_is_not_posted_twice(
    stack: Stack, error: str
) -> None:
    # Slack: "it's possible some aspect of the operation succeeded".
    fake = stack.slack
    original = fake.answer
    failed: list[str] = []

    def answer(method: str, args: dict[str, Any], raw: str, token: str | None) -> dict[str, Any]:
        result = original(method, args, raw, token)
        if method == "chat.postMessage" and not failed:
            failed.append(method)  # stored, then answered with the error
            return {"ok": False, "error": error}
        return result

    fake.answer = answer  # type: ignore[method-assign]
    stack.driver.command("UFRONT", Command.RESET, "jane@example.com")
    wait_for(lambda: failed and settled(stack) and ours(stack), 20)
    assert len(ours(stack)) == 1, [m["ts"] for m in ours(stack)]
    assert fake.calls_to("conversations.history"), "it was looked for"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_post_whose_recording_failed_is_recorded_not_posted_again(stack: Stack) -> None:
    outbox = stack.frontdesk.services.outbox
    original = outbox.done
    failed: list[int] = []

    def done(notice: Any, worker_id: str, **kwargs: Any) -> bool:
        if kwargs.get("ts") and not failed:
            failed.append(notice.id)  # Slack took the post; the database lost the line
            raise OperationalError("UPDATE notices", {}, Exception("server closed the connection"))
        return original(notice, worker_id, **kwargs)

    outbox.done = done  # type: ignore[method-assign]
    stack.driver.command("UFRONT", Command.RESET, "jane@example.com")
    wait_for(lambda: failed and settled(stack), 20)
    [confirmation] = ours(stack)
    [notice] = notices(stack, id=failed[0])
    assert (notice.status, notice.ts) == (NoticeStatus.DONE, confirmation["ts"])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_post_slack_answered_too_late_is_not_posted_twice(stack: Stack) -> None:
    # Slack stores the post at once and answers after the notifier's 10 s timeout:
    # the lookup must cover the attempt's start, not only when its failure was seen.
    fake = stack.slack
    answer = fake.answer
    slow: list[float] = []

    def slow_first_post(method: str, args: dict[str, Any], raw: str, token: str | None) -> Any:
        result = answer(method, args, raw, token)
        if method == "chat.postMessage" and not slow:
            slow.append(time.monotonic())
            time.sleep(11)
        return result

    fake.answer = slow_first_post  # type: ignore[method-assign]
    stack.driver.command("UFRONT", Command.RESET, "jane@example.com")
    wait_for(lambda: slow and time.monotonic() - slow[0] > 11.5 and settled(stack), 40)
    assert fake.calls_to("conversations.history"), "the lost answer was looked up"
    assert len(ours(stack)) == 1, [m["ts"] for m in ours(stack)]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_lost_post_is_found_under_slacks_history_limits(stack: Stack) -> None:
    # Apps outside the Marketplace: 15 messages a page, one history call a minute
    # (here a second). While the answer is lost, 20 other messages land in the DM.
    fake = stack.slack
    fake.history_every = 1.0
    answer, take_drop = fake.answer, fake.take_drop

    def drop(method: str) -> bool:
        dropped = take_drop(method)
        if dropped:
            for n in range(20):
                answer("chat.postMessage", {"channel": DM, "text": f"other {n}"}, "", None)
        return dropped

    fake.take_drop = drop  # type: ignore[method-assign]
    fake.drop_answers("chat.postMessage", times=1)
    stack.driver.command("UFRONT", Command.RESET, "jane@example.com")
    wait_for(lambda: fake.dropped and settled(stack), 20)
    assert len(ours(stack)) == 1
    pages = fake.calls_to("conversations.history")
    assert all(int(c.args["limit"]) <= 15 and c.args.get("latest") for c in pages)
    assert len(pages) <= 3, f"{len(pages)} pages read for 21 messages"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_lookup_slack_refuses_for_good_posts_at_once_instead_of_retrying_a_day(
    stack: Stack,
) -> None:
    # An app upgraded without being reinstalled: no history scope.
    fake = stack.slack
    answer = fake.answer

    def no_history_scope(method: str, args: dict[str, Any], raw: str, token: str | None) -> Any:
        if method in HISTORY:
            answer(method, args, raw, token)
            return {"ok": False, "error": "missing_scope", "needed": "im:history"}
        return answer(method, args, raw, token)

    fake.answer = no_history_scope  # type: ignore[method-assign]
    fake.drop_answers("chat.postMessage", times=1)
    stack.driver.command("UFRONT", Command.RESET, "jane@example.com")
    wait_for(lambda: fake.dropped and settled(stack), 10)
    [confirmation] = notices(stack, kind="reset.confirmation")
    assert confirmation.status == NoticeStatus.DONE
    assert "posted without knowing" in (confirmation.last_error or "")
    # The person has their confirmation: a possible duplicate, never nothing (README).
    assert 1 <= len(ours(stack)) <= 2


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_token_without_the_scopes_the_notifier_needs_is_shown_to_admins(
    stack: Stack,
) -> None:
    stack.slack.scopes = [s for s in stack.slack.scopes if s != "im:history"]
    problems = stack.frontdesk.check_channels()
    assert any("im:history" in line and "reinstall" in line for line in problems), problems
    assert "im:history" in " ".join(stack.frontdesk.services.home.setup_problems)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_message_of_another_app_carrying_the_key_is_not_taken_for_ours(stack: Stack) -> None:
    # Slack stores the first post as if another app had made it (a planted key),
    # then the answer is lost: the lookup must not adopt that message.
    fake = stack.slack
    fake.other_apps["other-app-token"] = "BOTHER"
    answer = fake.answer
    planted: list[str] = []

    def plant(method: str, args: dict[str, Any], raw: str, token: str | None) -> Any:
        if method == "chat.postMessage" and not planted:
            result = answer(method, args, raw, "other-app-token")
            planted.append(result["ts"])
            return result
        return answer(method, args, raw, token)

    fake.answer = plant  # type: ignore[method-assign]
    fake.drop_answers("chat.postMessage", times=1)
    stack.driver.command("UFRONT", Command.RESET, "jane@example.com")
    wait_for(lambda: planted and settled(stack), 20)
    [mine] = ours(stack)
    [request] = notices(stack, kind="reset.confirmation")
    assert request.ts == mine["ts"] != planted[0]


def test_a_delivery_cannot_outlast_its_lease(tmp_path: Path) -> None:
    # open, auth.test, 2 pages of history and the post at 10 s each: 50 s.
    db = Database(f"sqlite:///{tmp_path / 'lease.sqlite3'}")
    short = Outbox(db=db, clock=SystemClock(), signals=Signals(), lease_seconds=30)
    from slack_sdk import WebClient

    with pytest.raises(ValueError, match="lease"):
        Notifier(
            outbox=short,
            calls=SlackCalls(WebClient(token="x"), timeout=10),
            context=None,  # type: ignore[arg-type]
            clock=SystemClock(),
        )
    db.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_lookup_that_cannot_conclude_posts_anyway_after_its_patience(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Slack answers every history read 429: after the patience (10 minutes, here
    # 2 s) the confirmation is posted anyway, noted, rather than never delivered.
    monkeypatch.setattr(notifier, "LOOKUP_PATIENCE", 2.0)
    fake = stack.slack
    fake.rate_limit("conversations.history", times=10_000, retry_after=1)
    fake.drop_answers("chat.postMessage", times=1)
    stack.driver.command("UFRONT", Command.RESET, "jane@example.com")
    wait_for(lambda: fake.dropped and settled(stack), 20)
    [confirmation] = notices(stack, kind="reset.confirmation")
    assert confirmation.status == NoticeStatus.DONE
    assert "no answer within" in (confirmation.last_error or "")
    assert len(ours(stack)) == 2  # the duplicate the README accepts over a lost message


def test_the_scopes_checked_at_start_are_the_manifests() -> None:
    import yaml

    from bot.devtools.fake_slack import GRANTED_SCOPES
    from bot.notices.slack import NEEDED_SCOPES

    manifest = yaml.safe_load((Path(__file__).resolve().parents[2] / "manifest.yml").read_text())
    asked = set(manifest["oauth_config"]["scopes"]["bot"])
    assert asked >= NEEDED_SCOPES
    assert set(GRANTED_SCOPES) == asked  # the fake grants what a fresh install grants


@pytest.mark.parametrize(
    ("code", "permanent", "uncertain"),
    [
        ("missing_scope", True, False),
        ("invalid_auth", True, False),
        ("not_authed", True, False),
        ("account_inactive", True, False),
        ("token_revoked", True, False),
        ("internal_error", False, True),
        ("fatal_error", False, True),
        ("service_unavailable", False, False),
    ],
)
def test_slack_errors_are_read_as_slack_documents_them(
    code: str, permanent: bool, uncertain: bool
) -> None:
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web import SlackResponse

    from bot.notices.slack import classify

    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.com/api/chat.postMessage",
        req_args={},
        data={"ok": False, "error": code},
        headers={},
        status_code=200,
    )
    failure = classify(SlackApiError(code, response))
    assert (failure.permanent, failure.uncertain) == (permanent, uncertain)
