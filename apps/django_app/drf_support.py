"""DRF plumbing of the drf variant: parser, content negotiation, errors.

Wired in through settings.REST_FRAMEWORK.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from apps.common.errors import CODE_FOR_STATUS, PAYLOAD_TOO_LARGE, ApiError
from apps.common.settings import MAX_BODY_BYTES
from apps.common.validation import decode_json

# DRF's ValidationError is a 400; the contract answers schema failures with 422.
VALIDATION_STATUS = 422


class PayloadTooLarge(exceptions.APIException):
    """413: a request body over the contract's limit."""

    status_code = 413
    default_detail = f"request body exceeds {MAX_BODY_BYTES} bytes"
    default_code = PAYLOAD_TOO_LARGE


class StrictJSONParser(JSONParser):
    """DRF's JSONParser with the suite's JSON rules (apps.common.validation.decode_json).

    Stock DRF decodes with the request's charset parameter and turns integers longer
    than Python's 4300-digit limit into a 400; the contract wants UTF-8 only (400
    otherwise) and a huge price to be a range failure (422), like every other app.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return decode_json(stream.read())
        except ApiError as exc:
            raise exceptions.ParseError(exc.message) from None


class JsonOnlyNegotiation(DefaultContentNegotiation):
    """Always the first renderer (JSON), whatever the Accept header says.

    DRF's default would answer 406 to e.g. ``Accept: text/plain``; no other app
    negotiates, and the contract has no 406. Parser selection stays DRF's.
    """

    def select_renderer(
        self, request: Any, renderers: list[Any], format_suffix: str | None = None
    ) -> tuple[Any, str]:
        return renderers[0], renderers[0].media_type


def _message(detail: Any) -> str:
    # DRF details nest dicts (per field) and lists (several messages per field).
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_message(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return "; ".join(_message(value) for value in detail)
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every APIException in the shared error shape.

    Anything else returns None, which DRF re-raises: Django's handler500 answers it.
    """
    if isinstance(exc, ApiError):
        return Response(exc.as_dict(), status=exc.status, headers=dict(exc.headers))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    if not isinstance(exc, exceptions.APIException):
        return None
    is_validation = isinstance(exc, exceptions.ValidationError)
    status = VALIDATION_STATUS if is_validation else exc.status_code
    code = CODE_FOR_STATUS.get(status, exc.default_code)
    return Response({"error": code, "message": _message(exc.detail)}, status=status)
