"""The Locust side of benchmarks/generator_ceiling.py: GET /json in a closed loop.

Pick the user class on the command line: FastHttp (Locust's FastHttpUser), Lean
(scenarios/locustfiles/lean.py), or Floor (no I/O: what Locust itself costs per request).
Once every user is running, the file waits CEILING_WARMUP_S, measures for
CEILING_MEASURE_S, writes the window's figures to CEILING_OUT as JSON and quits. Locust's
--run-time is only the safety net.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import gevent

# lean.py is imported as locust imports locustfiles: its folder on sys.path. The repository
# root is there already (Locust adds the working directory, which is the root here).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scenarios" / "locustfiles"))

from lean import LeanHttpUser
from locust import FastHttpUser, User, constant, events, task
from locust.env import Environment

from benchmarks.cpu_window import CpuSample, take_sample

WARMUP_S = float(os.environ.get("CEILING_WARMUP_S", "2"))
MEASURE_S = float(os.environ.get("CEILING_MEASURE_S", "10"))
SERVER_PID = int(os.environ.get("CEILING_SERVER_PID", "0"))
OUT = os.environ.get("CEILING_OUT", "")
PATH = "/json"

_environment: list[Environment] = []


def _snapshot(environment: Environment) -> tuple[int, int, os.times_result, CpuSample]:
    total = environment.stats.total
    return total.num_requests, total.num_failures, os.times(), take_sample(SERVER_PID)


def _measure(environment: Environment) -> None:
    gevent.sleep(WARMUP_S)
    requests0, failures0, cpu0, sample0 = _snapshot(environment)
    gevent.sleep(MEASURE_S)
    requests1, failures1, cpu1, sample1 = _snapshot(environment)
    errors = sorted(environment.stats.errors.values(), key=lambda e: -e.occurrences)
    result = {
        "requests": requests1 - requests0,
        "failures": failures1 - failures0,
        "generator_cpu_s": (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system),
        "generator_sys_s": cpu1.system - cpu0.system,
        "window": sample1.minus(sample0).to_dict(),
        "ended_at": time.time(),
        "errors": [f"{e.occurrences} x {e.parse_error(e.error)}" for e in errors[:3]],
    }
    if OUT:
        Path(OUT).write_text(json.dumps(result))
    if environment.runner is not None:
        environment.runner.quit()


@events.init.add_listener
def _remember(environment: Environment, **_: Any) -> None:
    _environment.append(environment)


@events.spawning_complete.add_listener
def _start_window(**_: Any) -> None:
    gevent.spawn(_measure, _environment[0])


class FastHttp(FastHttpUser):
    wait_time = constant(0)

    @task
    def get_json(self) -> None:
        self.client.get(PATH, name=PATH)


class Lean(LeanHttpUser):
    wait_time = constant(0)

    @task
    def get_json(self) -> None:
        self.client.get(PATH, name=PATH)


class Floor(User):
    """Does what every request of every user costs at least, and nothing else: one switch
    to the gevent hub (a request waits for its answer once) and one request event."""

    wait_time = constant(0)

    @task
    def nothing(self) -> None:
        gevent.sleep(0)
        self.environment.events.request.fire(
            request_type="GET",
            name=PATH,
            response_time=0.0,
            response_length=0,
            response=None,
            context={},
            exception=None,
            start_time=time.time(),
            url=PATH,
        )
