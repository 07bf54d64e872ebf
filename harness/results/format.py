"""The results format: the schema version and its history, and every column of cells.csv,
aggregates.csv and comparisons.csv, each declared once with its type and meaning.

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
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 3


@dataclass(frozen=True)
class Column:
    """One column: its name, its type (str, int, float or bool) and what it holds."""

    name: str
    type: str
    meaning: str


def _cols(*rows: tuple[str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*row) for row in rows)


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

IDENTITY = _cols(
    ("run", "str", "the run id"),
    ("scenario", "str", "the scenario's name"),
    ("cell", "str", "the cell id: <stack>__<mix>__u<users>|q<rate>__r<round>"),
    ("stack", "str", "the stack id"),
    ("app", "str", "the app variant"),
    ("framework", "str", "the app's framework (none for the raw apps)"),
    ("interface", "str", "wsgi or asgi"),
    ("server", "str", "the server entry of harness/plan/servers.toml"),
    ("worker_class", "str", "the server's worker model"),
    ("workers", "int", "server worker processes"),
    ("threads", "int", "threads per worker (empty: the model has none)"),
    ("db_pool_size", "int", "DB_POOL_SIZE of the stack (empty: the apps' default of 4)"),
    ("mix", "str", "the endpoint mix (_cold: every kind of the scenario's mixes)"),
    ("users", "int", "concurrent users (open loop: the pool)"),
    ("round", "int", "the round (0: the cold window after the stack started)"),
    ("cold", "bool", "the first window after the stack started, kept out of every figure"),
    ("order", "int", "the window's place in its round, from 1"),
    ("status", "str", "ok, failed or interrupted"),
)
FIGURES = _cols(
    ("requests", "int", "completed requests sent in the measure window"),
    ("errors", "int", "of those, failed ones (status 0 or >= 400 unless expected)"),
    ("cut_off", "int", "sent in the window, still unanswered when the load stopped"),
    ("stalled", "int", "sent before the window and still in flight when it ended"),
    ("error_rate", "float", "errors / requests"),
    ("rps", "float", "requests / measure_s: the rate the server completed"),
    ("p50_ms", "float", "median latency of ok requests, ms"),
    ("p90_ms", "float", "90th percentile latency, ms"),
    ("p99_ms", "float", "99th percentile latency, ms"),
    ("p999_ms", "float", "99.9th percentile latency, ms"),
    ("max_ms", "float", "slowest ok request, ms"),
    ("mean_ms", "float", "mean latency of ok requests, ms"),
)
MONITOR = _cols(
    ("server_cpu_pct", "float", "the server's process tree, % of one core (mean)"),
    ("server_rss_mb", "float", "the server's resident memory summed over its processes"),
    ("locust_cpu_pct", "float", "Locust's processes, % of one core"),
    *(
        (
            f"{role}_{kind}",
            "float",
            f"{role}'s {'CPU, % of one core' if kind == 'cpu_pct' else 'resident memory, MB'}"
            " (empty when not part of the cell)",
        )
        for role in SERVICE_ROLES
        for kind in ("cpu_pct", "rss_mb")
    ),
)
SETUP = _cols(
    ("keepalive", "bool", "the clients keep connections open (nginx's setting when proxied)"),
    ("server_cpus", "str", "CPUs of the server and its services"),
    ("load_cpus", "str", "CPUs of Locust"),
    ("warmup_s", "float", "seconds of load before the measure window"),
    ("measure_s", "float", "seconds of the measure window"),
    ("started_at", "str", "UTC time the window (or cell) started"),
    ("window_start", "float", "unix time the measure window started"),
)
FIDELITY = _cols(
    ("generator_bound", "bool", "the load generator, not the server, was the limit"),
    ("load_cpu_pct_of_capacity", "float", "Locust's CPU, % of its CPU set"),
    ("load_busy_pct_of_capacity", "float", "Locust running or runnable, % of its CPU set"),
    ("ceiling_fraction", "float", "rps / the calibrated ceiling of the keep-alive mode"),
    ("rps_wrk", "float", "wrk's rate on the mix's GET paths (crosscheck)"),
    ("rps_ratio", "float", "rps / rps_wrk"),
    ("wrk_paths", "str", "the paths wrk drove, path*weight joined by ;"),
    ("wrk_left_out", "str", "kinds wrk could not send, joined by ;"),
    ("other_cpu_pct", "float", "busy CPU outside the harness's process tree, % of one core"),
    ("load_avg_1m", "float", "the 1-minute load average"),
    ("noisy", "bool", "other_cpu_pct above 10"),
    ("server_cpu_speed", "float", "the server CPU's probe loop, iterations per µs (median)"),
    ("load_cpu_speed", "float", "the load CPU's probe loop, iterations per µs (median)"),
    ("server_steal_pct", "float", "steal time of the server CPUs, % of their time"),
    ("server_softirq_pct", "float", "softirq time of the server CPUs, % of their time"),
    ("load_steal_pct", "float", "steal time of the load CPUs, % of their time"),
    ("load_softirq_pct", "float", "softirq time of the load CPUs, % of their time"),
    ("time_wait_start", "int", "TIME_WAIT sockets that could collide with the window's"),
    ("port_range_used_fraction", "float", "time_wait_start / the local port range"),
    ("target_rps", "int", "open loop: the target arrival rate, requests/s"),
)
TOTALS = _cols(
    ("integrity", "str", "ok / failed: the cell's writes against the database; else n/a"),
    ("load_processes", "int", "Locust processes that ran users"),
    ("server_managed", "bool", "the harness started the server (false: a target)"),
    ("records", "int", "per-request records, warm-up included"),
    ("locust_requests", "int", "Locust's own request count (equals records)"),
)
# Filled when the run ends, the same on every round of a level: its intervals of the
# median over the rounds (order statistics, exact level in ci_level), throughput CV and
# the unstable flag; empty with one round.
LEVEL = _cols(
    *(
        (
            f"{metric}_ci_{side}",
            "float",
            f"{side} end of the level's interval of the median {metric}",
        )
        for metric in ("rps", "p50_ms", "p90_ms", "p99_ms")
        for side in ("low", "high")
    ),
    ("ci_level", "float", "the exact confidence of those intervals (0.969 for 6 rounds)"),
    ("rps_cv", "float", "the level's throughput coefficient of variation over its rounds"),
    ("unstable", "bool", "rps_cv above 10%"),
)
CELL_DECLARED = (*IDENTITY, *FIGURES, *MONITOR, *SETUP, *FIDELITY, *TOTALS, *LEVEL)
CELL_COLUMNS = tuple(c.name for c in CELL_DECLARED)
FIDELITY_COLUMNS = tuple(c.name for c in FIDELITY)
REPEAT_COLUMNS = tuple(c.name for c in LEVEL)

# The figures aggregated over a level's rounds, each with its median and interval.
METRICS = ("rps", "p50_ms", "p90_ms", "p99_ms")
AGGREGATE_DECLARED = _cols(
    ("stack", "str", "the stack id"),
    ("mix", "str", "the endpoint mix"),
    ("users", "int", "concurrent users"),
    ("target_rps", "int", "open loop: the target rate"),
    ("n", "int", "ok rounds (cold windows left out)"),
    *(
        (f"{metric}_{part}", "float", f"{part} of {metric} over the rounds")
        for metric in METRICS
        for part in ("median", "ci_low", "ci_high")
    ),
    ("ci_level", "float", "the exact confidence of the intervals"),
    ("rps_cv", "float", "throughput coefficient of variation over the rounds"),
    ("unstable", "bool", "rps_cv above 10%"),
    ("generator_bound", "bool", "any round generator-bound"),
    ("cut_off", "int", "cut-off requests summed over the rounds"),
    ("stalled", "int", "stalled requests summed over the rounds"),
    ("server_cpu_speed_min", "float", "the slowest server CPU speed of the rounds"),
    ("server_cpu_speed_max", "float", "the fastest server CPU speed of the rounds"),
)
AGGREGATE_COLUMNS = tuple(c.name for c in AGGREGATE_DECLARED)

# comparisons.csv: every pair of stacks at one level, paired by round.
COMPARISON_DECLARED = _cols(
    ("mix", "str", "the endpoint mix"),
    ("users", "int", "concurrent users"),
    ("target_rps", "int", "open loop: the target rate"),
    ("metric", "str", "rps, p50_ms or p99_ms"),
    ("stack", "str", "the stack compared"),
    ("other", "str", "the stack it is compared with"),
    ("n", "int", "rounds where both were ok"),
    ("ratio", "float", "median over the rounds of stack / other"),
    ("ci_low", "float", "low end of the ratio's interval"),
    ("ci_high", "float", "high end of the ratio's interval"),
    ("ci_level", "float", "the exact confidence of the interval"),
    ("decided", "bool", "the interval excludes 1: the two differ at that confidence"),
)
COMPARISON_COLUMNS = tuple(c.name for c in COMPARISON_DECLARED)

# Columns older runs named differently: read under their new name.
RENAMED = {"repeat": "round"}
