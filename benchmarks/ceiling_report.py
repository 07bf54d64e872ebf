"""Tables of the generator ceiling benchmark: CSV of every window, Markdown summary."""

from __future__ import annotations

import csv
import datetime as dt
import os
import platform
import statistics
import subprocess
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from benchmarks.ceiling_runs import WRK, Config, Measurement
from harness.core.intervals import median_interval
from harness.core.procs import cpu_list
from harness.results.environment import machine_info

NAMES = {"wrk": "wrk", "lean": "LeanHttpUser", "fasthttp": "FastHttpUser", "floor": "Floor"}
PACKAGES = (
    "locust", "gevent", "geventhttpclient", "granian", "uvicorn", "uvloop", "httptools",
    "gunicorn", "uwsgi", "flask", "fastapi", "starlette", "django", "psutil",
)  # fmt: skip
CSV_COLUMNS = (
    "stack", "keepalive", "generator", "repeat", "seconds", "responses", "failures", "rps",
    "failures_per_s", "generator_cpu_pct", "generator_sys_pct", "server_cpu_pct", "other_cpu_pct",
    "generator_us_per_response", "disturbed", "errors", "note",
    "generator_cpu_s", "generator_sys_s", "server_cpu_s", "busy_cpu_s",
    "ended_at", "server_speed", "load_speed",
)  # fmt: skip
BEHAVIOUR = """\
What each generator does on its own (nothing was changed to make them alike):
- wrk (`-t1`): HTTP/1.1 keep-alive, sends only `Host`; no `Connection: close` header (Locust
  sends none either). When a server answers `Connection: close` it opens a new connection;
  when a server closes a kept connection unannounced, the next read fails (a socket error),
  and wrk reconnects.
- FastHttpUser (geventhttpclient): keep-alive, sends `User-Agent` and `Accept-Encoding`;
  one connection per user.
- LeanHttpUser (scenarios/locustfiles/lean.py): keep-alive, sends only `Host`; one connection
  per user; reconnects on `Connection: close`, and retries once when a reused connection was
  closed before any byte of the answer came.
Figures: responses per second that did not fail, median of the repeats (min-max);
"paired" is the median (min-max) of the per-repeat ratios, each generator's window against
wrk's window right beside it in the same repeat, which cancels the machine's slow drift;
server CPU speed is the CPU speed probe's median (min-max) on the server CPU in the windows
(loop iterations per µs, harness/measure/cpuspeed.py: the host's state, not a setting);
CPU µs/resp is the generator's own CPU time per response, in brackets the kernel's part of
it (1e6 / that = what the generator could do with a whole CPU to itself). Windows in which
other work on the machine took more than {quiet:g}% of a CPU are measured again and left out
of the medians (see the CSV)."""


def _versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _wrk_version() -> str:
    """wrk's own version line; the report of a machine without wrk says so."""
    try:
        done = subprocess.run([WRK, "-v"], capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "wrk not installed"
    return (done.stdout or done.stderr).strip().splitlines()[0]


def machine_lines(cfg: Config) -> list[str]:
    """Markdown lines: date, machine, settings, package versions."""
    versions = ", ".join(f"{k} {v}" for k, v in _versions().items())
    return [
        f"- date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
        f"- machine: {machine_info()['cpu_model']}, {os.cpu_count()} logical CPUs, "
        f"Linux {platform.release()}",
        f"- Python {platform.python_version()}; {_wrk_version()}",
        f"- packages: {versions}",
        f"- server on CPU {cpu_list(cfg.server_cpus)}, generator on CPU {cpu_list(cfg.load_cpus)} "
        "(taskset); "
        f"{cfg.connections} connections / users; GET /json; {cfg.warmup_s} s warm-up + "
        f"{cfg.measure_s} s measured; {cfg.repeats} repeats, generators interleaved",
    ]


def _kept(rows: Sequence[Measurement], cfg: Config) -> list[Measurement]:
    calm = [m for m in rows if not m.disturbed(cfg)]
    return calm or list(rows)


def _cell(rows: Sequence[Measurement]) -> str:
    if not rows:
        return "-"
    rps = [m.rps for m in rows]
    text = f"{statistics.median(rps):,.0f}"
    if len(rps) > 1:
        text += f" ({min(rps):,.0f}-{max(rps):,.0f})"
    failed = sum(m.failures for m in rows)
    return text + (f", {failed:,} failed" if failed else "")


def _speed_cell(rows: Sequence[Measurement]) -> str:
    speeds = [m.server_speed for m in rows if m.server_speed > 0]
    if not speeds:
        return "-"
    return f"{statistics.median(speeds):.0f} ({min(speeds):.0f}-{max(speeds):.0f})"


def _cpu_cell(rows: Sequence[Measurement]) -> str:
    if not rows:
        return "-"
    total = statistics.median(m.generator_us_per_response for m in rows)
    kernel = statistics.median(m.generator_sys_us_per_response for m in rows)
    return f"{total:.1f} ({kernel:.1f})"


def _paired(gen: Sequence[Measurement], wrk: Sequence[Measurement]) -> list[float]:
    """gen's rate / wrk's rate in the same repeat, for each repeat that has both: the two
    windows of a repeat run one after the other, so slow drift of the machine cancels out
    of their ratio."""
    by_repeat = {m.repeat: m.rps for m in wrk}
    return [m.rps / by_repeat[m.repeat] for m in gen if by_repeat.get(m.repeat)]


def _paired_cell(gen: Sequence[Measurement], wrk: Sequence[Measurement]) -> str:
    """Median (min-max) over the repeats of the paired ratios."""
    ratios = _paired(gen, wrk)
    if not ratios:
        return "-"
    text = f"{statistics.median(ratios):.0%}"
    return text + (f" ({min(ratios):.0%}-{max(ratios):.0%})" if len(ratios) > 1 else "")


def pooled_line(rows: Sequence[Measurement], cfg: Config, generator: str) -> str:
    """The paired ratios of every keep-alive stack together: their median with its
    order-statistic interval (harness.core.intervals), which one stack's few repeats
    cannot pin down on a noisy machine."""
    ratios: list[float] = []
    for stack in dict.fromkeys(m.stack for m in rows if m.keepalive):
        mine = [m for m in rows if m.stack == stack]
        ratios += _paired(
            _kept([m for m in mine if m.generator == generator], cfg),
            _kept([m for m in mine if m.generator == "wrk"], cfg),
        )
    if len(ratios) < 2:
        return ""
    ci = median_interval(ratios)
    return (
        f"{NAMES[generator]}/wrk over every keep-alive stack, paired: median {ci.median:.1%} "
        f"({ci.label()} interval {ci.low:.1%}-{ci.high:.1%}, {len(ratios)} pairs; one pair varies "
        f"by {statistics.stdev(ratios):.0%} (standard deviation)."
    )


def summary_markdown(rows: Sequence[Measurement], cfg: Config) -> str:
    """One line per stack: each generator's req/s, ratios to wrk, CPU µs per response."""
    gens = [g for g in ("wrk", "lean", "fasthttp") if g in cfg.generators]
    head = ["stack", "keep-alive", *(f"{NAMES[g]} req/s" for g in gens)]
    others = [g for g in gens if g != "wrk" and "wrk" in gens]
    head += [f"{NAMES[g]}/wrk" for g in others]
    head += [f"{NAMES[g]}/wrk, paired" for g in others]
    head += [f"server CPU speed under {NAMES[g]}" for g in gens]
    head += [f"{NAMES[g]} CPU µs/resp (kernel)" for g in gens]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for stack in dict.fromkeys(m.stack for m in rows if m.generator != "floor"):
        by = {
            g: _kept([m for m in rows if m.stack == stack and m.generator == g], cfg) for g in gens
        }
        median = {g: statistics.median(m.rps for m in by[g]) if by[g] else 0.0 for g in gens}
        keepalive = next(m.keepalive for m in rows if m.stack == stack)
        cells = [stack, "yes" if keepalive else "no", *(_cell(by[g]) for g in gens)]
        if "wrk" in gens:
            cells += [
                f"{median[g] / median['wrk']:.0%}" if median["wrk"] else "-"
                for g in gens if g != "wrk"
            ]  # fmt: skip
            cells += [_paired_cell(by[g], by["wrk"]) for g in gens if g != "wrk"]
        cells += [_speed_cell(by[g]) for g in gens]
        cells += [_cpu_cell(by[g]) for g in gens]
        lines.append("| " + " | ".join(cells) + " |")
    pooled = [pooled_line(rows, cfg, g) for g in gens if g != "wrk" and "wrk" in gens]
    lines += ["", *filter(None, pooled)] if any(pooled) else []
    floor = _kept([m for m in rows if m.generator == "floor"], cfg)
    if floor:
        us = statistics.median(m.generator_us_per_response for m in floor)
        lines += [
            "",
            f"Locust's floor: {_cpu_cell(floor)} CPU µs per request for a user that does no "
            "I/O at all, only the one hub switch and the one request event that every request "
            f"costs (the Floor user): at most {1e6 / us:,.0f} requests/s from one CPU.",
        ]
    return "\n".join(lines)


def progress_line(m: Measurement) -> str:
    """One printed line per measured window."""
    flag = f" ({m.note})" if m.note else ""
    return (
        f"{m.stack:<34} {NAMES[m.generator]:<13} #{m.repeat} {m.rps:>9,.0f} req/s "
        f"fail {m.failures:>6,}  cpu gen {m.pct(m.generator_cpu_s):3.0f}% "
        f"server {m.pct(m.server_cpu_s):3.0f}% other {m.pct(m.other_cpu_s):3.0f}%"
        f" {m.errors[:60]}{flag}"
    )


def _csv_row(m: Measurement, cfg: Config) -> list[object]:
    return [
        m.stack, m.keepalive, m.generator, m.repeat, f"{m.seconds:.3f}", m.responses,
        m.failures, f"{m.rps:.1f}", f"{m.failures / m.seconds:.1f}",
        f"{m.pct(m.generator_cpu_s):.1f}", f"{m.pct(m.generator_sys_s):.1f}",
        f"{m.pct(m.server_cpu_s):.1f}",
        f"{m.pct(m.other_cpu_s):.1f}", f"{m.generator_us_per_response:.2f}",
        m.disturbed(cfg), m.errors, m.note,
        m.generator_cpu_s, m.generator_sys_s, m.server_cpu_s, m.busy_cpu_s,
        f"{m.ended_at:.3f}", f"{m.server_speed:.2f}", f"{m.load_speed:.2f}",
    ]  # fmt: skip


def _from_csv(r: dict[str, str]) -> Measurement:
    return Measurement(
        stack=r["stack"],
        keepalive=r["keepalive"] == "True",
        generator=r["generator"],
        repeat=int(r["repeat"]),
        seconds=float(r["seconds"]),
        responses=int(r["responses"]),
        failures=int(r["failures"]),
        generator_cpu_s=float(r["generator_cpu_s"]),
        generator_sys_s=float(r["generator_sys_s"]),
        server_cpu_s=float(r["server_cpu_s"]),
        busy_cpu_s=float(r["busy_cpu_s"]),
        errors=r["errors"],
        note=r["note"],
        # Absent from files written before the CPU speed probe.
        ended_at=float(r.get("ended_at") or 0.0),
        server_speed=float(r.get("server_speed") or "nan"),
        load_speed=float(r.get("load_speed") or "nan"),
    )


def read_csv(path: Path) -> list[Measurement]:
    """The windows of an earlier generator_ceiling.csv (for --resume)."""
    with path.open(newline="") as f:
        return [_from_csv(r) for r in csv.DictReader(f)]


def write(rows: Sequence[Measurement], cfg: Config, out_dir: Path) -> list[Path]:
    """generator_ceiling.csv (every window) and generator_ceiling.md (summary) in out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out_dir / "generator_ceiling.csv", out_dir / "generator_ceiling.md"
    with csv_path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(_csv_row(m, cfg) for m in rows)
    text = [
        "# Load generator ceiling: FastHttpUser vs LeanHttpUser vs wrk",
        "",
        "Made by `python -m benchmarks.generator_ceiling`; every window is in "
        "generator_ceiling.csv.",
        "",
        *machine_lines(cfg),
        "",
        summary_markdown(rows, cfg),
        "",
        BEHAVIOUR.format(quiet=cfg.quiet_pct),
        "",
    ]
    md_path.write_text("\n".join(text))
    return [csv_path, md_path]
