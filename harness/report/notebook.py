"""Helpers for the notebooks: pick the run to show and display figures inline."""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.figure import Figure

from harness.errors import ResultsError
from harness.report.charts import to_png
from harness.report.runs import reference_runs, resolve_run, run_dirs

RUN_ENV = "PWB_RUN"


def pick_run(results_root: Path) -> Path:
    """The run named by $PWB_RUN (a run directory or run id), else the newest run under
    results_root, else the newest under results_root/reference; says which on stdout."""
    named = os.environ.get(RUN_ENV, "").strip()
    if named:
        run_dir = resolve_run(named, results_root)
        print(f"run {run_dir.name}: named by ${RUN_ENV}={named}")
        return run_dir
    if run_dirs(results_root):
        run_dir = resolve_run("latest", results_root)
        print(f"run {run_dir.name}: the newest under {results_root} (set ${RUN_ENV} to choose)")
        return run_dir
    refs = reference_runs(results_root)
    if not refs:
        raise ResultsError(f"no runs under {results_root} and no reference run: run a scenario")
    print(f"run {refs[-1].name}: no other run exists, showing the reference run")
    return refs[-1]


def show(fig: Figure) -> None:
    """Display a figure in the notebook as PNG (figures are not tied to pyplot)."""
    from IPython.display import Image, display

    display(Image(data=to_png(fig), format="png"))
