"""Item operations for the checks: create, read, delete and count, each validated.

The checks run against live servers whose items table holds anything: they only rely on
items they create (ids from AUTOINCREMENT are larger than every existing id) and delete
them again.
"""

from __future__ import annotations

from typing import Any

import httpx

from apps.contract.probe import Session

PAGE = 100


def same_item(s: Session, label: str, sent: dict[str, Any], got: Any) -> bool:
    """Record an ERROR unless got carries exactly the fields that were sent."""
    if not isinstance(got, dict):
        return s.expect(False, f"{label}: item {got!r} is not an object")
    wanted = {
        "name": sent["name"],
        "price": sent["price"],
        "description": sent.get("description"),
    }
    for key, value in wanted.items():
        actual = got.get(key)
        if key == "price":
            # Stored as a float column: 5 may come back as 5.0; both are the number 5.
            equal = isinstance(actual, int | float) and float(actual) == float(value)
        else:
            equal = actual == value
        if not equal:
            return s.expect(False, f"{label}: {key} is {actual!r}, sent {value!r}")
    return True


def post_item(s: Session, item: dict[str, Any]) -> tuple[dict[str, Any], httpx.Response]:
    """POST /items, expecting 201 and the fields that were sent; returns (item, response)."""
    response = s.call("POST", "/items", expect=201, item=item)
    got = s.json(response)
    if not isinstance(got, dict) or not isinstance(got.get("id"), int):
        raise s.fail(f"POST /items answered {got!r}: no integer id")
    same_item(s, "POST /items", item, got)
    return got, response


def create(s: Session, item: dict[str, Any]) -> dict[str, Any]:
    """POST /items and return the created item (deleted by the session's cleanup)."""
    return post_item(s, item)[0]


def create_many(s: Session, count: int, prefix: str) -> list[dict[str, Any]]:
    """Create count items named prefix-0.. in order."""
    return [create(s, {"name": f"{prefix}-{i}", "price": i}) for i in range(count)]


def get_item(s: Session, item_id: int) -> Any:
    """GET /items/{id}, expecting 200."""
    return s.json(s.call("GET", f"/items/{item_id}", expect=200))


def delete(s: Session, item_id: int) -> None:
    """DELETE /items/{id}, expecting 204."""
    s.call("DELETE", f"/items/{item_id}", expect=204)
    s.created.discard(item_id)


def page(s: Session, limit: int, offset: int) -> list[Any]:
    """GET /items?limit=&offset=, expecting 200 and a list."""
    got = s.json(s.call("GET", f"/items?limit={limit}&offset={offset}", expect=200))
    if not isinstance(got, list):
        raise s.fail(f"GET /items answered {got!r}, not a list")
    return got


def ids(items: list[Any]) -> list[Any]:
    """The ids of a page (None for entries that are not items)."""
    return [item.get("id") if isinstance(item, dict) else None for item in items]


def count_items(s: Session) -> int:
    """The number of items, found by paging (the contract has no count route).

    Galloping then bisecting on the offset: O(log n) requests even on a large table.
    """
    size = len(page(s, PAGE, 0))
    if size < PAGE:
        return size
    known = PAGE  # at least this many items exist
    probe = 2 * PAGE
    while (size := len(page(s, PAGE, probe))) == PAGE:
        known, probe = probe + PAGE, probe * 2
    if size:
        return probe + size
    low, high = known, probe  # known <= n <= high
    while True:
        middle = (low + high) // 2
        size = len(page(s, PAGE, middle))
        if 0 < size < PAGE or middle == high:
            return middle + size
        if size == 0:
            high = middle
        else:
            low = middle + PAGE
