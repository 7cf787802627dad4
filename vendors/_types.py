"""Field types shared by the request models."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    SecretStr,
    StringConstraints,
)


def _money(value: Any) -> Decimal:
    if isinstance(value, float):
        raise ValueError("amounts must be given as decimals or strings, never floats")
    if isinstance(value, bool):
        raise ValueError("not an amount")
    try:
        amount = Decimal(str(value).strip())
    except Exception as exc:  # decimal.InvalidOperation and friends
        raise ValueError("not an amount") from exc
    if not amount.is_finite():
        raise ValueError("not an amount")
    if amount < 0:
        raise ValueError("an amount cannot be negative")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError("an amount has at most two decimal places")
    return amount.quantize(Decimal("0.01"))


#: A non-negative amount with at most two decimals, held as Decimal.
Money = Annotated[Decimal, BeforeValidator(_money)]

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=255)]
Email = EmailStr
PositiveId = Annotated[int, Field(gt=0)]


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
