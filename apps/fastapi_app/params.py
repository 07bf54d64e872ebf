"""Request-side pieces shared by both FastAPI variants.

JsonBodyRoute enforces the body limit and the media type on routes that take a JSON
body; the Annotated aliases declare the query and path parameters of the contract.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import BeforeValidator

from apps.common.errors import ApiError
from apps.common.settings import MAX_BODY_BYTES
from apps.common.validation import (
    MAX_ITEM_ID,
    decode_json,
    is_json_content_type,
    parse_item_id,
)

_DECIMAL_INT = re.compile(r"-?[0-9]+")


def _decimal_digits_only(value: object) -> object:
    # pydantic's lax int parsing also accepts "1.0", " 1", "+1" and "1_000"; the contract
    # takes decimal digits only (an optional '-' then fails the range check).
    if isinstance(value, str) and _DECIMAL_INT.fullmatch(value) is None:
        raise ValueError(f"expected an integer in decimal digits, got {value!r}")
    return value


QueryInt = Annotated[int, BeforeValidator(_decimal_digits_only)]
Limit = Annotated[QueryInt, Query(ge=1, le=100)]
# Bounded so the value always fits the databases' 64-bit OFFSET.
Offset = Annotated[QueryInt, Query(ge=0, le=MAX_ITEM_ID)]
Millis = Annotated[QueryInt, Query(ge=0, le=10_000)]
HashRounds = Annotated[QueryInt, Query(ge=1, le=1_000_000)]


async def _item_id(item_id: Annotated[str, Path()]) -> int:
    # Declared as str so that every bad segment (abc, -1, 0, overflow) is a 404 like an
    # unknown id, not the 422 an int path parameter would give. async def: pure CPU
    # work, so it runs on the event loop instead of costing a threadpool hop.
    parsed = parse_item_id(item_id)
    if parsed is None:
        raise HTTPException(status_code=404, detail=f"no item with id {item_id!r}")
    return parsed


ItemId = Annotated[int, Depends(_item_id)]


class JsonBodyRequest(Request):
    """A request whose body is read with the size limit and decoded as UTF-8 only."""

    async def body(self) -> bytes:
        # FastAPI's documented extension point (custom Request class): the body is
        # cached on the request exactly as Starlette's own body() does.
        if not hasattr(self, "_body"):
            self._body = await self._read_limited()
        return self._body

    async def json(self) -> Any:
        # The shared strict decoder: UTF-8 only (json.loads(bytes) would sniff UTF-16/32),
        # no NaN/Infinity literals, deep nesting and huge integers handled; the same
        # rules as every other variant.
        try:
            return decode_json(await self.body())
        except ApiError as exc:
            # Raised as HTTPException: FastAPI re-raises those from body parsing but
            # turns any other exception into a generic 400 without our message.
            raise HTTPException(status_code=exc.status, detail=exc.message) from exc

    async def _read_limited(self) -> bytes:
        declared = self.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise _too_large(declared)
        chunks: list[bytes] = []
        size = 0
        # Chunked bodies have no Content-Length: stop reading one chunk past the limit.
        async for chunk in self.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _too_large(f"at least {size}")
            chunks.append(chunk)
        return b"".join(chunks)


def _too_large(size: str) -> HTTPException:
    return HTTPException(
        status_code=413,
        detail=f"request body of {size} bytes exceeds the limit of {MAX_BODY_BYTES} bytes",
    )


class JsonBodyRoute(APIRoute):
    """APIRoute that checks body size and Content-Type before FastAPI parses the body.

    FastAPI's own max_body_size answers an oversized Content-Length with a plain-text
    413 (not the contract's error shape) and also replaces 404/405 answers with it, and
    FastAPI accepts any application/*+json; so the checks live here, in the order the
    contract fixes: 413, then 415, then 400 (bad JSON, from JsonBodyRequest.json) and
    FastAPI's own 422. Routes without a body keep FastAPI's handler untouched.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def json_body_handler(request: Request) -> Response:
            request = JsonBodyRequest(request.scope, request.receive)
            body = await request.body()
            content_type = request.headers.get("content-type")
            if not is_json_content_type(content_type):
                raise HTTPException(
                    status_code=415, detail=f"expected application/json, got {content_type!r}"
                )
            if not body:
                # FastAPI would report an empty body as a missing field (422); it is
                # malformed JSON.
                raise HTTPException(status_code=400, detail="request body is empty")
            return await handler(request)

        return json_body_handler
