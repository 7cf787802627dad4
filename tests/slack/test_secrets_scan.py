"""Plant secrets and member data, run the flows, scan logs, rows and Slack payloads."""

from __future__ import annotations

import base64
import http.cookiejar
import io
import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from urllib.parse import unquote_plus

import httpx
import pytest
from sqlalchemy import MetaData, select

from bot.devtools import sale_steps
from bot.devtools.driver import sign
from bot.devtools.stack import BOT_TOKEN, DEMO_SECRETS, SIGNING_SECRET, Stack
from bot.observability import json_handler
from bot.slack.ids import Command, ResetAction, SaleAction
from bot.workflows.resets import ResetStatus
from bot.workflows.roles import Actor, Role
from storage.models import Sale
from tests.slack.helpers import button_value, new_message, wait_for
from vendors.sandbox import Fault

API_KEY = "PLANTED-clubready-key-93ad1"
PX_SECRET = "PLANTED-px-secret-55e0"
B2B_PASS = "PLANTED-b2b-pass-1c7f"
MEMBER_EMAIL = "jane@example.com"


def test_no_secret_or_member_data_leaks(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = {
        **DEMO_SECRETS,
        "FRONTDESK_DEMO_CLUBREADY_KEY": API_KEY,
        "FRONTDESK_DEMO_PX_CLIENT_SECRET": PX_SECRET,
        "FRONTDESK_DEMO_PX_B2B_PASS": B2B_PASS,
    }
    stack = Stack(workdir=tmp_path, database_url=database_url, secrets=secrets, read_timeout=0.5)
    planted = [
        API_KEY,
        PX_SECRET,
        B2B_PASS,
        base64.b64encode(f"sandbox-client:{PX_SECRET}".encode()).decode(),
        SIGNING_SECRET,
        BOT_TOKEN,
    ]
    try:
        state = stack.sandbox.vendors
        state["clubready"].state.api_keys[API_KEY] = 1
        state["paytronix"].state.clients["sandbox-client"] = PX_SECRET
        state["paytronix"].state.partners["sandbox-partner"] = B2B_PASS
        stack.grant("UFRONT", Role.FRONT_DESK)
        stack.sandbox.inject(Fault("read_timeout", vendor="clubready", seconds=2))
        stack.sandbox.inject(Fault("drop_after", vendor="paytronix"))
        for text in (
            f"{MEMBER_EMAIL} downtown",
            f"{MEMBER_EMAIL} downtown",
            f"{MEMBER_EMAIL} sparkle",
            f"{MEMBER_EMAIL} bistro",
            "7001 partner-bistro",
            "ghost@example.com sparkle",
        ):
            confirmation = new_message(
                stack, "DFRONT", lambda t=text: stack.driver.command("UFRONT", Command.RESET, t)
            )
            request_id = button_value(confirmation, ResetAction.SEND)
            stack.driver.click(
                "UFRONT", ResetAction.SEND, request_id, channel="DFRONT", ts=confirmation["ts"]
            )
            wait_for(
                lambda r=request_id: (
                    stack.frontdesk.services.resets.get(r).status
                    not in (ResetStatus.DRAFT, ResetStatus.QUEUED, ResetStatus.SENDING)
                )
            )
        # The last one (an unknown member at Registrar): the front desk's to fix.
        assert stack.frontdesk.services.resets.get(request_id).status == ResetStatus.NOT_FOUND
        # Every table, every row, as text.
        rows: list[str] = []
        metadata = MetaData()
        metadata.reflect(stack.frontdesk.db.engine)
        with stack.frontdesk.db.engine.connect() as connection:
            for table in metadata.sorted_tables:
                rows.extend(str(tuple(row)) for row in connection.execute(select(table)))
        stored = "\n".join(rows)
        assert "[REDACTED]" in stored  # the redacted exchanges are there...
        slack_bodies = [call.raw for call in stack.slack.calls]
        channel_posts = [
            str(message)
            for message in stack.slack.messages.values()
            if message["channel"].startswith("C")
        ]
        assert channel_posts, "the failures should have reached triage"
    finally:
        stack.stop()
    for text in (stored, caplog.text, *slack_bodies):
        for secret in planted:
            assert secret not in text, f"planted secret {secret[:14]}… leaked"
    for text in slack_bodies:
        assert MEMBER_EMAIL not in text and "ghost@example.com" not in text
    assert any("j•••@example.com" in post for post in channel_posts)


def test_no_payment_token_leaks(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Every sale path that touches tokens, then a scan of rows, logs, Slack calls and acks."""
    caplog.set_level(logging.DEBUG)
    stack = Stack(workdir=tmp_path, database_url=database_url, read_timeout=0.5)
    tokens = {
        "sold": "tok_profile_PLANTED_sold_77aa",
        "declined": "tok_decline_PLANTED_88bb",
        "unknown": "tok_profile_PLANTED_unknown_99cc",
        "rejected": "acct_PLANTED_rejected_11dd",
        "rejected_profile": "tok_profile_PLANTED_rejected_44gg",
        "pending": "tok_profile_PLANTED_pending_22ee",
        "invalid": "tok_profile_PLANTED_invalid_33ff",
    }
    acks: list[str] = []
    try:
        stack.grant("UFRONT", Role.FRONT_DESK, "downtown")
        stack.grant("UMANAGER", Role.MANAGER, "downtown")
        ids = {}
        for name in ("sold", "declined", "unknown", "pending"):
            ids[name] = sale_steps.request_approval(
                stack, payments=[{"amount": "49.00", "token": tokens[name]}]
            )
        # A new member leaves a ProfileToken on file; an AcctToken may pay a part.
        ids["rejected"] = sale_steps.request_approval(
            stack,
            payments=[
                {"amount": "20.00", "method": "acct", "token": tokens["rejected"]},
                {"amount": "29.00", "token": tokens["rejected_profile"]},
            ],
        )
        # A details form refused with the token in it: the error must not echo it.
        start = sale_steps.open_sell(stack)
        details = sale_steps.acknowledged(stack, start, sale_steps.submit_start(stack, start))
        refused = sale_steps.submit_details(
            stack,
            details,
            payments=[{"amount": "1.00", "method": "acct", "token": tokens["invalid"]}],
        )
        acks.append(refused.text)
        for name in ("sold", "declined", "unknown"):
            if name == "unknown":
                # Last: the sandbox still creates the member after the client gave up, so
                # a later sale of the same member would be refused as a duplicate.
                stack.sandbox.inject(
                    Fault("read_timeout", vendor="clubready", operation="contract_sale", seconds=1)
                )
            view = sale_steps.open_review(stack, "UMANAGER", ids[name])
            acks.append(sale_steps.approve(stack, "UMANAGER", view).text)
            sale_steps.wait_finished(stack, ids[name])
        stack.frontdesk.services.sales.reject(
            Actor(team_id="T0001", user_id="UMANAGER"), ids["rejected"], "no"
        )
        sealed = sale_steps.sale(stack, ids["pending"]).sealed_tokens
        assert sealed, "a pending sale keeps its tokens, encrypted"
        finished = [sale_steps.sale(stack, ids[n]) for n in ("sold", "declined", "unknown")]
        assert [s.status for s in finished] == ["sold", "refused", "unknown"], [
            (s.status, s.outcome_message) for s in finished
        ]
        assert all(s.sealed_tokens is None for s in finished)
        assert sale_steps.sale(stack, ids["rejected"]).sealed_tokens is None
        rows: list[str] = []
        metadata = MetaData()
        metadata.reflect(stack.frontdesk.db.engine)
        with stack.frontdesk.db.engine.connect() as connection:
            for table in metadata.sorted_tables:
                rows.extend(str(tuple(row)) for row in connection.execute(select(table)))
        stored = "\n".join(rows)
        slack_bodies = [call.raw for call in stack.slack.calls]
        sent = [r.body_text for r in stack.sandbox.received("clubready", "contract_sale")]
    finally:
        stack.stop()
    # The vendor did receive them (so the scan is looking for the right strings)...
    assert any(tokens["sold"] in body for body in sent)
    # ...and nothing else ever held them in clear.
    for text in (stored, caplog.text, *slack_bodies, *acks):
        for name, token in tokens.items():
            assert token not in text, f"payment token ({name}) leaked"
    # What people saw instead: the last four characters.
    assert "\\u202677aa" in "\n".join(slack_bodies)


def test_requests_failing_verification_leak_nothing(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """A genuine sale form arriving 6 minutes late, the same form tampered with, and bodies
    that are not JSON: refused, and nothing they carried reaches any log or answer."""
    caplog.set_level(logging.DEBUG)
    lines = io.StringIO()
    handler = json_handler(lines)  # the log as `frontdesk serve` writes it
    logging.getLogger().addHandler(handler)
    planted = {
        "payment token": "tok_profile_PLANTED_late_5a5a",
        "acct token": "acct_PLANTED_late_6b6b",
        "first name": "Plantedfirstname",
        "last name": "Plantedlastname",
        "email": "planted.member@example.com",
        "phone": "+1 555 019 4321",
        "bot token": "xoxb-PLANTED-9f9f-0000",
        "app token": "xapp-PLANTED-7e7e-1111",
    }
    member = {
        "first_name": planted["first name"],
        "last_name": planted["last name"],
        "email": planted["email"],
        "cell_phone": planted["phone"],
    }
    payments = [
        {"amount": "49.00", "token": planted["payment token"]},
        {"amount": "1.00", "method": "acct", "token": planted["acct token"]},
    ]
    answers: list[httpx.Response] = []
    try:
        start = sale_steps.open_sell(stack)
        details = sale_steps.acknowledged(stack, start, sale_steps.submit_start(stack, start))
        late = stack.frontdesk.clock.now().timestamp() - 6 * 60
        details = sale_steps.tap(stack, "UFRONT", details, SaleAction.MORE_DETAILS)
        details = sale_steps.tap(stack, "UFRONT", details, SaleAction.ADD_PAYMENT)
        details = {**details, "private_metadata": planted["bot token"]}
        values = {sale_steps.action(k): v for k, v in member.items()}
        for index, payment in enumerate(payments, start=1):
            for key, value in payment.items():
                values[sale_steps.action(f"payment{index}_{key}")] = value
        values[sale_steps.action("promo_code")] = planted["app token"]
        answers.append(stack.driver.submit_view("UFRONT", details, values, timestamp=late))
        assert stack.driver.last is not None
        genuine_body = stack.driver.last[0].decode()
        assert planted["payment token"] in unquote_plus(genuine_body)  # the scan is looking right
        url = f"{stack.http.url}/slack/events"
        form = "application/x-www-form-urlencoded"

        def signed_now(body: str) -> dict[str, str]:
            stamp = str(int(stack.frontdesk.clock.now().timestamp()))
            return {
                "Content-Type": form,
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": sign(SIGNING_SECRET, stamp, body),
            }

        # Tampered: signed as sent, then the amount changed on the way.
        headers = signed_now(genuine_body)
        tampered = genuine_body.replace("49.00", "4.00")
        assert tampered != genuine_body
        answers.append(httpx.post(url, content=tampered.encode(), headers=headers))
        # Signed, but not JSON: a form payload cut short, and a "JSON" event that is not.
        cut = genuine_body[: len(genuine_body) // 2]
        answers.append(httpx.post(url, content=cut.encode(), headers=signed_now(cut)))
        not_json = " ".join(planted.values()) + " {not json"
        json_headers = {**signed_now(not_json), "Content-Type": "application/json"}
        answers.append(httpx.post(url, content=not_json.encode(), headers=json_headers))
        # The same, unsigned and 6 minutes old.
        answers.append(
            stack.driver.post(not_json, "application/json", timestamp=late, secret="not-it")
        )
    finally:
        logging.getLogger().removeHandler(handler)
    assert [a.status_code for a in answers] == [401, 401, 400, 400, 401]
    with stack.frontdesk.db.session() as session:
        stored = "\n".join(str(tuple(row)) for row in session.execute(select(Sale.__table__)).all())
    texts = {
        "caplog": caplog.text,
        "json log": lines.getvalue(),
        "answers": "\n".join(a.text for a in answers),
        "rows": stored,
        "slack": "\n".join(call.raw for call in stack.slack.calls),
    }
    for where, text in texts.items():
        for name, value in planted.items():
            assert value not in text, f"{name} leaked into {where}"
    assert "slack request refused" in lines.getvalue()


GUEST_KEY = "PLANTED-guest-code-key-0123456789abcdef"


class _Guest:
    """The guest's browser, as plain HTTP with cookies: urllib logs nothing of its own, so
    every log line scanned is the app's."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self.seen: list[str] = []

    def open(self, url: str, form: dict[str, str] | None = None) -> str:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(url, data=data, timeout=20) as answer:
                text = answer.read().decode() + str(answer.headers)
        except urllib.error.HTTPError as refused:
            text = refused.read().decode() + str(refused.headers)
        self.seen.append(text)
        return text

    def submit(self, url: str, password: str, confirmation: str | None = None) -> str:
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', self.open(url))
        assert token is not None
        return self.open(
            url,
            {
                "csrf": token.group(1),
                "password": password,
                "confirmation": confirmation or password,
            },
        )


def test_guest_page_leaks_no_password_code_or_key(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Every path of the guest page, then a scan of rows, logs, Slack calls and pages."""
    caplog.set_level(logging.DEBUG)
    secrets = {**DEMO_SECRETS, "FRONTDESK_GUEST_CODE_KEYS": GUEST_KEY}
    stack = Stack(workdir=tmp_path, database_url=database_url, secrets=secrets, read_timeout=0.5)
    passwords = {
        "weak": "PLANTEDweak",
        "mismatch": "PLANTED-mismatch-1",
        "unknown": "PLANTED-unknown-2",
        "down": "PLANTED-down-3",
        "done": "  PLANTED done 4  ",
        "forged": "PLANTED-forged-5",
    }
    guest = _Guest()
    try:
        stack.grant("UFRONT", Role.FRONT_DESK, "partner-bistro")
        codes = []
        for _ in range(2):
            confirmation = new_message(
                stack,
                "DFRONT",
                lambda: stack.driver.command("UFRONT", Command.RESET, "7001 partner-bistro"),
            )
            request_id = button_value(confirmation, ResetAction.SEND)
            stack.driver.click(
                "UFRONT", ResetAction.SEND, request_id, channel="DFRONT", ts=confirmation["ts"]
            )
            wait_for(lambda r=request_id: stack.frontdesk.services.resets.get(r).status == "sent")
            sent = stack.sandbox.received("paytronix", "sendGuestResetPasswordCode")[-1]
            codes.append(sent.json["resetCode"])
        first, second = (f"{stack.http.url}/guest/reset?resetCode={c}" for c in codes)
        assert "did not accept" in guest.submit(first, passwords["weak"])
        assert "not the same" in guest.submit(first, passwords["mismatch"], "PLANTED-other")
        stack.sandbox.inject(
            Fault("read_timeout", vendor="paytronix", operation="resetGuestPassword", seconds=1)
        )
        assert "could not confirm" in guest.submit(first, passwords["unknown"])
        stack.sandbox.inject(Fault("status", vendor="paytronix", status=429, times=2))
        assert "could not reach the service" in guest.submit(second, passwords["down"])
        assert "Your new password is set" in guest.submit(second, passwords["done"])
        forged = {"password": passwords["forged"], "confirmation": passwords["forged"]}
        assert "could not be accepted" in guest.open(second, {**forged, "csrf": "0" * 64})
        guest.open(f"{stack.http.url}/guest/reset?resetCode=PLANTED-guessed-code-77")
        wait_for(lambda: len(stack.slack.messages_in("C0TRIAGE")) >= 2)
        rows: list[str] = []
        metadata = MetaData()
        metadata.reflect(stack.frontdesk.db.engine)
        with stack.frontdesk.db.engine.connect() as connection:
            for table in metadata.sorted_tables:
                rows.extend(str(tuple(row)) for row in connection.execute(select(table)))
        stored = "\n".join(rows)
        slack_bodies = [call.raw for call in stack.slack.calls]
        sent_to_paytronix = [r.body_text for r in stack.sandbox.received("paytronix")]
    finally:
        stack.stop()
    # Paytronix did get them (so the scan looks for the right strings)...
    assert any(json.dumps(passwords["done"]) in body for body in sent_to_paytronix)
    assert all(any(code in body for body in sent_to_paytronix) for code in codes)
    assert "guest_reset.attempt" in stored and "Guest reset page" in stored
    assert "guest page answered" in caplog.text and len(guest.seen) >= 10
    # ...and nothing else ever held them: not the rows, the logs, Slack, or the pages.
    for text in (stored, caplog.text, *slack_bodies, *guest.seen):
        for name, password in passwords.items():
            assert password.strip() not in text, f"the {name} password leaked"
        for code in (*codes, "PLANTED-guessed-code-77"):
            assert code not in text, "a reset code leaked"
        assert GUEST_KEY not in text
