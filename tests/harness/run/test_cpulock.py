"""The CPU lock (harness/run/cpulock.py) with real processes holding it: a live holder
refuses others on shared CPUs and names itself, disjoint CPUs pass, a killed holder's
presence does not count, and holdings nest within one process."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.run import cpulock

HOLDER = """
with cpulock.holding([int(c) for c in sys.argv[1].split(",")], sys.argv[2]):
    print("held", flush=True)
    time.sleep(60)
"""
REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(cpulock, "LOCK_DIR", tmp_path / "locks")
    return tmp_path / "locks"


def _script(lock_dir: Path, body: str) -> str:
    """A python -c program using the lock folder of the test."""
    return (
        "import sys, time\nfrom pathlib import Path\nfrom harness.run import cpulock\n"
        f"cpulock.LOCK_DIR = Path({str(lock_dir)!r})\n{body}"
    )


def _holder(lock_dir: Path, cpus: str, name: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _script(lock_dir, HOLDER), cpus, name],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture
def holder(lock_dir: Path) -> Iterator[subprocess.Popen[str]]:
    proc = _holder(lock_dir, "1", "run other-run (scenarios/x.toml)")
    yield proc
    proc.kill()
    proc.wait()


def test_a_live_holder_refuses_a_shared_cpu_and_names_itself(
    holder: subprocess.Popen[str],
) -> None:
    with pytest.raises(cpulock.CpusBusyError) as caught, cpulock.holding([0, 1], "run mine"):
        pass
    message = str(caught.value)
    assert "run other-run (scenarios/x.toml)" in message
    assert f"pid {holder.pid}" in message and "--allow-concurrent" in message


def test_disjoint_cpus_pass_and_allow_concurrent_sees_the_other(
    holder: subprocess.Popen[str],
) -> None:
    with cpulock.holding([0], "run mine") as held:
        assert held.others() == []
    with cpulock.holding([1], "run mine", allow_concurrent=True) as held:
        assert "run other-run" in held.others_text()


def test_a_killed_holder_does_not_count_and_its_file_goes(lock_dir: Path) -> None:
    proc = _holder(lock_dir, "0,1", "run dead-run")
    proc.kill()
    proc.wait()
    assert (lock_dir / f"run-{proc.pid}.lock").exists()  # SIGKILL: nobody removed it
    with cpulock.holding([0, 1], "run mine") as held:
        assert held.others() == []
    assert not (lock_dir / f"run-{proc.pid}.lock").exists()


def test_holdings_nest_and_unwind(lock_dir: Path) -> None:
    with cpulock.holding([], "claims (c.toml)") as outer:
        with cpulock.holding([0, 1], "run inner") as inner:
            assert inner is outer and outer.cpus == {0, 1} and outer.name == "run inner"
            other = _holder_refused(lock_dir)
            assert "run inner" in other
        assert outer.cpus == set() and outer.name == "claims (c.toml)"
    assert cpulock.current() is None
    assert not list(lock_dir.glob("run-*.lock"))


def _holder_refused(lock_dir: Path) -> str:
    """What another process is told when it asks for CPU 1 now."""
    code = _script(
        lock_dir,
        "try:\n    with cpulock.holding([1], 'run late'):\n        print('granted')\n"
        "except cpulock.CpusBusyError as exc:\n    print(exc)\n",
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_two_holders_started_together_do_not_both_get_the_cpu(lock_dir: Path) -> None:
    code = _script(
        lock_dir,
        "time.sleep(max(0.0, float(sys.argv[1]) - time.time()))\n"
        "try:\n    with cpulock.holding([0], 'run racer'):\n        print('granted', flush=True)\n"
        "        time.sleep(2)\n"
        "except cpulock.CpusBusyError:\n    print('refused')\n",
    )
    start = str(time.time() + 1.5)
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", code, start], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    outcomes = sorted(p.communicate(timeout=60)[0].strip() for p in racers)
    assert outcomes == ["granted", "refused", "refused", "refused"]
