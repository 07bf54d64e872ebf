"""The notebooks: in sync with their jupytext .py twins, committed without outputs, and
executed end to end with nbclient on a real run and on a synthetic run."""

from __future__ import annotations

import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
NAMES = ("results", "wsgi_vs_asgi")
KERNEL = "python3"

pytestmark = pytest.mark.slow


def _execute(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    # kernel "python3" resolves to the ipykernel of the interpreter running the tests
    # (jupyter_client swaps a spec's bare "python" for sys.executable); the probe test
    # below checks that it really is this virtualenv's Python.
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=600,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})  # fmt: skip
    client.execute()
    return nb


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
def test_committed_notebook_matches_its_py_twin_and_has_no_outputs(name: str) -> None:
    paired = jupytext.read(NOTEBOOKS / f"{name}.py")
    committed = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert [c.source for c in committed.cells] == [c.source for c in paired.cells], (
        f"notebooks/{name}.ipynb is stale: run .venv/bin/jupytext --to ipynb notebooks/{name}.py"
    )
    assert all(not c.get("outputs") for c in committed.cells if c.cell_type == "code")
    assert committed.metadata["kernelspec"]["name"] == KERNEL


def test_kernel_is_this_virtualenvs_python() -> None:
    probe = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("import sys; print(sys.prefix)")]
    )
    out = _stream_text(_execute(probe)).strip()
    assert Path(out).resolve() == Path(sys.prefix).resolve()


def _run_notebook(
    name: str, run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> nbformat.NotebookNode:
    monkeypatch.setenv("PWB_RUN", str(run_dir))
    return _execute(nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4))


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_on_the_tiny_real_run(
    name: str, tiny_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = _run_notebook(name, tiny_run, monkeypatch)
    text = _stream_text(nb)
    assert f"run {tiny_run.name}: named by $PWB_RUN" in text
    assert _png_count(nb) > 0
    if name == "wsgi_vs_asgi":
        # the tiny scenario has one light mix and one worker count: those sections say so
        assert "Skipped io-bound: this run has no io-bound mix" in text
        assert "Skipped: no stack family ran at more than one worker count" in text


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_on_a_run_with_failures_and_io(
    name: str, synthetic_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = _run_notebook(name, synthetic_run, monkeypatch)
    text = _stream_text(nb)
    if name == "wsgi_vs_asgi":
        assert "io-bound mix io" in text
        assert "Skipped io-bound" not in text
        assert "Skipped cpu-bound: this run has no cpu-bound mix" in text
        assert "Skipped: no stack family" not in text
        assert _png_count(nb) >= 3 + 2 + 2  # io charts, scaling per mix, efficiency per mix
