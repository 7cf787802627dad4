"""Issue 18 item 4: global and message shortcuts, through signed payloads as Slack sends
them (``shortcut``, ``message_action``), into the real app."""

from __future__ import annotations

import json
from typing import Any

from bot.devtools.sale_steps import open_sell
from bot.devtools.stack import Stack, wait_for
from bot.slack.ids import (
    RESET_FIELDS,
    Command,
    HistoryView,
    ResetAction,
    ResetView,
    SaleView,
    Shortcut,
)
from tests.slack.helpers import button_value, new_message, reset

MESSAGE_TS = "1700000123.000200"


def opened_after(stack: Stack, action: Any) -> dict[str, Any]:
    before = len(stack.slack.calls_to("views.open"))
    response = action()
    assert response.status_code == 200, response.text
    wait_for(lambda: len(stack.slack.calls_to("views.open")) > before)
    return stack.slack.last_view()


def without_ids(view: dict[str, Any]) -> dict[str, Any]:
    """A view without what differs between two openings of it (ids, a sale's new
    draft id)."""
    drop = ("id", "hash") + (("private_metadata",) if '"draft"' in str(view) else ())
    return {k: v for k, v in view.items() if k not in drop}


def said_to(stack: Stack, url_part: str) -> list[str]:
    """What the app posted to a response_url (the fake Slack serves them too)."""
    return [str(c.args.get("text")) for c in stack.slack.calls if c.method.startswith(url_part)]


def input_value(view: dict[str, Any], action_id: str) -> str | None:
    for block in view["blocks"]:
        element = block.get("element") or {}
        if element.get("action_id") == action_id:
            return element.get("initial_value")
    raise AssertionError(f"no input {action_id}")


def shared(text: str, **extra: Any) -> dict[str, Any]:
    return {"ts": MESSAGE_TS, "user": "UCOLLEAGUE", "text": text, **extra}


# -- global shortcuts -------------------------------------------------------------------
def test_global_shortcuts_open_the_same_modals_as_the_commands(stack: Stack) -> None:
    by_command = opened_after(stack, lambda: stack.driver.command("UFRONT", Command.RESET))
    by_shortcut = opened_after(
        stack, lambda: stack.driver.global_shortcut("UFRONT", Shortcut.RESET)
    )
    assert by_shortcut["callback_id"] == ResetView.CALLBACK
    assert without_ids(by_shortcut) == without_ids(by_command)
    # Submitting it works as /reset's: the confirmation arrives by direct message.
    confirmation = new_message(
        stack,
        "DFRONT",
        lambda: stack.driver.submit_view(
            "UFRONT", by_shortcut, {ResetAction.EMAIL: "jane@example.com"}
        ),
    )
    assert "j•••@example.com" in str(confirmation["blocks"])
    assert button_value(confirmation, ResetAction.SEND)

    sell = open_sell(stack)
    by_sell_shortcut = opened_after(
        stack, lambda: stack.driver.global_shortcut("UFRONT", Shortcut.SELL)
    )
    assert by_sell_shortcut["callback_id"] == SaleView.START
    assert without_ids(by_sell_shortcut) == without_ids(sell)


def test_a_shortcut_refuses_someone_without_the_role_in_a_modal(stack: Stack) -> None:
    notice = opened_after(stack, lambda: stack.driver.global_shortcut("UNOBODY", Shortcut.SELL))
    assert notice["title"]["text"] == "Not allowed"
    assert "You can't sell memberships" in str(notice["blocks"])


def test_global_history_asks_where_and_answers_there(stack: Stack) -> None:
    reset(stack, "jane@example.com downtown")
    modal = opened_after(stack, lambda: stack.driver.global_shortcut("USUPPORT", Shortcut.HISTORY))
    where = next(b for b in modal["blocks"] if b["block_id"] == HistoryView.WHERE_BLOCK)
    assert where["element"]["type"] == "conversations_select"
    assert where["element"]["response_url_enabled"] is True
    response = stack.driver.submit_view(
        "USUPPORT",
        modal,
        {HistoryView.MEMBER_INPUT: "jane@example.com", HistoryView.WHERE_INPUT: "C0FRONT"},
    )
    assert response.status_code == 200 and response.text == ""
    told = wait_for(lambda: stack.slack.calls_to("views/USUPPORT/C0FRONT"))
    assert told[0].args["response_type"] == "ephemeral"
    text = told[0].args["text"]
    assert text.startswith("Member history, newest first:")
    assert "j•••@example.com" in text and "jane@example.com" not in text


def test_global_history_is_refused_before_a_modal_opens(stack: Stack) -> None:
    notice = opened_after(stack, lambda: stack.driver.global_shortcut("UFRONT", Shortcut.HISTORY))
    assert notice["title"]["text"] == "Not allowed"


# -- message shortcuts ------------------------------------------------------------------
def test_reset_from_a_message_takes_its_first_member(stack: Stack) -> None:
    message = shared(
        "Hi team, <mailto:jane@example.com|jane@example.com> is locked out "
        "(card 6000 1000 2000 3000)."
    )
    view = opened_after(
        stack,
        lambda: stack.driver.message_shortcut(
            "UFRONT", Shortcut.RESET_FROM_MESSAGE, message, channel="C0FRONT"
        ),
    )
    assert view["callback_id"] == ResetView.CALLBACK
    assert input_value(view, ResetAction.EMAIL) == "jane@example.com"
    confirmation = new_message(
        stack, "DFRONT", lambda: stack.driver.submit_view("UFRONT", view, {})
    )
    request_id = button_value(confirmation, ResetAction.SEND)
    request = stack.frontdesk.services.resets.get(request_id)
    assert request.identity == {"email": "jane@example.com"}
    assert request.user_id == "UFRONT"  # the person using the shortcut, not the author


def test_a_card_number_goes_to_a_location_that_takes_cards(stack: Stack) -> None:
    message = shared("Guest card 6000-1000-2000-3000 cannot sign in")
    view = opened_after(
        stack,
        lambda: stack.driver.message_shortcut(
            "UFRONT", Shortcut.RESET_FROM_MESSAGE, message, channel="C0FRONT"
        ),
    )
    location = next(b for b in view["blocks"] if b["block_id"] == ResetView.LOCATION_BLOCK)
    assert location["element"]["initial_option"]["value"] == "bistro"  # Paytronix takes cards
    assert input_value(view, RESET_FIELDS["card"][1]) == "6000100020003000"
    # Choosing another location keeps the member found in the message.
    before = len(stack.slack.calls_to("views.update"))
    stack.driver.select_in_view(
        "UFRONT",
        view,
        ResetView.LOCATION_BLOCK,
        ResetAction.LOCATION_SELECT,
        "partner-bistro",
    )
    wait_for(lambda: len(stack.slack.calls_to("views.update")) > before)
    updated = stack.slack.views[view["id"]]
    assert input_value(updated, RESET_FIELDS["card"][1]) == "6000100020003000"
    assert json.loads(updated["private_metadata"]) == {"prefill": {"card": "6000100020003000"}}


def test_a_message_in_blocks_only_and_one_naming_nobody(stack: Stack) -> None:
    rich = shared(
        "",
        blocks=[
            {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [
                            {"type": "text", "text": "please help "},
                            {"type": "link", "url": "mailto:jane@example.com", "text": "Jane"},
                        ],
                    }
                ],
            }
        ],
    )
    view = opened_after(
        stack,
        lambda: stack.driver.message_shortcut(
            "UFRONT", Shortcut.RESET_FROM_MESSAGE, rich, channel="C0FRONT"
        ),
    )
    assert input_value(view, ResetAction.EMAIL) == "jane@example.com"
    nobody = opened_after(
        stack,
        lambda: stack.driver.message_shortcut(
            "UFRONT", Shortcut.RESET_FROM_MESSAGE, shared("lunch at 12:30?"), channel="C0FRONT"
        ),
    )
    assert input_value(nobody, ResetAction.EMAIL) is None
    assert "No email, username or card number in that message." in str(nobody["blocks"])


def test_member_history_from_a_message(stack: Stack) -> None:
    reset(stack, "jane@example.com downtown")
    message = shared("username: nobody-here, and jane@example.com too")
    stack.driver.message_shortcut(
        "USUPPORT", Shortcut.HISTORY_FROM_MESSAGE, message, channel="C0FRONT"
    )
    # The first one named is the username: nobody has that one.
    told = wait_for(lambda: said_to(stack, "shortcuts/USUPPORT"))
    assert told[-1] == "Nothing found for that member at your locations."
    stack.driver.message_shortcut(
        "USUPPORT", Shortcut.HISTORY_FROM_MESSAGE, shared("jane@example.com?"), channel="C0FRONT"
    )
    told = wait_for(lambda: said_to(stack, "shortcuts/USUPPORT")[1:])
    assert told[0].startswith("Member history, newest first:")
    assert "j•••@example.com" in told[0] and "jane@example.com" not in told[0]
    # Front desk may not read history: told so, privately.
    stack.driver.message_shortcut(
        "UFRONT", Shortcut.HISTORY_FROM_MESSAGE, shared("jane@example.com"), channel="C0FRONT"
    )
    refused = wait_for(lambda: said_to(stack, "shortcuts/UFRONT"))
    assert refused[0].startswith(":lock: You can't")
