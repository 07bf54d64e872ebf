"""The shared error shape: every 4xx/5xx body is {"error": code, "message": text}."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

BAD_REQUEST = "bad_request"
NOT_FOUND = "not_found"
METHOD_NOT_ALLOWED = "method_not_allowed"
PAYLOAD_TOO_LARGE = "payload_too_large"
UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
VALIDATION_ERROR = "validation_error"
INTERNAL_ERROR = "internal_error"
BAD_GATEWAY = "bad_gateway"

# The HTTP status that goes with each error code.
STATUS_FOR_CODE: dict[str, int] = {
    BAD_REQUEST: 400,
    NOT_FOUND: 404,
    METHOD_NOT_ALLOWED: 405,
    PAYLOAD_TOO_LARGE: 413,
    UNSUPPORTED_MEDIA_TYPE: 415,
    VALIDATION_ERROR: 422,
    INTERNAL_ERROR: 500,
    BAD_GATEWAY: 502,
}
CODE_FOR_STATUS: dict[int, str] = {status: code for code, status in STATUS_FOR_CODE.items()}


def json_bytes(value: Any) -> bytes:
    """Compact JSON encoding used for every response body."""
    return json.dumps(value, separators=(",", ":")).encode()


def error_body(code: str, message: str) -> bytes:
    """Compact JSON bytes of the error shape."""
    return json_bytes({"error": code, "message": message})


class ApiError(Exception):
    """An error answered to the client with the shared error shape."""

    def __init__(
        self, status: int, code: str, message: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        # Extra response headers, e.g. Allow on a 405.
        self.headers = headers

    def body(self) -> bytes:
        """The response body for this error."""
        return error_body(self.code, self.message)

    def as_dict(self) -> dict[str, str]:
        """The error shape as a dict, for frameworks that serialise JSON themselves."""
        return {"error": self.code, "message": self.message}


def _make(code: str, message: str, headers: tuple[tuple[str, str], ...] = ()) -> ApiError:
    return ApiError(STATUS_FOR_CODE[code], code, message, headers)


def bad_request(message: str) -> ApiError:
    """400 bad_request: malformed JSON or a body that is not UTF-8."""
    return _make(BAD_REQUEST, message)


def not_found(message: str = "resource not found") -> ApiError:
    """404 not_found: unknown id or route."""
    return _make(NOT_FOUND, message)


def method_not_allowed(method: str, path: str, allowed: Iterable[str] = ()) -> ApiError:
    """405; ``allowed`` (if given) becomes the Allow header."""
    allow = ", ".join(allowed)
    headers = (("Allow", allow),) if allow else ()
    return _make(METHOD_NOT_ALLOWED, f"method {method} not allowed on {path}", headers)


def payload_too_large(limit: int) -> ApiError:
    """413 payload_too_large: body over ``limit`` bytes."""
    return _make(PAYLOAD_TOO_LARGE, f"request body exceeds {limit} bytes")


def unsupported_media_type(content_type: str | None) -> ApiError:
    """415 unsupported_media_type: POST/PUT body not declared as JSON."""
    return _make(
        UNSUPPORTED_MEDIA_TYPE,
        f"Content-Type must be application/json, got {content_type!r}",
    )


def validation_error(message: str) -> ApiError:
    """422 validation_error: schema, type or range failure."""
    return _make(VALIDATION_ERROR, message)


def internal_error(message: str = "internal server error") -> ApiError:
    """500 internal_error: a server bug (never caused by client input)."""
    return _make(INTERNAL_ERROR, message)


def bad_gateway(message: str) -> ApiError:
    """502 bad_gateway: the upstream failed."""
    return _make(BAD_GATEWAY, message)
