"""The framework-free apps' route table (raw_wsgi and raw_asgi): path -> method -> the
name of the handler each app defines, so that the two baselines route alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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


def bind(handlers: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The route tables with each handler name looked up in handlers (an app's globals())."""
    routes = {
        path: {m: handlers[name] for m, name in methods.items()} for path, methods in PATHS.items()
    }
    return routes, {m: handlers[name] for m, name in ITEM_METHODS.items()}
