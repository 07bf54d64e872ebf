"""Responses of the plain Django views, and Django's error handlers in the shared shape."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse

from apps.common import errors, static
from apps.common.errors import ApiError
from apps.common.settings import MAX_BODY_BYTES

# Django's JsonResponse separates tokens with spaces by default; the contract wants
# compact JSON. DjangoJSONEncoder only adds a default(), so the C encoder still runs.
_COMPACT = {"separators": (",", ":")}


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    """A compact JSON response; ``data`` may be any JSON value, lists included."""
    return JsonResponse(
        data, status=status, headers=headers, safe=False, json_dumps_params=_COMPACT
    )


def no_content() -> HttpResponse:
    """204 with an empty body and no Content-Type (there is no content to describe)."""
    response = HttpResponse(status=204)
    del response["Content-Type"]
    return response


def static_target(name: str) -> tuple[Path, str]:
    """The file and Content-Type of /static/<name>; ApiError 404 for any other name."""
    path, content_type = static.path_of(name), static.content_type(name)
    if path is None or content_type is None:
        raise errors.not_found(f"no static file {name!r}")
    return path, content_type


def file_response(name: str) -> FileResponse:
    """/static/<name> as django.http.FileResponse: over WSGI the server sends the file
    (wsgi.file_wrapper). Not django.views.static.serve: that one guesses the Content-Type
    and is documented as unfit for production."""
    path, content_type = static_target(name)
    return FileResponse(path.open("rb"), content_type=content_type)


def error_response(exc: ApiError) -> Any:
    """The shared error shape for an ApiError, with its extra headers."""
    return json_response(exc.as_dict(), status=exc.status, headers=dict(exc.headers))


def method_not_allowed(request: HttpRequest, allowed: Iterable[str]) -> Any:
    """405 for a known path, with the methods it does define in ``Allow``."""
    return error_response(errors.method_not_allowed(request.method or "", request.path, allowed))


# Django's error handlers (handler400/403/404/500 in every URLconf). Django's defaults
# render HTML templates; these answer the shared JSON shape instead.


def bad_request(request: HttpRequest, exception: Exception) -> Any:
    """handler400: SuspiciousOperation/BadRequest; an oversized body is the contract's 413."""
    if isinstance(exception, RequestDataTooBig):
        return error_response(errors.payload_too_large(MAX_BODY_BYTES))
    return error_response(errors.bad_request(f"bad request: {type(exception).__name__}"))


def forbidden(request: HttpRequest, exception: Exception) -> Any:
    """handler403 (nothing in these apps denies access; kept so no HTML can escape)."""
    return json_response({"error": "forbidden", "message": "forbidden"}, status=403)


def not_found(request: HttpRequest, exception: Exception) -> Any:
    """handler404: unknown routes (and any Http404)."""
    return error_response(errors.not_found(f"no route for {request.path}"))


def server_error(request: HttpRequest) -> Any:
    """handler500: an uncaught exception (never client input)."""
    return error_response(errors.internal_error())
