"""Runs LeanClient (scenarios/locustfiles/lean.py) in a process of its own, monkey-patched as
under Locust, and prints what happened as JSON: the client's counters and, per request, its
status, whether it was reported ok, its error and whether the body was the expected one.

Requests alternate GET /json and POST /echo (of tls_app.py or lean_app.py). Used by
tests/load/test_lean_tls.py: importing locust in the test runner would monkey-patch it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import locust  # noqa: F401  monkey-patches first, as Locust does before the locustfile

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scenarios" / "locustfiles"))

import gevent
from lean import LeanClient
from lean_app import JSON_BODY


class Reported:
    """Locust's request event, reduced to a list of what was fired."""

    def __init__(self) -> None:
        self.fired: list[dict[str, Any]] = []

    def fire(self, **kwargs: Any) -> None:
        self.fired.append(kwargs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--ca")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--no-keepalive", action="store_true")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between requests")
    args = parser.parse_args()
    # gevent's clock stood still during the imports: sleeps would be short (lean.py's note).
    gevent.get_hub().loop.update_now()
    reported = Reported()
    client = LeanClient(
        args.url, reported, connection_timeout=10, network_timeout=10, tls_ca=args.ca,
        tls_resume=args.resume, keepalive=not args.no_keepalive,
    )  # fmt: skip
    results = []
    for i in range(args.requests):
        if i and args.pause:
            gevent.sleep(args.pause)
        if i % 2 == 0:
            response, expected = client.get("/json", name="json"), JSON_BODY
        else:
            expected = json.dumps({"i": i}, separators=(",", ":")).encode()
            response = client.post("/echo", json={"i": i}, name="echo")
        error = reported.fired[-1]["exception"]
        results.append(
            {
                "status": response.status,
                "ok": error is None,
                "error": None if error is None else type(error).__name__,
                "message": None if error is None else str(error),
                "right": response.body == expected,
            }
        )
    client.close()
    counters = {"connections": client.connections, "resumed": client.resumed}
    print(json.dumps({**counters, "reported": len(reported.fired), "results": results}))


if __name__ == "__main__":
    main()
