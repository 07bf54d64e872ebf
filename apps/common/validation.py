"""Framework-neutral input rules of the contract: item bodies, query integers, item ids.

Used by the raw, Flask and Django apps (FastAPI mirrors the same rules in pydantic).
Every failure is an ApiError carrying the status and code the contract prescribes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apps.common import errors
from apps.common.settings import MAX_BODY_BYTES

MAX_ITEM_ID = 9223372036854775807  # largest signed 64-bit integer
NAME_MAX_CHARS = 100
DESCRIPTION_MAX_CHARS = 1000
PRICE_MAX = 1e9
ITEM_KEYS = frozenset({"name", "price", "description"})
# Query parameter ranges of the contract.
LIMIT_DEFAULT = 20
LIMIT_MAX = 100
MAX_OFFSET = MAX_ITEM_ID
SLEEP_MS_MAX = 10_000
CPU_N_MAX = 1_000_000

# ASCII digits only: int() alone would also accept "+1", " 1", "1_0" and other scripts' digits.
_QUERY_INT = re.compile(r"-?[0-9]+", re.ASCII)
_ITEM_ID = re.compile(r"[0-9]+", re.ASCII)
# Longer digit strings are out of every range we check; also keeps int() far away from
# Python's 4300-digit conversion limit.
_MAX_INT_DIGITS = 20
# JSON integers longer than this are parsed as floats (giving inf), so a huge literal
# is a range failure (422) instead of tripping Python's int-string conversion limit.
_MAX_JSON_INT_CHARS = 400


@dataclass(frozen=True)
class ItemIn:
    """A validated item body (POST /items, PUT /items/{id})."""

    name: str
    price: float
    description: str | None = None


def _shorten(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_json_content_type(content_type: str | None) -> bool:
    """True for ``application/json`` in any letter case, with or without parameters."""
    if content_type is None:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json"


class _NonFiniteLiteral(ValueError):
    pass


def _reject_constant(token: str) -> Any:
    # NaN, Infinity and -Infinity are not JSON; Python's parser accepts them by default.
    raise _NonFiniteLiteral(f"{token} is not valid JSON")


def _parse_int(token: str) -> int | float:
    return int(token) if len(token) <= _MAX_JSON_INT_CHARS else float(token)


def decode_json(body: bytes) -> Any:
    """Parse a UTF-8 JSON document strictly; malformed input raises ApiError 400."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.bad_request(f"body is not valid UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise errors.bad_request(f"malformed JSON: {exc.msg} at position {exc.pos}") from None
    except _NonFiniteLiteral as exc:
        raise errors.bad_request(f"malformed JSON: {exc}") from None
    except RecursionError:
        raise errors.bad_request("malformed JSON: nested too deeply") from None


def check_body_size(size: int) -> None:
    """Raise ApiError 413 when a body of ``size`` bytes is over the limit."""
    if size > MAX_BODY_BYTES:
        raise errors.payload_too_large(MAX_BODY_BYTES)


def parse_item_body(body: bytes, content_type: str | None) -> ItemIn:
    """Validate a POST/PUT body in contract order: 413, 415, 400, then 422."""
    check_body_size(len(body))
    if not is_json_content_type(content_type):
        raise errors.unsupported_media_type(content_type)
    return validate_item(decode_json(body))


def _check_text(key: str, value: object, lo: int, hi: int) -> str:
    if not isinstance(value, str):
        raise errors.validation_error(f"{key} must be a string, got {type(value).__name__}")
    if not lo <= len(value) <= hi:
        raise errors.validation_error(f"{key} must be {lo}..{hi} characters long, got {len(value)}")
    # Lone surrogates (from "\ud800" escapes) cannot be stored or encoded as UTF-8, and
    # PostgreSQL refuses NUL in text: both would otherwise surface as a 500.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise errors.validation_error(f"{key} contains a lone surrogate") from None
    if "\x00" in value:
        raise errors.validation_error(f"{key} must not contain NUL characters")
    return value


def _check_price(value: object) -> float:
    # bool is a subclass of int in Python but not a number in JSON terms.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise errors.validation_error(f"price must be a number, got {_shorten(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise errors.validation_error(f"price must be finite, got {_shorten(value)}")
    # Compared before float(): a huge JSON integer would overflow the conversion.
    if not 0 <= value <= PRICE_MAX:
        raise errors.validation_error(f"price must be in 0..1e9, got {_shorten(value)}")
    return float(value)


def validate_item(data: object) -> ItemIn:
    """Check a decoded JSON value against ItemIn; failures raise ApiError 422."""
    if not isinstance(data, dict):
        raise errors.validation_error(f"body must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - ITEM_KEYS)
    if unknown:
        raise errors.validation_error(f"unknown fields: {_shorten(unknown)}")
    for key in ("name", "price"):
        if key not in data:
            raise errors.validation_error(f"{key} is required")
    description = data.get("description")
    if description is not None:
        description = _check_text("description", description, 0, DESCRIPTION_MAX_CHARS)
    return ItemIn(
        name=_check_text("name", data["name"], 1, NAME_MAX_CHARS),
        price=_check_price(data["price"]),
        description=description,
    )


def parse_query_int(
    params: Mapping[str, str], key: str, *, default: int | None, lo: int, hi: int
) -> int:
    """An integer query parameter in lo..hi; absent -> default (None: required).

    Raises ApiError 422 for a missing required value, non-digits or out of range.
    """
    raw = params.get(key)
    if raw is None:
        if default is None:
            raise errors.validation_error(f"query parameter {key!r} is required")
        return default
    if not _QUERY_INT.fullmatch(raw):
        raise errors.validation_error(
            f"query parameter {key!r} must be an integer, got {_shorten(raw)}"
        )
    digits = raw.lstrip("-")
    if len(digits) > _MAX_INT_DIGITS or not lo <= int(raw) <= hi:
        raise errors.validation_error(
            f"query parameter {key!r} must be in {lo}..{hi}, got {_shorten(raw)}"
        )
    return int(raw)


def parse_item_id(segment: str) -> int | None:
    """The item id in a path segment, or None (the caller answers 404) if it is not
    a decimal integer in 1..9223372036854775807."""
    if len(segment) > _MAX_INT_DIGITS or not _ITEM_ID.fullmatch(segment):
        return None
    value = int(segment)
    return value if 1 <= value <= MAX_ITEM_ID else None


def parse_limit_offset(params: Mapping[str, str]) -> tuple[int, int]:
    """(limit, offset) of GET /items: limit 1..100 (default 20), offset >= 0 (default 0)."""
    limit = parse_query_int(params, "limit", default=LIMIT_DEFAULT, lo=1, hi=LIMIT_MAX)
    offset = parse_query_int(params, "offset", default=0, lo=0, hi=MAX_OFFSET)
    return limit, offset


def parse_ms(params: Mapping[str, str]) -> int:
    """The required ``ms`` of /io/sleep and /io/upstream, 0..10000."""
    return parse_query_int(params, "ms", default=None, lo=0, hi=SLEEP_MS_MAX)


def parse_cpu_n(params: Mapping[str, str]) -> int:
    """The required ``n`` of /cpu, 1..1000000."""
    return parse_query_int(params, "n", default=None, lo=1, hi=CPU_N_MAX)
