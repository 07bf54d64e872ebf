"""DRF serializers of the drf variant: ItemIn with the contract's rules, Item, queries."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.fields import empty

from apps.common.validation import (
    DESCRIPTION_MAX_CHARS,
    MAX_ITEM_ID,
    NAME_MAX_CHARS,
    PRICE_MAX,
)

# ASCII digits with an optional '-' (which then fails min_value), nothing else.
_DECIMAL_INT = re.compile(r"-?[0-9]{1,20}", re.ASCII)


class StrictCharField(serializers.CharField):
    """A JSON string only: DRF's CharField would also take 5 or 1.5 and stringify it."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    """A JSON number only: DRF's FloatField would also take true or "1.5"."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class ItemInSerializer(serializers.Serializer):
    """The body of POST /items and PUT /items/{id}; unknown keys are an error."""

    # trim_whitespace off: " " is a valid one-character name, as everywhere else.
    name = StrictCharField(min_length=1, max_length=NAME_MAX_CHARS, trim_whitespace=False)
    price = StrictFloatField(min_value=0, max_value=PRICE_MAX)
    description = StrictCharField(
        max_length=DESCRIPTION_MAX_CHARS,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
        default=None,
    )

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)


class ItemSerializer(serializers.Serializer):
    """An item as answered (output only)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    price = serializers.FloatField()
    description = serializers.CharField(allow_null=True)


class QueryIntField(serializers.IntegerField):
    """An integer query parameter in decimal digits.

    DRF's IntegerField also accepts "1.0", " 1" and "+1", and its query-string
    handling treats "limit=" as absent (the default); the contract answers 422.
    """

    def get_value(self, dictionary: Any) -> Any:
        return dictionary.get(self.field_name, empty)

    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, str) or not _DECIMAL_INT.fullmatch(data):
            self.fail("invalid")
        return int(data)


class PageQuerySerializer(serializers.Serializer):
    """GET /items?limit=&offset="""

    limit = QueryIntField(min_value=1, max_value=100, default=20)
    # Bounded so the value always fits the databases' 64-bit OFFSET.
    offset = QueryIntField(min_value=0, max_value=MAX_ITEM_ID, default=0)


class MillisQuerySerializer(serializers.Serializer):
    """GET /io/sleep?ms= and /io/upstream?ms="""

    ms = QueryIntField(min_value=0, max_value=10_000)


class CpuQuerySerializer(serializers.Serializer):
    """GET /cpu?n="""

    n = QueryIntField(min_value=1, max_value=1_000_000)
