"""Every callback, block and action id the app uses, in one place."""

from __future__ import annotations

from enum import StrEnum


class Command(StrEnum):
    RESET = "/reset"


class ResetView(StrEnum):
    CALLBACK = "reset_modal"
    LOCATION_BLOCK = "reset_location"
    EMAIL_BLOCK = "reset_email"
    USERNAME_BLOCK = "reset_username"
    ACCOUNT_BLOCK = "reset_account_id"
    CARD_BLOCK = "reset_card"
    FILTER_BLOCK = "reset_member_filter"


class ResetAction(StrEnum):
    LOCATION_SELECT = "reset_location_select"
    EMAIL = "reset_email_input"
    USERNAME = "reset_username_input"
    ACCOUNT = "reset_account_id_input"
    CARD = "reset_card_input"
    FILTER = "reset_member_filter_select"
    SEND = "reset_send"
    CANCEL = "reset_cancel"
    OVERRIDE = "reset_override_send"


class TriageAction(StrEnum):
    CLAIM = "triage_claim"
    RETRY = "triage_retry"


#: Form field (workflow name) → (block id, action id) in the reset modal.
RESET_FIELDS: dict[str, tuple[ResetView, ResetAction]] = {
    "email": (ResetView.EMAIL_BLOCK, ResetAction.EMAIL),
    "username": (ResetView.USERNAME_BLOCK, ResetAction.USERNAME),
    "account_id": (ResetView.ACCOUNT_BLOCK, ResetAction.ACCOUNT),
    "card": (ResetView.CARD_BLOCK, ResetAction.CARD),
    "member_filter": (ResetView.FILTER_BLOCK, ResetAction.FILTER),
    "location": (ResetView.LOCATION_BLOCK, ResetAction.LOCATION_SELECT),
}
