"""What a claims run shows: claims.md, one chart per claim (charts/<id>.png and .svg) and
report.html, all rebuilt from claims.json (`python -m harness report <claims dir>`)."""

from __future__ import annotations

import base64
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


def _interval(item: dict[str, Any], low: str = "ci_low", high: str = "ci_high") -> str:
    """[low, high] and the interval's exact confidence, e.g. "[1.02, 1.3] (96.9%)"."""
    level = item.get("ci_level")
    confidence = f" ({format_level(float(level))})" if level is not None else ""
    return f"[{_num(item.get(low))}, {_num(item.get(high))}]{confidence}"


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
                "| check | value | interval (confidence) | verdict | why |",
                "|---|---|---|---|---|",
            ]
            for ch in c["checks"]:
                lines.append(
                    f"| {_md_escape(ch['label'])}<br>`{_md_escape(ch['expression'])}` | "
                    f"{_num(ch.get('value'))} | {_interval(ch)} | {ch['verdict']} | "
                    f"{_md_escape(ch['reason'])} |"
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
                    values = ", ".join(_num(v) for v in f.get("values", []))
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


def claim_figure(claim: dict[str, Any]) -> Figure | None:
    """One figure per claim: a panel per check, the cells' medians with their intervals
    (and the threshold when the check is on one cell's figure); None when nothing was
    measured."""
    checks = [ch for ch in claim.get("checks", []) if ch.get("figures")]
    if not checks:
        return None
    fig = Figure(figsize=(3.6 * len(checks) + 0.6, 3.8), layout="constrained")
    axes = fig.subplots(1, len(checks), squeeze=False)[0]
    for ax, ch in zip(axes, checks, strict=True):
        figs = ch["figures"]
        medians = [_or(f.get("median"), 0.0) for f in figs]
        below = [m - _or(f.get("ci_low"), m) for m, f in zip(medians, figs, strict=True)]
        above = [_or(f.get("ci_high"), m) - m for m, f in zip(medians, figs, strict=True)]
        colour = VERDICT_COLOUR.get(ch["verdict"], "#999999")
        ax.bar(range(len(figs)), medians, yerr=[below, above], capsize=4, color=colour, alpha=0.8)
        ax.set_xticks(range(len(figs)), [f["cell"].replace(" · ", "\n") for f in figs], fontsize=7)
        ax.set_ylabel(figs[0]["metric"])
        if len(figs) == 1:
            ax.axhline(ch["threshold"], color="#000000", linestyle="--", linewidth=1)
        ax.set_title(
            f"{ch['label']}\nvalue {_num(ch.get('value'))} {_interval(ch)}: {ch['verdict']}",
            fontsize=8,
        )
    fig.suptitle(f"{claim['id']}: {claim['verdict']}", fontsize=10)
    return fig


def _or(value: Any, default: float) -> float:
    return default if value is None else float(value)


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
