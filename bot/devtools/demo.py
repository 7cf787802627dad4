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

from bot.devtools.stack import Stack, wait_for
from bot.slack.ids import Command, ResetAction, TriageAction
from bot.workflows.resets import ResetStatus
from bot.workflows.roles import Role
from vendors.sandbox import Fault

FRAN, SAM = "UFRAN", "USAM"
PEOPLE = {FRAN: "Fran (front desk)", SAM: "Sam (support)"}


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
                resets.get(request_id).status
                in {s.value for s in ResetStatus} - {"draft", "queued", "sending"}
            )
        )
        time.sleep(0.2)
        self.sees(FRAN, self.stack.slack.message(confirmation["channel"], confirmation["ts"]))
        return request_id


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

        print("\n═══ Story 3: a reset with no answer from the vendor ═══")
        stack.sandbox.inject(Fault("read_timeout", vendor="clubready", seconds=4))
        demo.reset("jane@example.com downtown")
        demo.sees("#triage", wait_for(lambda: stack.slack.messages_in("C0TRIAGE"))[-1])

        print("\n(The contract-sale stories join this demo when sales land.)")
        print(f"\nDatabase left for inspection: {database}")
        print(
            f"  sqlite3 {database} "  # noqa: S608 - a hint printed for the user, not a query we run
            "'select status, vendor, identifier_masked from reset_requests'"
        )
        return 0
    finally:
        stack.stop()
