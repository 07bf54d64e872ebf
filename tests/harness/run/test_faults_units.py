"""The fault detectors and the integrity judge, each on a real process, socket or folder."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.core.errors import Interrupted
from harness.core.marks import marked_pids
from harness.core.procs import ProcessRegistry, shutdown_on_signals
from harness.measure.integrity import Snapshot, judge
from harness.plan.scenario import load_scenario
from harness.results.records import CUT_OFF_STATUS, Record
from harness.run import faults
from harness.run.launch import HOST
from harness.run.resume import ResumeError, first_difference, load_previous
from harness.run.window import quick_checks
from tests.conftest import tiny_auto


def _rec(name: str, status: int) -> Record:
    return Record(0.0, 1000, name, status, status > 0, 10)


CRUD = [
    *[_rec("POST /items", 201)] * 5,
    *[_rec("GET /items/{id}", 200)] * 5,
    *[_rec("DELETE /items/{id}", 204)] * 3,
    _rec("DELETE /items/{id}", 404),
]


def test_integrity_ok_when_rows_match_201s_minus_204s() -> None:
    verdict = judge(Snapshot(10, 10), Snapshot(12, 12), CRUD)
    assert verdict.status == "ok"
    assert (verdict.created_201, verdict.deleted_204) == (5, 3)


@pytest.mark.parametrize(
    ("after", "problem"),
    [
        (Snapshot(11, 11), "items went from 10 to 11 rows, expected 12"),  # a row lost
        (Snapshot(13, 13), "items went from 10 to 13 rows, expected 12"),  # one too many
        (Snapshot(12, 11), "1 duplicate id(s) in items"),
    ],
)
def test_integrity_mismatch_names_the_counts(after: Snapshot, problem: str) -> None:
    verdict = judge(Snapshot(10, 10), after, CRUD)
    assert verdict.status == "failed"
    assert problem in verdict.message
    assert "5 'POST /items' 201 - 3 'DELETE /items/{id}' 204" in verdict.message or (
        "duplicate" in problem
    )


def test_integrity_corrupted_requests_file_fails() -> None:
    # The records claim two more creations than the database holds.
    corrupted = [*CRUD, _rec("POST /items", 201), _rec("POST /items", 201)]
    assert judge(Snapshot(10, 10), Snapshot(12, 12), corrupted).status == "failed"


@pytest.mark.parametrize("status", [0, CUT_OFF_STATUS])
def test_unanswered_writes_widen_the_range_and_are_reported(status: int) -> None:
    # 0: failed without an answer; CUT_OFF_STATUS: still in flight when the load stopped.
    records = [*CRUD, _rec("POST /items", status)]
    for rows in (12, 13):
        verdict = judge(Snapshot(10, 10), Snapshot(rows, rows), records)
        assert verdict.status == "ok" and verdict.unanswered_writes == 1
    assert judge(Snapshot(10, 10), Snapshot(14, 14), records).status == "failed"


def test_first_difference_names_the_key() -> None:
    old = {"load": {"users": [8, 32], "measure_s": 3}, "name": "x"}
    assert first_difference(old, old) is None
    new = {"load": {"users": [8, 16], "measure_s": 3}, "name": "x"}
    assert first_difference(old, new) == "load.users[1]: 32 in the run, 16 in the file"
    assert first_difference(old, {"name": "x"}) == "load: in the run, missing from the file"


def test_resume_refuses_other_cpu_sets_of_the_same_file(tmp_path: Path) -> None:
    # cpus = "auto": the run's file, read on a 2-CPU and then on an 8-CPU machine.
    path = tiny_auto(tmp_path)
    run_dir = tmp_path / "run-1"
    run_dir.mkdir()
    there = load_scenario(path, machine=[0, 1])
    metadata = {
        "run_id": "run-1",
        "scenario": {"content": there.content},
        "cpu_sets": there.cpus.describe(),
    }
    (run_dir / "metadata.json").write_text(json.dumps(metadata))
    assert load_previous(run_dir, there, []).run_id == "run-1"
    with pytest.raises(ResumeError) as excinfo:
        load_previous(run_dir, load_scenario(path, machine=range(8)), [])
    assert str(excinfo.value) == (
        f"cannot resume run-1 with {path}: the CPU sets differ from the run's: "
        "{'server': [1], 'load': [0], 'upstream': [0]} in the run, "
        "{'server': [4, 5, 6, 7], 'load': [0, 1, 2, 3], 'upstream': [0, 1, 2, 3]} here"
    )


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )


def test_watch_load_kills_both_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(faults, "DEADLINE_GRACE_S", 0.3)
    locust, server = _sleeper(), _sleeper()
    with pytest.raises(faults.DeadlineError, match="Locust and server killed"):
        faults.watch_load(locust, server, budget_s=0.2, server_log=tmp_path / "server.log")
    assert locust.wait(5) == -signal.SIGKILL and server.wait(5) == -signal.SIGKILL


def test_watch_load_notices_a_server_that_exits(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("worker crashed: out of memory\n")
    locust = _sleeper()
    server = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    try:
        with pytest.raises(faults.ServerExitedError, match="worker crashed: out of memory"):
            faults.watch_load(locust, server, budget_s=30, server_log=log)
    finally:
        locust.kill()
        locust.wait()


def test_port_taken_is_named() -> None:
    with socket.socket() as s:
        s.bind((HOST, 0))
        s.listen(1)
        port = s.getsockname()[1]
        with pytest.raises(faults.PortTakenError, match=f"port {port} on {HOST}"):
            faults.ensure_port_free(HOST, port)
    faults.ensure_port_free(HOST, port)


def test_results_folder_that_is_a_file_is_refused(tmp_path: Path) -> None:
    a_file = tmp_path / "results"
    a_file.write_text("not a folder")
    for path in (a_file, a_file / "below"):
        with pytest.raises(faults.ResultsError, match="results folder"):
            faults.ensure_writable_dir(path)
    assert a_file.read_text() == "not a folder"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_targets_pass(host: str) -> None:
    faults.require_loopback(host, allow_remote=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.5", "example.com", "::"])
def test_remote_targets_need_allow_remote(host: str) -> None:
    with pytest.raises(faults.RemoteTargetError, match="--allow-remote"):
        faults.require_loopback(host, allow_remote=False)
    faults.require_loopback(host, allow_remote=True)


def test_a_server_that_lost_the_port_race_is_explained() -> None:
    with socket.socket() as s:
        s.bind((HOST, 0))
        s.listen(1)
        port = s.getsockname()[1]
        original = faults.ServerStartError("uvicorn exited with code 1; log tail:\nin use")
        explained = faults.explain_bind_failure(original, HOST, port)
        assert isinstance(explained, faults.PortTakenError)
        assert f"port {port}" in str(explained) and "could not bind it" in str(explained)
        assert str(explained).endswith("log tail:\nin use")
    assert faults.explain_bind_failure(original, HOST, port) is original


STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)"
)


def test_interrupted_run_stops_even_stubborn_groups_within_5_s(tmp_path: Path) -> None:
    registry = ProcessRegistry("faults-units-interrupt")
    logs = [tmp_path / f"stubborn{n}.log" for n in range(3)]
    procs = []
    with pytest.raises(Interrupted), shutdown_on_signals(registry):
        for log in logs:
            procs.append(
                registry.spawn(
                    [sys.executable, "-c", STUBBORN],
                    cpus=[0],
                    env=dict(os.environ),
                    log_path=log,
                    cwd=tmp_path,
                )
            )
        while not all(log.exists() and "ready" in log.read_text() for log in logs):
            time.sleep(0.02)
        signalled = time.monotonic()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the signal handler raises Interrupted before this ends
    # Three groups that ignore SIGTERM: SIGKILL after the short interrupted grace each.
    assert registry.interrupted
    assert all(p.returncode == -signal.SIGKILL for p in procs)
    assert time.monotonic() - signalled < 5
    assert marked_pids("faults-units-interrupt") == []


class _CtrlCOnFirstRequest(BaseHTTPRequestHandler):
    """Answers every GET with an empty JSON object; the first one also sends SIGINT to
    this process, as a Ctrl-C typed while the quick checks run would."""

    signalled = threading.Event()

    def do_GET(self) -> None:
        if not self.signalled.is_set():
            self.signalled.set()
            os.kill(os.getpid(), signal.SIGINT)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_: object) -> None:
        pass


def test_ctrl_c_during_the_quick_checks_interrupts_instead_of_failing_a_check() -> None:
    # The contract checks catch Exception so one check's bug cannot hide the others; a
    # Ctrl-C landing inside one once became a failed check, a failed cell and a run that
    # carried on and exited 0.
    server = ThreadingHTTPServer((HOST, 0), _CtrlCOnFirstRequest)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    registry = ProcessRegistry("faults-units-ctrl-c-checks")
    try:
        with pytest.raises(Interrupted, match="SIGINT"), shutdown_on_signals(registry):
            quick_checks(f"http://{HOST}:{server.server_address[1]}")
            time.sleep(5)  # not reached when the interrupt goes up
    finally:
        server.shutdown()
        server.server_close()
    assert _CtrlCOnFirstRequest.signalled.is_set()
    assert registry.interrupted


def test_scenario_endpoints_name_file_and_key_unless_remote_is_allowed() -> None:
    endpoints = [
        ("s.toml: stacks[0].target", "127.0.0.1"),
        ("s.toml: load.master_host", "10.1.2.3"),
    ]
    faults.require_endpoints(endpoints[:1], allow_remote=False)
    with pytest.raises(faults.RemoteTargetError) as excinfo:
        faults.require_endpoints(endpoints, allow_remote=False)
    assert str(excinfo.value) == (
        "s.toml: load.master_host: host '10.1.2.3' is not loopback: load tests stay on this "
        "machine unless --allow-remote is given"
    )
    faults.require_endpoints(endpoints, allow_remote=True)
