"""The notebooks: in sync with their jupytext .py twins, committed with the outputs of the
reference run, and executed end to end with nbclient on the reference run, a tiny real
run and a synthetic run."""

from __future__ import annotations

import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

from harness.report.notebook import KERNEL, NOTEBOOKS, execute_notebook

REPO = Path(__file__).resolve().parents[2]
FOLDER = REPO / "notebooks"
NAMES = NOTEBOOKS

pytestmark = pytest.mark.slow


def _stream_text(nb: nbformat.NotebookNode) -> str:
    return "".join(
        out.get("text", "")
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
    )


def _png_count(nb: nbformat.NotebookNode) -> int:
    return sum(
        "image/png" in out.get("data", {}) for cell in nb.cells for out in cell.get("outputs", [])
    )


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_matches_its_py_twin_and_shows_the_reference_run(name: str) -> None:
    paired = jupytext.read(FOLDER / f"{name}.py")
    committed = nbformat.read(FOLDER / f"{name}.ipynb", as_version=4)
    assert [c.source for c in committed.cells] == [c.source for c in paired.cells], (
        f"notebooks/{name}.ipynb is stale: run .venv/bin/jupytext --to ipynb notebooks/{name}.py"
        " then make notebooks RUN=reference"
    )
    assert committed.metadata["kernelspec"]["name"] == KERNEL
    # Newcomers see results without running anything: the outputs of results/reference/.
    code = [c for c in committed.cells if c.cell_type == "code"]
    assert "run reference: named by $PWB_RUN=reference" in _stream_text(committed), (
        "run make notebooks RUN=reference"
    )
    assert _png_count(committed) > 0
    assert not [
        out for cell in code for out in cell.get("outputs", []) if out.get("output_type") == "error"
    ]


def test_kernel_is_this_virtualenvs_python(tmp_path: Path) -> None:
    probe = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("import sys; print(sys.prefix)")]
    )
    path = tmp_path / "probe.ipynb"
    nbformat.write(probe, path)
    out = _stream_text(execute_notebook(path, None)).strip()
    assert Path(out).resolve() == Path(sys.prefix).resolve()


def _run_notebook(name: str, run: Path | str) -> nbformat.NotebookNode:
    return execute_notebook(FOLDER / f"{name}.ipynb", str(run))


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_on_the_reference_run(name: str) -> None:
    assert (REPO / "results" / "reference" / "cells.csv").is_file()
    nb = _run_notebook(name, "reference")
    assert "run reference: named by $PWB_RUN=reference" in _stream_text(nb)
    assert _png_count(nb) > 0


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_on_the_tiny_real_run(name: str, tiny_run: Path) -> None:
    nb = _run_notebook(name, tiny_run)
    text = _stream_text(nb)
    assert f"run {tiny_run.name}: named by $PWB_RUN" in text
    assert _png_count(nb) > 0
    if name == "wsgi_vs_asgi":
        # the tiny scenario has one light mix and one worker count: those sections say so
        assert "Skipped io-bound: this run has no io-bound mix" in text
        assert "Skipped: no stack family ran at more than one worker count" in text


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_on_a_run_with_failures_and_io(name: str, synthetic_run: Path) -> None:
    nb = _run_notebook(name, synthetic_run)
    text = _stream_text(nb)
    if name == "wsgi_vs_asgi":
        assert "io-bound mix io" in text
        assert "Skipped io-bound" not in text
        assert "Skipped cpu-bound: this run has no cpu-bound mix" in text
        assert "Skipped: no stack family" not in text
        assert _png_count(nb) >= 3 + 2 + 2  # io charts, scaling per mix, efficiency per mix


def test_wsgi_vs_asgi_walks_through_a_claims_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.claims.run import run_claims
    from tests.harness.claims.test_claims_run import GOOD, FakeRunner, two_claims

    runner = FakeRunner({"one": GOOD, "two": RuntimeError("not reached")})
    out_dir = run_claims(two_claims(), tmp_path, only=["one"], out=lambda _: None, run=runner)
    monkeypatch.setenv("PWB_CLAIMS", str(out_dir))
    nb = _run_notebook("wsgi_vs_asgi", "reference")
    text = _stream_text(nb)
    assert f"claims {out_dir.name}: " in text
    assert "one: SUPPORTED: fast beats slow five times" in text
    html = "".join(
        str(out.get("data", {}).get("text/html", ""))
        for cell in nb.cells
        for out in cell.get("outputs", [])
    )
    assert "slow is about 20" in html and "supported" in html
