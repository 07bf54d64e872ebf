"""The app variants (apps/variants.toml): the one reader of that file.

The harness's registry, the contract tests and the in-process clients all take the
variants from here. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from apps.toml_file import entries, read_toml, require

VARIANTS_PATH = Path(__file__).resolve().parent / "variants.toml"
INTERFACES = ("wsgi", "asgi")


class VariantsError(ValueError):
    """A variants file that is not valid; the message names the file, the entry and the key."""


@dataclass(frozen=True)
class Variant:
    """One implementation of the contract, as declared in apps/variants.toml."""

    id: str
    framework: str
    interface: str
    app: str
    description: str


def _require(table: dict[str, Any], key: str, where: str) -> str:
    return str(require(table, key, str, where, VariantsError))


def parse_variants(data: dict[str, Any], source: str) -> dict[str, Variant]:
    """The variants of a parsed variants file, by id, in file order."""
    variants: dict[str, Variant] = {}
    for vid, table, where in entries(data, source, VariantsError):
        interface = _require(table, "interface", where)
        if interface not in INTERFACES:
            raise VariantsError(f"{where}.interface: unknown interface {interface!r}")
        app = _require(table, "app", where)
        if app.count(":") != 1:
            raise VariantsError(f"{where}.app: expected 'module:callable', got {app!r}")
        variants[vid] = Variant(
            id=vid,
            framework=_require(table, "framework", where),
            interface=interface,
            app=app,
            description=str(table.get("description", "")),
        )
    return variants


@cache
def load_variants(path: Path = VARIANTS_PATH) -> dict[str, Variant]:
    """Every variant of the file, by id, in file order (read once per file)."""
    source = "apps/variants.toml" if path == VARIANTS_PATH else str(path)
    return parse_variants(read_toml(path, VariantsError, source), source)
