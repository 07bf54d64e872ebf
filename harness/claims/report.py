"""What a claims run shows: claims.md, one chart per claim (charts/<id>.png and .svg) and
report.html, all rebuilt from claims.json (`python -m harness report <claims dir>`)."""

from __future__ import annotations

import base64
import math
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from harness.core.errors import ResultsError
from harness.core.intervals import format_level
from harness.results.environment import KEY_PACKAGES
from harness.results.files import read_json_object

VERDICT_MARK = {
    "supported": "✅ supported",
    "refuted": "❌ refuted",
    "inconclusive": "❔ inconclusive",
}
VERDICT_COLOUR = {"supported": "#009E73", "refuted": "#D55E00", "inconclusive": "#999999"}
CLAIMS_ENV = "PWB_CLAIMS"
REFERENCE_CLAIMS = "reference-claims"


def _num(value: Any) -> str:
    if value is None:
        return "–"
    v = float(value)
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def _ends(item: dict[str, Any], low: str = "ci_low", high: str = "ci_high") -> tuple[Any, Any]:
    """An interval's ends; a high end that is null beside a low one is open (inf: claims.json
    holds no infinities), as a capacity's can be (harness/claims/verdict.py)."""
    lo, hi = item.get(low), item.get(high)
    return lo, (math.inf if hi is None and lo is not None else hi)


def _interval(item: dict[str, Any], low: str = "ci_low", high: str = "ci_high") -> str:
    """[low, high] and the interval's exact confidence, e.g. "[1.02, 1.3] (96.9%)"."""
    level = item.get("ci_level")
    confidence = f" ({format_level(float(level))})" if level is not None else ""
    lo, hi = _ends(item, low, high)
    return f"[{_num(lo)}, {'∞' if hi == math.inf else _num(hi)}]{confidence}"


def _round_values(figure: dict[str, Any]) -> str:
    """A figure's value in each round; where a round knows it only within bounds (a
    capacity), "low–high" ("low–∞" for an open high end)."""
    rounds, highs = figure.get("rounds") or {}, figure.get("highs") or {}
    if not rounds:
        return ", ".join(_num(v) for v in figure.get("values", []))
    parts = []
    for key, low in rounds.items():
        high = highs.get(key, low)
        if high == low:
            parts.append(_num(low))
        else:
            parts.append(f"{_num(low)}–{'∞' if high is None else _num(high)}")
    return ", ".join(parts)


def _versions(data: dict[str, Any]) -> str:
    packages = data.get("packages") or {}
    return ", ".join(f"{p} {packages[p]}" for p in KEY_PACKAGES if p in packages)


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(data: dict[str, Any]) -> str:
    claims = data.get("claims", [])
    machine = data.get("machine") or {}
    lines = [
        f"# Claims: {data.get('claims_id', '')}",
        "",
        f"Made by `python -m harness claims {data.get('file', '')}`"
        + (" --quick" if data.get("quick") else "")
        + f"; started {data.get('started_at')}, ended {data.get('ended_at')}.",
        "",
        f"- machine: {machine.get('cpu_model', '?')}, {machine.get('cores', '?')} logical CPUs, "
        f"{machine.get('memory_gb', '?')} GiB, Linux {machine.get('kernel', '?')}",
        f"- versions: {_versions(data)}",
        "- verdicts: supported or refuted only when the interval of the figure lies entirely "
        "on one side of the threshold and no cell involved is generator-bound, failed or "
        "erroring; otherwise inconclusive, with the reason. A ratio is paired by round (the "
        "median of per-round ratios); every interval is the order-statistic interval of a "
        "median and carries its exact confidence (96.9% with 6 rounds, 75% with 3).",
        "",
        "| claim | verdict | statement | figures |",
        "|---|---|---|---|",
    ]
    for c in claims:
        figures = "; ".join(
            f"{ch['label']}: {_num(ch.get('value'))} {_interval(ch)}" for ch in c.get("checks", [])
        ) or _md_escape(str(c.get("reason", "")).splitlines()[0])
        lines.append(
            f"| [{c['id']}](#{c['id']}) | {VERDICT_MARK.get(c['verdict'], c['verdict'])} | "
            f"{_md_escape(c['statement'])} | {_md_escape(figures)} |"
        )
    for c in claims:
        lines += ["", f"## {c['id']}", "", f"> {c['statement']}", ""]
        lines.append(f"**{VERDICT_MARK.get(c['verdict'], c['verdict'])}**: {c['reason']}")
        if c.get("notes"):
            lines += ["", str(c["notes"])]
        if c.get("checks"):
            lines += [
                "",
                "| check | value | interval (confidence) | verdict | why "
                "| where the interval lies |",
                "|---|---|---|---|---|---|",
            ]
            for ch in c["checks"]:
                lines.append(
                    f"| {_md_escape(ch['label'])}<br>`{_md_escape(ch['expression'])}` | "
                    f"{_num(ch.get('value'))} | {_interval(ch)} | {ch['verdict']} | "
                    f"{_md_escape(ch['reason'])} | {_md_escape(placement(ch))} |"
                )
            lines += [
                "",
                "| cell | metric | rounds | median | interval (confidence) | noisy rounds |",
                "|---|---|---|---|---|---|",
            ]
            seen = set()
            for ch in c["checks"]:
                for f in ch.get("figures", []):
                    key = (f["cell"], f["metric"])
                    if key in seen:
                        continue
                    seen.add(key)
                    values = _round_values(f)
                    lines.append(
                        f"| {_md_escape(f['cell'])} | {f['metric']} | {values} | "
                        f"{_num(f.get('median'))} | {_interval(f)} | {f.get('noisy', 0)} |"
                    )
            lines += ["", f"![{c['id']}](charts/{c['id']}.png)"]
        if c.get("run_dir"):
            lines += ["", f"Run: `{c['run_dir']}` (cells.csv, per-request files, metadata)."]
    return "\n".join(lines) + "\n"


def write_markdown(out_dir: Path, data: dict[str, Any]) -> Path:
    path = out_dir / "claims.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(markdown(data), encoding="utf-8")
    tmp.replace(path)
    return path


CLAIMED_SHADE = "#009E73"
OP_WORDS = {">=": "≥", "<=": "≤"}


def _reference(ch: dict[str, Any]) -> tuple[float | None, str]:
    """What a check's value is and the value that means "no difference": a ratio of two
    cells (1), a difference (0), or one cell's figure (none)."""
    figures = ch.get("figures") or []
    if len(figures) < 2:
        metric = figures[0]["metric"] if figures else "value"
        return None, f"{metric} (median over the rounds)"
    # claims.json names the comparison; one written before it did says it in the expression.
    compare = ch.get("compare") or ("ratio" if " / " in str(ch.get("expression", "")) else "")
    if compare == "ratio":
        return 1.0, f"ratio of {figures[0]['metric']} (paired by round)"
    return 0.0, f"difference of {figures[0]['metric']} (paired by round)"


def placement(ch: dict[str, Any]) -> str:
    """Where a check's interval lies: against "no difference" (1 for a ratio, 0 for a
    difference) and against the claim's threshold; with the reason when something other
    than the interval decided the verdict."""
    (low, high), threshold = _ends(ch), float(ch["threshold"])
    if low is None or high is None:
        return f"no interval: {ch.get('reason', '')}"
    parts = []
    ref, _ = _reference(ch)
    if ref is not None and ref != threshold:
        side = "wholly above" if low > ref else "wholly below" if high < ref else "includes"
        parts.append(f"{side} {ref:g}")
    straddles = low <= threshold <= high
    if straddles:
        parts.append(f"straddles the threshold {threshold:g}")
    else:
        side = "above" if low > threshold else "below"
        parts.append(f"wholly {side} the threshold {threshold:g}")
    text = f"interval {_interval(ch)}: {', '.join(parts)}"
    # Inconclusive although the interval is on one side: the reason says what decided it.
    if straddles or ch["verdict"] != "inconclusive":
        return text
    return f"{text}; {ch.get('reason', '')}"


def _limits(values: list[float]) -> tuple[float, float, bool]:
    """x limits around the values, and whether a log scale shows them better."""
    lo, hi = min(values), max(values)
    if lo > 0 and hi / lo >= 10:
        return lo / 1.6, hi * 1.6, True
    span = hi - lo or max(abs(hi) * 0.2, 1.0)
    return lo - 0.25 * span, hi + 0.25 * span, False


def claim_figure(claim: dict[str, Any]) -> Figure | None:
    """One figure per claim, a panel per check, drawn as it is decided: the check's value
    (a paired ratio or difference, or one cell's median) with its interval, the threshold
    as a dashed line, the claimed side shaded, the "no difference" line (1 or 0) dotted,
    and in words where the interval lies. None when nothing was measured."""
    from harness.report.charts import LEGEND_WRAP, new_figure, plain_log_ticks

    checks = [ch for ch in claim.get("checks", []) if ch.get("figures")]
    if not checks:
        return None
    fig = new_figure(0.7 + 1.75 * len(checks))
    axes = fig.subplots(len(checks), 1, squeeze=False)[:, 0]
    for ax, ch in zip(axes, checks, strict=True):
        threshold = float(ch["threshold"])
        ref, what = _reference(ch)
        value, (low, high) = ch.get("value"), _ends(ch)
        shown = [threshold] + [
            float(v) for v in (value, low, high) if v is not None and v != math.inf
        ]
        if ref is not None:
            shown.append(ref)
        left, right, log = _limits(shown)
        if log:
            ax.set_xscale("log")
            plain_log_ticks(ax.xaxis, subs=(1.0, 2.0, 5.0))
        ax.set_xlim(left, right)
        ax.set_ylim(-1, 1)
        ax.set_yticks([])
        side = (threshold, right) if ch["op"] == ">=" else (left, threshold)
        ax.axvspan(*side, color=CLAIMED_SHADE, alpha=0.12, linewidth=0)
        ax.axvline(threshold, color="#000000", linestyle="--", linewidth=1.2)
        if ref is not None and ref != threshold and left < ref < right:
            ax.axvline(ref, color="#777777", linestyle=":", linewidth=1)
        colour = VERDICT_COLOUR.get(ch["verdict"], "#999999")
        if value is not None:
            err = None
            if low is not None and high is not None:
                # An open high end reaches the panel's edge.
                top = min(float(high), right)
                err = [[float(value) - float(low)], [max(0.0, top - float(value))]]
            ax.errorbar([float(value)], [0], xerr=err, fmt="o", color=colour, markersize=8,
                        capsize=6, elinewidth=2.5)  # fmt: skip
        ax.set_xlabel(what, fontsize=8)
        claimed = f"{OP_WORDS.get(ch['op'], ch['op'])} {threshold:g}"
        head = textwrap.fill(f"{ch['label']} (claimed: {claimed}): {ch['verdict']}",
                             2 * LEGEND_WRAP)  # fmt: skip
        body = textwrap.fill(placement(ch), 2 * LEGEND_WRAP + 20)
        ax.set_title(f"{head}\n{body}", fontsize=8, loc="left")
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle(
        f"{claim['id']}: {claim['verdict']} (dashed: threshold; shaded: the claimed side)",
        fontsize=10,
    )
    return fig


def chart(claim: dict[str, Any], charts_dir: Path) -> Path | None:
    """charts/<id>.png and .svg of claim_figure; the PNG's path."""
    from harness.report.charts import save

    fig = claim_figure(claim)
    if fig is None:
        return None
    png, _svg = save(fig, charts_dir, claim["id"])
    return png


def html(data: dict[str, Any], charts: dict[str, Path]) -> str:
    # The run report's escaping (None and NaN print as nothing) and style.
    from harness.report.html import CSS
    from harness.report.html import _e as e

    rows = "".join(
        f'<tr><td><a href="#{e(c["id"])}">{e(c["id"])}</a></td>'
        f'<td style="color:{VERDICT_COLOUR.get(c["verdict"], "#222")};font-weight:600">'
        f"{e(c['verdict'])}</td><td>{e(c['statement'])}</td><td>{e(c['reason'])}</td></tr>"
        for c in data.get("claims", [])
    )
    sections = []
    for c in data.get("claims", []):
        checks = "".join(
            f"<tr><td>{e(ch['label'])}<br><code>{e(ch['expression'])}</code></td>"
            f'<td class="num">{e(_num(ch.get("value")))}</td><td>{e(_interval(ch))}</td>'
            f"<td>{e(ch['verdict'])}</td><td>{e(ch['reason'])}</td></tr>"
            for ch in c.get("checks", [])
        )
        img = ""
        if c["id"] in charts:
            b64 = base64.b64encode(charts[c["id"]].read_bytes()).decode("ascii")
            img = f'<figure><img alt="{e(c["id"])}" src="data:image/png;base64,{b64}"></figure>'
        table = (
            "<table><thead><tr><th>check</th><th>value</th><th>interval (confidence)</th>"
            "<th>verdict</th>"
            f"<th>why</th></tr></thead><tbody>{checks}</tbody></table>"
            if checks
            else ""
        )
        notes = f'<p class="muted">{e(c["notes"])}</p>' if c.get("notes") else ""
        run = f"<p>Run: <code>{e(c['run_dir'])}</code></p>" if c.get("run_dir") else ""
        sections.append(
            f'<h3 id="{e(c["id"])}">{e(c["id"])}: {e(c["verdict"])}</h3>'
            f"<blockquote>{e(c['statement'])}</blockquote><p>{e(c['reason'])}</p>"
            f"{notes}{table}{img}{run}"
        )
    title = f"Claims — {data.get('claims_id', '')}"
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{CSS}</style></head><body><h1>{e(title)}</h1>"
        f"<p>Versions: {e(_versions(data))}. Started {e(data.get('started_at'))}, ended "
        f"{e(data.get('ended_at'))}{' (--quick)' if data.get('quick') else ''}.</p>"
        '<h2 id="claims">Claims</h2>'
        "<table><thead><tr><th>claim</th><th>verdict</th><th>statement</th><th>why</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>{''.join(sections)}</body></html>\n"
    )


def is_claims_dir(path: Path) -> bool:
    return (path / "claims.json").is_file()


def pick_claims(results_root: Path) -> Path | None:
    """For the notebooks: the claims directory named by $PWB_CLAIMS, else the newest
    under results_root, else results_root/reference-claims; None when there is none."""
    import os

    named = os.environ.get(CLAIMS_ENV, "").strip()
    if named:
        found = find_claims_dir(named, results_root)
        if found is None:
            raise ResultsError(f"${CLAIMS_ENV}={named}: not a claims directory")
        return found
    mine = sorted(p for p in results_root.glob("*-claims") if is_claims_dir(p))
    if mine:
        return mine[-1]
    reference = results_root / REFERENCE_CLAIMS
    return reference if is_claims_dir(reference) else None


def load(out_dir: Path) -> dict[str, Any]:
    return read_json_object(out_dir / "claims.json")


def verdict_table(data: dict[str, Any]) -> pd.DataFrame:
    """One row per check (a claim that did not run: one row with the reason)."""
    rows = []
    for c in data.get("claims", []):
        head = {"claim": c["id"], "claim verdict": c["verdict"]}
        if not c.get("checks"):
            rows.append({**head, "why": c["reason"]})
        for ch in c.get("checks", []):
            rows.append({
                **head, "check": ch["label"], "value": ch.get("value"),
                "low": ch.get("ci_low"), "high": ch.get("ci_high"),
                "confidence": ch.get("ci_level"),
                "claimed": f"{ch['op']} {ch['threshold']:g}", "check verdict": ch["verdict"],
                "why": ch["reason"],
            })  # fmt: skip
    return pd.DataFrame(rows)


def find_claims_dir(arg: str, results_root: Path) -> Path | None:
    """The claims directory named by a path or an id under results_root, if it is one
    ('latest' means the latest run, never a claims directory)."""
    for candidate in (Path(arg), results_root / arg):
        if is_claims_dir(candidate):
            return candidate
    return None


def build_claims_report(out_dir: Path) -> Path:
    """claims.md, charts/<id>.png|svg and report.html from claims.json."""
    data = load(out_dir)
    write_markdown(out_dir, data)
    charts = {}
    for claim in data.get("claims", []):
        png = chart(claim, out_dir / "charts")
        if png is not None:
            charts[claim["id"]] = png
    path = out_dir / "report.html"
    path.write_text(html(data, charts), encoding="utf-8")
    return path
