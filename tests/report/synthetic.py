"""A synthetic run directory built in code: a test input in the results format, never results.

Every figure is computed from generated per-request rows exactly as results.md says, so
tests can check the report against numbers they can recompute.
"""

from __future__ import annotations

import csv
import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.report.tables import CELLS_COLUMNS

T0 = 1_790_000_000.0  # an arbitrary fixed unix time keeps the files deterministic
WARMUP_S = 1.0
MEASURE_S = 3.0


@dataclass(frozen=True)
class SynthStack:
    id: str
    app: str
    framework: str
    interface: str
    server: str
    worker_class: str
    workers: int
    threads: int | None
    capacity_rps: float  # what it serves per second once saturated
    fail_mixes: tuple[str, ...] = ()  # every cell of these mixes fails
    fail_users: tuple[int, ...] = ()  # cells at these users fail in every mix


DEFAULT_STACKS: tuple[SynthStack, ...] = (
    SynthStack("flask@gunicorn-sync-w1", "flask", "flask", "wsgi", "gunicorn-sync", "sync",
               1, None, 300.0),
    SynthStack("flask@gunicorn-sync-w2", "flask", "flask", "wsgi", "gunicorn-sync", "sync",
               2, None, 520.0),
    SynthStack("flask@gunicorn-gthread-w2t4", "flask", "flask", "wsgi", "gunicorn-gthread",
               "gthread", 2, 4, 480.0, fail_users=(16,)),
    SynthStack("fastapi-async@uvicorn-w1", "fastapi-async", "fastapi", "asgi", "uvicorn",
               "uvloop-httptools", 1, None, 600.0),
    SynthStack("fastapi-async@uvicorn-w2", "fastapi-async", "fastapi", "asgi", "uvicorn",
               "uvloop-httptools", 2, None, 900.0),
    SynthStack("django-wsgi@gunicorn-sync-w1", "django-wsgi", "django", "wsgi",
               "gunicorn-sync", "sync", 1, None, 250.0, fail_mixes=("io",)),
)  # fmt: skip


@dataclass(frozen=True)
class SynthSpec:
    stacks: tuple[SynthStack, ...] = DEFAULT_STACKS
    mixes: tuple[str, ...] = ("json", "io")
    users: tuple[int, ...] = (4, 16)
    repeats: int = 1
    run_id: str = "20261121T061500Z-synthetic"
    scenario: str = "synthetic"
    extra_columns: dict[str, dict[str, str]] = field(default_factory=dict)  # col -> cell -> value
    seed: int = 7
    # Open loop: one cell per target rate (requests/s), users[0] the pool.
    rates: tuple[float, ...] = ()


MIX_CONTENT = {
    "json": {"json": 1},
    "io": {"sleep": 1, "params": {"sleep_ms": 20}},
    "cpu": {"cpu": 1, "params": {"cpu_n": 2000}},
}


def cell_id(
    stack: SynthStack, mix: str, users: int, repeat: int, target: float | None = None
) -> str:
    level = f"u{users}" if target is None else f"q{target:g}"
    return f"{stack.id}__{mix}__{level}__r{repeat}"


@dataclass(frozen=True)
class Requests:
    t: np.ndarray
    latency: np.ndarray  # microseconds
    ok: np.ndarray

    def where(self, keep: np.ndarray) -> Requests:
        return Requests(self.t[keep], self.latency[keep], self.ok[keep])


def _requests(
    rng: np.random.Generator, stack: SynthStack, users: int, mix: str, target: float | None
) -> Requests:
    offered = users * 60.0 if target is None else target
    rate = min(stack.capacity_rps, offered) * (0.6 if mix == "io" else 1.0)
    n = int(rate * (WARMUP_S + MEASURE_S + 0.5))
    t = np.sort(rng.uniform(T0, T0 + WARMUP_S + MEASURE_S + 0.5, n))
    latency = rng.lognormal(np.log(1000.0 * users / rate * 1000.0), 0.5, n).astype("int64")
    ok = (rng.uniform(size=n) > (0.01 if mix == "io" else 0.0)).astype("int64")
    return Requests(t, latency, ok)


def _write_requests(path: Path, rows: Requests, mix: str) -> None:
    name = "GET /io/sleep" if mix == "io" else "GET /json"
    with gzip.open(path, "wt", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["t_start", "latency_us", "name", "status", "ok", "bytes"])
        for t, latency, ok in zip(rows.t, rows.latency, rows.ok, strict=True):
            out.writerow([f"{t:.6f}", int(latency), name, 200 if ok else 0, int(ok), 27])


def _cell_row(spec: SynthSpec, stack: SynthStack, mix: str, users: int, repeat: int,
              rows: Requests | None, target: float | None) -> dict[str, object]:  # fmt: skip
    row: dict[str, object] = {c: "" for c in CELLS_COLUMNS}
    if spec.rates:
        row["target_rps"] = "" if target is None else f"{target:g}"
    row.update(
        run=spec.run_id, scenario=spec.scenario, cell=cell_id(stack, mix, users, repeat, target),
        stack=stack.id, app=stack.app, framework=stack.framework, interface=stack.interface,
        server=stack.server, worker_class=stack.worker_class, workers=stack.workers,
        threads="" if stack.threads is None else stack.threads, mix=mix, users=users,
        round=repeat, keepalive="true", server_cpus="1", load_cpus="0", warmup_s=WARMUP_S,
        measure_s=MEASURE_S, started_at="2026-11-21T06:15:00Z",
        status="ok" if rows is not None else "failed",
    )  # fmt: skip
    if rows is None:
        return row
    start, end = T0 + WARMUP_S, T0 + WARMUP_S + MEASURE_S
    win = rows.where((rows.t >= start) & (rows.t < end))
    ok_ms = np.sort(win.latency[win.ok == 1] / 1000.0)
    q = np.quantile(ok_ms, [0.5, 0.9, 0.99, 0.999])
    errors = int((win.ok == 0).sum())
    row.update(
        requests=len(win.t), errors=errors, error_rate=errors / len(win.t),
        rps=len(win.t) / MEASURE_S,
        p50_ms=q[0], p90_ms=q[1], p99_ms=q[2], p999_ms=q[3], max_ms=ok_ms[-1],
        mean_ms=ok_ms.mean(), server_cpu_pct=80.0 * stack.workers, locust_cpu_pct=40.0,
        server_rss_mb=35.0 * stack.workers + 20.0,
        # Workers share the master's pages after fork: PSS below RSS; USS per worker.
        server_pss_mb=12.0 * stack.workers + 20.0 + stack.capacity_rps / 100,
        worker_uss_mb=20.0 - stack.capacity_rps / 100,
    )  # fmt: skip
    return row


def _cell_json(stack: SynthStack, cell: str, failed: bool) -> dict[str, object]:
    data: dict[str, object] = {
        "cell": cell,
        "stack": {"id": stack.id, "app": stack.app, "server": stack.server,
                  "workers": stack.workers, "threads": stack.threads},
        "command": ["python", "-m", "server", stack.id],
        "warmup_start": T0, "warmup_end": T0 + WARMUP_S,
        "measure_start": T0 + WARMUP_S, "measure_end": T0 + WARMUP_S + MEASURE_S,
        "status": "failed" if failed else "ok",
    }  # fmt: skip
    if failed:
        data["error"] = "server did not become healthy: <boom> & exit 3"
    return data


def _metadata(spec: SynthSpec, cells: int) -> dict[str, object]:
    mixes = {m: MIX_CONTENT.get(m, {"json": 1}) for m in spec.mixes}
    return {
        "schema_version": 1, "run_id": spec.run_id,
        "scenario": {"name": spec.scenario, "path": "scenarios/synthetic.toml",
                     "content": {"name": spec.scenario, "mixes": mixes}},
        "machine": {"cpu_model": "Synthetic CPU <test>", "cores": 2, "memory_gb": 8,
                    "kernel": "6.1", "hostname": "synthetic"},
        "python": {"version": "3.11.2", "implementation": "CPython"},
        "packages": {"flask": "3.1.0", "gunicorn": "23.0.0", "uvicorn": "0.34.0"},
        "git": {"commit": "0123456789abcdef", "dirty": False},
        "cpu_sets": {"server": [1], "load": [0]},
        "started_at": "2026-11-21T06:15:00Z", "ended_at": "2026-11-21T06:20:00Z",
        "cells_planned": cells,
    }  # fmt: skip


def _levels(spec: SynthSpec) -> list[tuple[int, float | None]]:
    """(users, target rate): each users level, or each rate with users[0] as the pool."""
    if spec.rates:
        return [(spec.users[0], rate) for rate in spec.rates]
    return [(users, None) for users in spec.users]


def build_run(root: Path, spec: SynthSpec | None = None) -> Path:
    """Write a synthetic run directory under root and return it."""
    spec = spec or SynthSpec()
    rng = np.random.default_rng(spec.seed)
    run_dir = root / spec.run_id
    rows = []
    for stack in spec.stacks:
        for mix in spec.mixes:
            for users, target in _levels(spec):
                for repeat in range(1, spec.repeats + 1):
                    cell = cell_id(stack, mix, users, repeat, target)
                    raw = run_dir / "raw" / cell
                    raw.mkdir(parents=True)
                    failed = mix in stack.fail_mixes or users in stack.fail_users
                    reqs = None if failed else _requests(rng, stack, users, mix, target)
                    if reqs is not None:
                        _write_requests(raw / "requests.csv.gz", reqs, mix)
                    (raw / "cell.json").write_text(json.dumps(_cell_json(stack, cell, failed)))
                    rows.append(_cell_row(spec, stack, mix, users, repeat, reqs, target))
    for col, values in spec.extra_columns.items():
        for row in rows:
            row[col] = values.get(str(row["cell"]), "false")
    with open(run_dir / "cells.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (run_dir / "metadata.json").write_text(json.dumps(_metadata(spec, len(rows)), indent=1))
    return run_dir
