"""Reading submitted view state and answering with field errors."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any


def field_value(values: Mapping[str, Any], block_id: str, action_id: str) -> Any:
    """One input's value as Slack submitted it: text, a selected option's value, or a date."""
    element = (values.get(block_id) or {}).get(action_id) or {}
    kind = element.get("type")
    if kind in ("static_select", "radio_buttons"):
        return (element.get("selected_option") or {}).get("value")
    if kind == "users_select":
        return element.get("selected_user")
    if kind == "multi_static_select":
        return [option.get("value") for option in element.get("selected_options") or []]
    if kind == "datepicker":
        selected = element.get("selected_date")
        try:
            return date.fromisoformat(selected) if selected else None
        except ValueError:
            return None
    return element.get("value")


def field_errors(
    errors: Mapping[str, str],
    fields: Mapping[str, tuple[str, str]],
    view: Mapping[str, Any],
    fallback_block: str,
) -> dict[str, str]:
    """Workflow field errors as ``response_action: errors`` keyed by the view's block ids.

    An error whose field is not an input of this view goes on ``fallback_block``,
    so that nothing the user must fix is silently dropped.
    """
    present = {b.get("block_id") for b in view.get("blocks", []) if b.get("type") == "input"}
    shown: dict[str, str] = {}
    stray: list[str] = []
    for field, message in errors.items():
        block_id = fields.get(field, ("", ""))[0]
        if block_id in present:
            shown[block_id] = message[:2000]
        else:
            stray.append(message)
    if stray:
        target = (
            fallback_block if fallback_block in present else next(iter(present), fallback_block)
        )
        shown[target] = " ".join([shown.get(target, ""), *stray]).strip()[:2000]
    return shown
