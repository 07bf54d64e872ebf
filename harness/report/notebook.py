"""Helpers for the notebooks: pick the run to show, display figures inline, and execute
the notebooks against a run (`make notebooks`, and the tests)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from harness.core.errors import ResultsError
from harness.report.charts import to_png
from harness.report.view import RunView, open_run
from harness.results.runs import find_run, reference_runs, resolve_run, run_dirs

RUN_ENV = "PWB_RUN"
NOTEBOOKS = ("results", "wsgi_vs_asgi")
# Resolves to the ipykernel of the interpreter that executes (jupyter_client swaps a
# spec's bare "python" for sys.executable): this virtualenv's Python.
KERNEL = "python3"


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


def open_view(root: Path) -> RunView:
    """What a notebook starts with: pandas' tables shown wide, and the run to show
    (pick_run under root/results) opened."""
    import pandas as pd

    pd.set_option("display.max_columns", 40)
    pd.set_option("display.width", 200)
    return open_run(pick_run(root / "results"))


def show(fig: Figure) -> None:
    """Display a figure in the notebook as PNG (figures are not tied to pyplot)."""
    from IPython.display import Image, display

    display(Image(data=to_png(fig), format="png"))


def execute_notebook(path: Path, run: str | None) -> Any:
    """Execute the notebook at path (cwd: its folder) showing run (a run dir or id, passed
    as $PWB_RUN; None: the notebook's own choice) and return it with its outputs; raises
    on any cell error."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    saved = os.environ.get(RUN_ENV)
    if run is not None:
        os.environ[RUN_ENV] = run
    try:
        NotebookClient(
            nb, kernel_name=KERNEL, timeout=600, resources={"metadata": {"path": str(path.parent)}}
        ).execute()
    finally:
        if saved is None:
            os.environ.pop(RUN_ENV, None)
        else:
            os.environ[RUN_ENV] = saved
    return nb


def refresh_notebooks(folder: Path, run: str) -> list[Path]:
    """Execute every notebook in folder against run (a run id under results/, or a path)
    and save it with its outputs."""
    import nbformat

    written = []
    for name in NOTEBOOKS:
        path = folder / f"{name}.ipynb"
        nbformat.write(execute_notebook(path, run), path)
        written.append(path)
    return written


def main() -> None:
    """`python -m harness.report.notebook RUN`: refresh notebooks/ with RUN's outputs."""
    import sys

    from harness.core.paths import REPO_ROOT

    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m harness.report.notebook RUN (a run dir or id)")
    # The run as given (e.g. "reference") is what the notebooks print: no local paths in
    # committed outputs. Resolved first, so a wrong name fails before any kernel starts.
    run = sys.argv[1]
    # The notebooks are committed with a run's outputs: a fresh clone's `make notebooks`
    # must not rewrite them from a reference run nobody named.
    try:
        run_dir = find_run(run, REPO_ROOT / "results", writing=True)
    except ResultsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    for path in refresh_notebooks(REPO_ROOT / "notebooks", run):
        print(f"executed {path.relative_to(REPO_ROOT)} against {run_dir}")


if __name__ == "__main__":
    main()
