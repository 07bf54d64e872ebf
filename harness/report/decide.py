"""What to deploy, per mix: the figures a reader decides with, all computed from the run.

For each mix: what it sent (the request names and their shares, counted in one of its
windows, and the mix's parameters), the leader and the stacks tied with it (their paired
interval against the leader includes 1), the best stack within a p99 budget (any load
level whose median p99 stays within it), the best sync against the best async stack
(paired by round), the most requests per CPU-second and the least memory (the server's
PSS, its memory counted once, or RSS for a run that has no PSS), both counting nginx's
share in a +nginx stack (tables.stack_mb), the leanest worker (USS:
what each further worker costs), and takeaway sentences made from those figures and
nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from harness.core.errors import ResultsError
from harness.core.intervals import Interval, paired_interval
from harness.report.raw import read_requests
from harness.report.tables import Run, has_pss, level_label, levels, ranked, split_flags

DEFAULT_P99_BUDGET_MS = 100.0


@dataclass(frozen=True)
class Pick:
    """One stack at one load level, with the figures that chose it and the windows (one
    per round) they come from."""

    stack: str
    level: str
    rps: float
    p99_ms: float
    cells: tuple[str, ...]


@dataclass(frozen=True)
class MixDecision:
    mix: str
    weights: dict[str, Any]  # task kind -> weight, as the scenario gives them
    sends: tuple[tuple[str, float], ...]  # (request name, share of requests)
    sent_in: str  # the window they were counted in
    params: dict[str, Any]
    leader: Pick | None
    tied: tuple[str, ...]
    budget_ms: float
    within_budget: Pick | None
    # Other stacks whose best level within the budget is tied with the pick (paired).
    budget_tied: tuple[str, ...]
    best_sync: Pick | None
    best_async: Pick | None
    async_over_sync: Interval | None
    most_efficient: tuple[str, float] | None  # stack, requests per CPU-second (+ nginx's)
    # stack, server MB, and which memory: "PSS" or, for a run without it, "RSS".
    least_memory: tuple[str, float, str] | None
    leanest_worker: tuple[str, float] | None  # stack, USS MB of its median worker
    takeaways: tuple[str, ...]


def _pick(row: Any) -> Pick:
    """A row of the summary or of levels(): each carries its windows in `cells`."""
    return Pick(
        str(row["stack"]), level_label(row["users"], row.get("target_rps")), float(row["rps"]),
        float(row["p99_ms"]), tuple(c for c in str(row["cells"]).split(";") if c),
    )  # fmt: skip


def _sends(run: Run, mix: str) -> tuple[tuple[tuple[str, float], ...], str]:
    """The request names of the mix's first finished window and each one's share."""
    cells = run.cells[(run.cells["mix"] == mix) & ~run.cells["failed"]]
    for cell in cells["cell"]:
        try:
            frame = read_requests(run.path / "raw" / str(cell))
        except ResultsError:  # a window without its records: try the next one
            continue
        if len(frame):
            shares = frame["name"].value_counts(normalize=True).sort_index()
            return tuple((str(k), float(v)) for k, v in shares.items()), str(cell)
    return (), ""


def _mix_table(run: Run, mix: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(weights, params) of the mix as the run's scenario gives them."""
    content = (run.metadata.get("scenario") or {}).get("content") or {}
    table = (content.get("mixes") or {}).get(mix) or {}
    if not isinstance(table, dict):
        return {}, {}
    weights = {k: v for k, v in table.items() if k != "params"}
    return weights, dict(table.get("params") or {})


def _rounds(run: Run, pick: Pick) -> dict[int, float]:
    """round -> requests/s of the pick's finished windows."""
    ok = run.cells[run.cells["cell"].isin(pick.cells) & ~run.cells["failed"]]
    return {int(r): float(v) for r, v in zip(ok["round"], ok["rps"], strict=True)}


def _tied_with(run: Run, pick: Pick | None, within: pd.DataFrame) -> tuple[str, ...]:
    """The other stacks whose fastest level within the budget is tied with the pick: their
    paired ratio to it (per round) has an interval that includes 1."""
    if pick is None:
        return ()
    best = _rounds(run, pick)
    tied = []
    for stack, levels_of in within.groupby("stack", sort=True):
        if stack == pick.stack:
            continue
        other = _pick(levels_of.loc[levels_of["rps"].idxmax()])
        ci = paired_interval(_rounds(run, other), best)
        if ci.n > 1 and ci.low <= 1 <= ci.high:
            tied.append(str(stack))
    return tuple(tied)


def decide(
    run: Run, table: pd.DataFrame, budget_ms: float = DEFAULT_P99_BUDGET_MS
) -> list[MixDecision]:
    """One decision per mix of the run, in run order; `table` is its summary."""
    per_level = levels(run.cells)
    out = []
    for mix in dict.fromkeys(run.cells["mix"]):
        rows = ranked(table, mix)
        leader = _pick(rows.iloc[0]) if len(rows) else None
        tied = tuple(
            str(r["stack"]) for _, r in rows.iloc[1:].iterrows()
            if str(r["tied_with_leader"]).lower() == "true"
        )  # fmt: skip
        ok_levels = per_level[(per_level["mix"] == mix) & (per_level["status"] == "ok")]
        within = ok_levels[ok_levels["p99_ms"] <= budget_ms]
        within_budget = _pick(within.loc[within["rps"].idxmax()]) if len(within) else None
        budget_tied = _tied_with(run, within_budget, within)
        best = {}
        for kind in ("sync", "async"):
            part = rows[rows["worker_kind"] == kind]
            best[kind] = _pick(part.iloc[0]) if len(part) else None
        ratio = None
        if best["sync"] and best["async"]:
            ratio = paired_interval(_rounds(run, best["async"]), _rounds(run, best["sync"]))
        most_efficient = _extreme(rows, "rps_per_cpu_s", highest=True)
        least = _extreme(rows, "stack_mb", highest=False)
        least_memory = (*least, "PSS" if has_pss(rows) else "RSS") if least else None
        leanest_worker = _extreme(rows, "worker_uss_mb", highest=False)
        sends, sent_in = _sends(run, mix)
        weights, params = _mix_table(run, mix)
        decision = MixDecision(
            mix, weights, sends, sent_in, params, leader, tied, budget_ms, within_budget,
            budget_tied,
            best["sync"], best["async"], ratio, most_efficient, least_memory, leanest_worker,
            (),
        )  # fmt: skip
        out.append(_with_takeaways(decision, rows))
    return out


def _extreme(rows: pd.DataFrame, column: str, highest: bool) -> tuple[str, float] | None:
    """(stack, figure) of the ranked row with the highest or lowest figure in column; None
    when no row has it (an older run, a server the suite did not start)."""
    known = rows.dropna(subset=[column]) if column in rows.columns else rows.iloc[0:0]
    if not len(known):
        return None
    row = known.loc[known[column].idxmax() if highest else known[column].idxmin()]
    return str(row["stack"]), float(row[column])


def _flagged(rows: pd.DataFrame, stack: str) -> list[str]:
    row = rows[rows["stack"] == stack]
    return split_flags(row.iloc[0]["flags"]) if len(row) else []


def _with_takeaways(d: MixDecision, rows: pd.DataFrame) -> MixDecision:
    says = []
    if d.leader is None:
        says.append(f"No stack finished the {d.mix} mix.")
        return replace(d, takeaways=tuple(says))
    others = len(rows) - 1
    if d.tied:
        verb = "is" if len(d.tied) == 1 else "are"
        tie = f"{len(d.tied)} of the other {others} {verb} tied with it"
    else:
        tie = f"none of the other {others} is tied with it"
    says.append(
        f"{d.leader.stack} leads at {d.leader.rps:,.0f} requests/s ({d.leader.level}); {tie}."
    )
    if d.best_sync and d.best_async and d.async_over_sync and d.async_over_sync.n > 1:
        ci = d.async_over_sync
        verdict = (
            "a tie" if ci.low <= 1 <= ci.high
            else "async ahead" if ci.low > 1 else "sync ahead"
        )  # fmt: skip
        says.append(
            f"The best async stack ({d.best_async.stack}) serves {ci.median:.2f}× "
            f"[{ci.low:.2f}, {ci.high:.2f}] what the best sync one ({d.best_sync.stack}) "
            f"does, paired by round: {verdict}."
        )
    if d.within_budget is None:
        says.append(f"No stack kept p99 within {d.budget_ms:g} ms at any load level.")
    elif d.within_budget.stack == d.leader.stack and d.leader.p99_ms <= d.budget_ms:
        says.append(
            f"The leader also keeps p99 within {d.budget_ms:g} ms at its peak "
            f"(p99 {d.leader.p99_ms:.1f} ms)."
        )
    else:
        w = d.within_budget
        tie = f"; tied with it: {', '.join(d.budget_tied)}" if d.budget_tied else ""
        says.append(
            f"Within a p99 of {d.budget_ms:g} ms the pick is {w.stack}: {w.rps:,.0f} "
            f"requests/s at {w.level}, p99 {w.p99_ms:.1f} ms (the leader's p99 at its peak: "
            f"{d.leader.p99_ms:.1f} ms){tie}."
        )
    flags = _flagged(rows, d.leader.stack)
    if flags:
        says.append(f"The leader's figure is flagged ({', '.join(flags)}): read it with care.")
    return replace(d, takeaways=tuple(says))


def percent_of_best(rows: pd.DataFrame) -> list[tuple[str, float]]:
    """(stack, its median requests/s as % of the leader's) in rank order."""
    if not len(rows):
        return []
    best = float(rows.iloc[0]["rps"])
    return [
        (str(r["stack"]), 100.0 * float(r["rps"]) / best if best > 0 else math.nan)
        for _, r in rows.iterrows()
    ]
