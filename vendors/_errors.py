"""Exceptions of the vendors package, all in one place.

A vendor's *answer* is never an exception: it is an :class:`~vendors.Outcome`.
Exceptions are for what happens before anything is sent.

    VendorError
    ├── InvalidVendorRequest   a request model refused its fields (nothing sent)
    └── VendorConfigurationError  the adapter lacks what the call needs (nothing sent)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from vendors._outcome import FieldError


class VendorError(Exception):
    """Base of every exception raised by ``vendors``."""


class VendorConfigurationError(VendorError):
    """The adapter is not configured for this call (e.g. b2b credentials missing)."""


class InvalidVendorRequest(VendorError, ValueError):
    """A request refused before sending; ``field_errors`` name the wire fields."""

    def __init__(self, field_errors: list[FieldError]) -> None:
        self.field_errors = tuple(field_errors)
        super().__init__("; ".join(str(e) for e in field_errors))


def _wire_name(model: type[BaseModel], loc: tuple[int | str, ...]) -> str | None:
    """Translate a pydantic error location into the vendor's field name."""
    names: list[str] = []
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            names[-1:] = [f"{names[-1]}[{part}]"] if names else [f"[{part}]"]
            continue
        fields = getattr(current, "model_fields", {})
        info = fields.get(part)
        names.append(info.alias if info is not None and info.alias else str(part))
        annotation = getattr(info, "annotation", None) if info is not None else None
        current = _inner_model(annotation)
    return ".".join(names) or None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


M = TypeVar("M", bound=BaseModel)


def build(model: type[M], /, **data: Any) -> M:
    """Construct a request model, turning pydantic's error into :class:`InvalidVendorRequest`.

    Messages never echo the input value: it may be a token or a password.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_input=False, include_url=False):
            message = str(err["msg"]).removeprefix("Value error, ")
            errors.append(FieldError(_wire_name(model, tuple(err["loc"])), message, err["type"]))
        raise InvalidVendorRequest(errors) from None


def build_for_form(form_field: Callable[[str], str | None], model: type[M], /, **data: Any) -> M:
    """:func:`build`, with each error renamed from the vendor's field to the form's
    (``form_field`` maps a wire name such as ``PaymentMethods[0].AcctToken``; None: a
    problem of the whole request or of the configuration, shown on no field)."""
    try:
        return build(model, **data)
    except InvalidVendorRequest as exc:
        raise InvalidVendorRequest([_renamed(e, form_field) for e in exc.field_errors]) from None


def _renamed(error: FieldError, form_field: Callable[[str], str | None]) -> FieldError:
    name = form_field(error.field) if error.field else None
    if name is None and error.field:
        return replace(error, field=None, message=f"{error.field}: {error.message}")
    return replace(error, field=name)
