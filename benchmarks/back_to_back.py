"""Two back-to-back runs of the same no-keep-alive cell must agree within 10%.

Each run goes through `python -m harness run` (so the TIME_WAIT drain, noise and
generator figures of harness/measure/fidelity.py apply); the script prints both rates, their
difference, and what the harness recorded around each cell (TIME_WAIT, port range used,
seconds waited, other processes' CPU, Locust's demand, and the CPU speed probe's figures:
on a virtual machine the host's state changes the speed of a CPU, harness/measure/cpuspeed.py).

    .venv/bin/python -m benchmarks.back_to_back [--stack raw-wsgi@gunicorn-sync-w1]
        [--users 32] [--measure 5] [--client lean] [--runs 2] [--drain 60] [--keep DIR]

Timings, not a test: run it on a machine as quiet as you can get.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.core.paths import REPO_ROOT
from harness.plan.stacks import parse_stack_id

SCENARIO = """
name = "back-to-back"
description = "one no-keep-alive cell, measured again right after"
[load]
client = "{client}"
warmup_s = 1
measure_s = {measure}
users = [{users}]
spawn_margin_s = 10
stop_timeout_s = 2
time_wait_drain_s = {drain}
[cpus]
server = [1]
load = [0]
[[stacks]]
apps = ["{app}"]
servers = ["{server}"]
workers = [{workers}]
[mixes.json]
json = 1
"""


def one_run(scenario: Path, results: Path) -> dict[str, str]:
    before = set(results.iterdir()) if results.exists() else set()
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(scenario), "--results-dir", str(results)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if done.returncode != 0:
        raise SystemExit(f"harness run failed:\n{done.stdout}\n{done.stderr}")
    (run_dir,) = [p for p in results.iterdir() if p.is_dir() and p not in before]
    with (run_dir / "cells.csv").open(newline="") as f:
        (row,) = list(csv.DictReader(f))
    info = json.loads((run_dir / "raw" / row["cell"] / "cell.json").read_text())
    row["waited_s"] = str(info.get("time_wait", {}).get("waited_s", ""))
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stack", default="raw-wsgi@gunicorn-sync-w1")
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--measure", type=float, default=5)
    parser.add_argument("--client", default="lean", choices=["lean", "fasthttp"])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--drain", type=float, default=60)
    parser.add_argument("--keep", type=Path, help="keep the runs' result folders here")
    parser.add_argument(
        "--record", type=Path, help="append the command, the date and the printed lines here"
    )
    args = parser.parse_args()
    stack = parse_stack_id(args.stack)
    if stack.server.keepalive:
        print(f"note: {stack.server.id} keeps connections alive; TIME_WAIT plays no part")
    rows = []
    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    with tempfile.TemporaryDirectory(prefix="pwb-b2b-") as tmp:
        scenario = Path(tmp) / "b2b.toml"
        scenario.write_text(
            SCENARIO.format(
                client=args.client,
                measure=args.measure,
                users=args.users,
                drain=args.drain,
                app=stack.app.id,
                server=stack.server.id,
                workers=stack.workers,
            )
        )
        for i in range(args.runs):
            row = one_run(scenario, args.keep or Path(tmp) / "results")
            rows.append(row)
            say(
                f"run {i + 1}: {float(row['rps']):8.1f} requests/s  errors {row['errors']}  "
                f"TIME_WAIT at start {row['time_wait_start']} "
                f"(port range {float(row['port_range_used_fraction']):.1%}, waited "
                f"{row['waited_s']} s)  other CPU {float(row['other_cpu_pct']):.0f}%  "
                f"Locust busy {float(row['load_busy_pct_of_capacity']):.0f}%  "
                f"server CPU {float(row['server_cpu_pct']):.0f}%, "
                f"CPU speed server {float(row['server_cpu_speed']):.1f} "
                f"load {float(row['load_cpu_speed']):.1f}  "
                f"p50 {float(row['p50_ms']):.1f} ms  max {float(row['max_ms']):.0f} ms  "
                f"generator_bound {row['generator_bound']}"
            )
    rates = [float(r["rps"]) for r in rows]
    spread = (max(rates) - min(rates)) / max(rates)
    verdict = "agree" if spread <= 0.10 else "DISAGREE"
    say(f"{args.stack} {args.client} u{args.users}: spread {spread:.1%} -> {verdict} (10%)")
    if args.record:
        command = "python -m benchmarks.back_to_back " + " ".join(sys.argv[1:])
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with args.record.open("a") as f:
            f.write(f"\n## {stamp}: `{command}`\n\n```\n" + "\n".join(lines) + "\n```\n")
    return 0 if spread <= 0.10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
