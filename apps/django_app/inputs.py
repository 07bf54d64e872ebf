"""Request input of the plain Django views, checked with apps.common.validation."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from apps.common import errors
from apps.common.settings import MAX_BODY_BYTES
from apps.common.validation import ItemIn, parse_item_body, parse_item_id, parse_query_int


def item_body(request: HttpRequest) -> ItemIn:
    """The validated ItemIn of a POST/PUT body (ApiError 413/415/400/422)."""
    try:
        # Refuses a declared Content-Length over DATA_UPLOAD_MAX_MEMORY_SIZE (= the
        # contract's limit) before reading anything.
        body = request.body
    except RequestDataTooBig:
        raise errors.payload_too_large(MAX_BODY_BYTES) from None
    except ValueError:
        # Django reads CONTENT_LENGTH with int(); servers normally refuse a bad one first.
        raise errors.bad_request("invalid Content-Length header") from None
    return parse_item_body(body, request.META.get("CONTENT_TYPE"))


def item_id(segment: str) -> int:
    """The item id of a path segment; anything but 1..2**63-1 is ApiError 404."""
    parsed = parse_item_id(segment)
    if parsed is None:
        raise errors.not_found(f"no item with id {segment!r}")
    return parsed


def query_int(request: HttpRequest, key: str, *, default: int | None, lo: int, hi: int) -> int:
    """An integer query parameter (the last one if repeated); ApiError 422 if invalid."""
    return parse_query_int(request.GET, key, default=default, lo=lo, hi=hi)


def not_found_item(item: int) -> errors.ApiError:
    """The 404 for a valid id that has no item."""
    return errors.not_found(f"no item with id {item}")
