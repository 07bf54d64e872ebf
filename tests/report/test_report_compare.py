"""`compare RUN_A RUN_B` and `export RUN`: real commands on synthetic runs and on the
committed reference run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from harness.report.compare import EXPORT_FIELDS, EXPORT_FORMAT
from tests.conftest import REPO_ROOT, run_harness

from .synthetic import DEFAULT_STACKS, SynthSpec, build_run

FASTER = DEFAULT_STACKS[4].id  # fastapi-async@uvicorn-w2, 1.3x in run B
LEVEL = ("json", "16 users")


def _spec(run_id: str, faster: float = 1.0) -> SynthSpec:
    stacks = tuple(
        dataclasses.replace(s, capacity_rps=s.capacity_rps * faster) if s.id == FASTER else s
        for s in DEFAULT_STACKS
    )
    return SynthSpec(stacks=stacks, repeats=6, run_id=run_id)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("compare")
    a = build_run(root / "a", _spec("20261121T061500Z-a"))
    b = build_run(root / "b", _spec("20261121T071500Z-b", faster=1.3))
    return a, b


def _changes(a: Path, b: Path, *extra: str) -> list[dict[str, object]]:
    done = run_harness("compare", str(a), str(b), "--json", *extra)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["format"] == EXPORT_FORMAT
    changes: list[dict[str, object]] = data["changes"]
    return changes


def test_compare_marks_the_stack_that_changed_and_only_it(two_runs: tuple[Path, Path]) -> None:
    a, b = two_runs
    changes = {(c["mix"], c["level"], c["stack"]): c for c in _changes(a, b)}
    faster = changes[(*LEVEL, FASTER)]
    assert faster["decided"] and faster["direction"] == "B faster"
    # The synthetic model's requests/s at 16 users grows less than its capacity does.
    assert 1.03 < faster["low"] <= faster["ratio"] <= faster["high"]
    assert faster["ratio"] == pytest.approx(faster["b_rps"] / faster["a_rps"], rel=0.02)
    assert faster["confidence"] == pytest.approx(1 - 2 * 19 / 924)  # 6 rounds each
    wrongly = [k for k, c in changes.items() if c["decided"] and k[2] != FASTER]
    assert wrongly == []


def test_compare_prints_a_table_and_a_line_per_mix(two_runs: tuple[Path, Path]) -> None:
    a, b = two_runs
    done = run_harness("compare", str(a), str(b))
    assert done.returncode == 0, done.stderr
    assert "json: " in done.stdout and "B faster in 1" in done.stdout
    row = next(line for line in done.stdout.splitlines() if FASTER in line and "16 users" in line)
    assert "B faster" in row and "95.9%" in row
    markdown = run_harness("compare", str(a), str(b), "--markdown").stdout
    assert "| mix | level | stack |" in markdown


def test_compare_refuses_runs_of_another_machine_unless_forced(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    a, _b = two_runs
    other = build_run(tmp_path, _spec("20261121T081500Z-other"))
    meta = json.loads((other / "metadata.json").read_text())
    meta["python"]["version"] = "3.13.1"
    meta["cpu_sets"] = {"server": [2, 3], "load": [0]}
    (other / "metadata.json").write_text(json.dumps(meta))
    done = run_harness("compare", str(a), str(other))
    assert done.returncode == 2
    assert 'Python: "3.11.2" in A, "3.13.1" in B' in done.stderr
    assert "CPU sets:" in done.stderr and "--force" in done.stderr
    forced = run_harness("compare", str(a), str(other), "--force")
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.startswith("forced: Python")


def test_export_json_is_the_summary_with_typed_fields(two_runs: tuple[Path, Path]) -> None:
    a, _b = two_runs
    done = run_harness("export", str(a), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["format"], data["run_id"]) == (EXPORT_FORMAT, "20261121T061500Z-a")
    stacks = data["stacks"]
    assert {tuple(s) for s in stacks} == {("mix", *(f for f, _, _ in EXPORT_FIELDS))}
    json_mix = sorted((s for s in stacks if s["mix"] == "json"), key=lambda s: s["rank"] or 99)
    assert [s["rank"] for s in json_mix] == [1, 2, 3, 4, 5, 6]
    assert json_mix[0]["stack"] == FASTER and json_mix[0]["tied_with_leader"] is False
    failed = next(s for s in stacks if s["mix"] == "io" and s["status"] == "failed")
    assert failed["rank"] is None and failed["flags"] == ["failed"] and failed["rps"] is None


def test_export_needs_a_format() -> None:
    done = run_harness("export", "reference")
    assert done.returncode == 2 and "--json --markdown" in done.stderr


def test_the_readme_tables_are_the_reference_run_exported() -> None:
    done = run_harness("export", "reference", "--markdown")
    assert done.returncode == 0, done.stderr
    exported = {line for line in done.stdout.splitlines() if line.startswith("| ")}
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Results at a glance")
    section = readme[start : readme.index("\n## ", start + 1)]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    assert len(rows) >= 36
    assert [r for r in rows if r not in exported] == []
