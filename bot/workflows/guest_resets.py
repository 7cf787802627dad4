"""The guest's side of a third-party Paytronix reset: choosing a new password with the code.

Slack-free and web-free: ``bot/web/guest.py`` renders what this returns.

- A code works once: one submission at a time holds it (compare-and-set ``open →
  checking``, leased), and Paytronix's answer settles it (``used``, back to ``open``,
  ``locked`` after too many refused tries, ``rejected`` when Paytronix refuses the code
  itself, or ``unknown``).
- A submission is recorded as an attempt before it leaves (``sending``), and its call
  runs on a small pool (``concurrency`` per process, so guests never hold the threads
  Slack needs); its outcome is written on that attempt. The page shows any attempt's
  result by its id (``result``): after a redirect, from a page that refreshes itself
  while Paytronix is slow, on any process. A submission made while another holds the
  code (a double tap, a second window) sends nothing: it is shown "still being saved",
  then the outcome of the one in flight, never "not changed".
- Paytronix's answer decides: SUCCEEDED sets the password; REFUSED shows its own
  words and leaves the code usable; UNAVAILABLE (certainly not sent) asks the guest to
  try again in a few minutes and does not count as a try; UNKNOWN (no answer after
  sending) may have set the password, and Paytronix may have spent the code: the code
  is closed (never sent again), the guest is told to try signing in with the new
  password and otherwise to ask for a new link, and support gets it in triage, where
  Retry sends the member a new link.
- Support sees what leaves a guest stuck like any reset failure: a reset row
  (refused, failed or unknown, copying the member's masked identity from the reset
  that issued the code) in the open failures and the triage channel. A later success
  with the same code resolves them.
- Every submission, and every lookup of a code that does not work, is an attempt:
  counted per client (a keyed hash of its address; an IPv6 client by its /64, which
  one household or one attacker holds whole) and written to the audit trail, never
  with the password or the code. The count and the record are one step
  (``ratelimit.hold`` on the client's key), and a client over its limit learns it
  when it opens the link, before typing anything.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from bot.clock import Clock
from bot.config import ConfigurationError, Location, PaytronixLocation
from bot.vendor_clients import VendorClients
from bot.workflows import audit
from bot.workflows.guest_codes import CodeState, CodeStatus, GuestCodes
from bot.workflows.ratelimit import hold
from bot.workflows.resets import ResetStatus
from storage.db import Database
from storage.models import (
    GuestPageAttempt,
    GuestResetCode,
    RateLock,
    ResetRequest,
    VendorAttempt,
)
from vendors import Outcome, OutcomeKind, VendorError
from vendors.paytronix import RESET_CODE_FIELD

log = logging.getLogger("frontdesk.guest")

ACTOR = "guest"
#: Resolutions and triage rows written by frontdesk itself.
FRONTDESK = "frontdesk"
#: The per-client lock rows' keys (``ratelimit.hold``).
LOCK_PREFIX = "guest-page:"


class Verdict(StrEnum):
    """What the guest is shown (and what an attempt row records)."""

    FORM = "form"  # the code works: choose a password
    DONE = "done"
    REFUSED = "refused"  # Paytronix refused, in its own words; the link still works
    UNAVAILABLE = "unavailable"  # Paytronix could not be reached: nothing was set
    SATURATED = "saturated"  # every slot was waiting on Paytronix: nothing was sent
    UNCERTAIN = "uncertain"  # no answer: it may be set; the link is closed
    MISMATCH = "mismatch"
    EMPTY = "empty"
    UNKNOWN_CODE = "unknown_code"
    EXPIRED = "expired"
    USED = "used"
    LOCKED = "locked"
    CLOSED = "closed"  # closed after an uncertain outcome
    REJECTED = "rejected"  # Paytronix refused the code itself: the link no longer works
    BUSY = "busy"  # a submission with this link is at Paytronix: still being saved
    LIMITED = "limited"  # too many attempts from this client
    FORGED = "forged"  # a form post without a valid CSRF token
    SENDING = "sending"  # (attempt rows only) on its way to Paytronix


_FOR_STATE = {
    CodeState.UNKNOWN_CODE: Verdict.UNKNOWN_CODE,
    CodeState.EXPIRED: Verdict.EXPIRED,
    CodeState.USED: Verdict.USED,
    CodeState.LOCKED: Verdict.LOCKED,
    CodeState.CLOSED: Verdict.CLOSED,
    CodeState.BUSY: Verdict.BUSY,
    CodeState.REJECTED: Verdict.REJECTED,
    CodeState.USABLE: Verdict.FORM,
}
#: How Paytronix's answer (or its absence) settled a submission.
SETTLED = frozenset(
    {
        Verdict.DONE,
        Verdict.REFUSED,
        Verdict.UNAVAILABLE,
        Verdict.UNCERTAIN,
        Verdict.LOCKED,
        Verdict.REJECTED,
        Verdict.CLOSED,
    }
)
#: Outcomes after which the link still works: shown with the form again.
WITH_FORM = frozenset(
    {Verdict.REFUSED, Verdict.UNAVAILABLE, Verdict.SATURATED, Verdict.MISMATCH, Verdict.EMPTY}
)


@dataclass(frozen=True)
class PageResult:
    verdict: Verdict
    #: The merchant's display name, when the code is known.
    merchant: str | None = None
    #: Paytronix's own words (a refusal).
    message: str | None = None
    #: Tries left with this link (a refusal).
    tries_left: int | None = None
    #: The outcome of another submission with this link (one in flight when this one
    #: came: a double tap, another window); this one sent nothing.
    earlier: bool = False


@dataclass(frozen=True)
class Submission:
    """A submitted form: the attempt recorded for it (None: the client is over its limit
    and nothing was recorded), and the call to Paytronix when one is on its way."""

    attempt_id: int | None
    call: Future[None] | None = None


@dataclass
class _Notices:
    """Triage rows to show in Slack once the transaction that wrote them committed."""

    failed: list[ResetRequest] = field(default_factory=list)
    resolved: list[ResetRequest] = field(default_factory=list)


class GuestResets:
    def __init__(
        self,
        *,
        db: Database,
        codes: GuestCodes,
        clients: VendorClients,
        locations: dict[str, Location],
        clock: Clock,
        attempts_per_address: int = 20,
        lease_seconds: float = 120.0,
        concurrency: int = 2,
    ) -> None:
        self.db = db
        self.codes = codes
        self.clients = clients
        self.locations = locations
        self.clock = clock
        self.attempts_per_address = attempts_per_address
        self.lease = timedelta(seconds=lease_seconds)
        #: Post a triage row (set by the app: the reset notifier), off the guest's request.
        self.on_failure: Callable[[ResetRequest], None] = lambda request: None
        #: Show a triage row's resolution (set by the app).
        self.on_resolved: Callable[[ResetRequest], None] = lambda request: None
        self._notices = ThreadPoolExecutor(1, thread_name_prefix="frontdesk-guest-notices")
        #: Calls to Paytronix at once in this process; a submission finding none free
        #: sends nothing (SATURATED).
        self._slots = threading.BoundedSemaphore(max(1, concurrency))
        self._calls = ThreadPoolExecutor(
            max(1, concurrency), thread_name_prefix="frontdesk-guest-calls"
        )

    def close(self) -> None:
        self._calls.shutdown(wait=True)
        self._notices.shutdown(wait=True)

    def merchant(self, location_id: str | None) -> str | None:
        location = self.locations.get(location_id or "")
        if isinstance(location, PaytronixLocation):
            return location.display_name
        return location.name if location is not None else None

    def address_key(self, address: str) -> str:
        return self.codes.keys.digest("address", client_network(address))[:32]

    # -- the page's entries ------------------------------------------------------------
    def open(self, code: str, address: str) -> PageResult:
        """The guest followed the link: the form, "still being saved", or why the link
        does not work."""
        notices = _Notices()
        with self.db.session() as session:
            limited = self._limited(session, address)
            row = self.codes.row(session, code)
            merchant = self.merchant(row.location_id if row else None)
            if limited:  # before the guest types anything
                return PageResult(Verdict.LIMITED, merchant)
            state = self._state(session, row, notices)
            if state in (CodeState.USABLE, CodeState.BUSY):
                result = PageResult(_FOR_STATE[state], merchant)
            else:
                result = self._refuse(session, row, _FOR_STATE[state], merchant, address)
        self._dispatch(notices)
        return result

    def forged(self, address: str) -> PageResult:
        """A form post whose CSRF token did not verify: nothing else of it is read."""
        with self.db.session() as session:
            if self._limited(session, address):
                return PageResult(Verdict.LIMITED)
            return self._refuse(session, None, Verdict.FORGED, None, address)

    def submit(self, code: str, password: str, confirmation: str, address: str) -> Submission:
        """The guest submitted a new password (twice). Counted and recorded at once, in
        the transaction that holds the client's key; sent (exactly as typed) only when
        the code is free, on the pool, whose future is returned."""
        notices = _Notices()
        slot = False
        try:
            with self.db.session() as session:
                if self._limited(session, address):
                    return Submission(None)
                row = self.codes.row(session, code)
                state = self._state(session, row, notices)
                verdict = self._precheck(state, password, confirmation)
                claim_id = None
                if verdict is None:
                    slot = self._slots.acquire(blocking=False)
                    if not slot:
                        verdict = Verdict.SATURATED  # every slot waits on Paytronix
                if verdict is None:
                    assert row is not None
                    claim_id = self.codes.claim(session, row.id, self.lease)
                    if claim_id is None:  # another submission took it this instant
                        verdict = Verdict.BUSY
                attempt = self._attempt(
                    session, row, verdict or Verdict.SENDING, address, audit=verdict is not None
                )
                attempt_id = attempt.id
                if claim_id is not None:
                    assert row is not None
                    send = (row.id, claim_id, attempt_id, row.location_id)
                    merchant = self.merchant(row.location_id)
        except BaseException:
            if slot:
                self._slots.release()
            raise
        if slot and claim_id is None:
            self._slots.release()
        self._dispatch(notices)
        if claim_id is None:
            return Submission(attempt_id)
        try:
            call = self._calls.submit(self._send, *send, code, password, merchant)
        except RuntimeError:  # shutting down: settle it here
            self._send(*send, code, password, merchant)
            return Submission(attempt_id)
        return Submission(attempt_id, call)

    def result(self, code: str, attempt_id: int) -> PageResult | None:
        """What the page shows for one attempt with this code (None: not one of its
        attempts): its outcome; "still being saved" while the code is at Paytronix; for
        a submission made while another was in flight, that one's outcome."""
        notices = _Notices()
        with self.db.session() as session:
            row = self.codes.row(session, code)
            attempt = session.get(GuestPageAttempt, attempt_id)
            if attempt is None or (row.id if row else None) != attempt.code_id:
                return None
            try:
                verdict = Verdict(attempt.outcome)
            except ValueError:
                return None
            if row is None:
                return PageResult(verdict)
            merchant = self.merchant(row.location_id)
            state = self._state(session, row, notices)
            earlier = False
            if verdict is Verdict.BUSY and state is not CodeState.BUSY:
                settled = self._settled_before(session, attempt)
                if settled is not None:
                    attempt, verdict, earlier = settled, Verdict(settled.outcome), True
            if verdict in (Verdict.SENDING, Verdict.BUSY) or (
                verdict in WITH_FORM and state is not CodeState.USABLE
            ):
                verdict = _FOR_STATE[state]  # in flight still, or the link moved on since
            result = PageResult(verdict, merchant, earlier=earlier)
            if verdict is Verdict.REFUSED:
                vendor = (
                    session.get(VendorAttempt, attempt.vendor_attempt_id)
                    if attempt.vendor_attempt_id is not None
                    else None
                )
                result = PageResult(
                    verdict,
                    merchant,
                    message=vendor.message if vendor is not None else None,
                    tries_left=max(0, self.codes.tries_per_code - row.tries),
                    earlier=earlier,
                )
        self._dispatch(notices)
        return result

    def choose_password(
        self, code: str, password: str, confirmation: str, address: str
    ) -> PageResult:
        """``submit``, then wait for the outcome (the demo's and the tests' guest, who
        keeps the page open until it no longer says "still being saved")."""
        submission = self.submit(code, password, confirmation, address)
        if submission.attempt_id is None:
            return PageResult(Verdict.LIMITED)
        if submission.call is not None:
            submission.call.result()
        deadline = time.monotonic() + self.lease.total_seconds()
        while True:
            result = self.result(code, submission.attempt_id)
            if result is None:
                return PageResult(Verdict.UNKNOWN_CODE)
            if result.verdict is not Verdict.BUSY or time.monotonic() > deadline:
                return result
            time.sleep(0.1)

    @staticmethod
    def _precheck(state: CodeState, password: str, confirmation: str) -> Verdict | None:
        """Why nothing may be sent; None: send."""
        if state is not CodeState.USABLE:
            return _FOR_STATE[state]  # BUSY: another submission holds the code
        if password == "":
            return Verdict.EMPTY  # presence only: Paytronix alone judges a password
        if password != confirmation:
            return Verdict.MISMATCH
        return None

    # -- housekeeping (every process, idempotent) ------------------------------------
    def housekeeping(self) -> None:
        """Submissions whose process died mid-call become unknown (for triage); attempts
        older than any window that reads them are deleted."""
        notices = _Notices()
        with self.db.session() as session:
            for row in self.codes.stale_claims(session):
                self._abandon(session, row, notices)
            session.execute(
                delete(GuestPageAttempt).where(
                    GuestPageAttempt.at < self.clock.now() - self.codes.ttl - timedelta(days=1)
                )
            )
            session.execute(  # the clients' lock rows, once their window has passed
                delete(RateLock).where(
                    RateLock.key.startswith(LOCK_PREFIX),
                    RateLock.touched_at < self.clock.now() - timedelta(hours=2),
                )
            )
        self._dispatch(notices)

    # -- steps -------------------------------------------------------------------------
    def _state(self, session: Session, row: GuestResetCode | None, notices: _Notices) -> CodeState:
        state = self.codes.state_of(row)
        if (
            state is CodeState.BUSY
            and row is not None
            and row.lease_until is not None
            and row.lease_until < self.clock.now()
        ):
            self._abandon(session, row, notices)
            session.refresh(row)
            state = self.codes.state_of(row)
        return state

    def _settled_before(
        self, session: Session, attempt: GuestPageAttempt
    ) -> GuestPageAttempt | None:
        """The submission that was in flight when ``attempt`` came: the last one with
        the same code before it that Paytronix's answer settled."""
        return session.scalars(
            select(GuestPageAttempt)
            .where(
                GuestPageAttempt.code_id == attempt.code_id,
                GuestPageAttempt.id < attempt.id,
                GuestPageAttempt.outcome.in_([v.value for v in SETTLED]),
            )
            .order_by(GuestPageAttempt.id.desc())
            .limit(1)
        ).first()

    def _send(
        self,
        code_id: str,
        claim_id: str,
        attempt_id: int,
        location_id: str,
        code: str,
        password: str,
        merchant: str | None,
    ) -> None:
        """On the pool: the call, then its outcome settled (slot freed whatever happens;
        a settle that fails leaves the claim to its lease, hence unknown, for triage)."""
        notices = _Notices()
        try:
            outcome = self._call(location_id, code, password)
            self._settle(code_id, claim_id, attempt_id, outcome, merchant, notices)
        except Exception:
            log.exception("guest submission not settled", extra={"subject": code_id})
        finally:
            self._slots.release()
            self._dispatch(notices)

    def _call(self, location_id: str, code: str, password: str) -> Outcome:
        try:
            endpoint = self.clients.guest_passwords(location_id)
            return endpoint.set_password(reset_code=code, new_password=password)
        except (VendorError, ConfigurationError, LookupError) as exc:
            # Nothing was sent: the call could not be formed (configuration).
            return Outcome(
                kind=OutcomeKind.UNAVAILABLE,
                vendor="paytronix",
                operation="resetGuestPassword",
                message=f"not sent: {exc}",
                code="not_sent",
            )
        except Exception as exc:  # a bug past the adapter's contract: it may have been sent
            log.error("guest password call failed", extra={"error": type(exc).__name__})
            return Outcome(
                kind=OutcomeKind.UNKNOWN,
                vendor="paytronix",
                operation="resetGuestPassword",
                message=f"frontdesk failed while calling Paytronix ({type(exc).__name__})",
                code="error",
            )

    def _settle(
        self,
        code_id: str,
        claim_id: str,
        attempt_id: int,
        outcome: Outcome,
        merchant: str | None,
        notices: _Notices,
    ) -> PageResult:
        now = self.clock.now()
        with self.db.session() as session:
            row = session.get(GuestResetCode, code_id)
            assert row is not None
            limit = self.codes.tries_per_code
            triage: tuple[ResetStatus, str] | None = None
            result: PageResult
            if outcome.kind is OutcomeKind.SUCCEEDED:
                status, refund = CodeStatus.USED, False
                result = PageResult(Verdict.DONE, merchant)
            elif outcome.kind is OutcomeKind.REFUSED and _about_the_code(outcome):
                # Not the password: no other one would do. Not a try either.
                status, refund = CodeStatus.REJECTED, True
                result = PageResult(Verdict.REJECTED, merchant)
                triage = (
                    ResetStatus.REFUSED,
                    "Guest reset page: Paytronix no longer accepts the guest's link (its "
                    f"words: {outcome.message}); nothing was set. The guest was asked for a "
                    "new link: Retry sends the guest a new link.",
                )
            elif outcome.kind is OutcomeKind.REFUSED:
                locked = row.tries >= limit
                status, refund = (CodeStatus.LOCKED if locked else CodeStatus.OPEN), False
                if locked:
                    result = PageResult(Verdict.LOCKED, merchant, message=outcome.message)
                    triage = (
                        ResetStatus.REFUSED,
                        f"Guest reset page: the guest's link was locked after {limit} tries "
                        f"Paytronix refused (the last: {outcome.message}). "
                        "Retry sends the guest a new link.",
                    )
                else:
                    result = PageResult(
                        Verdict.REFUSED,
                        merchant,
                        message=outcome.message,
                        tries_left=limit - row.tries,
                    )
            elif outcome.kind is OutcomeKind.UNAVAILABLE:
                status, refund = CodeStatus.OPEN, True
                result = PageResult(Verdict.UNAVAILABLE, merchant)
                triage = (
                    ResetStatus.FAILED,
                    "Guest reset page: Paytronix could not be reached when the guest chose a "
                    f"new password ({outcome.message}); nothing was set and the guest was "
                    "asked to try again in a few minutes (a later success resolves this).",
                )
            else:
                status, refund = CodeStatus.UNKNOWN, False
                result = PageResult(Verdict.UNCERTAIN, merchant)
                triage = (
                    ResetStatus.UNKNOWN,
                    "Guest reset page: Paytronix did not answer when the guest chose a new "
                    f"password ({outcome.message}): it may or may not be set. The link is "
                    "closed; the guest was told to try signing in and otherwise to ask for a "
                    "new link. Retry sends the guest a new link.",
                )
            if not self.codes.settle(session, code_id, claim_id, status, refund=refund):
                # The lease ran out and the code was closed as unknown meanwhile.
                triage = None
                if outcome.kind is not OutcomeKind.SUCCEEDED:
                    result = PageResult(Verdict.CLOSED, merchant)
            vendor_attempt = VendorAttempt(
                request_id=row.reset_request_id,
                vendor=outcome.vendor,
                operation=outcome.operation,
                outcome_kind=outcome.kind.value,
                code=outcome.code,
                message=outcome.message,
                exchanges=outcome.to_record(),
                latency_ms=outcome.elapsed_ms,
                created_at=now,
            )
            session.add(vendor_attempt)
            session.flush()
            triage_id = None
            if triage is not None:
                request = self._triage_row(session, row, *triage)
                if request is not None:
                    notices.failed.append(request)
                    triage_id = request.id
            if outcome.kind is OutcomeKind.SUCCEEDED:
                notices.resolved.extend(self._resolve_earlier(session, row))
            attempt = session.get(GuestPageAttempt, attempt_id)
            assert attempt is not None
            attempt.outcome = result.verdict.value
            attempt.triage_request_id = triage_id
            attempt.vendor_attempt_id = vendor_attempt.id
            self._audit(
                session,
                row,
                result.verdict,
                attempt.address_hash,
                triage_id=triage_id,
                details={"vendor_outcome": outcome.kind.value, "vendor_code": outcome.code},
            )
        return result

    def _refuse(
        self,
        session: Session,
        row: GuestResetCode | None,
        verdict: Verdict,
        merchant: str | None,
        address: str,
    ) -> PageResult:
        """An attempt that sends nothing: recorded (unless the address is over its limit)."""
        if self._limited(session, address):
            return PageResult(Verdict.LIMITED, merchant)
        self._attempt(session, row, verdict, address)
        return PageResult(verdict, merchant)

    def _limited(self, session: Session, address: str) -> bool:
        """Whether the client is over its limit, counted under a lock on its key held
        until the transaction ends: what is recorded in it is counted by the next."""
        hold(session, self.clock, [LOCK_PREFIX + self.address_key(address)])
        since = self.clock.now() - timedelta(hours=1)
        count = session.scalar(
            select(func.count())
            .select_from(GuestPageAttempt)
            .where(
                GuestPageAttempt.address_hash == self.address_key(address),
                GuestPageAttempt.at >= since,
            )
        )
        return (count or 0) >= self.attempts_per_address

    def _attempt(
        self,
        session: Session,
        row: GuestResetCode | None,
        verdict: Verdict,
        address: str,
        *,
        audit: bool = True,
    ) -> GuestPageAttempt:
        """One attempt, counted against the client (a submission on its way to Paytronix
        is audited when its outcome is written)."""
        address_key = self.address_key(address)
        attempt = GuestPageAttempt(
            at=self.clock.now(),
            address_hash=address_key,
            code_id=row.id if row else None,
            outcome=verdict.value,
        )
        session.add(attempt)
        session.flush()
        if audit:
            self._audit(session, row, verdict, address_key)
        return attempt

    def _audit(
        self,
        session: Session,
        row: GuestResetCode | None,
        verdict: Verdict,
        address_key: str,
        *,
        triage_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        audit.record(
            session,
            self.clock,
            actor=ACTOR,
            action="guest_reset.attempt",
            subject_type="reset" if row else "guest_page",
            subject_id=row.reset_request_id if row else "-",
            location_id=row.location_id if row else None,
            details={
                "outcome": verdict.value,
                "address": address_key[:12],
                **({"code_id": row.id, "tries": row.tries} if row else {}),
                **({"triage": triage_id} if triage_id else {}),
                **(details or {}),
            },
        )

    def _abandon(self, session: Session, row: GuestResetCode, notices: _Notices) -> None:
        if self.codes.abandon(session, row):
            log.warning("guest reset abandoned mid-call", extra={"subject": row.id})
            request = self._triage_row(
                session,
                row,
                ResetStatus.UNKNOWN,
                "Guest reset page: frontdesk stopped while Paytronix was setting the guest's "
                "new password: it may or may not be set. The link is closed. Retry sends the "
                "guest a new link.",
            )
            if request is not None:
                notices.failed.append(request)
            # The submission that was on its way: its page now says it may be set.
            marked = session.execute(
                update(GuestPageAttempt)
                .where(
                    GuestPageAttempt.code_id == row.id,
                    GuestPageAttempt.outcome == Verdict.SENDING.value,
                )
                .values(
                    outcome=Verdict.UNCERTAIN.value,
                    triage_request_id=request.id if request is not None else None,
                )
            ).rowcount  # type: ignore[attr-defined]
            if not marked and request is not None:
                session.add(
                    GuestPageAttempt(
                        at=self.clock.now(),
                        address_hash="",
                        code_id=row.id,
                        outcome=Verdict.UNCERTAIN.value,
                        triage_request_id=request.id,
                    )
                )

    def _triage_row(
        self, session: Session, code: GuestResetCode, status: ResetStatus, message: str
    ) -> ResetRequest | None:
        """A reset row for support's open failures and triage channel: the member as the
        reset that issued the code had them (masked), the outcome in support's words."""
        origin = session.get(ResetRequest, code.reset_request_id)
        if origin is None:
            return None
        now = self.clock.now()
        outcome_kind = {
            ResetStatus.REFUSED: OutcomeKind.REFUSED,
            ResetStatus.FAILED: OutcomeKind.UNAVAILABLE,
        }.get(status, OutcomeKind.UNKNOWN)
        request = ResetRequest(
            id=str(uuid.uuid4()),
            org_id=origin.org_id,
            enterprise_id=origin.enterprise_id,
            team_id=origin.team_id,
            user_id=origin.user_id,
            location_id=origin.location_id,
            vendor=origin.vendor,
            identifier_kind=origin.identifier_kind,
            identity=origin.identity,
            identifier_masked=origin.identifier_masked,
            identifier_hash=origin.identifier_hash,
            member_filter=origin.member_filter,
            status=status,
            override_limit=False,
            outcome_kind=outcome_kind.value,
            outcome_message=message,
            created_at=now,
            finished_at=now,
            updated_at=now,
        )
        session.add(request)
        session.flush()
        audit.record(
            session,
            self.clock,
            actor=FRONTDESK,
            action=f"reset.{status.value}",
            subject_type="reset",
            subject_id=request.id,
            location_id=request.location_id,
            details={"origin": origin.id, "code_id": code.id, "page": "guest"},
        )
        return request

    def _resolve_earlier(self, session: Session, code: GuestResetCode) -> list[ResetRequest]:
        """The guest got through: this link's open failures need nobody any more."""
        ids = session.scalars(
            select(GuestPageAttempt.triage_request_id).where(
                GuestPageAttempt.code_id == code.id,
                GuestPageAttempt.triage_request_id.is_not(None),
            )
        ).all()
        if not ids:
            return []
        now = self.clock.now()
        note = "The guest set a new password with the same link later."
        resolved = list(
            session.scalars(
                select(ResetRequest).where(
                    ResetRequest.id.in_(ids), ResetRequest.resolved_at.is_(None)
                )
            )
        )
        for request in resolved:
            won = session.execute(
                update(ResetRequest)
                .where(ResetRequest.id == request.id, ResetRequest.resolved_at.is_(None))
                .values(
                    resolved_by=FRONTDESK, resolved_at=now, resolution_note=note, updated_at=now
                )
            ).rowcount  # type: ignore[attr-defined]
            if won:
                audit.record(
                    session,
                    self.clock,
                    actor=FRONTDESK,
                    action="reset.resolve",
                    subject_type="reset",
                    subject_id=request.id,
                    location_id=request.location_id,
                    details={"note": note},
                )
                session.refresh(request)
        return [r for r in resolved if r.resolved_at is not None]

    def _dispatch(self, notices: _Notices) -> None:
        """Slack hears of it after the commit, on a background thread: the guest's page
        never waits for Slack. (The rows are in the open failures regardless.)"""
        for request in notices.failed:
            self._notices.submit(self._quietly, self.on_failure, request)
        for request in notices.resolved:
            self._notices.submit(self._quietly, self.on_resolved, request)
        notices.failed.clear()
        notices.resolved.clear()

    @staticmethod
    def _quietly(call: Callable[[ResetRequest], None], request: ResetRequest) -> None:
        try:
            call(request)
        except Exception:
            log.exception("could not tell Slack of a guest reset", extra={"subject": request.id})


def _about_the_code(outcome: Outcome) -> bool:
    """A refusal of the reset code itself (expired or spent at Paytronix), not the password."""
    return any(error.field == RESET_CODE_FIELD for error in outcome.field_errors)


def client_network(address: str) -> str:
    """What the per-client limit counts: an IPv4 address, an IPv6 client's /64 (one
    subscriber's prefix: its addresses rotate freely inside it), an IPv4 client seen
    through an IPv6 socket as its IPv4 address; anything else as given."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address or "-"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
