"""Locust as a subprocess (never imported here: it monkey-patches the interpreter), and the
per-request records it leaves behind."""

from __future__ import annotations

import gzip
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.errors import LoadError
from harness.scenario import LoadSpec, Mix

REQUEST_COLUMNS = ("t_start", "latency_us", "name", "status", "ok", "bytes")


@dataclass(frozen=True, slots=True)
class Record:
    """One request as the locustfile logged it."""

    t_start: float
    latency_us: int
    name: str
    status: int
    ok: bool
    bytes: int


@dataclass(frozen=True)
class LoadOutput:
    """What one Locust run left: records sorted by start time, and when spawning completed."""

    records: list[Record]
    spawn_complete_at: float
    locust_requests: int | None
    locust_failures: int | None


# Load goes on this long past the measure window, so that the window ends under full load.
TAIL_S = 0.5


def run_time_s(load: LoadSpec) -> int:
    """Locust's --run-time, an upper bound: spawning margin + warm-up + measure + tail.

    The locustfile itself quits TAIL_S after the measure window (PWB_STOP_AFTER_S),
    counted from the moment spawning completed.
    """
    return math.ceil(load.spawn_margin_s + load.warmup_s + load.measure_s + TAIL_S)


def locust_argv(load: LoadSpec, users: int, url: str) -> list[str]:
    """The Locust command line for one cell (headless, closed loop, all users at once)."""
    return [
        sys.executable, "-m", "locust",
        "-f", str(load.locustfile),
        "--headless",
        "--host", url,
        "--users", str(users),
        "--spawn-rate", str(users),
        "--run-time", f"{run_time_s(load)}s",
        "--stop-timeout", f"{load.stop_timeout_s:g}",
        # Failed requests are data here, not a reason for Locust to exit non-zero.
        "--exit-code-on-error", "0",
        "--loglevel", "WARNING",
        "--only-summary",
    ]  # fmt: skip


def go_file(output_dir: Path) -> Path:
    """The file whose creation lets a waiting Locust start its users."""
    return output_dir / "go"


def locust_env(
    load: LoadSpec, mix: Mix, output_dir: Path, target_rps: int | None = None
) -> dict[str, str]:
    """Environment the locustfile reads: the mix as JSON, where to write, when to start
    (the go file) and when to stop."""
    return {
        "PWB_MIX": mix.to_json(),
        "PWB_OUTPUT_DIR": str(output_dir),
        "PWB_GO_FILE": str(go_file(output_dir)),
        "PWB_CLIENT": load.client,
        "PWB_REQUEST_TIMEOUT_S": f"{load.request_timeout_s:g}",
        "PWB_STOP_AFTER_S": f"{load.warmup_s + load.measure_s + TAIL_S:g}",
        # Open loop: the arrival rate the users share (0: closed loop).
        "PWB_TARGET_RPS": str(target_rps or 0),
    }


def _parse_line(line: str, source: Path) -> Record:
    try:
        t_start, latency_us, rest = line.split(",", 2)
        name, status, ok, size = rest.rsplit(",", 3)
        return Record(float(t_start), int(latency_us), name, int(status), ok == "1", int(size))
    except ValueError:
        raise LoadError(f"{source}: malformed request record {line!r}") from None


def read_records(path: Path) -> list[Record]:
    """Records from a requests CSV (plain, or gzip with a header line)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="ascii") as f:
        lines = f.read().splitlines()
    if lines and lines[0].startswith("t_start,"):
        lines = lines[1:]
    return [_parse_line(line, path) for line in lines if line]


def collect(output_dir: Path) -> LoadOutput:
    """Merge every Locust process's files in output_dir and remove the per-process parts."""
    spawn_files = sorted(output_dir.glob("spawn.*.json"))
    request_files = sorted(output_dir.glob("requests.*.csv"))
    if not spawn_files or not request_files:
        raise LoadError(f"Locust left no records in {output_dir} (see locust.log there)")
    spawns = [json.loads(p.read_text()) for p in spawn_files]
    spawned = [s["spawn_complete_at"] for s in spawns if s.get("spawn_complete_at")]
    if not spawned:
        raise LoadError("Locust never reported spawning complete (see locust.log)")
    records = [r for p in request_files for r in read_records(p)]
    records.sort(key=lambda r: r.t_start)
    for p in [*spawn_files, *request_files]:
        p.unlink()
    go_file(output_dir).unlink(missing_ok=True)
    return LoadOutput(
        records=records,
        spawn_complete_at=max(spawned),
        locust_requests=sum(s.get("locust_requests", 0) for s in spawns),
        locust_failures=sum(s.get("locust_failures", 0) for s in spawns),
    )


def write_records_gz(records: list[Record], path: Path) -> None:
    """requests.csv.gz: header plus one line per request, warm-up included."""
    with gzip.open(path, "wt", encoding="ascii", newline="\n", compresslevel=6) as f:
        f.write(",".join(REQUEST_COLUMNS) + "\n")
        for r in records:
            f.write(f"{r.t_start:.6f},{r.latency_us},{r.name},{r.status},{int(r.ok)},{r.bytes}\n")
