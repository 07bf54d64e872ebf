"""The suite's SQL, run through Django's own database connections (not the ORM).

The statements are apps.common.sql's, byte for byte, with Django's ``%s`` parameter
marker (Django's SQLite cursor rewrites it to ``?``). Writes follow apps.common.db:
SQLite inside BEGIN IMMEDIATE (atomic() with transaction_mode IMMEDIATE), PostgreSQL
as one autocommit statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from django.db import connections, transaction

from apps.common.db import Row
from apps.common.sql import POSTGRES, SQLITE, Queries, sql
from apps.common.store import item_from_row, random_world_id, world_from_row
from apps.common.validation import ItemIn

# Django's connection.vendor -> the suite's SQL dialect.
_DIALECT_OF_VENDOR = {"sqlite": SQLITE, "postgresql": POSTGRES}


class DjangoStore:
    """The store operations over ``django.db.connections[alias]``.

    Sync code: the async views call it through sync_to_async.
    """

    def __init__(self, alias: str) -> None:
        self.alias = alias
        vendor = connections[alias].vendor
        if vendor not in _DIALECT_OF_VENDOR:
            raise ValueError(f"database alias {alias!r}: unsupported vendor {vendor!r}")
        self.queries: Queries = sql(_DIALECT_OF_VENDOR[vendor], placeholder="%s")

    def _write_transaction(self) -> AbstractContextManager[Any]:
        if self.queries.dialect == SQLITE:
            return transaction.atomic(using=self.alias)
        return nullcontext()

    def _read(self, query: str, params: Sequence[Any]) -> list[Row]:
        with connections[self.alias].cursor() as cursor:
            cursor.execute(query, params)
            return list(cursor.fetchall())

    def _write(self, query: str, params: Sequence[Any]) -> list[Row]:
        with self._write_transaction():
            return self._read(query, params)

    def create_item(self, item: ItemIn) -> dict[str, Any]:
        """Insert an item; the stored row."""
        rows = self._write(self.queries.insert_item, (item.name, item.price, item.description))
        return item_from_row(rows[0])

    def get_item(self, item_id: int) -> dict[str, Any] | None:
        """One item, or None."""
        rows = self._read(self.queries.select_item, (item_id,))
        return item_from_row(rows[0]) if rows else None

    def list_items(self, limit: int, offset: int) -> list[dict[str, Any]]:
        """A page of items by ascending id."""
        return [
            item_from_row(row) for row in self._read(self.queries.select_items, (limit, offset))
        ]

    def replace_item(self, item_id: int, item: ItemIn) -> dict[str, Any] | None:
        """Overwrite every field of an item; the new row, or None if there is none."""
        params = (item.name, item.price, item.description, item_id)
        rows = self._write(self.queries.update_item, params)
        return item_from_row(rows[0]) if rows else None

    def delete_item(self, item_id: int) -> bool:
        """Delete an item; whether it existed."""
        return bool(self._write(self.queries.delete_item, (item_id,)))

    def random_world(self) -> dict[str, int]:
        """The world row of a random id in 1..10000."""
        rows = self._read(self.queries.select_world, (random_world_id(),))
        if not rows:
            raise LookupError("table world is not seeded; run prepare_database first")
        return world_from_row(rows[0])
