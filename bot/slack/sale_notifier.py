"""Keeps Slack in step with a sale: the approvals message, the requester's DM, triage."""

from __future__ import annotations

from collections.abc import Callable

from slack_sdk import WebClient

from bot.config import ClubReadyLocation, Location
from bot.slack import sale_views, views
from bot.workflows.sales import NEEDS_TRIAGE, SaleService, SaleStatus
from storage.models import Sale


class SaleNotices:
    def __init__(
        self, *, client: WebClient, sales: SaleService, locations: dict[str, Location]
    ) -> None:
        self._client = client
        self._sales = sales
        self._locations = locations
        #: Called after anything a home shows has changed (set by the app).
        self.on_change: Callable[[], None] = lambda: None

    def _location(self, sale: Sale) -> Location | None:
        return self._locations.get(sale.location_id)

    # -- the requester ----------------------------------------------------------------
    def requester_status(self, sale: Sale) -> None:
        """Post, or update, the requester's DM about this sale."""
        text, blocks = sale_views.requester_message(sale, self._location(sale))
        if sale.dm_channel_id and sale.dm_ts:
            self._client.chat_update(
                channel=sale.dm_channel_id, ts=sale.dm_ts, text=text, blocks=blocks
            )
            return
        answer = self._client.chat_postMessage(channel=sale.user_id, text=text, blocks=blocks)
        self._sales.set_refs(sale.id, dm_channel_id=answer["channel"], dm_ts=answer["ts"])
        sale.dm_channel_id, sale.dm_ts = answer["channel"], answer["ts"]

    def tell_requester(self, sale: Sale, text: str) -> None:
        """A new DM, so that it notifies (an updated message does not)."""
        self._client.chat_postMessage(
            channel=sale.dm_channel_id or sale.user_id,
            text=text,
            blocks=views.plain(f"{text}\n{sale_views.sale_summary(sale, self._location(sale))}"),
        )

    # -- approvers --------------------------------------------------------------------
    def approval_request(self, sale: Sale) -> None:
        """Post the approval request in the location's approvals channel (once)."""
        try:
            self._approval_request(sale)
        finally:
            self.on_change()

    def _approval_request(self, sale: Sale) -> None:
        location = self._location(sale)
        if sale.approval_ts and sale.approval_channel_id:
            self.approval_status(sale)
            return
        if not isinstance(location, ClubReadyLocation) or not location.approvals_channel:
            return
        text, blocks = sale_views.approval_message(sale, location, self._sales.approvals(sale))
        answer = self._client.chat_postMessage(
            channel=location.approvals_channel, text=text, blocks=blocks
        )
        self._sales.set_refs(
            sale.id, approval_channel_id=answer["channel"], approval_ts=answer["ts"]
        )
        sale.approval_channel_id, sale.approval_ts = answer["channel"], answer["ts"]

    def approval_status(self, sale: Sale, *, note: str | None = None) -> None:
        if not (sale.approval_channel_id and sale.approval_ts):
            return
        text, blocks = sale_views.approval_message(
            sale, self._location(sale), self._sales.approvals(sale)
        )
        self._client.chat_update(
            channel=sale.approval_channel_id, ts=sale.approval_ts, text=text, blocks=blocks
        )
        if note:
            self._client.chat_postMessage(
                channel=sale.approval_channel_id, thread_ts=sale.approval_ts, text=note
            )

    def refresh(self, sale: Sale, *, note: str | None = None) -> None:
        try:
            self.approval_status(sale, note=note)
            if sale.dm_ts:
                self.requester_status(sale)
        finally:
            self.on_change()

    # -- triage -----------------------------------------------------------------------
    def triage(self, sale: Sale) -> None:
        location = self._location(sale)
        if location is None:
            return
        text, blocks = sale_views.triage_post(sale, location, sale.claimed_by)
        if sale.triage_channel_id and sale.triage_ts:
            self._client.chat_update(
                channel=sale.triage_channel_id, ts=sale.triage_ts, text=text, blocks=blocks
            )
            return
        answer = self._client.chat_postMessage(
            channel=location.triage_channel, text=text, blocks=blocks
        )
        self._sales.set_refs(sale.id, triage_channel_id=answer["channel"], triage_ts=answer["ts"])

    # -- the worker's notices (bot.worker.Notices) -------------------------------------
    def started(self, sale: Sale) -> None:
        self.sale_started(sale)

    def finished(self, sale: Sale) -> None:
        self.sale_finished(sale)

    def late(self, sale: Sale) -> None:
        """The vendor answered after the sale was settled unknown: show it to support."""
        self.triage(sale)
        self.on_change()

    def sale_started(self, sale: Sale) -> None:
        self.refresh(sale)

    def sale_finished(self, sale: Sale) -> None:
        self.refresh(sale)
        self.tell_requester(sale, sale_views.outcome_words(sale))
        if SaleStatus(sale.status) in NEEDS_TRIAGE:
            self.triage(sale)

    def sale_expired(self, sale: Sale) -> None:
        self.refresh(sale)
        self.tell_requester(sale, sale_views.outcome_words(sale))
