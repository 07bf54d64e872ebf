"""Reading a TOML file of the suite (variants, task kinds, servers, scenarios) with one
error for each way it can fail, naming the file. Standard library only."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def read_toml(path: Path, error: type[Exception], source: str | None = None) -> dict[str, Any]:
    """The parsed file; `error` (with the file's name, `source` or the path) when it cannot
    be read or is not TOML."""
    name = source or str(path)
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise error(f"{name}: cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{name}: invalid TOML: {exc}") from exc


def require(table: dict[str, Any], key: str, kind: type, where: str, error: type[Exception]) -> Any:
    """table[key], which must be there and of `kind` (a bool is no int here); `error`
    naming `where` and the key otherwise."""
    if key not in table:
        raise error(f"{where}: missing key '{key}'")
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise error(f"{where}.{key}: expected {kind.__name__}, got {value!r}")
    return value


def entries(
    data: dict[str, Any], source: str, error: type[Exception]
) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(id, table, where) for each top-level entry of a parsed file whose entries are all
    tables (`[id]`); `error` naming the entry for one that is not."""
    for key, table in data.items():
        where = f"{source}: [{key}]"
        if not isinstance(table, dict):
            raise error(f"{where}: expected a table, got {table!r}")
        yield key, table, where
