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

from bot.clock import ShiftedClock
from bot.devtools import sale_steps as steps
from bot.devtools.guest import GuestVisitor, visible_text
from bot.devtools.reset_steps import Person, blocks_text, is_screen, request_id_of, view_text
from bot.devtools.stack import Stack, wait_for
from bot.slack.ids import Command, Event, ResetAction, SaleAction, Shortcut, Step, TriageAction
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


def _field(block: dict[str, Any]) -> str:
    """An input as a person sees it: its label, and what is already chosen or filled."""
    element = block["element"]
    label = str(block["label"]["text"])
    chosen = (
        (element.get("initial_option") or {}).get("text", {}).get("text")
        or element.get("initial_value")
        or element.get("initial_date")
    )
    optional = " (optional)" if block.get("optional") else ""
    return f"{label}{optional}" + (f" = {chosen}" if chosen else "")


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


def _finished(text: str) -> bool:
    """A reset's message shows its outcome (not the confirmation, not "Sending…")."""
    return not text.startswith(("Reset the password", ":hourglass"))


class Demo:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def say(self, who: str, action: str) -> None:
        print(f"\n▶ {PEOPLE[who]} {action}")

    def sees(self, who: str, message: dict[str, Any]) -> None:
        print(f"  {PEOPLE.get(who, who)} sees: {_text(message)}")

    def reset(self, text: str) -> str:
        """Fran resets from #front-desk: a private message there, Send, the outcome in
        its place; her DM with frontdesk keeps the record (masked)."""
        fran = Person(self.stack, FRAN)
        self.say(FRAN, f"types `/reset {text}` in #front-desk")
        shown = fran.reset_in_channel(text)
        print(f"  Fran sees, privately in #front-desk: {blocks_text(shown['blocks'])}")
        request_id = request_id_of(shown["blocks"])
        self.say(FRAN, "taps Send")
        started = time.monotonic()
        response = fran.tap_on_message(shown, ResetAction.SEND)
        print(
            f"  (Slack got its acknowledgement in {1000 * (time.monotonic() - started):.0f} ms,"
            f" HTTP {response.status_code})"
        )
        request = fran.settled(request_id)
        wait_for(lambda: _finished(blocks_text(fran.sees_message(shown)["blocks"])))
        wait_for(lambda: self._shown(request))
        print(f"  The same message now says: {blocks_text(fran.sees_message(shown)['blocks'])}")
        print(f"  ({fran.taps} taps, all in #front-desk)")
        record = self.stack.slack.message(str(request.channel_id), str(request.message_ts))
        print(f"  Her DM with frontdesk keeps the record: {_text(record)}")
        return request_id

    def _shown(self, request: Any) -> bool:
        """The outcome has reached Slack (the DM record shows a finished state)."""
        if not request.message_ts:
            return False
        text = _text(self.stack.slack.message(str(request.channel_id), str(request.message_ts)))
        return _finished(text)

    def say_command(self, who: str, command: str, text: str) -> None:
        """A command answered privately where it was typed (help, words not understood)."""
        self.say(who, f"types `{command} {text}`")
        answer = self.stack.driver.command(who, command, text).json()
        lines = str(answer.get("text", "")).splitlines()
        print(f"  {PEOPLE[who]} sees, privately: " + "\n    ".join(lines))

    def reset_in_modal(self, location_words: str, typo: str, meant: str) -> None:
        """Fran uses the modal, types a typo, sees it on the confirmation, goes Back."""
        fran = Person(self.stack, FRAN)
        self.say(FRAN, f"types `/reset {location_words}`: the form opens at that location")
        form = fran.open_modal(location_words)
        self.view(FRAN, form)
        self.say(FRAN, f"types {typo} and taps Next")
        confirm = fran.next_view(form, {ResetAction.EMAIL: typo})
        print(f"  Fran sees the modal: {view_text(confirm)}")
        self.say(FRAN, f"spots the typo, taps Back (the form as she left it), types {meant}, Next")
        self.stack.driver.view_closed(FRAN, confirm)  # Slack tells frontdesk: draft dropped
        confirm = fran.next_view(form, {ResetAction.EMAIL: meant})
        print(f"  Fran sees the modal: {view_text(confirm)}")
        self.say(FRAN, "taps Send")
        fran.tap_in_modal(confirm, ResetAction.SEND)
        fran.settled(request_id_of(confirm["blocks"]))
        wait_for(
            lambda: (
                is_screen(fran.sees_modal(confirm))
                and "Sending" not in view_text(fran.sees_modal(confirm))
            )
        )
        print(f"  The modal now says: {view_text(fran.sees_modal(confirm))}")

    def send_confirmation(self, confirmation: dict[str, Any]) -> None:
        """Fran taps Send on a reset's confirmation in the modal; shows the outcome."""
        fran = Person(self.stack, FRAN)
        self.say(FRAN, "taps Send")
        fran.tap_in_modal(confirmation, ResetAction.SEND)
        fran.settled(request_id_of(confirmation["blocks"]))
        wait_for(
            lambda: (
                is_screen(fran.sees_modal(confirmation))
                and "Sending" not in view_text(fran.sees_modal(confirmation))
            )
        )
        print(f"  The modal now says: {view_text(fran.sees_modal(confirmation))}")

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
        self.say(FRAN, "chooses Downtown Fitness (the member's club) and taps Next")
        confirmation = Person(stack, FRAN).next_view(
            modal, {ResetAction.LOCATION_SELECT: "downtown"}
        )
        print(f"  Fran sees the modal: {view_text(confirmation)}")
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

    def view(self, who: str, view: dict[str, Any], limit: int = 400) -> None:
        """A modal top to bottom: texts, fields (with what is prefilled), buttons, then
        its own buttons (close, submit)."""
        title = view.get("title", {}).get("text", "")
        parts = []
        for block in view.get("blocks", []):
            kind = block.get("type")
            if kind == "input":
                parts.append(f"‹{_field(block)}›")
            elif kind == "actions":
                parts += [f"[{e['text']['text']}]" for e in block.get("elements", [])]
            elif kind == "context":
                parts += [e.get("text", "") for e in block.get("elements", [])]
            elif "text" in block:
                parts.append(block["text"]["text"])
        shown = " ".join(p.replace("\n", " · ") for p in parts if p)
        if len(shown) > limit:
            shown = shown[:limit] + "…"
        footer = [view.get(k, {}).get("text") for k in ("close", "submit")]
        footer_text = " ".join(f"[{t}]" for t in footer if t)
        print(f"  {PEOPLE[who]} sees the modal “{title}”: {shown} {footer_text}")

    def sale(self, member: dict[str, str], token: str, typo: str | None = None) -> str:
        """Fran sells at Downtown: /sell, the two views, the review, Submit for approval
        (with ``typo``: the email typed wrong first, caught on the review, fixed by Edit)."""
        stack = self.stack
        self.say(FRAN, "types `/sell`")
        start = steps.open_sell(stack, FRAN)
        self.view(FRAN, start)
        self.say(FRAN, "chooses Monthly Basic, starting today, and clicks Next")
        details = steps.acknowledged(stack, start, steps.submit_start(stack, start, FRAN))
        self.view(FRAN, details, 600)
        self.say(
            FRAN,
            "types the walk-in's name and email, taps More details for the cell phone, "
            "pastes the ProfileToken (the amount is already the price) and taps Review",
        )
        typed = {**member, "email": typo} if typo else member
        review = steps.acknowledged(
            stack, details, steps.submit_details(stack, details, FRAN, typed, [{"token": token}])
        )
        self.view(FRAN, review, 600)
        if typo:
            self.say(FRAN, "sees the email is mistyped and taps Edit")
            details = steps.back(stack, FRAN, review)
            self.view(FRAN, details, 300)
            print("  (everything she typed is still there, the token too)")
            self.say(FRAN, "corrects the email and taps Review")
            fixed = {steps.action("email"): member["email"]}
            review = steps.acknowledged(
                stack, details, stack.driver.submit_view(FRAN, details, fixed)
            )
            self.view(FRAN, review, 600)
        self.say(
            FRAN, "taps Submit for approval: the modal closes; her DM from the app keeps the sale"
        )
        sale_id = steps.sale_id_of(review)
        steps.decide(stack, FRAN, review)
        wait_for(lambda: steps.sale(stack, sale_id).approval_ts)
        wait_for(lambda: steps.sale(stack, sale_id).dm_ts)
        self.sees(FRAN, stack.slack.messages_in("D" + FRAN[1:])[-1])
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


def reminder_story(demo: Demo, stack: Stack, clock: ShiftedClock) -> None:
    """Nobody answers Fran's sale: the clock runs fast, the worker's sweep reminds
    Morgan after 30 minutes and escalates to the area leads after 2 hours."""
    sale_id = demo.sale({**WALK_IN, "first_name": "Casey"}, "tok_profile_demo_5151")
    approval = steps.sale(stack, sale_id)

    def reply(number: int) -> dict[str, Any]:
        """The approval thread's ``number``th reply, once posted."""
        thread = approval.approval_ts
        return wait_for(
            lambda: [m for m in stack.slack.messages_in("C0APPROVALS") if m["thread_ts"] == thread][
                number - 1 :
            ]
        )[0]

    print("\n▶ 30 minutes pass (a fast clock); nobody has decided")
    clock.advance(minutes=30)
    stack.frontdesk.reminders.sweep()  # what every worker's housekeeping runs
    demo.sees("#approvals thread", reply(1))
    demo.sees(
        MORGAN,
        wait_for(
            lambda: [m for m in stack.slack.messages_in("D" + MORGAN[1:]) if sale_id in str(m)]
        )[-1],
    )
    print("\n▶ 90 more minutes pass; still nobody")
    clock.advance(minutes=90)
    stack.frontdesk.reminders.sweep()
    demo.sees("#approvals thread", reply(2))
    # The requester's DM is brought up to date: who has been asked, and when.
    dm = str(approval.dm_channel_id), str(approval.dm_ts)
    demo.sees(
        FRAN,
        wait_for(lambda: "Escalated" in str(stack.slack.message(*dm)) and stack.slack.message(*dm)),
    )


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
    clock = ShiftedClock()
    stack = Stack(workdir=directory, database_url=f"sqlite:///{database}", clock=clock)
    stack.slack.clock = lambda: clock.now().timestamp()
    try:
        stack.grant(FRAN, Role.FRONT_DESK)
        stack.grant(SAM, Role.SUPPORT)
        stack.grant(MORGAN, Role.MANAGER, "downtown")
        demo = Demo(stack)
        print("frontdesk demo: the real app over HTTP, the vendor sandbox, a local Slack stand-in.")
        print(f"App endpoint: {stack.http.url}/slack/events · vendors: {stack.sandbox.url}")

        print("\n═══ Story 1: a front desk resets passwords at each vendor ═══")
        demo.say_command(FRAN, Command.RESET, "help")
        demo.say_command(FRAN, Command.RESET, "jane@example.com Downtwon Fitness")
        demo.reset("jane@example.com Downtown Fitness")
        demo.reset_in_modal("Bistro Rewards", "jnae@example.com", "jane@example.com")
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
        sale_id = demo.sale(WALK_IN, "tok_profile_demo_4242", typo="alex.rivrea@example.com")
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

        print("\n═══ Story 8: a sale nobody answers: a reminder, then an escalation ═══")
        reminder_story(demo, stack, clock)
        print("\n═══ Story 9: a typo is Fran's to fix, not support's; Home has the buttons ═══")
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
