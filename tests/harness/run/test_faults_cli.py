"""Bad input through the CLI: exit code 2 (1 for an unwritable results folder), one message
naming the file, the key and the problem, and nothing started or written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main

REPO_ROOT = Path(__file__).resolve().parents[3]

GOOD = """name = "bad"
[load]
warmup_s = 0
measure_s = 1
users = [2]
[[stacks]]
apps = ["flask"]
servers = ["gunicorn-sync"]
[mixes.json]
json = 1
"""


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ("measure_s = 1", "measure_s = 1\nspeed = 3", "load.speed", "unknown key"),
        ("measure_s = 1", 'measure_s = "1"', "load.measure_s", "expected a number >= 0.5"),
        ('apps = ["flask"]', 'apps = ["flsk"]', "stacks[0].apps", "unknown app variant 'flsk'"),
        ('"gunicorn-sync"', '"gunicorn-fast"', "stacks[0].servers", "unknown server"),
        ('apps = ["flask"]', 'apps = ["fastapi-async"]', "stacks[0]", "WSGI"),
        ("users = [2]", "users = []", "load.users", "expected a non-empty list"),
        ("[mixes.json]", '[mixes."../escape"]', "mixes.../escape", "expected a mix name"),
        ("measure_s = 1", "measure_s = 1\nrequest_timeout_s = 0", "load.request_timeout_s",
         "expected a number >= 0.1"),
    ],
)  # fmt: skip
def test_bad_scenario_exits_2_naming_file_key_and_problem(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    old: str,
    new: str,
    key: str,
    problem: str,
) -> None:
    path = tmp_path / "bad.toml"
    assert old in GOOD
    path.write_text(GOOD.replace(old, new, 1))
    results = tmp_path / "results"
    assert main(["run", str(path), "--results-dir", str(results)]) == 2
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if x.startswith(f"{path}: {key}: "))
    assert problem in line, err
    assert not results.exists()  # nothing started, nothing written


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(GOOD.replace("users = [2]", "users = [2"))
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(path), "--results-dir", str(results)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"{path}: invalid TOML:" in done.stderr and "line 6" in done.stderr
    assert not results.exists()


def test_results_folder_not_writable_is_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.toml"
    good.write_text(GOOD)
    a_file = tmp_path / "results"
    a_file.write_text("a file where the results folder should be\n")
    for results in (a_file, a_file / "runs"):
        assert main(["run", str(good), "--results-dir", str(results)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: results folder {results}"), err
    assert a_file.read_text() == "a file where the results folder should be\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.toml", "results"]


def test_unknown_resume_run_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.toml"
    good.write_text(GOOD)
    code = main(["run", str(good), "--resume", "no-such-run", "--results-dir", str(tmp_path)])
    assert code == 1
    assert "no run 'no-such-run'" in capsys.readouterr().err


def test_run_takes_resume_and_allow_remote() -> None:
    from harness.cli import build_parser

    args = build_parser().parse_args(["run", "s.toml", "--resume", "RUN", "--allow-remote"])
    assert (args.resume, args.allow_remote) == ("RUN", True)
    assert build_parser().parse_args(["run", "s.toml"]).allow_remote is False


TARGET = 'servers = ["gunicorn-sync"]\ntarget = "http://10.0.0.5:8000"'
MASTER = 'users = [2]\ndesign = "isolated"\nload_workers = 2\nmaster_host = "0.0.0.0"'


@pytest.mark.parametrize(
    ("text", "key", "host"),
    [
        (GOOD.replace('servers = ["gunicorn-sync"]', TARGET), "stacks[0].target", "10.0.0.5"),
        (GOOD.replace("users = [2]", MASTER), "load.master_host", "0.0.0.0"),
    ],
)
def test_non_loopback_target_or_master_is_refused_without_allow_remote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str, host: str
) -> None:
    # Refused before anything starts: no traffic goes anywhere.
    path = tmp_path / "remote.toml"
    path.write_text(text)
    results = tmp_path / "results"
    assert main(["run", str(path), "--results-dir", str(results)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: {key}: host '{host}' is not loopback" in err, err
    assert "--allow-remote" in err
    assert not results.exists()
