"""`run SCENARIO --resume RUN`: finish an interrupted run without redoing its finished cells.

A cell is finished when it has a row in cells.csv (ok or failed); every other planned cell
runs again, its raw folder cleared first. The repeat columns of cells.csv (intervals,
CV, unstable) are computed again over every row, old and new, when the resumed run ends.
The scenario must be the one the run was started with: any difference in content is
refused, naming the first key that differs, and so are other CPU sets (cpus = "auto" on
another machine).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.errors import ScenarioError
from harness.plan.cells import Cell
from harness.plan.scenario import Scenario
from harness.results.environment import iso, utc_now
from harness.results.files import read_rows


class ResumeError(ScenarioError):
    """A run that cannot be resumed with this scenario file."""


@dataclass(frozen=True)
class Previous:
    run_id: str
    run_dir: Path
    metadata: dict[str, Any]
    rows: list[dict[str, Any]]


def _normal(value: Any) -> Any:
    # The content as metadata.json stores it (dates and the like as strings).
    return json.loads(json.dumps(value, default=str))


def first_difference(old: Any, new: Any, path: str = "") -> str | None:
    """The first key path where two parsed TOML documents differ, with both values."""
    where = path or "(top level)"
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                return f"{sub}: in the run, missing from the file"
            if key not in old:
                return f"{sub}: in the file, missing from the run"
            found = first_difference(old[key], new[key], sub)
            if found:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            found = first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        return None
    if old != new:
        return f"{where}: {old!r} in the run, {new!r} in the file"
    return None


def load_previous(run_dir: Path, scenario: Scenario, cells: list[Cell]) -> Previous:
    """Read an interrupted run; raise ResumeError if it was made from another scenario."""
    try:
        metadata = json.loads((run_dir / "metadata.json").read_text())
    except (OSError, ValueError) as exc:
        raise ResumeError(f"cannot resume {run_dir}: unreadable metadata.json ({exc})") from None
    old = metadata.get("scenario", {}).get("content")
    diff = first_difference(_normal(old), _normal(scenario.content))
    if diff:
        raise ResumeError(
            f"cannot resume {run_dir.name} with {scenario.path}: the scenario differs from "
            f"the one the run started with: {diff}"
        )
    # cpus = "auto" derives the sets from the CPUs this process may use: the same file
    # can mean other sets on another machine or under another affinity.
    sets, now = _normal(metadata.get("cpu_sets")), scenario.cpus.describe()
    if sets is not None and sets != now:
        raise ResumeError(
            f"cannot resume {run_dir.name} with {scenario.path}: the CPU sets differ from "
            f"the run's: {sets} in the run, {now} here"
        )
    # Columns added since the run started stay empty for its earlier cells.
    rows: list[dict[str, Any]] = list(read_rows(run_dir / "cells.csv"))
    planned = {c.id for c in cells}
    # Cold windows are not planned cells: every start of the stacks measures its own.
    strangers = [r["cell"] for r in rows if r["cell"] not in planned and r["cold"] != "true"]
    if strangers:
        raise ResumeError(f"cannot resume {run_dir.name}: cells not in the plan: {strangers}")
    done = {r["cell"] for r in rows}
    for cell in cells:
        # An interrupted cell's folder holds logs and partial records of the lost attempt.
        if cell.id not in done:
            shutil.rmtree(run_dir / "raw" / cell.id, ignore_errors=True)
    metadata.setdefault("resumes", []).append(
        {"at": iso(utc_now()), "cells_done": len(done), "cells_to_run": len(planned - done)}
    )
    metadata["aborted"] = None
    return Previous(metadata["run_id"], run_dir, metadata, rows)
