"""Finding run directories: 'latest', a run id, or a path."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from harness.core.errors import ResultsError
from harness.core.paths import REPO_ROOT

DEFAULT_RESULTS_DIR = REPO_ROOT / "results"
REFERENCE = "reference"
_ID_TIME = "%Y%m%dT%H%M%SZ"


def is_run_dir(path: Path) -> bool:
    """A directory the harness wrote a run into (it has metadata.json or cells.csv)."""
    return path.is_dir() and ((path / "metadata.json").exists() or (path / "cells.csv").exists())


def _started(path: Path) -> datetime:
    # metadata started_at first; a run id starts with its UTC start time otherwise.
    try:
        meta = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
        text = str(meta["started_at"]).replace("Z", "+00:00")
        stamp = datetime.fromisoformat(text)
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        return datetime.strptime(path.name.split("-")[0], _ID_TIME).replace(tzinfo=UTC)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def run_dirs(root: Path) -> list[Path]:
    """Run directories directly under root, oldest first. The committed reference runs
    (results/reference, results/reference-front, ...) are not among them: they are read
    when named, and 'latest' falls back to results/reference only when no run exists."""
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if not p.name.startswith(REFERENCE) and is_run_dir(p)]
    return sorted(runs, key=lambda p: (_started(p), p.name))


def reference_runs(results_root: Path) -> list[Path]:
    """Runs kept under results/reference/ (itself a run, or a folder of runs), oldest first."""
    ref = results_root / REFERENCE
    return [ref] if is_run_dir(ref) else run_dirs(ref)


def resolve_run(arg: str, results_root: Path) -> Path:
    """The run directory named by 'latest', a run id under results_root, or a path.

    'latest' is the newest run by metadata started_at (run id as tie-break and fallback);
    results/reference/ is used only when no other run exists.
    """
    results_root = Path(results_root)
    if arg == "latest":
        runs = run_dirs(results_root) or reference_runs(results_root)
        if not runs:
            raise ResultsError(f"no runs under {results_root}: run a scenario first")
        return runs[-1]
    for candidate in (Path(arg), results_root / arg, results_root / REFERENCE / arg):
        if is_run_dir(candidate):
            return candidate
    known = [p.name for p in run_dirs(results_root)][-5:]
    hint = f" (newest: {', '.join(known)})" if known else ""
    raise ResultsError(
        f"no run {arg!r}: not a run directory nor a run id under {results_root}{hint}"
    )


def find_run(spec: str, results_dir: Path = DEFAULT_RESULTS_DIR, *, writing: bool = False) -> Path:
    """A run directory from a path, a run id under results_dir, or "latest". writing: the
    caller rewrites files in it, and "latest" must not fall back to the committed reference
    run (a fresh clone's `make report` would rewrite it); naming it is fine."""
    run_dir = resolve_run(spec, results_dir)
    if (
        writing
        and spec == "latest"
        and run_dir.resolve() in {p.resolve() for p in reference_runs(Path(results_dir))}
    ):
        raise ResultsError(
            f"no run under {results_dir} but the committed reference ({run_dir.name}): "
            "run a scenario first (make bench), or name the reference to rebuild its "
            "report on purpose (make report RUN=reference)"
        )
    return run_dir
