"""The results format: the schema version and its history, and every column of cells.csv,
aggregates.csv and comparisons.csv, each declared once with its type and meaning in
harness/results/columns.toml.

Columns are only ever added or renamed with the schema version, so a reader that goes by
column name reads every version (harness.results.files.read_rows fills what an older run
lacks and renames what it named differently). The writers refuse a row with a key that is
not declared here, and a row that lacks one.

History of schema_version:
- 1: the first format (results/reference before 2026-12). The columns of version 2 came
  one by one while the number stayed 1, so a later version-1 run has some of them.
- 2: cells.csv has db_pool_size, cut_off, stalled, the nginx / pgbouncer / db CPU and
  memory columns, wrk_paths and wrk_left_out, server_cpu_speed and load_cpu_speed,
  load_processes, server_managed, records, locust_requests, and the repeat columns
  (rps_ci_low ... unstable, percentile-bootstrap intervals called 95%).
- 3: rounds on warm servers. `repeat` is now `round` (0 for the cold window measured right
  after a stack started, `cold` = true); `order` is a window's place in its round,
  `window_start` its measure start. Per window: steal and softirq time of the server and
  load CPUs. The level intervals are order-statistic intervals of the median with their
  exact confidence (`ci_level`). New file comparisons.csv: paired per-round ratios.
- 4: a stack may rate-limit at nginx (`+nginx-limit<N>`): cells.csv has rejected and
  rejected_rate (the 429s of its limit, kept out of requests, errors, rps and latency),
  aggregates.csv rejected (summed over the rounds).
- 5: a scenario's [capacity] searches each stack's capacity within a latency objective:
  the new file capacity.csv, and metadata.json "capacity" (the spec, each search's steps
  and end, the settle rounds). cells.csv is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apps.toml_file import read_toml

SCHEMA_VERSION = 5


@dataclass(frozen=True)
class Column:
    """One column: its name, its type (str, int, float or bool) and what it holds."""

    name: str
    type: str
    meaning: str


COLUMNS_FILE = Path(__file__).resolve().parent / "columns.toml"
_DECLARED = read_toml(COLUMNS_FILE, ValueError)


def _cols(*path: str) -> tuple[Column, ...]:
    table: Any = _DECLARED
    for key in path:
        table = table[key]
    return tuple(Column(*row) for row in table)


# The services sampled beside the server, by role (harness/measure/monitor.py): nginx
# (proxy = "nginx"), pgbouncer and db (PostgreSQL's postmaster and its backends) when the
# run started them; each has a CPU and a memory column.
SERVICE_ROLES = ("nginx", "pgbouncer", "db")
SERVICE_COLUMNS = tuple(
    f"{role}_{kind}" for role in SERVICE_ROLES for kind in ("cpu_pct", "rss_mb")
)
# A cell is flagged noisy when port_range_used_fraction reaches this (connects may fail or
# stall), and a level unstable when its throughput's coefficient of variation exceeds
# UNSTABLE_CV.
PORT_RANGE_HALF = 0.5
UNSTABLE_CV = 0.10

CELL_GROUPS = ("identity", "figures", "monitor", "setup", "fidelity", "totals", "level")
CELL_DECLARED = tuple(c for group in CELL_GROUPS for c in _cols("cells", group))
CELL_COLUMNS = tuple(c.name for c in CELL_DECLARED)
FIDELITY_COLUMNS = tuple(c.name for c in _cols("cells", "fidelity"))
# Filled when the run ends, the same on every round of a level: its intervals of the
# median over the rounds (order statistics, exact level in ci_level), throughput CV and
# the unstable flag; empty with one round.
REPEAT_COLUMNS = tuple(c.name for c in _cols("cells", "level"))

# The figures aggregated over a level's rounds, each with its median and interval.
METRICS = ("rps", "p50_ms", "p90_ms", "p99_ms")
AGGREGATE_DECLARED = _cols("aggregates", "columns")
AGGREGATE_COLUMNS = tuple(c.name for c in AGGREGATE_DECLARED)
# comparisons.csv: every pair of stacks at one level, paired by round.
COMPARISON_DECLARED = _cols("comparisons", "columns")
COMPARISON_COLUMNS = tuple(c.name for c in COMPARISON_DECLARED)
CAPACITY_DECLARED = _cols("capacity", "columns")
CAPACITY_COLUMNS = tuple(c.name for c in CAPACITY_DECLARED)

# Columns older runs named differently: read under their new name.
RENAMED = {"repeat": "round"}
