"""Tells Slack what the worker found: the requester's confirmation and the triage channel."""

from __future__ import annotations

from collections.abc import Callable

from slack_sdk import WebClient

from bot.config import Location
from bot.slack import views
from bot.workflows.resets import NEEDS_TRIAGE, ResetService, ResetStatus
from storage.models import ResetRequest


class SlackNotifier:
    def __init__(
        self, *, client: WebClient, resets: ResetService, locations: dict[str, Location]
    ) -> None:
        self._client = client
        self._resets = resets
        self._locations = locations
        #: Called after anything a home shows has changed (set by the app).
        self.on_change: Callable[[], None] = lambda: None

    # The worker's notices (bot.worker.Notices).
    def started(self, request: ResetRequest) -> None:
        self.reset_started(request)

    def finished(self, request: ResetRequest) -> None:
        self.reset_finished(request)

    def late(self, request: ResetRequest) -> None:
        """The answer that came after the row was settled: on the triage post and on
        the requester's confirmation."""
        self.triage_updated(request)
        if request.message_ts and request.channel_id:
            text, blocks = views.status_message(request, self._locations.get(request.location_id))
            self._client.chat_update(
                channel=request.channel_id, ts=request.message_ts, text=text, blocks=blocks
            )

    def reset_started(self, request: ResetRequest) -> None:
        if request.message_ts and request.channel_id:
            text, blocks = views.status_message(request, self._locations.get(request.location_id))
            self._client.chat_update(
                channel=request.channel_id, ts=request.message_ts, text=text, blocks=blocks
            )

    def reset_finished(self, request: ResetRequest) -> None:
        try:
            self._reset_finished(request)
        finally:
            self.on_change()

    def _reset_finished(self, request: ResetRequest) -> None:
        location = self._locations.get(request.location_id)
        text, blocks = views.status_message(request, location)
        original = self._resets.get(request.retry_of) if request.retry_of else None
        if request.message_ts and request.channel_id:
            self._client.chat_update(
                channel=request.channel_id, ts=request.message_ts, text=text, blocks=blocks
            )
        elif original is not None and original.triage_ts and original.triage_channel_id:
            self._client.chat_postMessage(
                channel=original.triage_channel_id,
                thread_ts=original.triage_ts,
                text=f"Retry by <@{request.user_id}>: {text}",
            )
        if ResetStatus(request.status) in NEEDS_TRIAGE and location is not None:
            if original is not None and original.triage_ts:
                return  # the retry's outcome is in the original's thread
            triage_text, triage_blocks = views.triage_post(request, location)
            answer = self._client.chat_postMessage(
                channel=location.triage_channel, text=triage_text, blocks=triage_blocks
            )
            self._resets.attach_triage(request.id, answer["channel"], answer["ts"])

    def triage_updated(self, request: ResetRequest) -> None:
        """Show a claim or a resolution on the triage post, if there is one."""
        if request.triage_channel_id and request.triage_ts:
            text, blocks = views.triage_post(request, self._locations.get(request.location_id))
            self._client.chat_update(
                channel=request.triage_channel_id, ts=request.triage_ts, text=text, blocks=blocks
            )
        self.on_change()
