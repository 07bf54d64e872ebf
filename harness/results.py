"""The results directory: metadata.json, cells.csv (atomic rewrites) and raw/<cell>/cell.json.

The format is described in README/results docs and read by harness.report; change it only
together with schema_version. Columns are only ever added, so a reader that goes by column
name reads every version; harness.report fills what an older run lacks.
- 1: the first format (results/reference). The columns of version 2 came one by one while
  the number stayed 1, so a later version-1 run (results/reference-claims) has some.
- 2: cells.csv has db_pool_size, cut_off, stalled, the nginx / pgbouncer / db CPU and memory
  columns, wrk_paths and wrk_left_out, server_cpu_speed and load_cpu_speed,
  load_processes, server_managed, records, locust_requests, and the repeat columns
  (rps_ci_low ... unstable).
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.metadata
import io
import json
import math
import os
import platform
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import psutil

from harness.errors import ResultsError
from harness.monitor import SERVICE_COLUMNS
from harness.registry import REPO_ROOT

SCHEMA_VERSION = 2
DEFAULT_RESULTS_DIR = REPO_ROOT / "results"
# Written by harness/fidelity.py: generator saturation, calibrated ceiling, wrk, noise.
FIDELITY_COLUMNS = (
    "generator_bound", "load_cpu_pct_of_capacity", "load_busy_pct_of_capacity",
    "ceiling_fraction", "rps_wrk", "rps_ratio", "wrk_paths", "wrk_left_out",
    "other_cpu_pct", "load_avg_1m", "noisy", "server_cpu_speed", "load_cpu_speed",
    "time_wait_start", "port_range_used_fraction", "target_rps",
)  # fmt: skip
# Written by harness/repeats.py when the run ends: the (stack, mix, users) level's 95%
# bootstrap intervals of the median over its repeats, its throughput CV and the unstable
# flag, the same on every repeat of the level; empty with repeats = 1.
REPEAT_COLUMNS = (
    "rps_ci_low", "rps_ci_high", "p50_ms_ci_low", "p50_ms_ci_high", "p90_ms_ci_low",
    "p90_ms_ci_high", "p99_ms_ci_low", "p99_ms_ci_high", "rps_cv", "unstable",
)  # fmt: skip
CELL_COLUMNS = (
    "run", "scenario", "cell", "stack", "app", "framework", "interface", "server",
    "worker_class", "workers", "threads", "db_pool_size", "mix", "users", "repeat", "status",
    "requests", "errors", "cut_off", "stalled", "error_rate", "rps", "p50_ms", "p90_ms", "p99_ms",
    "p999_ms", "max_ms", "mean_ms", "server_cpu_pct", "server_rss_mb", "locust_cpu_pct",
    *SERVICE_COLUMNS, "keepalive",
    "server_cpus", "load_cpus", "warmup_s", "measure_s", "started_at", *FIDELITY_COLUMNS,
    "integrity", "load_processes", "server_managed", "records", "locust_requests",
    *REPEAT_COLUMNS,
)  # fmt: skip


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_run_dir(results_dir: Path, scenario_name: str) -> tuple[str, Path]:
    """Create results/<UTC time>-<scenario>; a suffix keeps two runs in one second apart."""
    stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
    results_dir.mkdir(parents=True, exist_ok=True)
    for n in range(100):
        run_id = f"{stamp}-{scenario_name}" + (f"-{n}" if n else "")
        try:
            (results_dir / run_id).mkdir()
        except FileExistsError:
            continue
        return run_id, results_dir / run_id
    raise ResultsError(f"cannot create a run directory for {scenario_name!r} in {results_dir}")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "hostname": socket.gethostname(),
    }


def installed_packages() -> dict[str, str]:
    """Every installed distribution and its version, sorted by name."""
    found = {d.metadata["Name"]: d.version for d in importlib.metadata.distributions()}
    return dict(sorted(found.items(), key=lambda kv: kv[0].lower()))


def git_info() -> dict[str, Any]:
    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        return out.stdout.strip() if out.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    return {
        "commit": commit or None,
        "dirty": bool(git("status", "--porcelain")) if commit else None,
    }


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file that must hold one object (metadata.json, cell.json, claims.json)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResultsError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def write_json_atomic(path: Path, data: Any) -> None:
    _replace_with(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def _replace_with(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600 files; results are meant to be read by anyone.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Six decimals keep microsecond latencies (in ms) and small error rates exact enough.
        return "" if math.isnan(value) else repr(round(value, 6))
    return str(value)


def write_cells_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rewrite cells.csv with all rows: a temp file in the same dir, then os.replace."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CELL_COLUMNS)
    for row in rows:
        missing = set(CELL_COLUMNS) - set(row)
        if missing:
            raise ResultsError(f"cells.csv row {row.get('cell')!r} lacks {sorted(missing)}")
        writer.writerow([_csv_value(row[c]) for c in CELL_COLUMNS])
    _replace_with(path, buf.getvalue())


def find_run(spec: str, results_dir: Path = DEFAULT_RESULTS_DIR) -> Path:
    """A run directory from a path, a run id under results_dir, or "latest" (one resolver
    for the whole suite: harness.report.runs)."""
    from harness.report.runs import resolve_run

    return resolve_run(spec, results_dir)
