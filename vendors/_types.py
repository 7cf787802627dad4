"""Field types shared by the request models."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    SecretStr,
    StrictInt,
    StringConstraints,
)

#: The largest amount a .NET ``decimal`` (ClubReady's, Registrar's) can hold.
MAX_AMOUNT = Decimal("79228162514264337593543950335")


def _money(value: Any) -> Decimal:
    if isinstance(value, float):
        raise ValueError("amounts must be given as decimals or strings, never floats")
    if isinstance(value, bool):
        raise ValueError("not an amount")
    try:
        amount = Decimal(str(value).strip())
    except (ArithmeticError, ValueError) as exc:  # decimal.InvalidOperation and friends
        raise ValueError("not an amount") from exc
    if not amount.is_finite():
        raise ValueError("not an amount")
    if amount < 0:
        raise ValueError("an amount cannot be negative")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError("an amount has at most two decimal places")
    if amount > MAX_AMOUNT:
        raise ValueError("an amount this large is not a decimal the vendor can take")
    try:
        return amount.quantize(Decimal("0.01"))
    except InvalidOperation as exc:  # more digits than the decimal context holds
        raise ValueError("an amount this large is not a decimal the vendor can take") from exc


#: A non-negative amount with at most two decimals, held as Decimal.
Money = Annotated[Decimal, BeforeValidator(_money)]


def _true_or_none(value: bool | None) -> bool | None:
    return True if value else None


#: An optional flag that goes on the wire only when true: a ``false`` is never sent
#: (the vendor's default already is false; sending it only adds a guess).
Flag = Annotated[bool | None, AfterValidator(_true_or_none)]

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=255)]
Email = EmailStr
PositiveId = Annotated[int, Field(gt=0)]
#: A positive integer that is an integer in JSON too: ``True`` and ``5.0`` are refused.
StrictPositiveId = Annotated[StrictInt, Field(gt=0)]


class WireModel(BaseModel):
    """A request as the vendor names its fields (aliases), refusing unknown fields."""

    model_config = ConfigDict(
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
        use_enum_values=True,
    )

    def wire(self, *, exclude: set[str] | None = None) -> dict[str, Any]:
        """The vendor's JSON: wire names, nulls omitted, secrets revealed for sending only."""
        dumped = self.model_dump(by_alias=True, exclude_none=True, exclude=exclude)
        return _reveal(dumped)

    def secrets(self) -> list[str]:
        """Every secret value in this request, for the redactor."""
        found: list[str] = []
        _collect_secrets(self, found)
        return found


def _reveal(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    return value


def _collect_secrets(value: Any, found: list[str]) -> None:
    if isinstance(value, SecretStr):
        found.append(value.get_secret_value())
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _collect_secrets(getattr(value, name), found)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect_secrets(item, found)
