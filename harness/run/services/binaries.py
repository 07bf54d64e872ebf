"""Finding the system binaries the heavier scenarios use, and refusing early without them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from harness.core.errors import HarnessError

# Debian installs the server binaries outside PATH, per major version.
PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
INSTALL_HINT = "install them with `make system-deps` (Debian packages postgresql pgbouncer nginx)"


class PreflightError(HarnessError):
    """A binary a scenario needs is missing; nothing has been started."""


def pg_bin_dir() -> Path | None:
    """The newest PostgreSQL bin directory holding initdb and postgres (or PG_BIN env)."""
    explicit = os.environ.get("PG_BIN")
    candidates = [Path(explicit)] if explicit else []
    found = sorted(
        Path("/").glob(PG_BIN_GLOB.lstrip("/")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    candidates += reversed(found)
    for d in candidates:
        if (d / "initdb").is_file() and (d / "postgres").is_file():
            return d
    return None


def find(name: str) -> str | None:
    """Where a binary is: PATH, then /usr/sbin (outside a non-root PATH), then pg_bin_dir."""
    hit = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if hit:
        return hit
    pg = pg_bin_dir()
    if pg is not None and (pg / name).is_file():
        return str(pg / name)
    return None


def require(names: Iterable[str], why: str) -> dict[str, str]:
    """Paths of every binary named, or PreflightError naming the missing ones."""
    paths = {n: find(n) for n in names}
    missing = [n for n, p in paths.items() if p is None]
    if missing:
        raise PreflightError(f"{why} needs {', '.join(missing)}, not found: {INSTALL_HINT}")
    return {n: p for n, p in paths.items() if p is not None}
