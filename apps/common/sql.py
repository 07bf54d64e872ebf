"""Every SQL statement of the suite, written once.

Statements use ``?`` placeholders (SQLite's paramstyle); for PostgreSQL the same text
is rewritten to ``%s`` (psycopg's paramstyle). None of the statements contains a
literal question mark, so the rewrite is exact. Only the DDL differs per dialect.
Django runs these same strings through its own connection (see ``sql(placeholder=)``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

SQLITE = "sqlite"
POSTGRES = "postgres"
DIALECTS = (SQLITE, POSTGRES)

WORLD_ROWS = 10_000
WORLD_SEED = 20200101
ITEM_COLUMNS = "id, name, price, description"

_CREATE_ITEMS = {
    SQLITE: (
        "CREATE TABLE IF NOT EXISTS items ("
        "id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, "
        "price REAL NOT NULL, description TEXT NULL)"
    ),
    POSTGRES: (
        "CREATE TABLE IF NOT EXISTS items ("
        "id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, "
        "price DOUBLE PRECISION NOT NULL, description TEXT NULL)"
    ),
}
_CREATE_WORLD = {
    SQLITE: (
        "CREATE TABLE IF NOT EXISTS world (id INTEGER PRIMARY KEY, randomnumber INTEGER NOT NULL)"
    ),
    POSTGRES: (
        "CREATE TABLE IF NOT EXISTS world (id INTEGER PRIMARY KEY, randomnumber INTEGER NOT NULL)"
    ),
}


@dataclass(frozen=True)
class Queries:
    """The statements of one dialect. Rows come back as tuples in ITEM_COLUMNS order
    (items) or (id, randomnumber) (world)."""

    dialect: str
    placeholder: str
    create_items: str
    create_world: str
    count_world: str
    seed_world: str
    select_world: str
    insert_item: str
    select_item: str
    select_items: str
    update_item: str
    delete_item: str
    count_items: str


# Written with "?" placeholders; see the module docstring.
_SELECT_WORLD = "SELECT id, randomnumber FROM world WHERE id = ?"
_SEED_WORLD = "INSERT INTO world (id, randomnumber) VALUES (?, ?) ON CONFLICT (id) DO NOTHING"
_COUNT_WORLD = "SELECT COUNT(*) FROM world"
_INSERT_ITEM = (
    f"INSERT INTO items (name, price, description) VALUES (?, ?, ?) RETURNING {ITEM_COLUMNS}"
)
_SELECT_ITEM = f"SELECT {ITEM_COLUMNS} FROM items WHERE id = ?"
_SELECT_ITEMS = f"SELECT {ITEM_COLUMNS} FROM items ORDER BY id LIMIT ? OFFSET ?"
_UPDATE_ITEM = (
    f"UPDATE items SET name = ?, price = ?, description = ? WHERE id = ? RETURNING {ITEM_COLUMNS}"
)
_DELETE_ITEM = "DELETE FROM items WHERE id = ? RETURNING id"
_COUNT_ITEMS = "SELECT COUNT(*) FROM items"


def sql(dialect: str, placeholder: str | None = None) -> Queries:
    """The statements for ``dialect`` ("sqlite" or "postgres").

    ``placeholder`` overrides the parameter marker: Django's cursors take ``%s`` on
    every backend, so Django asks for ``sql(dialect, placeholder="%s")``.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}; expected one of {DIALECTS}")
    if placeholder not in (None, "?", "%s"):
        raise ValueError(f"placeholder must be '?' or '%s', got {placeholder!r}")
    mark = placeholder or ("?" if dialect == SQLITE else "%s")

    def p(text: str) -> str:
        return text.replace("?", mark)

    return Queries(
        dialect=dialect,
        placeholder=mark,
        create_items=_CREATE_ITEMS[dialect],
        create_world=_CREATE_WORLD[dialect],
        count_world=_COUNT_WORLD,
        seed_world=p(_SEED_WORLD),
        select_world=p(_SELECT_WORLD),
        insert_item=p(_INSERT_ITEM),
        select_item=p(_SELECT_ITEM),
        select_items=p(_SELECT_ITEMS),
        update_item=p(_UPDATE_ITEM),
        delete_item=p(_DELETE_ITEM),
        count_items=_COUNT_ITEMS,
    )


def world_rows() -> list[tuple[int, int]]:
    """The 10,000 seeded (id, randomnumber) rows; the same on every run."""
    rng = random.Random(WORLD_SEED)
    return [(world_id, rng.randint(1, WORLD_ROWS)) for world_id in range(1, WORLD_ROWS + 1)]


def dialect_of(url: str) -> str:
    """The SQL dialect of a DATABASE_URL."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        return SQLITE
    if scheme in ("postgresql", "postgres"):
        return POSTGRES
    raise ValueError(f"unsupported DATABASE_URL scheme {scheme!r} in {url!r}")


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite:///<path>`` URL (``sqlite:////abs`` is absolute)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ValueError(f"a SQLite DATABASE_URL looks like sqlite:///<path>, got {url!r}")
    path = url[len(prefix) :]
    # Each connection would get its own private in-memory database.
    if path == ":memory:" or path.startswith("file:"):
        raise ValueError(f"the SQLite database must be a file shared by all workers, got {url!r}")
    return path
