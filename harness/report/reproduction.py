"""Reproductions: a run of scenarios/paterson2020.toml or grinberg2020.toml beside the
published figures (scenarios/anchors/*.csv), compared by rank (Spearman) and tail ratio.

Absolute figures depend on the machine; rankings and p99/p50 ratios can be compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path

import pandas as pd

from harness.core.paths import REPO_ROOT

ANCHOR_DIR = REPO_ROOT / "scenarios" / "anchors"


@dataclass(frozen=True)
class Anchor:
    """One published table: which of our stacks stands for which of its rows."""

    name: str
    title: str
    throughput: str  # the published column compared with our rps
    rows: tuple[tuple[str, str, str, str, str], ...]  # app, server, their server, framework, note


ANCHORS: dict[str, Anchor] = {
    "paterson2020": Anchor(
        "paterson2020",
        'Cal Paterson, "Async Python is not faster" (2020)',
        "rps",
        (
            (
                "flask",
                "uwsgi",
                "uWSGI http",
                "Flask",
                "ours: nginx uwsgi_pass (the uWSGI protocol); his Flask row used HTTP",
            ),
            ("flask", "gunicorn-sync", "Gunicorn", "Flask", ""),
            ("flask", "gunicorn-gevent", "Gunicorn+gevent", "Flask", ""),
            (
                "fastapi-async",
                "uvicorn",
                "Uvicorn",
                "Starlette",
                "ours: FastAPI (on Starlette); no plain Starlette variant",
            ),
        ),
    ),
    "grinberg2020": Anchor(
        "grinberg2020",
        'Miguel Grinberg, "Ignore All Web Performance Benchmarks, Including This One" (2020)',
        "relative_throughput",
        (
            (
                "flask",
                "gunicorn-gevent",
                "Gevent",
                "Flask",
                "ours: 20 ms in-app sleep instead of pg_sleep(0.02) + a row",
            ),
            (
                "fastapi-async",
                "uvicorn",
                "Uvicorn",
                "FastAPI",
                "ours: 20 ms in-app sleep instead of pg_sleep(0.02) + a row",
            ),
        ),
    ),
}


def ranks(values: list[float]) -> list[float]:
    """Ranks 1..n (1 = smallest), ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman's rank correlation (Pearson's r of the ranks); None below 3 pairs or when
    one side has no spread."""
    if len(a) != len(b) or len(a) < 3:
        return None
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    va = sum((x - ma) ** 2 for x in ra)
    vb = sum((y - mb) ** 2 for y in rb)
    if va == 0 or vb == 0:
        return None
    return float(cov / (va * vb) ** 0.5)


def comparison(cells: pd.DataFrame, anchor: Anchor, anchor_dir: Path = ANCHOR_DIR) -> pd.DataFrame:
    """One row per mapped stack: ours (median over the rounds, highest user level, ok cells)
    beside the published row. Stacks missing on either side are left out."""
    published = pd.read_csv(anchor_dir / f"{anchor.name}.csv")
    ok = cells[cells["status"] == "ok"]
    rows = []
    for app, server, their_server, framework, note in anchor.rows:
        mine = ok[(ok["app"] == app) & (ok["server"] == server)]
        theirs = published[
            (published["server"] == their_server) & (published["framework"] == framework)
        ]
        if mine.empty or theirs.empty:
            continue
        mine = mine[mine["users"] == mine["users"].max()]
        stack_ids = sorted(set(mine["stack"]))
        ours = mine[["rps", "p50_ms", "p99_ms"]].astype(float).median()
        t = theirs.iloc[0]
        rows.append({
            "stack": ", ".join(stack_ids), "published": f"{their_server} + {framework}",
            "their_workers": int(t["workers"]), "our_workers": int(mine["workers"].iloc[0]),
            "users": int(mine["users"].iloc[0]),
            "our_rps": ours["rps"], "their_throughput": float(t[anchor.throughput]),
            "our_p50_ms": ours["p50_ms"], "their_p50_ms": float(t["p50_ms"]),
            "our_p99_ms": ours["p99_ms"], "their_p99_ms": float(t["p99_ms"]),
            "our_tail": ours["p99_ms"] / ours["p50_ms"] if ours["p50_ms"] else float("nan"),
            "their_tail": float(t["p99_ms"]) / float(t["p50_ms"]),
            "note": note,
        })  # fmt: skip
    return pd.DataFrame(rows)


def correlations(table: pd.DataFrame) -> dict[str, float | None]:
    """Spearman's rho between ours and theirs for throughput, p50, p99 and the tail ratio."""
    pairs = {
        "throughput": ("our_rps", "their_throughput"),
        "p50": ("our_p50_ms", "their_p50_ms"),
        "p99": ("our_p99_ms", "their_p99_ms"),
        "p99/p50": ("our_tail", "their_tail"),
    }
    if table.empty:
        return dict.fromkeys(pairs)
    return {k: spearman(list(table[a]), list(table[b])) for k, (a, b) in pairs.items()}


def findings(table: pd.DataFrame) -> list[str]:
    """Plain sentences: where today's ranking agrees with 2020 and where it does not."""
    if len(table) < 2:
        return ["Fewer than two stacks on both sides: nothing to rank."]
    out = []
    ours = table.sort_values("our_rps", ascending=False)["stack"].tolist()
    theirs = table.sort_values("their_throughput", ascending=False)["stack"].tolist()
    if ours == theirs:
        out.append("Throughput ranks the stacks in the same order as in 2020.")
    else:
        moved = [
            f"{s}: {theirs.index(s) + 1} in 2020, {ours.index(s) + 1} here"
            for s in ours
            if ours.index(s) != theirs.index(s)
        ]
        out.append("Throughput order differs from 2020 (" + "; ".join(moved) + ").")
    for col, label in (("our_tail", "here"), ("their_tail", "in 2020")):
        worst = table.loc[table[col].idxmax()]
        out.append(f"Widest tail (p99/p50) {label}: {worst['stack']} ({worst[col]:.1f}×).")
    same_tail = table["our_tail"].idxmax() == table["their_tail"].idxmax()
    out.append(
        "The stack with the widest tail is the same as in 2020."
        if same_tail
        else "The stack with the widest tail is not the one of 2020."
    )
    return out


def _fmt(value: float | None, pattern: str = ".2f") -> str:
    return "–" if value is None or pd.isna(value) else format(value, pattern)


def section_html(cells: pd.DataFrame, scenario_name: str, anchor_dir: Path = ANCHOR_DIR) -> str:
    """The reproduction section of report.html, or "" for other scenarios."""
    anchor = ANCHORS.get(scenario_name)
    if anchor is None or not (anchor_dir / f"{anchor.name}.csv").is_file():
        return ""
    table = comparison(cells, anchor, anchor_dir)
    rho = correlations(table)
    head = (
        "<tr><th>stack (ours)</th><th>published</th><th>workers ours / theirs</th>"
        f"<th>rps ours</th><th>{escape(anchor.throughput)} theirs</th><th>p50 ms ours / theirs</th>"
        "<th>p99 ms ours / theirs</th><th>p99/p50 ours / theirs</th><th>note</th></tr>"
    )
    body = "".join(
        f"<tr><td class='stack'>{escape(r.stack)}</td><td>{escape(r.published)}</td>"
        f"<td class='num'>{r.our_workers} / {r.their_workers}</td>"
        f"<td class='num'>{_fmt(r.our_rps, '.0f')}</td>"
        f"<td class='num'>{_fmt(r.their_throughput, 'g')}</td>"
        f"<td class='num'>{_fmt(r.our_p50_ms, '.1f')} / {_fmt(r.their_p50_ms, 'g')}</td>"
        f"<td class='num'>{_fmt(r.our_p99_ms, '.1f')} / {_fmt(r.their_p99_ms, 'g')}</td>"
        f"<td class='num'>{_fmt(r.our_tail)} / {_fmt(r.their_tail)}</td>"
        f"<td>{escape(r.note)}</td></tr>"
        for r in table.itertuples()
    )
    rhos = ", ".join(f"{k} {_fmt(v)}" for k, v in rho.items())
    notes = "".join(f"<li>{escape(s)}</li>" for s in findings(table))
    return (
        f'<h2 id="reproduction">Reproduction: {escape(anchor.title)}</h2>'
        f"<table><thead>{head}</thead><tbody>{body}</tbody></table>"
        f"<p>Spearman's rank correlation, ours vs published ({len(table)} stacks; "
        f"– below 3): {escape(rhos)}.</p><ul>{notes}</ul>"
        "<p class='muted'>Published figures and their source: scenarios/anchors/. Absolute "
        "numbers depend on the machine; compare ranks and p99/p50. What this run does "
        "differently from the original is listed at the top of the scenario file.</p>"
    )


def write_csv(cells: pd.DataFrame, scenario_name: str, out: Path) -> Path | None:
    """reproduction.csv beside the report, for reproduction scenarios."""
    anchor = ANCHORS.get(scenario_name)
    if anchor is None:
        return None
    comparison(cells, anchor).to_csv(out, index=False)
    return out
