"""Fixtures shared across the test folders.

tiny_run: one real run of tests/fixtures/tiny.toml through `python -m harness run` (two
cells, a few seconds each), made once per test session; the harness and report tests
both read it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
TINY_SCENARIO = REPO_ROOT / "tests" / "fixtures" / "tiny.toml"


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


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run directory of a finished real run of tests/fixtures/tiny.toml."""
    results_dir = tmp_path_factory.mktemp("results")
    done = run_harness("run", str(TINY_SCENARIO), "--results-dir", str(results_dir))
    assert done.returncode == 0, f"harness run failed:\n{done.stdout}\n{done.stderr}"
    runs = [p for p in results_dir.iterdir() if p.is_dir()]
    assert len(runs) == 1, f"expected one run directory in {results_dir}, got {runs}"
    return runs[0]
