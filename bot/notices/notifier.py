"""The notifier: drains the outbox into Slack, one notice at a time per lane.

It is a queue of the worker (:class:`bot.worker.Worker` runs it on threads of its
own, woken when a transaction records a notice, in this process or another):

- **claim**: the outbox's compare-and-set under ``FOR UPDATE SKIP LOCKED``; only the
  first notice of each lane, so one message's notices apply in order;
- **render** the subject as it is now (:mod:`bot.notices.render`) and make the call;
- **retry**: a 429 waits as long as its ``Retry-After`` says (and holds that method
  in this process meanwhile); other failures back off exponentially (1 s doubling,
  up to ``max_backoff``); while Slack cannot be reached every notice backs off, and
  the first delivery that succeeds again releases them all at once;
- **idempotence of posts**: a post whose answer may have been lost is looked for by
  its key (message metadata), among this app's messages in the window of time its
  attempt could have landed in, before it is posted again; the window narrows as
  pages are read and is kept between attempts, so Slack's history limits only slow
  a lookup down; one that cannot conclude (:data:`LOOKUP_PATIENCE`, or Slack refuses
  the read for good) posts anyway: a possible duplicate beats a lost notice. A post
  Slack accepted whose recording failed is recorded by the next attempt. Updates
  and Home publishes are idempotent by nature; an ephemeral reply whose answer was
  lost is not repeated (it may have been shown; it is at most once);
- **expiry**: a notice past its ``expires_at``, or refused for good by Slack, is
  abandoned: counted (``frontdesk_notices_abandoned_total``) and shown on the admins'
  App Home;
- **Home publishes** spend tokens of a bucket shared by every process
  (``views.publish`` stays under the budget); a change's fan-out to the Homes that
  show it absorbs every change waiting at that moment, and one pending publish per
  viewer coalesces the rest.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any

from bot.clock import Clock
from bot.notices.render import (
    RENDERERS,
    Context,
    Delivery,
    Message,
    Nothing,
    Post,
    Publish,
    Reply,
    ViewUpdate,
)
from bot.notices.slack import CALLS_PER_ATTEMPT, UNREACHABLE, Failure, SlackCalls
from bot.observability import Metrics
from bot.workflows.outbox import NoticeKind, NoticeStatus, Outbox
from storage.models import Notice

log = logging.getLogger("frontdesk.notices")

PUBLISH_BUDGET = "views.publish"
#: Slack's words for a private screen that is gone: a closed modal (views.update), a
#: response_url past its 30 minutes or 5 uses.
SCREEN_GONE = ("not_found", "expired_url", "used_url")
#: The method a lookup reads with (a 429 on it holds lookups, not posts).
HISTORY, REPLIES = "conversations.history", "conversations.replies"
#: How long a post that may have landed is looked for before it is posted anyway
#: (seconds since the attempt): a lookup that cannot conclude in this time (Slack
#: keeps answering 429 or 5xx) gives way to a possible duplicate (README).
LOOKUP_PATIENCE = 600.0


class Notifier:
    """The outbox as one of the worker's queues (:class:`bot.worker.WorkQueue`)."""

    name = "notices"

    def __init__(
        self,
        *,
        outbox: Outbox,
        calls: SlackCalls,
        context: Context,
        clock: Clock,
        metrics: Metrics | None = None,
        publishes_per_minute: float = 60.0,
        publish_burst: float = 10.0,
        base_backoff: float = 1.0,
        max_backoff: float = 30.0,
    ) -> None:
        if CALLS_PER_ATTEMPT * calls.timeout >= outbox.lease.total_seconds():
            raise ValueError(
                f"a delivery makes up to {CALLS_PER_ATTEMPT} Slack calls of {calls.timeout} s: "
                f"the notice lease ({outbox.lease.total_seconds():g} s) must outlast them"
            )
        self.outbox = outbox
        self.calls = calls
        self.context = context
        self.clock = clock
        self.metrics = metrics
        self.publish_rate = publishes_per_minute / 60.0
        self.publish_burst = publish_burst
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self._lock = threading.Lock()
        #: Slack method → monotonic time until which a 429 holds it (this process).
        self._held: dict[str, float] = {}
        #: Until when the shared publish budget is known to be spent (this process).
        self._budget_spent_until = 0.0
        self._unreachable = False
        #: Notices claimed and not yet processed (read with the claim).
        self._claimed: dict[str, Notice] = {}

    # -- bot.worker.WorkQueue ---------------------------------------------------------
    def claim(self, worker_id: str, limit: int) -> list[str]:
        skip = (NoticeKind.HOME,) if time.monotonic() < self._budget_spent_until else ()
        claimed = self.outbox.claim(worker_id, limit, skip_kinds=skip)
        with self._lock:
            self._claimed.update({str(n.id): n for n in claimed})
        return [str(n.id) for n in claimed]

    def recover(self) -> None:
        recovered = self.outbox.recover()
        if recovered:
            log.warning(
                "notices left by a stopped process are due again", extra={"count": recovered}
            )

    def process(self, item_id: str, worker_id: str) -> None:
        with self._lock:
            notice = self._claimed.pop(item_id, None)
        if notice is None:
            notice = self.outbox.get(int(item_id))
        if notice is None or notice.status != NoticeStatus.SENDING or notice.worker_id != worker_id:
            return
        if notice.expires_at <= self.clock.now():
            reason = f"expired ({notice.last_error or 'never delivered'})"
            if notice.kind == NoticeKind.RESET_SCREEN:
                # A private screen outlived: not an incident, the DM has the record.
                self.outbox.done(notice, worker_id, note=f"screen gone: {reason}"[:200])
                return
            self._abandon(notice, worker_id, reason)
            return
        try:
            self._deliver(notice, worker_id)
        except Failure as failure:
            self._failed(notice, worker_id, failure)
        except Exception:
            log.exception("a notice could not be rendered", extra={"notice": notice.id})
            self._failed(notice, worker_id, Failure("internal error"))
        else:
            self._count(notice, "delivered")
            if self._unreachable:
                self._unreachable = False
                released = self.outbox.release(UNREACHABLE)
                log.info("Slack answers again", extra={"released": released})

    # -- delivering -------------------------------------------------------------------
    def _deliver(self, notice: Notice, worker_id: str) -> None:
        kind = NoticeKind(notice.kind)
        if kind is NoticeKind.HOMES:
            self._fan_out(notice, worker_id)
            return
        delivery: Delivery = RENDERERS[kind](notice, self.context)
        if isinstance(delivery, Nothing):
            self.outbox.done(notice, worker_id, note=delivery.why)
            if kind is NoticeKind.RESET_SCREEN:
                self.context.resets.screen_done(str(notice.subject_id))  # past its lifetime
        elif isinstance(delivery, Message):
            self._message(notice, worker_id, delivery)
        elif isinstance(delivery, Post):
            key = f"notice:{notice.id}"
            found = self._look(notice, worker_id, delivery.channel, key, delivery.thread_ts)
            if isinstance(found, tuple):
                self._record(notice, worker_id, *found)
                return
            channel, ts = self._post(
                notice,
                worker_id,
                channel=delivery.channel,
                text=delivery.text,
                blocks=delivery.blocks,
                key=key,
                thread_ts=delivery.thread_ts,
            )
            self._record(
                notice, worker_id, channel, ts, note=found if isinstance(found, str) else None
            )
        elif isinstance(delivery, Reply):
            if notice.uncertain_since is not None:
                # It may have been shown already; an ephemeral reply is at most once.
                self.outbox.done(notice, worker_id, note="not repeated after a lost answer")
                return
            self.calls.respond(
                response_url=delivery.response_url,
                text=delivery.text,
                blocks=delivery.blocks,
                replace_original=delivery.replace_original,
            )
            self.outbox.done(notice, worker_id)
            if kind is NoticeKind.RESET_SCREEN and delivery.last:
                self.context.resets.screen_done(str(notice.subject_id), shown=delivery.response_url)
        elif isinstance(delivery, ViewUpdate):
            self._hold_check(notice, worker_id, "views.update")
            self.calls.update_view(view_id=delivery.view_id, view=delivery.view)
            self.outbox.done(notice, worker_id)
        elif isinstance(delivery, Publish):
            self._hold_check(notice, worker_id, "views.publish")
            wait = self.outbox.take_token(
                PUBLISH_BUDGET, rate=self.publish_rate, burst=self.publish_burst
            )
            if wait > 0:
                self._budget_spent_until = time.monotonic() + wait
                self.outbox.later(notice, worker_id, delay=wait, error="budget", attempt=False)
                return
            self.calls.publish(user_id=delivery.user_id, view=delivery.view)
            self.outbox.done(notice, worker_id)

    def _message(self, notice: Notice, worker_id: str, message: Message) -> None:
        key = notice.slot or f"notice:{notice.id}"
        ts, channel = message.ts, message.posted_in
        note: str | None = None
        if ts is None:
            found = self._look(notice, worker_id, message.channel, key, None)
            if isinstance(found, tuple):
                channel, ts = found
                self._hold_check(notice, worker_id, "chat.update")
                self.calls.update(channel=channel, ts=ts, text=message.text, blocks=message.blocks)
                self.outbox.done(notice, worker_id, channel_id=channel, ts=ts)
                return
            note = found
        if ts is not None and channel is not None:
            self._hold_check(notice, worker_id, "chat.update")
            self.calls.update(channel=channel, ts=ts, text=message.text, blocks=message.blocks)
            self.outbox.done(notice, worker_id)
            return
        channel, ts = self._post(
            notice,
            worker_id,
            channel=message.channel,
            text=message.text,
            blocks=message.blocks,
            key=key,
            thread_ts=None,
        )
        self._record(notice, worker_id, channel, ts, note=note)

    def _post(
        self,
        notice: Notice,
        worker_id: str,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None,
        key: str,
        thread_ts: str | None,
    ) -> tuple[str, str]:
        """Post (the lookup, if any, has concluded: a failure that leaves nothing new to
        look for clears it, so the retry does not read the history again)."""
        try:
            self._hold_check(notice, worker_id, "chat.postMessage")
            return self.calls.post(
                channel=channel, text=text, blocks=blocks, key=key, thread_ts=thread_ts
            )
        except Failure as failure:
            if failure.lookup is None and notice.lookup is not None:
                failure.lookup = {}
            raise

    def _look(
        self, notice: Notice, worker_id: str, channel: str, key: str, thread_ts: str | None
    ) -> tuple[str, str] | str | None:
        """Where an earlier attempt's post landed, if it may have: the post Slack
        accepted but could not be recorded, or the message found in the notice's lookup
        window. None when nothing is to be looked for or the window holds no such post;
        why, when the lookup cannot conclude (see :data:`LOOKUP_PATIENCE`): the message
        is then posted anyway."""
        if notice.ts is not None and notice.channel_id is not None:
            return notice.channel_id, notice.ts
        if notice.lookup is None:
            return None
        since = notice.uncertain_since or notice.created_at
        waited = (self.clock.now() - since).total_seconds()
        if waited > LOOKUP_PATIENCE:
            return self._unconfirmed(notice, f"no answer within {LOOKUP_PATIENCE:.0f} s")
        self._hold_check(notice, worker_id, REPLIES if thread_ts else HISTORY)
        lookup = {**notice.lookup, "channel": notice.lookup.get("channel") or channel}
        try:
            return self.calls.find(key, lookup, thread_ts=thread_ts)
        except Failure as failure:
            if failure.permanent:  # e.g. missing_scope: no retry can look
                return self._unconfirmed(notice, failure.reason)
            raise

    def _unconfirmed(self, notice: Notice, why: str) -> str:
        """A lookup that cannot conclude: the message is posted (again, perhaps). A
        possible duplicate beats a confirmation, an approval request or a failure
        notice nobody sees (README, "Slack notices")."""
        log.warning(
            "posting again without knowing whether an earlier attempt landed",
            extra={"notice": notice.id, "kind": notice.kind, "reason": why},
        )
        self._count(notice, "posted_unconfirmed")
        return f"posted without knowing whether an earlier attempt landed ({why})"

    def _record(
        self, notice: Notice, worker_id: str, channel: str, ts: str, *, note: str | None = None
    ) -> None:
        """Record a post Slack accepted. If recording fails (the database lost the
        connection, SQLite busy), the post is kept for the next attempt to record
        (and looked for, should even that be lost): never posted again blindly."""
        try:
            self.outbox.done(notice, worker_id, channel_id=channel, ts=ts, note=note)
        except Exception as error:
            log.exception(
                "a post Slack accepted could not be recorded", extra={"notice": notice.id}
            )
            raise Failure(
                f"not recorded: {type(error).__name__}",
                uncertain=True,
                posted=(channel, ts),
            ) from error

    def _fan_out(self, notice: Notice, worker_id: str) -> None:
        """Whose Homes show these changes: one publish asked for per viewer."""
        self.outbox.fan_out(notice, worker_id, self.context.home.ask_homes)

    # -- failing ----------------------------------------------------------------------
    def _hold_check(self, notice: Notice, worker_id: str, method: str) -> None:
        with self._lock:
            until = self._held.get(method, 0.0)
        wait = until - time.monotonic()
        if wait > 0:
            raise Failure("ratelimited", retry_after=wait, method=method)

    def _failed(self, notice: Notice, worker_id: str, failure: Failure) -> None:
        if (
            failure.permanent
            and notice.kind == NoticeKind.RESET_SCREEN
            and any(gone in failure.reason for gone in SCREEN_GONE)
        ):
            # The person closed the modal, or the message's response_url is spent: a
            # private screen is short-lived by nature, and the DM keeps the record.
            self.outbox.done(notice, worker_id, note=f"screen gone: {failure.reason}"[:200])
            self.context.resets.screen_done(str(notice.subject_id), gone=True)
            self._count(notice, "gone")
            return
        if failure.permanent:
            log.error(
                "Slack refused a notice for good",
                extra={"notice": notice.id, "kind": notice.kind, "reason": failure.reason},
            )
            self._abandon(notice, worker_id, failure.reason)
            return
        if failure.retry_after is not None:
            delay = failure.retry_after
            if failure.reason == "ratelimited" and failure.method:
                method = failure.method
                with self._lock:
                    self._held[method] = max(self._held.get(method, 0.0), time.monotonic() + delay)
        else:
            delay = min(self.max_backoff, self.base_backoff * 2 ** min(notice.attempts, 16))
            delay *= random.uniform(0.8, 1.2)
        if failure.reason.startswith(UNREACHABLE):
            self._unreachable = True
        log.warning(
            "a notice will be retried",
            extra={
                "notice": notice.id,
                "kind": notice.kind,
                "reason": failure.reason,
                "in_seconds": round(delay, 2),
            },
        )
        self.outbox.later(
            notice,
            worker_id,
            delay=delay,
            error=failure.reason,
            since=failure.since,
            lookup=failure.lookup,
            posted=failure.posted,
        )
        self._count(notice, "retried")

    def _abandon(self, notice: Notice, worker_id: str, reason: str) -> None:
        if self.outbox.abandon(notice, worker_id, reason):
            log.error(
                "a notice was abandoned",
                extra={"notice": notice.id, "kind": notice.kind, "reason": reason},
            )
            if self.metrics is not None:
                self.metrics.notice_abandoned(notice.kind, reason.split(":")[0].split(" (")[0])

    def _count(self, notice: Notice, result: str) -> None:
        if self.metrics is not None:
            self.metrics.notice_delivery(notice.kind, result)
