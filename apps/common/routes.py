"""The framework-free apps' routing (raw_wsgi and raw_asgi): path -> method -> the name of
the handler each app defines, and the one resolver both use, so that the two baselines
route alike."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apps.common import errors, static, validation

PATHS: dict[str, dict[str, str]] = {
    "/health": {"GET": "health"},
    "/json": {"GET": "hello_json"},
    "/plaintext": {"GET": "plaintext"},
    "/items": {"GET": "list_items", "POST": "create_item"},
    "/db/query": {"GET": "db_query"},
    "/io/sleep": {"GET": "io_sleep"},
    "/io/upstream": {"GET": "io_upstream"},
    "/cpu": {"GET": "cpu"},
}
# /items/{id}: method -> handler name.
ITEM_PREFIX = "/items/"
ITEM_METHODS: dict[str, str] = {"GET": "get_item", "PUT": "replace_item", "DELETE": "delete_item"}


# GET /static/{name}: the handler's name.
STATIC_HANDLER = "static_file"


@dataclass(frozen=True)
class Router:
    """One app's handlers, bound to the route table."""

    paths: dict[str, dict[str, Any]]
    items: dict[str, Any]
    static_file: Any

    def resolve(self, method: str, path: str) -> tuple[Any, tuple[Any, ...]]:
        """The handler for a request and the arguments it takes after the request itself:
        (item id,) under /items/, (file name,) under /static/, () elsewhere. Raises the
        contract's ApiError (405 with Allow, or 404) where no handler fits."""
        methods = self.paths.get(path)
        if methods is not None:
            handler = methods.get(method)
            if handler is None:
                raise errors.method_not_allowed(method, path, methods)
            return handler, ()
        if path.startswith(ITEM_PREFIX):
            item_handler = self.items.get(method)
            if item_handler is None:
                raise errors.method_not_allowed(method, path, self.items)
            item_id = validation.parse_item_id(path[len(ITEM_PREFIX) :])
            if item_id is None:
                raise errors.not_found(f"no item at {path}")
            return item_handler, (item_id,)
        if path.startswith(static.STATIC_PREFIX):
            if method != "GET":
                raise errors.method_not_allowed(method, path, ("GET",))
            return self.static_file, (path[len(static.STATIC_PREFIX) :],)
        raise errors.not_found(f"no route for {path}")


def bind(handlers: Mapping[str, Any]) -> Router:
    """The router with each handler name looked up in handlers (an app's globals())."""
    paths = {
        path: {m: handlers[name] for m, name in methods.items()} for path, methods in PATHS.items()
    }
    items = {m: handlers[name] for m, name in ITEM_METHODS.items()}
    return Router(paths, items, handlers[STATIC_HANDLER])
