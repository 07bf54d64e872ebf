"""Writing and reading the files of a run directory: metadata.json and cell.json (atomic
JSON), cells.csv (atomic rewrites), new run directories."""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.core.errors import ResultsError, UnwritableError
from harness.results.environment import utc_now
from harness.results.format import CELL_COLUMNS, RENAMED


def new_run_dir(results_dir: Path, scenario_name: str) -> tuple[str, Path]:
    """Create results/<UTC time>-<scenario>; a suffix keeps two runs in one second apart."""
    stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
    results_dir.mkdir(parents=True, exist_ok=True)
    for n in range(100):
        run_id = f"{stamp}-{scenario_name}" + (f"-{n}" if n else "")
        try:
            (results_dir / run_id).mkdir()
        except FileExistsError:
            continue
        return run_id, results_dir / run_id
    raise ResultsError(f"cannot create a run directory for {scenario_name!r} in {results_dir}")


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file that must hold one object (metadata.json, cell.json, claims.json)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResultsError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def finite(value: Any) -> Any:
    """value with every NaN and infinity, at any depth of dicts, lists and tuples, as None:
    JSON has no other way to say "no figure"."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def write_json_atomic(path: Path, data: Any) -> None:
    _replace_with(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


# The errors of a file system that cannot take a write: full, over quota, read-only, or
# closed to this user. The run stops on them (UnwritableError) instead of failing cells.
UNWRITABLE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})
# A run stops before its next window when its folder's file system has less free than this:
# a window's per-request records and logs take a few MiB.
MIN_FREE_BYTES = 32 * 2**20


def free_bytes(path: Path) -> int:
    """Free space an unprivileged writer has on path's file system."""
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def unwritable(path: Path, exc: OSError) -> UnwritableError:
    """The error that stops a run: which file, why, and what is kept."""
    try:
        room = f"; {free_bytes(path.parent if not path.is_dir() else path) / 2**20:.1f} MiB free"
    except OSError:
        room = ""
    return UnwritableError(
        f"cannot write {path}: {exc.strerror or exc}{room}. Every window finished before "
        "is in cells.csv; once there is room, finish the run with --resume"
    )


def check_room(run_dir: Path) -> None:
    """UnwritableError when run_dir's file system is nearly full (MIN_FREE_BYTES)."""
    try:
        free = free_bytes(run_dir)
    except OSError as exc:
        raise unwritable(run_dir, exc) from None
    if free < MIN_FREE_BYTES:
        raise UnwritableError(
            f"the file system of {run_dir} has {free / 2**20:.1f} MiB free, less than the "
            f"{MIN_FREE_BYTES // 2**20} MiB a window needs. Every window finished before is in "
            "cells.csv; once there is room, finish the run with --resume"
        )


def _replace_with(path: Path, text: str) -> None:
    """Write path whole or not at all: a reader (or a resume) never sees half a file."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600 files; results are meant to be read by anyone.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if exc.errno in UNWRITABLE_ERRNOS:
            raise unwritable(path, exc) from None
        raise
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Six decimals keep microsecond latencies (in ms) and small error rates exact enough.
        return "" if math.isnan(value) else repr(round(value, 6))
    return str(value)


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """Rewrite a CSV of these columns atomically (a temp file in the same dir, then
    os.replace). Every row must carry every column and nothing else: a key that is not
    declared (harness/results/format.py) is refused, never dropped."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    declared = set(columns)
    for row in rows:
        missing, unknown = declared - set(row), set(row) - declared
        if missing or unknown:
            which = row.get("cell") or row.get("stack")
            raise ResultsError(
                f"{path.name} row {which!r}: "
                + "; ".join(
                    f"{what} {sorted(keys)}"
                    for what, keys in (("lacks", missing), ("has undeclared columns", unknown))
                    if keys
                )
            )
        writer.writerow([_csv_value(row[c]) for c in columns])
    _replace_with(path, buf.getvalue())


def read_rows(path: Path, columns: Sequence[str] = CELL_COLUMNS) -> list[dict[str, str]]:
    """The rows of a cells.csv of any schema version, under today's column names: a
    renamed column is read under its new name, a missing one is empty."""
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = []
    for row in rows:
        for old, new in RENAMED.items():
            if old in row and new not in row:
                row[new] = row.pop(old)
        out.append({c: row.get(c) or "" for c in columns})
    return out


def write_cells_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rewrite cells.csv with all rows."""
    write_csv(path, CELL_COLUMNS, rows)
