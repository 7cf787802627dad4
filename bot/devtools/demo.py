"""``frontdesk demo``: the stories of PRODUCT.md played through the real app.

Everything is local: the vendor sandbox, a stand-in of Slack's Web API, an
embedded SQLite database, and the app's real HTTP endpoint receiving signed
requests. It prints what each person sees and leaves the database behind.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

from bot.devtools import sale_steps as steps
from bot.devtools.guest import GuestVisitor, visible_text
from bot.devtools.stack import Stack, wait_for
from bot.slack.ids import Command, Event, ResetAction, SaleAction, Shortcut, Step, TriageAction
from bot.workflows.resets import ResetStatus
from bot.workflows.roles import Role
from vendors.sandbox import Fault

FRAN, SAM, MORGAN = "UFRAN", "USAM", "UMORGAN"
PEOPLE = {FRAN: "Fran (front desk)", SAM: "Sam (support)", MORGAN: "Morgan (manager)"}
WALK_IN = {
    "first_name": "Alex",
    "last_name": "Rivera",
    "email": "alex.rivera@example.com",
    "cell_phone": "+1 555 010 4242",
}


def _text(message: dict[str, Any]) -> str:
    parts = [b.get("text", {}).get("text", "") for b in message.get("blocks", [])]
    parts += [
        e.get("text", "")
        for b in message.get("blocks", [])
        if b.get("type") == "context"
        for e in b.get("elements", [])
    ]
    buttons = [
        f"[{e['text']['text']}]"
        for b in message.get("blocks", [])
        if b.get("type") == "actions"
        for e in b.get("elements", [])
    ]
    return " ".join(p for p in parts if p).strip() + (" " + " ".join(buttons) if buttons else "")


class Demo:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def say(self, who: str, action: str) -> None:
        print(f"\n▶ {PEOPLE[who]} {action}")

    def sees(self, who: str, message: dict[str, Any]) -> None:
        print(f"  {PEOPLE.get(who, who)} sees: {_text(message)}")

    def reset(self, text: str) -> str:
        self.say(FRAN, f"types `/reset {text}`")
        dm = "D" + FRAN[1:]
        confirmation = self.stack.new_message(
            dm, lambda: self.stack.driver.command(FRAN, Command.RESET, text)
        )
        self.sees(FRAN, confirmation)
        request_id = next(
            e["value"]
            for b in confirmation["blocks"]
            for e in b.get("elements", [])
            if e.get("action_id") == ResetAction.SEND
        )
        self.say(FRAN, "clicks Send")
        started = time.monotonic()
        response = self.stack.driver.click(
            FRAN, ResetAction.SEND, request_id, channel=dm, ts=confirmation["ts"]
        )
        print(
            f"  (Slack got its acknowledgement in {1000 * (time.monotonic() - started):.0f} ms,"
            f" HTTP {response.status_code})"
        )
        resets = self.stack.frontdesk.services.resets
        wait_for(
            lambda: (
                (request := resets.get(request_id)) is not None
                and request.status
                in {s.value for s in ResetStatus} - {"draft", "queued", "sending"}
            )
        )
        time.sleep(0.2)
        self.sees(FRAN, self.stack.slack.message(confirmation["channel"], confirmation["ts"]))
        return request_id

    def send_confirmation(self, confirmation: dict[str, Any]) -> None:
        """Fran clicks Send on a reset's confirmation; shows the outcome it turns into."""
        request_id = next(
            e["value"]
            for b in confirmation["blocks"]
            for e in b.get("elements", [])
            if e.get("action_id") == ResetAction.SEND
        )
        self.say(FRAN, "clicks Send")
        self.stack.driver.click(
            FRAN,
            ResetAction.SEND,
            request_id,
            channel=confirmation["channel"],
            ts=confirmation["ts"],
        )
        resets = self.stack.frontdesk.services.resets
        wait_for(
            lambda: (
                (request := resets.get(request_id)) is not None
                and request.status not in ("draft", "queued", "sending")
            )
        )
        time.sleep(0.2)
        self.sees(FRAN, self.stack.slack.message(confirmation["channel"], confirmation["ts"]))

    def shortcut_on_message(self, text: str) -> None:
        """Fran uses "Reset this password" on a colleague's message (on a phone: long
        press, then the shortcut): the modal opens with the member the message names."""
        stack = self.stack
        message = {"ts": "1700000999.000100", "user": "UCOLLEAGUE", "text": text}
        print(f"  #front-desk, a colleague: {text}")
        self.say(FRAN, "uses the message shortcut “Reset this password” on it")
        opened = len(stack.slack.calls_to("views.open"))
        stack.driver.message_shortcut(FRAN, Shortcut.RESET_FROM_MESSAGE, message, channel="C0FRONT")
        wait_for(lambda: len(stack.slack.calls_to("views.open")) > opened)
        modal = stack.slack.last_view()
        found = [
            f"{b['label']['text']}: {b['element'].get('initial_value')}"
            for b in modal["blocks"]
            if b.get("type") == "input" and b["element"].get("initial_value")
        ]
        print(f"  Fran sees the modal “{modal['title']['text']}”, filled in: {', '.join(found)}")
        self.say(FRAN, "clicks Review")
        dm = "D" + FRAN[1:]
        confirmation = stack.new_message(dm, lambda: stack.driver.submit_view(FRAN, modal, {}))
        self.sees(FRAN, confirmation)
        self.send_confirmation(confirmation)

    def workflow_step(self, location: str, member: str) -> None:
        """A workspace workflow (a form in #front-desk) uses frontdesk's step."""
        stack = self.stack
        self.say(FRAN, f"fills in the workspace's “Locked out” form: {member} at {location}")
        print("  Workflow Builder runs frontdesk's step “Reset a member's password” as Fran")
        execution_id = stack.run_step(
            Step.RESET, FRAN, {"location": location, "identifier": member}
        )
        wait_for(lambda: stack.slack.execution(execution_id).state != "running", 15.0)
        execution = stack.slack.execution(execution_id)
        print(f"  The step {execution.state} with outputs {execution.outputs}")

    def view(self, who: str, view: dict[str, Any]) -> None:
        title = view.get("title", {}).get("text", "")
        inputs = [b["label"]["text"] for b in view.get("blocks", []) if b.get("type") == "input"]
        shown = _text(view) or "fields: " + ", ".join(inputs)
        print(f"  {PEOPLE[who]} sees the modal “{title}”: {shown[:400]}")

    def sale(self, member: dict[str, str], token: str) -> str:
        """Fran sells at Downtown: /sell, the two views, the review, Submit for approval."""
        stack = self.stack
        self.say(FRAN, "types `/sell`")
        start = steps.open_sell(stack, FRAN)
        self.view(FRAN, start)
        self.say(FRAN, "chooses Monthly Basic, starting today, and clicks Next")
        details = steps.acknowledged(stack, start, steps.submit_start(stack, start, FRAN))
        self.say(FRAN, "enters the walk-in's details and pastes the ProfileToken")
        review = steps.acknowledged(
            stack,
            details,
            steps.submit_details(
                stack, details, FRAN, member, [{"amount": "49.00", "profile_token": token}]
            ),
        )
        self.view(FRAN, review)
        self.say(FRAN, "clicks Submit for approval")
        sale_id = steps.sale_id_of(review)
        self.view(FRAN, steps.press(stack, FRAN, review, SaleAction.SUBMIT))
        wait_for(lambda: steps.sale(stack, sale_id).approval_ts)
        self.sees("#approvals", steps.approval_message(stack, sale_id))
        return sale_id

    def approve(self, sale_id: str) -> None:
        stack = self.stack
        self.say(MORGAN, "clicks Review in #approvals")
        modal = steps.open_review(stack, MORGAN, sale_id)
        self.view(MORGAN, modal)
        self.say(MORGAN, "clicks Approve")
        started = time.monotonic()
        steps.approve(stack, MORGAN, modal)
        print(f"  (acknowledged in {1000 * (time.monotonic() - started):.0f} ms)")
        steps.wait_finished(stack, sale_id)
        time.sleep(0.3)
        self.sees("#approvals", steps.approval_message(stack, sale_id))
        self.sees(FRAN, stack.slack.messages_in("D" + FRAN[1:])[-1])


def guest_story(demo: Demo, stack: Stack) -> None:
    """At the b2b location frontdesk makes the reset code; the guest's email links to
    frontdesk's own page, where the guest chooses the new password."""
    demo.reset("7001 partner-bistro")
    sent = stack.sandbox.received("paytronix", "sendGuestResetPasswordCode")[-1]
    link = f"{stack.http.url}{stack.settings.guest_page_path}?resetCode={sent.json['resetCode']}"
    print(
        "  Paytronix emails the guest a link to frontdesk's page: "
        f"{stack.http.url}{stack.settings.guest_page_path}?resetCode=…"
    )
    guest = GuestVisitor()
    try:
        print("\n▶ The guest opens the link on their phone")
        print(f"  The guest sees: {visible_text(guest.open(link))}")
        print("\n▶ The guest types “tulips” twice and taps Save")
        print(f"  The guest sees: {visible_text(guest.choose(link, 'tulips'))}")
        print("\n▶ The guest types “Tulips in May 2026” twice and taps Save")
        print(f"  The guest sees: {visible_text(guest.choose(link, 'Tulips in May 2026'))}")
        print("\n▶ Later, the guest taps the link in the email again")
        print(f"  The guest sees: {visible_text(guest.open(link))}")
    finally:
        guest.close()
    state = stack.sandbox.vendors["paytronix"].state
    password = next(g.password for g in state.guests if g.account_id == 7001)
    calls = len(stack.sandbox.received("paytronix", "resetGuestPassword"))
    print(
        f"  Paytronix got {calls} resetGuestPassword calls; the guest's password is now the one"
        f" they chose: {password == 'Tulips in May 2026'}"
    )


def typo_story(demo: Demo, stack: Stack) -> None:
    """Fran mistypes the member: ClubReady knows no such member; Try again opens the
    form with what she typed. Then her Home, and the Home of someone with no role."""
    before = len(stack.slack.messages_in("C0TRIAGE"))
    request_id = demo.reset("jnae@example.com downtown")
    print(f"  (#triage got {len(stack.slack.messages_in('C0TRIAGE')) - before} new posts)")
    demo.say(FRAN, "clicks Try again")
    request = stack.frontdesk.services.resets.get(request_id)
    assert request is not None
    opened = len(stack.slack.calls_to("views.open"))
    stack.driver.click(
        FRAN, ResetAction.TRY_AGAIN, request_id, channel=request.channel_id or "", ts="0"
    )
    wait_for(lambda: len(stack.slack.calls_to("views.open")) > opened)
    modal = stack.slack.last_view()
    filled = []
    for block in modal["blocks"]:
        element = block.get("element", {})
        option = element.get("initial_option") or {}
        value = element.get("initial_value") or option.get("text", {}).get("text")
        if block.get("type") == "input" and value:
            filled.append(f"{block['label']['text']}: {value}")
    print(f"  Fran sees the modal “{modal['title']['text']}”: {'; '.join(filled)}")
    stack.grant("UADA", Role.ADMIN)  # Ada runs frontdesk: named to whoever has no role
    people = ((FRAN, "Fran"), ("UADA", "Ada (admin)"), ("UNEWHIRE", "A new hire with no role"))
    for who, name in people:
        print(f"\n▶ {name} opens frontdesk's Home")
        home = _open_home(stack, who)
        words = [b["text"]["text"] for b in home["blocks"] if b["type"] in ("section", "header")]
        words += [
            e["text"] for b in home["blocks"] if b["type"] == "context" for e in b["elements"]
        ]
        buttons = [
            f"[{e['text']['text']}]"
            for b in home["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
        ]
        print(f"  {name} sees: {' '.join(words[:3])[:500]}… {' '.join(buttons)}")


def _open_home(stack: Stack, user: str) -> dict[str, Any]:
    previous = stack.slack.homes.get(user, {}).get("id")
    stack.driver.event(user, Event.APP_HOME_OPENED)

    def published() -> dict[str, Any] | None:
        home = stack.slack.homes.get(user)
        return home if home and home["id"] != previous else None

    return wait_for(published)  # type: ignore[no-any-return]


def run(directory: Path) -> int:
    logging.basicConfig(level=logging.WARNING)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    database = directory / "frontdesk.sqlite3"
    stack = Stack(workdir=directory, database_url=f"sqlite:///{database}")
    try:
        stack.grant(FRAN, Role.FRONT_DESK)
        stack.grant(SAM, Role.SUPPORT)
        stack.grant(MORGAN, Role.MANAGER, "downtown")
        demo = Demo(stack)
        print("frontdesk demo: the real app over HTTP, the vendor sandbox, a local Slack stand-in.")
        print(f"App endpoint: {stack.http.url}/slack/events · vendors: {stack.sandbox.url}")

        print("\n═══ Story 1: a front desk resets passwords at each vendor ═══")
        demo.reset("jane@example.com downtown")
        demo.reset("jane@example.com sparkle")
        demo.reset("6000100020003000 bistro")
        demo.reset("7001 partner-bistro")

        print("\n═══ Story 2: the vendor is down; support sees it, claims it, retries ═══")
        stack.sandbox.inject(Fault("status", vendor="registrar", status=503, times=2))
        request_id = demo.reset("jane@example.com sparkle")
        triage = wait_for(lambda: stack.slack.messages_in("C0TRIAGE"))[-1]
        demo.sees("#triage", triage)
        demo.say(SAM, "clicks Claim in #triage")
        stack.driver.click(SAM, TriageAction.CLAIM, request_id, channel="C0TRIAGE", ts=triage["ts"])
        wait_for(lambda: "Claimed" in _text(stack.slack.message("C0TRIAGE", triage["ts"])))
        demo.sees("#triage", stack.slack.message("C0TRIAGE", triage["ts"]))
        demo.say(SAM, "clicks Retry")
        thread = stack.new_message(
            "C0TRIAGE",
            lambda: stack.driver.click(
                SAM, TriageAction.RETRY, request_id, channel="C0TRIAGE", ts=triage["ts"]
            ),
        )
        print(f"  #triage thread: {thread['text']}")
        retried = wait_for(
            lambda: (
                (m := stack.slack.message("C0TRIAGE", triage["ts"]))["text"].startswith(":repeat:")
                and "again…" not in m["text"]
                and m
            )
        )
        demo.sees("#triage", retried)

        print("\n═══ Story 3: a reset with no answer from the vendor ═══")
        stack.sandbox.inject(Fault("read_timeout", vendor="clubready", seconds=4))
        demo.reset("jane@example.com downtown")
        demo.sees("#triage", wait_for(lambda: stack.slack.messages_in("C0TRIAGE"))[-1])

        print("\n═══ Story 4: a walk-in buys a membership; a manager approves; sold once ═══")
        sale_id = demo.sale(WALK_IN, "tok_profile_demo_4242")
        demo.approve(sale_id)
        print(
            f"  ClubReady received {len(stack.sandbox.received('clubready', 'contract_sale'))}"
            f" sale request, ExternalId {sale_id}"
        )

        print("\n═══ Story 5: ClubReady does not answer; support reconciles, nothing resent ═══")
        stack.sandbox.inject(
            Fault("read_timeout", vendor="clubready", operation="contract_sale", seconds=4)
        )
        second = {**WALK_IN, "first_name": "Blake", "email": "blake@example.com"}
        sale_id = demo.sale(second, "tok_profile_demo_9191")
        demo.approve(sale_id)
        post = wait_for(
            lambda: [m for m in stack.slack.messages_in("C0TRIAGE") if sale_id in str(m)]
        )[-1]
        demo.sees("#triage", post)
        demo.say(SAM, "checks ClubReady for that ExternalId, clicks Reconcile, records 'sold'")
        opened = len(stack.slack.calls_to("views.open"))
        stack.driver.click(SAM, SaleAction.RECONCILE, sale_id, channel="C0TRIAGE", ts=post["ts"])
        wait_for(lambda: len(stack.slack.calls_to("views.open")) > opened)
        stack.driver.submit_view(
            SAM,
            stack.slack.last_view(),
            {steps.action("finding"): "sold", steps.action("note"): "found in ClubReady"},
        )
        wait_for(lambda: "Reconciled" in _text(stack.slack.message("C0TRIAGE", post["ts"])))
        demo.sees("#triage", stack.slack.message("C0TRIAGE", post["ts"]))
        time.sleep(4.5)
        print(
            f"  ClubReady received {len(stack.sandbox.received('clubready', 'contract_sale'))}"
            " sale requests in all: the uncertain one was never resent."
        )
        print(
            "\n═══ Story 6: a Partner Bistro guest chooses a new password on frontdesk's page ═══"
        )
        guest_story(demo, stack)
        print("\n═══ Story 7: frontdesk where people already are: a shortcut, a workflow step ═══")
        demo.shortcut_on_message(
            "Jane (<mailto:jane@example.com|jane@example.com>) is locked out of the app, "
            "can someone reset it?"
        )
        demo.workflow_step("Sparkle Car Wash", "jane@example.com")

        print("\n═══ Story 8: a typo is Fran's to fix, not support's; Home has the buttons ═══")
        typo_story(demo, stack)

        print(f"\nDatabase left for inspection: {database}")
        print(
            f"  sqlite3 {database} "  # noqa: S608 - a hint printed for the user, not a query we run
            "'select status, vendor, identifier_masked from reset_requests'"
        )
        print(f"  sqlite3 {database} 'select status, member_masked, amount from sales'")  # noqa: S608
        return 0
    finally:
        stack.stop()
