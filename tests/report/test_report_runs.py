"""harness.results.runs: resolving 'latest', run ids and paths."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from harness.core import paths
from harness.core.errors import ResultsError
from harness.report import notebook
from harness.results.runs import find_run, resolve_run


def _run(root: Path, name: str, started_at: str | None) -> Path:
    path = root / name
    path.mkdir(parents=True)
    meta = {"run_id": name} | ({"started_at": started_at} if started_at else {})
    (path / "metadata.json").write_text(json.dumps(meta))
    return path


def test_latest_is_newest_by_started_at_not_by_name(tmp_path: Path) -> None:
    _run(tmp_path, "20260101T000000Z-b", "2026-01-01T00:00:00Z")
    newer = _run(tmp_path, "20250101T000000Z-a", "2026-06-01T00:00:00Z")
    (tmp_path / "not-a-run").mkdir()
    assert resolve_run("latest", tmp_path) == newer


def test_latest_falls_back_to_the_run_id_time(tmp_path: Path) -> None:
    _run(tmp_path, "20260101T000000Z-x", None)
    newer = _run(tmp_path, "20260301T000000Z-x", None)
    assert resolve_run("latest", tmp_path) == newer


def test_reference_only_when_no_other_run(tmp_path: Path) -> None:
    ref = _run(tmp_path / "reference", "20240101T000000Z-ref", "2024-01-01T00:00:00Z")
    assert resolve_run("latest", tmp_path) == ref
    other = _run(tmp_path, "20230101T000000Z-old", "2023-01-01T00:00:00Z")
    assert resolve_run("latest", tmp_path) == other


def test_run_id_and_path(tmp_path: Path) -> None:
    run = _run(tmp_path, "20260101T000000Z-q", None)
    assert resolve_run("20260101T000000Z-q", tmp_path) == run
    assert resolve_run(str(run), tmp_path / "elsewhere") == run


def test_unknown_run_and_empty_root(tmp_path: Path) -> None:
    _run(tmp_path, "20260101T000000Z-q", None)
    with pytest.raises(ResultsError, match=r"no run 'nope'.*20260101T000000Z-q"):
        resolve_run("nope", tmp_path)
    with pytest.raises(ResultsError, match="no runs under"):
        resolve_run("latest", tmp_path / "empty")


def test_latest_never_makes_the_reference_a_write_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fresh clone holds only the committed reference: reading "latest" may fall back to
    it, rewriting it (report, notebooks) only when it is named."""
    results = tmp_path / "results"
    reference = _run(results, "reference", "2026-01-01T00:00:00Z")
    assert find_run("latest", results) == reference
    with pytest.raises(ResultsError, match=r"committed reference.*make bench"):
        find_run("latest", results, writing=True)
    assert find_run("reference", results, writing=True) == reference
    # Another committed run (results/reference-front) is read when named, never "latest".
    front = _run(results, "reference-front", "2026-01-15T00:00:00Z")
    assert find_run("latest", results) == reference
    assert find_run("reference-front", results, writing=True) == front
    mine = _run(results, "20260201T000000Z-mine", "2026-02-01T00:00:00Z")
    assert find_run("latest", results, writing=True) == mine

    # `make notebooks` on a fresh clone: one line and exit 2, before any kernel starts.
    mine.joinpath("metadata.json").unlink()
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(sys, "argv", ["notebook", "latest"])
    with pytest.raises(SystemExit) as stopped:
        notebook.main()
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no run under") and len(err.splitlines()) == 1
