"""Pydantic models for the item resource, shared by both FastAPI variants."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, StrictStr

from apps.common import validation


def _storable(text: str) -> str:
    # Lone surrogates (from "\ud800" escapes) cannot be encoded as UTF-8 and PostgreSQL
    # refuses NUL in text: both would otherwise surface as a 500 from the store.
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must not contain lone surrogates") from None
    return text


StoredText = Annotated[StrictStr, AfterValidator(_storable)]


class ItemIn(BaseModel):
    """Request body of POST/PUT /items.

    The same rules as apps.common.validation.validate_item, in pydantic terms. Strict
    types: the contract refuses what lax mode would coerce (a string or a bool as the
    price, a number as the name).
    """

    model_config = ConfigDict(extra="forbid")

    name: Annotated[StoredText, Field(min_length=1, max_length=100)]
    # Strict float still takes a JSON int (exact int-to-float widening) but never a
    # bool or a string.
    price: Annotated[float, Strict(), Field(ge=0, le=1e9, allow_inf_nan=False)]
    description: Annotated[StoredText, Field(max_length=1000)] | None = None

    def to_common(self) -> validation.ItemIn:
        """The framework-neutral value the shared store takes."""
        return validation.ItemIn(name=self.name, price=self.price, description=self.description)


class Item(BaseModel):
    """An item as stored, with its id."""

    id: int
    name: str
    price: float
    description: str | None
