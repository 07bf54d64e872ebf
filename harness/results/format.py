"""The results format: the schema version and its history, and the columns of cells.csv.

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
SCHEMA_VERSION = 2
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
# The figures aggregated over a level's repeats, each with its median and interval.
METRICS = ("rps", "p50_ms", "p90_ms", "p99_ms")
AGGREGATE_COLUMNS = (
    "stack", "mix", "users", "target_rps", "n",
    *(f"{m}_{part}" for m in METRICS for part in ("median", "ci_low", "ci_high")),
    "rps_cv", "unstable", "generator_bound", "cut_off", "stalled",
    "server_cpu_speed_min", "server_cpu_speed_max",
)  # fmt: skip
