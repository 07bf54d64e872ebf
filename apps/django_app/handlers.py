"""Django's WSGI/ASGI handlers, each bound to one variant's URLconf.

Django's BaseHandler.resolve_request() resolves against ``request.urlconf`` when a
request has one (the documented per-request URLconf hook), so three handlers can serve
three route sets in one process under one settings module.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest

from apps.common.errors import BAD_REQUEST, CODE_FOR_STATUS, ApiError
from apps.django_app.responses import error_response


def _with_content_length(response: Any) -> Any:
    # What CommonMiddleware would add; settings.MIDDLEWARE is empty. Without it
    # gunicorn and uvicorn fall back to chunked encoding (or to closing the
    # connection for HTTP/1.0 clients). A 204 must not carry one (RFC 9110 8.6).
    if (
        not response.streaming
        and response.status_code != 204
        and not response.has_header("Content-Length")
    ):
        response.headers["Content-Length"] = str(len(response.content))
    return response


class VariantWSGIHandler(WSGIHandler):
    """A WSGIHandler that serves ``urlconf`` instead of settings.ROOT_URLCONF."""

    def __init__(self, urlconf: str) -> None:
        super().__init__()
        # Imported now, so a broken URLconf fails at startup, not on the first request.
        import_module(urlconf)
        self.urlconf = urlconf

    def get_response(self, request: HttpRequest) -> Any:
        request.urlconf = self.urlconf
        return _with_content_length(super().get_response(request))


class VariantASGIHandler(ASGIHandler):
    """An ASGIHandler that serves ``urlconf`` instead of settings.ROOT_URLCONF.

    Like Django's own handler it refuses the ``lifespan`` scope (ValueError): the
    servers treat that as "lifespan unsupported" (uvicorn's lifespan=auto, hypercorn,
    granian) and serve HTTP regardless. The app needs no startup work: connections
    open lazily on first use.
    """

    def __init__(self, urlconf: str) -> None:
        super().__init__()
        # Imported now, so a broken URLconf fails at startup, not on the first request.
        import_module(urlconf)
        self.urlconf = urlconf

    async def get_response_async(self, request: HttpRequest) -> Any:
        request.urlconf = self.urlconf
        return _with_content_length(await super().get_response_async(request))

    def create_request(self, scope: dict[str, Any], body_file: Any) -> tuple[Any, Any]:
        """Django's request construction; its plain-text 400/413 answers (undecodable
        query string, oversized body) are given the shared error shape."""
        request, error = super().create_request(scope, body_file)
        if error is not None:
            code = CODE_FOR_STATUS.get(error.status_code, BAD_REQUEST)
            exc = ApiError(error.status_code, code, f"request refused: {error.reason_phrase}")
            error = _with_content_length(error_response(exc))
        return request, error
