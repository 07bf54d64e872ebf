"""Locust users for tests/load/test_lean_user.py, all built on LeanHttpUser.

The tests pick the user class on the command line. Each task counts its returned calls and
the responses whose content was wrong; at quit the counts go to the JSON file named by
LEAN_TEST_OUT, to be compared with Locust's own totals and the server's counters.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scenarios" / "locustfiles"))

from lean import LeanHttpUser
from lean_app import CHUNKED_BODY, JSON_BODY
from locust import constant, events, task

IDLE_WAIT = float(os.environ.get("LEAN_TEST_IDLE_WAIT", "1.5"))
counts: Counter[str] = Counter()


@events.quitting.add_listener
def _write_counts(**_: Any) -> None:
    Path(os.environ["LEAN_TEST_OUT"]).write_text(json.dumps(counts))


class JsonUser(LeanHttpUser):
    wait_time = constant(0)

    @task
    def get_json(self) -> None:
        response = self.client.get("/json", name="json")
        counts["calls"] += 1
        if response.status_code == 200 and response.body != JSON_BODY:
            counts["wrong"] += 1


class ChunkedUser(LeanHttpUser):
    wait_time = constant(0)

    @task
    def chunked(self) -> None:
        response = self.client.get("/chunked", name="chunked")
        counts["calls"] += 1
        if response.body != CHUNKED_BODY or "content-length" in response.headers:
            counts["wrong"] += 1


class StatusUser(LeanHttpUser):
    wait_time = constant(0)

    @task
    def statuses(self) -> None:
        self.client.get("/nope", name="expected 404", expect=(404,))
        self.client.get("/nope", name="unexpected 404")
        with self.client.get("/nope", name="caught 404", catch_response=True) as response:
            if response.status_code == 404:
                response.success()
        with self.client.get("/json", name="rejected 200", catch_response=True) as response:
            response.failure("rejected on purpose")
        echoed = self.client.post("/echo", json={"a": [1, 2]}, name="echo")
        counts["calls"] += 5
        if echoed.status_code != 201 or echoed.json() != {"a": [1, 2]}:
            counts["wrong"] += 1


class IdleUser(LeanHttpUser):
    """Waits longer than the server's keep-alive timeout between requests."""

    wait_time = constant(IDLE_WAIT)

    @task
    def get_json(self) -> None:
        response = self.client.get("/json", name="idle json")
        counts["calls"] += 1
        if response.body != JSON_BODY:
            counts["wrong"] += 1


class StallUser(LeanHttpUser):
    """Asks for an answer that comes later than its read timeout."""

    wait_time = constant(0)
    network_timeout = 0.5

    @task
    def stall(self) -> None:
        self.client.get("/stall", name="stall")
        counts["calls"] += 1


@events.request.add_listener
def _count_errors(exception: BaseException | None = None, **_: Any) -> None:
    if exception is not None:
        counts[f"error {type(exception).__name__}"] += 1
