"""Every callback, block and action id the app uses, in one place."""

from __future__ import annotations

from enum import StrEnum

from bot.workflows.sales import MAX_PAYMENT_METHODS, MEMBER_FIELDS


class Command(StrEnum):
    RESET = "/reset"
    SELL = "/sell"
    FRONTDESK = "/frontdesk"


class Event(StrEnum):
    """Events the app subscribes to (manifest ``settings.event_subscriptions``)."""

    APP_HOME_OPENED = "app_home_opened"
    #: A Workflow Builder step of ours runs (one per manifest function).
    FUNCTION_EXECUTED = "function_executed"


class Shortcut(StrEnum):
    """Shortcut callback ids (manifest ``features.shortcuts``)."""

    RESET = "reset_shortcut"  # global: the /reset modal
    SELL = "sell_shortcut"  # global: the /sell modal
    HISTORY = "history_shortcut"  # global: asks for the member and where to show it
    RESET_FROM_MESSAGE = "reset_from_message"  # message: the member named in it
    HISTORY_FROM_MESSAGE = "history_from_message"  # message: the member named in it


#: Which shortcuts are global and which are used on a message.
GLOBAL_SHORTCUTS = (Shortcut.RESET, Shortcut.SELL, Shortcut.HISTORY)
MESSAGE_SHORTCUTS = (Shortcut.RESET_FROM_MESSAGE, Shortcut.HISTORY_FROM_MESSAGE)


class HistoryView(StrEnum):
    """The global "Member history" shortcut's modal."""

    CALLBACK = "history_modal"
    MEMBER_BLOCK = "history_member"
    MEMBER_INPUT = "history_member_input"
    WHERE_BLOCK = "history_where"
    WHERE_INPUT = "history_where_input"


class Step(StrEnum):
    """Workflow Builder steps (manifest ``functions``, by callback id)."""

    RESET = "reset_password"
    SALE = "request_sale_approval"


#: Each step's input and output parameter names, as the manifest declares them.
STEP_INPUTS: dict[Step, tuple[str, ...]] = {
    Step.RESET: ("requester", "location", "identifier"),
    Step.SALE: ("requester", "location", "package", "start_date", "promo_code"),
}
STEP_OUTPUTS: dict[Step, tuple[str, ...]] = {
    Step.RESET: ("outcome", "masked_address", "reference"),
    Step.SALE: ("outcome", "reference", "member", "amount"),
}


class ResetView(StrEnum):
    CALLBACK = "reset_modal"
    #: The modal's next view: the member in full, and Send.
    CONFIRM = "reset_confirm"
    #: The modal after Send: "Sending…", then the outcome.
    SCREEN = "reset_screen"
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
    TRY_AGAIN = "reset_try_again"


class TriageAction(StrEnum):
    CLAIM = "triage_claim"
    RETRY = "triage_retry"
    RESOLVE = "triage_resolve_open"


#: Form field (workflow name) → (block id, action id) in the reset modal.
RESET_FIELDS: dict[str, tuple[ResetView, ResetAction]] = {
    "email": (ResetView.EMAIL_BLOCK, ResetAction.EMAIL),
    "username": (ResetView.USERNAME_BLOCK, ResetAction.USERNAME),
    "account_id": (ResetView.ACCOUNT_BLOCK, ResetAction.ACCOUNT),
    "card": (ResetView.CARD_BLOCK, ResetAction.CARD),
    "member_filter": (ResetView.FILTER_BLOCK, ResetAction.FILTER),
    "location": (ResetView.LOCATION_BLOCK, ResetAction.LOCATION_SELECT),
}


class SaleView(StrEnum):
    START = "sale_start"
    #: Change on a pending sale: the whole sale prefilled (tokens asked again only to
    #: change a payment).
    EDIT = "sale_edit"
    DETAILS = "sale_details"
    REVIEW = "sale_review"
    APPROVAL = "sale_approval"
    REJECT = "sale_reject"
    RECONCILE = "sale_reconcile"
    NOTICE = "sale_notice"


class SaleDecision(StrEnum):
    """What the requester's review submits (a manager there chooses; others submit)."""

    SUBMIT = "submit_for_approval"
    SELL_NOW = "sell_now"


class SaleAction(StrEnum):
    EDIT = "sale_edit_open"
    WITHDRAW = "sale_withdraw"
    REVIEW = "sale_review_open"
    REJECT = "sale_reject_open"
    CLAIM = "sale_claim"
    RECONCILE = "sale_reconcile_open"
    #: A sale a workflow started: add the member and payment, privately.
    CONTINUE = "sale_continue"
    #: In the member and payment view (and Change): show the optional member fields.
    MORE_DETAILS = "sale_more_details"
    #: In the member and payment view (and Change): a second payment method.
    ADD_PAYMENT = "sale_add_payment"


#: Sale form field (workflow name) → (block id, action id), in every sale view. The
#: member and payment fields are the workflow's own, so the two cannot drift apart.
SALE_FIELDS: dict[str, tuple[str, str]] = {
    name: (f"sale_{name}", f"sale_{name}_input")
    for name in (
        "location",
        "package",
        "start_date",
        "promo_code",
        *MEMBER_FIELDS,
        *(
            f"payment{n}_{part}"
            for n in range(1, MAX_PAYMENT_METHODS + 1)
            for part in ("method", "token", "amount")
        ),
        "decision",
        "reason",
        "finding",
        "note",
    )
}


class HomeAction(StrEnum):
    PAGE = "home_page"
    FAILURE_MENU = "home_failure_menu"
    REVIEW = "home_review"
    REFRESH = "home_refresh"
    RESET = "home_reset"
    SELL = "home_sell"
    ROLES = "home_roles"


class TriageView(StrEnum):
    RESOLVE = "triage_resolve"
    NOTE_BLOCK = "triage_note"
    NOTE_INPUT = "triage_note_input"


class AdminView(StrEnum):
    ROLES = "admin_roles"
    USER_BLOCK = "admin_user"
    USER_INPUT = "admin_user_input"
    ROLE_BLOCK = "admin_role"
    ROLE_INPUT = "admin_role_input"
    LOCATIONS_BLOCK = "admin_locations"
    LOCATIONS_INPUT = "admin_locations_input"


class AdminAction(StrEnum):
    REVOKE = "admin_revoke"
