"""Fixtures shared across the test folders.

tiny_run: one real run of tests/fixtures/tiny.toml through `python -m harness run` (two
cells, a few seconds each), made once per test session; the harness and report tests
both read it. run_one_cell: a real run of a one-cell scenario, for the tests of one
harness behaviour.

`make test` runs the tests on two pytest-xdist workers. The tests that hold the CPUs as a
run does (marked `cpus`, or using tiny_run) are one unit of work, so they run one after
another on one worker: two runs at once would find the CPUs taken (cpulock)
and measure each other. The other tests run beside them on the other worker, at a lower
CPU priority (nice 10, their children too), so that the runs, whose windows last a set
time, are slowed as little as possible.
"""

from __future__ import annotations

import ast
import contextlib
import csv
import fcntl
import functools
import gzip
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from harness.core.marks import marked_pids
from harness.run.services.binaries import find

REPO_ROOT = Path(__file__).resolve().parent.parent
TINY_SCENARIO = REPO_ROOT / "tests" / "fixtures" / "tiny.toml"


@functools.cache
def cpu_tests(test_file: str) -> frozenset[str]:
    """The test functions of a file that hold the CPUs: marked `cpus` (on the function or
    in the module's pytestmark), or reading the shared tiny run (a real run, made by the
    first test that asks)."""
    tree = ast.parse((REPO_ROOT / test_file).read_text(encoding="utf-8"))

    def marks_cpus(node: ast.AST) -> bool:
        return any(isinstance(n, ast.Attribute) and n.attr == "cpus" for n in ast.walk(node))

    module_wide = any(
        isinstance(n, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in n.targets)
        and marks_cpus(n.value)
        for n in tree.body
    )
    return frozenset(
        n.name
        for n in tree.body
        if isinstance(n, ast.FunctionDef)
        and n.name.startswith("test_")
        and (
            module_wide
            or any(marks_cpus(d) for d in n.decorator_list)
            or any(a.arg == "tiny_run" for a in n.args.args)
        )
    )


def holds_cpus(nodeid: str) -> bool:
    """Whether the test (its pytest node id) holds the CPUs (cpu_tests)."""
    test_file, _, rest = nodeid.partition("::")
    return rest.split("[", 1)[0] in cpu_tests(test_file)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under `--dist loadgroup` (make test), the tests that hold the CPUs are one unit of
    work, run by one worker in order; every other test is a unit of its own.
    (pytest-xdist's own xdist_group marks cannot rename a test under pytest 9, so the
    group is made here.)"""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class CpusScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "cpus" if holds_cpus(nodeid) else nodeid

    return CpusScheduling(config, log)


# Held shared by every test beside the runs, and exclusively by a test marked `alone`: that
# one waits for the test beside it to end, and the next waits for it.
ALONE_LOCK = Path(tempfile.gettempdir()) / "pywebbench-tests-alone.lock"


@pytest.fixture(autouse=True)
def _beside_the_runs(request: pytest.FixtureRequest) -> Iterator[None]:
    """Under pytest-xdist, a test that does not hold the CPUs runs at nice 10; a test
    marked `alone` (its figures are the point, as Locust's CPU share is for generator-bound)
    runs with nothing beside it."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        yield
        return
    with ALONE_LOCK.open("a") as lock:
        if request.node.get_closest_marker("alone"):
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        elif holds_cpus(request.node.nodeid):
            yield
        else:
            fcntl.flock(lock, fcntl.LOCK_SH)
            with _nice(10):
                yield


@contextlib.contextmanager
def _nice(level: int) -> Iterator[None]:
    """This process (and what it starts) at least this nice, for the block."""
    before = os.getpriority(os.PRIO_PROCESS, 0)
    os.setpriority(os.PRIO_PROCESS, 0, max(before, level))
    try:
        yield
    finally:
        # Back to where it was (root may raise it again; anyone else keeps nice 10).
        with contextlib.suppress(PermissionError):
            os.setpriority(os.PRIO_PROCESS, 0, before)


def readme_keys(name: str) -> dict[str, str]:
    """harness/README.md's table of a scenario table's keys ("The `[name]` keys ..."):
    each key with its default column, backquotes removed."""
    readme = (REPO_ROOT / "harness" / "README.md").read_text()
    section = readme.split(f"The `[{name}]` keys", 1)[1].split("\n\n", 2)[1]
    table = {}
    for line in section.splitlines()[2:]:
        key, default, _ = (c.strip() for c in line.strip("|").split("|", 2))
        table[key.strip("`")] = default.strip("`")
    return table


def tiny_auto(tmp_path: Path) -> Path:
    """tests/fixtures/tiny.toml with cpus = "auto" in place of its [cpus] table."""
    table = "[cpus]\nserver = [1]\nload = [0]\nupstream = [0]\n"
    text = TINY_SCENARIO.read_text()
    assert table in text
    path = tmp_path / "tiny-auto.toml"
    path.write_text('cpus = "auto"\n' + text.replace(table, ""))
    return path


def need(*names: str) -> None:
    """The system binaries a test needs: a failure under CI=true (the system packages are
    part of CI), a skip with the reason elsewhere."""
    missing = [n for n in names if find(n) is None]
    if missing:
        lacking(f"missing {', '.join(missing)}: run `make system-deps`")


def lacking(message: str) -> NoReturn:
    """A test's dependency is missing: a failure under CI=true, a skip elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def run_harness(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """`python -m harness ARGS` from the repository root, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class OneCell:
    """A finished real run of a one-cell scenario: its folder, the cells.csv row, the
    cell.json and what the harness printed."""

    run_dir: Path
    row: dict[str, str]
    info: dict[str, Any]
    stdout: str

    def records(self) -> list[dict[str, str]]:
        """The cell's per-request records (requests.csv.gz)."""
        path = self.run_dir / "raw" / self.row["cell"] / "requests.csv.gz"
        with gzip.open(path, "rt", newline="") as f:
            return list(csv.DictReader(f))


def run_one_cell(tmp_path: Path, scenario_text: str, timeout: float = 240) -> OneCell:
    """Run a one-cell scenario for real; the run must succeed, leave no process behind
    and measure its cell (in the rounds design, the cold window before it is left aside)."""
    scenario = tmp_path / "one-cell.toml"
    scenario.write_text(scenario_text)
    results = tmp_path / "results"
    done = run_harness("run", str(scenario), "--results-dir", str(results), timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    assert marked_pids(run_dir.name) == []
    with (run_dir / "cells.csv").open(newline="") as f:
        (row,) = [r for r in csv.DictReader(f) if r["cold"] != "true"]
    info = json.loads((run_dir / "raw" / row["cell"] / "cell.json").read_text())
    assert row["status"] == "ok", info.get("error")
    return OneCell(run_dir, row, info, done.stdout)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run directory of a finished real run of tests/fixtures/tiny.toml."""
    results_dir = tmp_path_factory.mktemp("results")
    done = run_harness("run", str(TINY_SCENARIO), "--results-dir", str(results_dir))
    assert done.returncode == 0, f"harness run failed:\n{done.stdout}\n{done.stderr}"
    runs = [p for p in results_dir.iterdir() if p.is_dir()]
    assert len(runs) == 1, f"expected one run directory in {results_dir}, got {runs}"
    return runs[0]
