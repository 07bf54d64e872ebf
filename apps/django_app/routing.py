"""Method dispatch for the plain Django function views.

Django's require_http_methods answers 405 with an empty HTML response, and an ApiError
raised by validation would otherwise become a 500; these wrappers give both the
shared JSON shape. The async variant stays a coroutine function, so Django calls it
on the event loop instead of through a thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

from django.http import HttpRequest
from django.urls import URLPattern, path

from apps.common.errors import ApiError
from apps.django_app.responses import error_response, method_not_allowed

SyncView = Callable[..., Any]
AsyncView = Callable[..., Awaitable[Any]]


def methods(**handlers: SyncView) -> SyncView:
    """A sync view that calls ``handlers[request.method]``, e.g. ``methods(GET=f)``."""
    allowed = tuple(handlers)

    def view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        handler = handlers.get(request.method or "")
        if handler is None:
            return method_not_allowed(request, allowed)
        try:
            return handler(request, *args, **kwargs)
        except ApiError as exc:
            return error_response(exc)

    return view


def async_methods(**handlers: AsyncView) -> AsyncView:
    """The async twin of ``methods``: every handler is an ``async def`` view."""
    allowed = tuple(handlers)

    async def view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        handler = handlers.get(request.method or "")
        if handler is None:
            return method_not_allowed(request, allowed)
        try:
            return await handler(request, *args, **kwargs)
        except ApiError as exc:
            return error_response(exc)

    return view


def contract_urlpatterns(views: ModuleType, dispatch: Callable[..., Any]) -> list[URLPattern]:
    """The contract's routes over a views module (views_sync or views_async).

    ``dispatch`` is ``methods`` or ``async_methods``. Item ids are matched as any
    segment and checked by the view, so every bad id (abc, -1, 0, overflow) is the
    contract's 404, like an unknown id.
    """
    return [
        path("health", dispatch(GET=views.health)),
        path("json", dispatch(GET=views.hello_json)),
        path("plaintext", dispatch(GET=views.plaintext)),
        path("items", dispatch(GET=views.list_items, POST=views.create_item)),
        path(
            "items/<str:item_id_segment>",
            dispatch(GET=views.get_item, PUT=views.replace_item, DELETE=views.delete_item),
        ),
        path("db/query", dispatch(GET=views.db_query)),
        path("io/sleep", dispatch(GET=views.io_sleep)),
        path("io/upstream", dispatch(GET=views.io_upstream)),
        path("cpu", dispatch(GET=views.cpu)),
        path("static/<str:name>", dispatch(GET=views.static_file)),
    ]
