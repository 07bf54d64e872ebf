"""harness.results.files: cells.csv rewritten atomically, run directories, metadata pieces."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import pytest

from harness.core.errors import ResultsError
from harness.results.environment import installed_packages
from harness.results.files import new_run_dir, read_rows, write_cells_csv
from harness.results.format import (
    AGGREGATE_DECLARED,
    CELL_COLUMNS,
    CELL_DECLARED,
    COMPARISON_DECLARED,
)
from harness.results.runs import find_run


def row(cell: str, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict.fromkeys(CELL_COLUMNS, 1)
    values.update(cell=cell, status="ok", keepalive=True, threads=None, p50_ms=1.2345678)
    values.update(changes)
    return values


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_cells_csv_has_the_columns_in_order(tmp_path: Path) -> None:
    path = tmp_path / "cells.csv"
    write_cells_csv(path, [row("a"), row("b", error_rate=math.nan)])
    assert path.read_text().splitlines()[0] == ",".join(CELL_COLUMNS)
    rows = read(path)
    assert [r["cell"] for r in rows] == ["a", "b"]
    assert rows[0]["keepalive"] == "true" and rows[0]["threads"] == ""
    assert rows[0]["p50_ms"] == "1.234568"
    assert rows[1]["error_rate"] == ""
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_failed_rewrite_keeps_the_previous_file_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "cells.csv"
    write_cells_csv(path, [row("a")])
    before = path.read_text()
    broken = row("b")
    del broken["rps"]
    with pytest.raises(ResultsError, match="lacks \\['rps'\\]"):
        write_cells_csv(path, [row("a"), broken])
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cells.csv"]


def test_an_undeclared_column_fails_loudly_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "cells.csv"
    write_cells_csv(path, [row("a")])
    before = path.read_text()
    with pytest.raises(ResultsError, match=r"row 'b': has undeclared columns \['speed'\]"):
        write_cells_csv(path, [row("a"), row("b", speed=3)])
    assert path.read_text() == before


def test_every_column_is_declared_once_with_a_type_and_a_meaning() -> None:
    for declared in (CELL_DECLARED, AGGREGATE_DECLARED, COMPARISON_DECLARED):
        names = [c.name for c in declared]
        assert len(names) == len(set(names))
        assert all(c.type in ("str", "int", "float", "bool") and c.meaning for c in declared)
    assert tuple(c.name for c in CELL_DECLARED) == CELL_COLUMNS


def test_rows_of_an_older_schema_read_under_todays_names(tmp_path: Path) -> None:
    old = tmp_path / "cells.csv"
    old.write_text("cell,repeat,status,rps\na,2,ok,10.5\n")
    (got,) = read_rows(old)
    assert (got["cell"], got["round"], got["rps"], got["cold"]) == ("a", "2", "10.5", "")
    assert set(got) == set(CELL_COLUMNS)


def test_run_dirs_are_unique_and_latest_is_found(tmp_path: Path) -> None:
    first_id, first = new_run_dir(tmp_path, "quick")
    _, second = new_run_dir(tmp_path, "quick")
    assert first != second and first_id.endswith("-quick")
    for d in (first, second):
        (d / "metadata.json").write_text("{}")
    assert find_run("latest", tmp_path) == max(first, second, key=lambda p: p.name)
    assert find_run(str(first), tmp_path) == first
    assert find_run(first_id, tmp_path) == first
    with pytest.raises(ResultsError, match="no run 'nope'"):
        find_run("nope", tmp_path)
    with pytest.raises(ResultsError, match="no runs under"):
        find_run("latest", tmp_path / "empty")


def test_installed_packages_include_the_servers() -> None:
    packages = {k.lower(): v for k, v in installed_packages().items()}
    assert {"gunicorn", "uvicorn", "locust", "psutil"} <= set(packages)
