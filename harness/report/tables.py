"""pandas tables of one run: the cells, their aggregation per level, the ranked summary."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.core.errors import ResultsError
from harness.core.intervals import coefficient_of_variation, median_interval, paired_interval
from harness.results.files import read_json_object
from harness.results.format import PORT_RANGE_HALF, RENAMED, UNSTABLE_CV

CELLS_COLUMNS: tuple[str, ...] = (
    "run", "scenario", "cell", "stack", "app", "framework", "interface", "server",
    "worker_class", "workers", "threads", "mix", "users", "round", "status", "requests",
    "errors", "error_rate", "rps", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms",
    "mean_ms", "server_cpu_pct", "server_rss_mb", "locust_cpu_pct", "keepalive",
    "server_cpus", "load_cpus", "warmup_s", "measure_s", "started_at",
)  # fmt: skip
TEXT_COLUMNS: tuple[str, ...] = (
    "run", "scenario", "cell", "stack", "app", "framework", "interface", "server",
    "worker_class", "mix", "status", "keepalive", "server_cpus", "load_cpus", "started_at",
)  # fmt: skip
# Columns a later harness feature may add; when present they flag cells.
OPTIONAL_FLAG_COLUMNS: tuple[str, ...] = ("generator_bound", "unstable", "noisy")

# Flag codes, in the order badges are shown, with the words a reader sees.
FLAG_LABELS: dict[str, str] = {
    "failed": "failed",
    "generator_bound": "generator-bound",
    "cut_off": "cut off",
    "stalled": "stalled",
    "unstable": "unstable",
    "noisy": "noisy (other processes)",
    "time_wait": "TIME_WAIT",
    "concurrent": "concurrent run",
    "errors": "errors",
    "some_failed": "failed at some levels",
}
FLAG_MEANINGS: dict[str, str] = {
    "failed": "the cell did not finish (server did not start, verification or load failed); "
    "never ranked, listed last",
    "generator_bound": "the load generator was the limit: throughput is a lower bound",
    "cut_off": "requests sent in the window were still unanswered when the load stopped: "
    "raise load.stop_timeout_s; throughput and latency are lower bounds",
    "stalled": "requests sent before the window were still in flight when it ended (a full "
    "listen backlog, SYN retries): their users sent nothing in the window, so its latency "
    "leaves them out and is a lower bound",
    "unstable": "rounds vary too much to trust the figure (throughput CV above 10%)",
    "noisy": "the machine was busy: other processes used more than 10% of a core during "
    "the measurement; the figure may be low",
    "time_wait": "sockets in TIME_WAIT held half the local port range or more when the "
    "measurement started, so new connections may have failed or waited; the figure may be "
    "low",
    "concurrent": "another run of the suite shared its CPUs (allowed by --allow-concurrent): "
    "the two measured each other",
    "errors": "some requests in the measure window failed (see error rate)",
    "some_failed": "the stack failed at other concurrency levels of this mix",
}
STACK_COLUMNS: tuple[str, ...] = (
    "app", "framework", "interface", "server", "worker_class", "workers", "threads",
    "family", "worker_kind",
)  # fmt: skip
METRIC_COLUMNS: tuple[str, ...] = (
    "rps", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms", "error_rate",
    "server_cpu_pct", "server_rss_mb", "server_pss_mb", "worker_uss_mb", "locust_cpu_pct",
    "rps_per_cpu_s", "stack_mb",
)  # fmt: skip
# Worker classes whose workers interleave many requests on one thread.
ASYNC_WORKER_HINTS: tuple[str, ...] = (
    "async", "asgi", "uvloop", "uvicorn", "trio", "gevent", "eventlet", "tornado",
)  # fmt: skip
_TRUE_WORDS = frozenset({"1", "true", "yes", "y", "t"})


@dataclass(frozen=True)
class Run:
    """One run directory, read: metadata.json and the cells table."""

    path: Path
    run_id: str
    metadata: dict[str, Any]
    cells: pd.DataFrame

    def raw_dir(self, cell: str) -> Path:
        """The directory of one cell's raw files."""
        return self.path / "raw" / cell


def load_metadata(run_dir: Path) -> dict[str, Any]:
    """metadata.json of a run; an empty dict when the run has not written it yet."""
    path = run_dir / "metadata.json"
    if not path.exists():
        return {}
    return read_json_object(path)


def load_run(run_dir: Path) -> Run:
    """Read a run directory: metadata.json and cells.csv with derived columns."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ResultsError(f"not a run directory: {run_dir}")
    metadata = load_metadata(run_dir)
    cells = load_cells(run_dir, metadata)
    return Run(
        path=run_dir,
        run_id=str(metadata.get("run_id") or run_dir.name),
        metadata=metadata,
        cells=cells,
    )


def load_cells(run_dir: Path, metadata: dict[str, Any] | None = None) -> pd.DataFrame:
    """cells.csv as typed columns, plus flags, stack family, worker kind and machine facts."""
    path = Path(run_dir) / "cells.csv"
    if not path.exists():
        raise ResultsError(f"{path} is missing: no cell of this run has finished")
    try:
        frame = pd.read_csv(path, dtype={c: "string" for c in TEXT_COLUMNS}, keep_default_na=False)
    except (OSError, pd.errors.ParserError, ValueError) as exc:
        raise ResultsError(f"cannot read {path}: {exc}") from exc
    # Older runs named some columns differently (harness/results/format.py).
    frame = frame.rename(columns={o: n for o, n in RENAMED.items() if n not in frame.columns})
    if "cold" in frame.columns:
        # A stack's first window after it started: kept apart from every figure.
        frame = frame[~_to_bool(frame["cold"])].reset_index(drop=True)
    missing = [c for c in CELLS_COLUMNS if c not in frame.columns]
    if missing:
        raise ResultsError(f"{path}: missing columns {missing}")
    return _derive(frame, metadata or {})


def _numeric(frame: pd.DataFrame, col: str) -> pd.Series:
    """A column as numbers, all empty when an older run does not have it."""
    return pd.to_numeric(frame.get(col, pd.Series(np.nan, index=frame.index)), errors="coerce")


def has_pss(frame: pd.DataFrame) -> bool:
    """Whether these rows carry the server's PSS: older runs (and an unreadable /proc)
    have RSS alone, and their memory figures fall back to it."""
    return "server_pss_mb" in frame.columns and bool(frame["server_pss_mb"].notna().any())


def _to_bool(column: pd.Series) -> pd.Series:
    return column.astype("string").str.strip().str.lower().isin(_TRUE_WORDS)


def _derive(frame: pd.DataFrame, metadata: dict[str, Any]) -> pd.DataFrame:
    frame = frame.copy()
    for col in CELLS_COLUMNS:
        if col not in TEXT_COLUMNS:
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    for col in TEXT_COLUMNS:
        frame[col] = frame[col].astype(str)
    if "target_rps" in frame.columns:  # open loop; empty in a closed-loop run
        frame["target_rps"] = pd.to_numeric(frame["target_rps"], errors="coerce")
    for col in OPTIONAL_FLAG_COLUMNS:
        frame[col] = _to_bool(frame[col]) if col in frame.columns else False
    # The figures behind the two kinds of noise (harness/measure/noise.py); older runs
    # have neither. A cell that started with TIME_WAIT over half the local port range is
    # flagged time_wait: its connects may have failed or stalled.
    # Memory counted once (PSS) and per worker (USS): older runs have RSS alone.
    for col in ("other_cpu_pct", "port_range_used_fraction", "server_pss_mb", "worker_uss_mb"):
        frame[col] = _numeric(frame, col)
    frame["time_wait"] = frame["port_range_used_fraction"] >= PORT_RANGE_HALF
    concurrent = frame.get("concurrent", pd.Series("", index=frame.index))
    frame["has_concurrent"] = concurrent.fillna("").astype(str).str.strip() != ""
    frame["failed"] = frame["status"] != "ok"
    frame["has_errors"] = ~frame["failed"] & (frame["error_rate"].fillna(0) > 0)
    # Requests cut off unanswered when the load stopped, and stalled through the whole
    # window; older runs have no such columns.
    for col in ("cut_off", "stalled"):
        counts = pd.to_numeric(frame.get(col, pd.Series(0, index=frame.index)), errors="coerce")
        frame[col] = counts.fillna(0).astype(int)
        frame[f"has_{col}"] = ~frame["failed"] & (frame[col] > 0)
    frame["flags"] = [_cell_flags(row) for row in frame.itertuples(index=False)]
    # What the stack costs is the server's CPU and memory plus, in a +nginx stack, nginx's:
    # nginx runs on the server's CPUs and does part of the work (TLS, the second hop).
    # A stack without nginx has empty nginx columns, counted as none.
    front_cpu = _numeric(frame, "nginx_cpu_pct").fillna(0.0)
    front_mb = _numeric(frame, "nginx_rss_mb").fillna(0.0)
    cpu = (frame["server_cpu_pct"] + front_cpu).where(frame["server_cpu_pct"] > 0)
    # CPU figures are percentages of one core, so pct/100 is CPU-seconds per second.
    frame["rps_per_cpu_s"] = frame["rps"] / (cpu / 100.0)
    # The server's PSS (RSS in a run that has none) plus nginx's RSS.
    frame["stack_mb"] = frame["server_pss_mb" if has_pss(frame) else "server_rss_mb"] + front_mb
    frame["family"] = [_family(r) for r in frame.itertuples(index=False)]
    frame["worker_kind"] = [
        worker_kind(r.interface, r.worker_class) for r in frame.itertuples(index=False)
    ]
    frame["raw_dir"] = "raw/" + frame["cell"]
    machine = metadata.get("machine") or {}
    frame["cpu_model"] = str(machine.get("cpu_model", ""))
    frame["python"] = str((metadata.get("python") or {}).get("version", ""))
    return frame


# Each cell flag and the derived column that raises it, in badge order.
CELL_FLAG_COLUMNS: tuple[tuple[str, str], ...] = (
    ("failed", "failed"), ("generator_bound", "generator_bound"), ("cut_off", "has_cut_off"),
    ("stalled", "has_stalled"), ("unstable", "unstable"), ("noisy", "noisy"),
    ("time_wait", "time_wait"), ("concurrent", "has_concurrent"), ("errors", "has_errors"),
)  # fmt: skip


def _cell_flags(row: Any) -> str:
    return ";".join(code for code, column in CELL_FLAG_COLUMNS if getattr(row, column))


def worker_kind(interface: str, worker_class: str) -> str:
    """'async' for event-loop or green-thread workers (and every ASGI server), else 'sync'."""
    name = worker_class.lower()
    if interface.lower() == "asgi" or any(hint in name for hint in ASYNC_WORKER_HINTS):
        return "async"
    return "sync"


def _family(row: Any) -> str:
    """The stack id with its worker count replaced by '*': stacks that differ only there."""
    if not pd.isna(row.workers):
        token = re.compile(rf"(?<![A-Za-z0-9])w{int(row.workers)}(?![0-9])")
        if len(token.findall(row.stack)) == 1:
            return token.sub("w*", row.stack)
    threads = "" if pd.isna(row.threads) or row.threads <= 1 else f"-t{int(row.threads)}"
    return f"{row.app}@{row.server}-{row.worker_class}-w*{threads}"


def split_flags(flags: str) -> list[str]:
    """Flag codes of a ';'-joined flags cell."""
    return [code for code in str(flags).split(";") if code]


def ranked(table: pd.DataFrame, mix: str) -> pd.DataFrame:
    """The ranked rows of one mix of a summary table, best first (failed stacks left out)."""
    return table[(table["mix"] == mix) & table["rank"].notna()].sort_values("rank")


def level_label(users: Any, target_rps: Any = None) -> str:
    """A load level in words: "32 users", or in an open-loop run "a target of 500
    requests/s"."""
    if target_rps is not None and not pd.isna(target_rps):
        return f"a target of {float(target_rps):g} requests/s"
    return f"{int(users)} users"


def open_loop(frame: pd.DataFrame) -> bool:
    """Whether the cells (or levels) come from an open-loop run: target_rps is set."""
    return bool(
        "target_rps" in frame.columns
        and pd.to_numeric(frame["target_rps"], errors="coerce").notna().any()
    )


def levels(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per scenario, mix, stack and users (and target rate in an open-loop run):
    rounds pooled by their median.

    A level with any failed round counts as failed; its metrics come from the
    rounds that finished, if any, and are never ranked.
    """
    keys = ["scenario", "mix", "stack", "users"]
    # Open-loop runs keep one level per target rate.
    if open_loop(cells):
        keys.append("target_rps")
    rows = []
    for key, group in cells.groupby(keys, sort=True, dropna=False):
        ok = group[~group["failed"]]
        row: dict[str, Any] = dict(zip(keys, key, strict=True))
        row.update({c: group[c].iloc[0] for c in STACK_COLUMNS})
        row["repeats"] = len(group)
        row["repeats_failed"] = int(group["failed"].sum())
        row["status"] = "failed" if row["repeats_failed"] else "ok"
        for col in METRIC_COLUMNS:
            row[col] = ok[col].median() if len(ok) else np.nan
        row["rps_min"] = ok["rps"].min() if len(ok) else np.nan
        row["rps_max"] = ok["rps"].max() if len(ok) else np.nan
        # The interval of the median over the rounds, with its exact confidence
        # (harness/core/intervals.py); CV > 10% flags it unstable.
        for col in ("rps", "p50_ms", "p90_ms", "p99_ms"):
            ci = median_interval(ok[col].astype(float).tolist())
            row[f"{col}_ci_low"], row[f"{col}_ci_high"] = ci.low, ci.high
            row["ci_level"] = ci.level
        row["rps_cv"] = coefficient_of_variation(ok["rps"].astype(float).tolist())
        # The worst round of each kind of noise, for the flags' explanation.
        row["other_cpu_pct_max"] = group["other_cpu_pct"].max()
        row["port_range_used_max"] = group["port_range_used_fraction"].max()
        unstable = {"unstable"} if row["rps_cv"] > UNSTABLE_CV else set()
        row["requests"] = ok["requests"].sum()
        flags = {code for f in group["flags"] for code in split_flags(f)} | unstable
        row["flags"] = ";".join(c for c in FLAG_LABELS if c in flags)
        row["cells"] = ";".join(group.sort_values("round")["cell"])
        rows.append(row)
    return pd.DataFrame(rows)


SUMMARY_COLUMNS: tuple[str, ...] = (
    "scenario", "mix", "rank", "stack", "status", "flags", "users", "target_rps", "rps",
    "rps_min", "rps_max", "rps_ci_low", "rps_ci_high", "rps_cv", "p50_ms_ci_low", "p50_ms_ci_high",
    "p90_ms_ci_low", "p90_ms_ci_high", "p99_ms_ci_low", "p99_ms_ci_high", "ci_level", "repeats",
    "vs_leader", "vs_leader_low", "vs_leader_high", "tied_with_leader",
    "vs_next", "vs_next_low", "vs_next_high", "tied_with_next",
    "p50_ms", "p90_ms", "p99_ms", "p999_ms", "error_rate",
    "server_cpu_pct", "server_rss_mb", "server_pss_mb", "worker_uss_mb", "rps_per_cpu_s",
    "stack_mb", "locust_cpu_pct", "failed_users",
    "other_cpu_pct_max", "port_range_used_max", *STACK_COLUMNS, "cells",
)  # fmt: skip


def summary(cells: pd.DataFrame) -> pd.DataFrame:
    """The ranked table: per scenario and mix, each stack at its peak throughput.

    The peak is the concurrency level with the highest median rps among levels
    without failed rounds. Stacks with no such level get status 'failed', no rank,
    and come last. Flagged peaks keep their flags next to their rank.
    """
    per_level = levels(cells)
    if per_level.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    rows = []
    for _, group in per_level.groupby(["scenario", "mix", "stack"], sort=True):
        ok = group[group["status"] == "ok"]
        failed_users = group.loc[group["status"] != "ok", "users"]
        if len(ok):
            row = ok.loc[ok["rps"].idxmax()].to_dict()
            if len(failed_users):
                row["flags"] = ";".join([*split_flags(row["flags"]), "some_failed"])
        else:
            row = group.iloc[-1].to_dict()
            row.update({c: np.nan for c in (*METRIC_COLUMNS, "rps_min", "rps_max", "users")})
            row["flags"] = "failed"
            row["status"] = "failed"
        row["failed_users"] = ",".join(str(int(u)) for u in failed_users)
        rows.append(row)
    table = pd.DataFrame(rows)
    if "target_rps" not in table.columns:
        table["target_rps"] = np.nan
    table["_failed"] = table["status"] != "ok"
    table = table.sort_values(
        ["scenario", "mix", "_failed", "rps", "stack"], ascending=[True, True, True, False, True]
    )
    ranks = table[~table["_failed"]].groupby(["scenario", "mix"]).cumcount() + 1
    table["rank"] = ranks.reindex(table.index).astype("Int64")
    table = _ties(table.reset_index(drop=True), cells)
    return table[list(SUMMARY_COLUMNS)].reset_index(drop=True)


def _peak_rounds(cells: pd.DataFrame, row: Any) -> dict[int, float]:
    """round -> rps of one summary row's stack at its peak level, ok rounds only."""
    mine = cells[
        (cells["scenario"] == row["scenario"]) & (cells["mix"] == row["mix"])
        & (cells["stack"] == row["stack"]) & (cells["users"] == row["users"]) & ~cells["failed"]
    ]  # fmt: skip
    if "target_rps" in cells.columns and not pd.isna(row.get("target_rps", np.nan)):
        mine = mine[mine["target_rps"] == row["target_rps"]]
    return {int(r): float(v) for r, v in zip(mine["round"], mine["rps"], strict=True)}


def _ties(table: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """The ranking's uncertainty: each ranked stack against the leader of its mix, and
    against the stack ranked right below it, paired by round (each at its peak level).
    Where the paired interval of the ratio includes 1, the two are tied: the ranking does
    not order them (harness/core/intervals.py)."""
    columns = ("vs_leader", "vs_leader_low", "vs_leader_high", "vs_next", "vs_next_low",
               "vs_next_high")  # fmt: skip
    table = table.assign(**dict.fromkeys(columns, np.nan), tied_with_leader=pd.NA,
                         tied_with_next=pd.NA)  # fmt: skip
    for _, group in table[table["rank"].notna()].groupby(["scenario", "mix"], sort=False):
        ordered = group.sort_values("rank")
        rounds = {i: _peak_rounds(cells, r) for i, r in ordered.iterrows()}
        leader = ordered.index[0]
        for pos, i in enumerate(ordered.index):
            vs = paired_interval(rounds[i], rounds[leader])
            table.loc[i, ["vs_leader", "vs_leader_low", "vs_leader_high"]] = (
                vs.median,
                vs.low,
                vs.high,
            )
            table.loc[i, "tied_with_leader"] = i != leader and not vs.excludes(1.0)
            if pos + 1 < len(ordered):
                below = ordered.index[pos + 1]
                nxt = paired_interval(rounds[i], rounds[below])
                table.loc[i, ["vs_next", "vs_next_low", "vs_next_high"]] = (
                    nxt.median,
                    nxt.low,
                    nxt.high,
                )
                table.loc[i, "tied_with_next"] = not nxt.excludes(1.0)
    return table


def kind_comparison(table: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and mix, the best ranked stack of each worker kind (sync, async)."""
    ranked = table[table["rank"].notna()]
    if ranked.empty:
        return pd.DataFrame(columns=["scenario", "mix", "worker_kind", "stack", "rps", "p99_ms"])
    best = ranked.sort_values("rps", ascending=False).groupby(
        ["scenario", "mix", "worker_kind"], sort=True
    )
    cols = ["scenario", "mix", "worker_kind", "stack", "users", "rps", "p99_ms", "flags"]
    return best.head(1)[cols].sort_values(["scenario", "mix", "worker_kind"]).reset_index(drop=True)


def write_summary(run: Run) -> Path:
    """Write summary.csv into the run directory and return its path."""
    path = run.path / "summary.csv"
    tmp = path.with_suffix(".csv.tmp")
    summary(run.cells).to_csv(tmp, index=False)
    tmp.replace(path)
    return path


IO_TASKS = frozenset({"sleep", "upstream"})
CPU_TASKS = frozenset({"cpu"})


def mix_weights(metadata: dict[str, Any], mix: str) -> dict[str, float]:
    """Task kind -> weight of a mix, from the scenario content recorded in metadata.json."""
    content = (metadata.get("scenario") or {}).get("content") or {}
    table = (content.get("mixes") or {}).get(mix) or {}
    return {
        kind: float(weight)
        for kind, weight in table.items()
        if kind != "params" and isinstance(weight, int | float) and not isinstance(weight, bool)
    }


def mix_profile(metadata: dict[str, Any], mix: str) -> str:
    """'io-bound', 'cpu-bound' or 'other': which task kinds carry at least half the weight."""
    weights = mix_weights(metadata, mix)
    total = sum(weights.values())
    if total <= 0:
        return "other"
    io_share = sum(w for k, w in weights.items() if k in IO_TASKS) / total
    cpu_share = sum(w for k, w in weights.items() if k in CPU_TASKS) / total
    if io_share >= 0.5:
        return "io-bound"
    if cpu_share >= 0.5:
        return "cpu-bound"
    return "other"


def kind_pivot(table: pd.DataFrame, profiles: dict[str, str] | None = None) -> pd.DataFrame:
    """Per mix: the best sync and the best async stack side by side, with async/sync ratio."""
    best = kind_comparison(table)
    rows = []
    for (scenario, mix), group in best.groupby(["scenario", "mix"], sort=False):
        row: dict[str, Any] = {"scenario": scenario, "mix": mix}
        if profiles is not None:
            row["profile"] = profiles.get(str(mix), "other")
        for kind in ("sync", "async"):
            hit = group[group["worker_kind"] == kind]
            row[f"{kind}_stack"] = hit["stack"].iloc[0] if len(hit) else ""
            row[f"{kind}_rps"] = hit["rps"].iloc[0] if len(hit) else np.nan
            row[f"{kind}_p99_ms"] = hit["p99_ms"].iloc[0] if len(hit) else np.nan
        row["async_over_sync"] = row["async_rps"] / row["sync_rps"]
        rows.append(row)
    return pd.DataFrame(rows)


def scaling(table: pd.DataFrame) -> pd.DataFrame:
    """Stack families run at more than one worker count: peak rps per count and the speed-up
    over the family's smallest count."""
    ranked = table[table["rank"].notna()]
    cols = ["scenario", "mix", "family", "worker_kind", "workers", "rps", "speedup", "flags"]
    parts = []
    for _, group in ranked.groupby(["scenario", "mix", "family"], sort=True):
        if group["workers"].nunique() < 2:
            continue
        group = group.sort_values("workers")
        parts.append(group.assign(speedup=group["rps"] / group["rps"].iloc[0])[cols])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
