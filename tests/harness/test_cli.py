"""The command line: exit codes, one clear line per error, serve stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from harness.cli import dry_run
from harness.core.marks import marked_pids
from harness.plan.scenario import load_scenario
from tests.conftest import tiny_auto

REPO_ROOT = Path(__file__).resolve().parents[2]


def harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_list_shows_valid_and_invalid_with_reasons() -> None:
    done = harness("list")
    assert done.returncode == 0
    assert re.search(r"^flask@gunicorn-gthread-w1t4\s+valid$", done.stdout, re.M)
    assert re.search(r"^flask@uvicorn\s+invalid: flask is a WSGI app", done.stdout, re.M)


def test_bad_scenario_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "bad"\n[load]\nmeasure_s = 1\nusers = [1]\n'
        '[[stacks]]\napps = ["flask"]\nservers = ["gunicron"]\n[mixes.m]\njson = 1\n'
    )
    done = harness("run", str(bad), "--results-dir", str(tmp_path / "results"))
    assert done.returncode == 2
    assert f"{bad}: stacks[0].servers: unknown server 'gunicron'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists(), "nothing may start for a bad scenario"


def test_invalid_stack_is_refused_before_anything_starts() -> None:
    done = harness("verify", "raw-wsgi@wsgiref", "fastapi-async@gunicorn-sync")
    assert done.returncode == 2
    assert "fastapi-async is an ASGI app and gunicorn-sync serves only WSGI apps" in done.stderr
    assert done.stdout == ""


def test_report_of_a_missing_run_is_one_line(tmp_path: Path) -> None:
    done = harness("report", "latest", "--results-dir", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: no runs under {tmp_path}: run a scenario first"


@pytest.mark.slow
def test_serve_answers_and_sigterm_leaves_nothing() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "serve", "raw-wsgi@wsgiref"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"serving at (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        assert httpx.get(match[1] + "/health").json() == {"status": "ok"}
        children = _children(proc.pid)
        assert children, "serve should run the server and the upstream service"
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, output
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in children)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return False


def test_marked_pids_ignores_other_runs() -> None:
    assert marked_pids("no-such-run-id") == []


def test_dry_run_prints_the_plan_and_starts_nothing(tmp_path: Path) -> None:
    done = harness("run", "scenarios/default.toml", "--dry-run", "--results-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "rounds design, nothing started" in done.stdout
    assert "6 round(s) of 36 windows, and 12 cold windows: 228 windows" in done.stdout
    assert "CPUs: server 1, load 0 (the [cpus] table); Locust processes: 1" in done.stdout
    assert re.search(r"estimated: \d+\.\d min, 7\.2 min of it measured", done.stdout)
    assert list(tmp_path.iterdir()) == []


def test_dry_run_names_the_cpus_of_the_auto_split(tmp_path: Path) -> None:
    plan = dry_run(load_scenario(tiny_auto(tmp_path), machine=range(8)))
    assert 'CPUs: server 4-7, load 0-3 (cpus = "auto" over CPUs 0-7); Locust processes: 1' in plan


def test_version_names_the_suite_and_its_key_packages() -> None:
    done = harness("--version")
    assert done.returncode == 0
    assert re.match(r"pywebbench \d+\.\d+\.\d+ \(Python 3\.\d+", done.stdout)
    assert "gunicorn " in done.stdout and "locust " in done.stdout


def test_off_linux_a_command_that_runs_servers_says_so_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness import cli

    monkeypatch.setattr(cli.sys, "platform", "darwin")
    assert cli.main(["run", "scenarios/quick.toml"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (
        "error: pywebbench run needs Linux (CPU pinning with sched_setaffinity, /proc); "
        "this is darwin"
    )
    assert cli.main(["list"]) == 0  # nothing to run, nothing needed


def test_the_package_installs_and_its_console_command_runs(tmp_path: Path) -> None:
    # `pip install .` of a copy of the sources (the build leaves nothing in the checkout)
    # into a fresh virtualenv, offline: without its dependencies, which the command then
    # finds on PYTHONPATH (this virtualenv's, whose setuptools builds it).
    src = tmp_path / "src"
    top_only = {".venv", ".git", "results", "tests", "notebooks"}

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n.endswith(".pyc") or n == "__pycache__"}
        return skipped | (top_only & set(names) if Path(folder) == REPO_ROOT else set())

    shutil.copytree(REPO_ROOT, src, ignore=ignore)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    deps = next(p for p in sys.path if p.endswith("site-packages"))
    env = {**os.environ, "PYTHONPATH": deps}
    built = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
         "--no-deps", "--no-build-isolation", str(src)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    command = venv / "bin" / "pywebbench"

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip

    listed = run(str(command), "list")
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"^\d+ valid of \d+ app x server combinations$", listed.stdout, re.M)
    # The command ran the installed copy, whose registries are package data.
    where = run(str(venv / "bin" / "python"), "-c", "import harness; print(harness.__file__)")
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr
    version = run(str(command), "--version")
    assert version.stdout.startswith("pywebbench 0.2.0 ")
