"""`python -m harness list | serve | verify | run | calibrate | claims | report`."""

from __future__ import annotations

import argparse
import io
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.core.errors import HarnessError, Interrupted, ScenarioError, StackError
from harness.plan.scenario import Scenario
from harness.results.runs import DEFAULT_RESULTS_DIR, find_run
from harness.run.faults import RemoteTargetError

EXIT_PROBLEMS = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def cmd_list(_args: argparse.Namespace) -> int:
    from harness.plan.stacks import all_combinations

    rows = all_combinations()
    width = max(len(f"{r.app}@{r.server}") for r in rows)
    for r in rows:
        label = r.stack_id or f"{r.app}@{r.server}"
        verdict = "valid" if not r.reason else f"invalid: {r.reason}"
        print(f"{label:<{width + 6}}  {verdict}")
    valid = sum(1 for r in rows if not r.reason)
    print(f"{valid} valid of {len(rows)} app x server combinations")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from harness.plan.stacks import parse_stack_id
    from harness.run.verify import serve

    serve(parse_stack_id(args.stack))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from harness.plan.stacks import default_verify_stacks, parse_stack_id
    from harness.run.verify import verify_stacks

    # Parse every id first, so that an invalid one is refused before anything starts.
    stacks = [parse_stack_id(s) for s in args.stacks] if args.stacks else default_verify_stacks()
    verdicts = verify_stacks(stacks)
    failed = [v.stack_id for v in verdicts if not v.ok]
    print(f"verify: {len(verdicts) - len(failed)} of {len(verdicts)} stacks pass")
    if failed:
        print("failed: " + ", ".join(failed))
        return EXIT_PROBLEMS
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from harness.calibrate import measure_for_run
    from harness.plan.scenario import load_scenario
    from harness.run import cpulock
    from harness.run.faults import require_loopback
    from harness.run.launch import HOST
    from harness.run.runner import check_before_run, run_cpus, run_scenario

    scenario = load_scenario(Path(args.scenario))
    if args.price_core_hour is not None or args.price_gb_hour is not None:
        from harness.plan.scenario import with_prices

        scenario = with_prices(scenario, args.price_core_hour, args.price_gb_hour)
    if args.dry_run:
        print(dry_run(scenario))
        return 0
    if args.crosscheck:
        from harness.measure.crosscheck import with_tool

        scenario = with_tool(scenario, args.crosscheck)
    # Where the target host is chosen: loopback only, unless --allow-remote.
    require_loopback(HOST, allow_remote=args.allow_remote)
    results_dir = Path(args.results_dir)
    # Refused before a calibration (a minute of load) is measured for it.
    check_before_run(
        scenario, results_dir, allow_remote=args.allow_remote, resume=bool(args.resume)
    )
    resume_dir = find_run(args.resume, results_dir) if args.resume else None
    # Held from before the calibration: it loads the same CPUs.
    with cpulock.holding(
        run_cpus(scenario), str(scenario.path), allow_concurrent=args.allow_concurrent
    ):
        run_dir = run_scenario(
            scenario,
            results_dir,
            resume_dir=resume_dir,
            allow_remote=args.allow_remote,
            calibration=measure_for_run(scenario, results_dir, print),
            live=args.progress == "bar" or (args.progress == "auto" and sys.stdout.isatty()),
        )
    print(f"results: {run_dir}")
    return 0


def dry_run(scenario: Scenario) -> str:
    """What a run of the scenario would do and how long it would take (the arithmetic of
    harness/plan/estimate.py, which the runner's first ETA and the claims' budget use)."""
    from harness.core.procs import cpu_list
    from harness.plan.cpus import AUTO_RULE
    from harness.plan.estimate import estimate, levels

    e = estimate(scenario)
    load = scenario.load
    lines = [
        f"scenario {scenario.name} ({scenario.path}): {e.design} design, nothing started",
        f"  stacks: {len(scenario.stacks)}  ({', '.join(s.id for s in scenario.stacks)})",
        f"  mixes: {len(scenario.mixes)}  ({', '.join(m.name for m in scenario.mixes)}); "
        f"levels: {levels(scenario)}",
    ]
    if scenario.capacity is not None:
        c = scenario.capacity
        lines.append(
            f"  capacity search: p99 <= {c.p99_ms:g} ms and errors <= {c.max_error_pct:g}%, "
            f"from {c.start_rps}/s (doubling, halving, then bisecting to {c.precision:.0%}, "
            f"at most {c.max_rps}/s), then {c.settle_rounds} settle rounds; about "
            f"{e.cells} windows of {load.warmup_s:g} s warm-up + {load.measure_s:g} s "
            "(the steps depend on where each capacity lies); cost at "
            f"{c.price_core_hour:g} per core-hour and {c.price_gb_hour:g} per GB-hour"
        )
    elif e.design == "rounds":
        per_round = e.cells // max(1, e.rounds)
        lines.append(
            f"  {e.rounds} round(s) of {per_round} windows, and {e.cold} cold windows: "
            f"{e.cells + e.cold} windows of {load.warmup_s:g} s warm-up + {load.measure_s:g} s"
        )
    else:
        lines.append(f"  {e.cells} cells ({e.rounds} round(s)), a server and a Locust each")
    cpus = scenario.cpus
    how = (
        f'cpus = "auto" over CPUs {cpu_list(cpus.machine)}'
        if cpus.rule == AUTO_RULE
        else "the [cpus] table"
    )
    lines.append(
        f"  CPUs: server {cpu_list(cpus.server)}, load {cpu_list(cpus.load)} ({how}); "
        f"Locust processes: {load.load_processes}"
    )
    for warning in scenario.warnings:
        lines.append(f"  warning: {warning}")
    lines.append(
        f"  estimated: {e.wall_s / 60:.1f} min, {e.measured_s / 60:.1f} min of it measured "
        f"({e.measured_s / e.wall_s:.0%})"
    )
    return "\n".join(lines)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from harness.calibrate import measure_calibration
    from harness.measure.calibration import store_calibration
    from harness.plan.scenario import load_scenario
    from harness.run import cpulock
    from harness.run.runner import run_cpus

    scenario = load_scenario(Path(args.scenario))
    with cpulock.holding(
        run_cpus(scenario), f"calibrate ({scenario.path})", allow_concurrent=args.allow_concurrent
    ):
        cal = measure_calibration(scenario)
    path = store_calibration(cal, Path(args.results_dir))
    print(
        f"calibration ({cal.client}, server CPUs {cal.server_cpus}, load CPUs {cal.load_cpus}): "
        f"keep-alive {cal.keepalive_rps:.0f} requests/s, new connection per request "
        f"{cal.close_rps:.0f} requests/s; stored in {path}"
    )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness.claims.report import build_claims_report, find_claims_dir

    claims_dir = find_claims_dir(args.run, Path(args.results_dir))
    if claims_dir is not None:
        print(f"report: {build_claims_report(claims_dir)}")
        return 0
    run_dir = find_run(args.run, Path(args.results_dir), writing=True)
    from harness.report import build_report  # written apart; imported only when asked for

    print(f"report: {build_report(run_dir, args.p99_budget)}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.report.compare import compare_json, compare_runs, compare_text, differences
    from harness.report.tables import load_run

    root = Path(args.results_dir)
    a, b = (load_run(find_run(r, root)) for r in (args.run_a, args.run_b))
    differ = differences(a.metadata, b.metadata)
    if differ and not args.force:
        print(
            "error: these runs were not made alike, so their difference would be the "
            "machine's:\n  " + "\n  ".join(differ) + "\n(--force compares them anyway)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    changes = compare_runs(a, b)
    if args.json:
        print(compare_json(a, b, changes, differ), end="")
    else:
        if differ:
            print("forced: " + "; ".join(differ))
        print(compare_text(a, b, changes, markdown=args.markdown), end="")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from harness.report.compare import export_json, export_markdown
    from harness.report.tables import load_run

    run = load_run(find_run(args.run, Path(args.results_dir)))
    print(export_json(run) if args.json else export_markdown(run), end="")
    return 0


def cmd_claims(args: argparse.Namespace) -> int:
    from harness.claims.report import build_claims_report
    from harness.claims.run import run_claims
    from harness.claims.spec import load_claims
    from harness.run import cpulock

    claims = load_claims(Path(args.file), quick=args.quick)
    # Each claim's runs hold their own CPUs inside this (harness.run.cpulock).
    with cpulock.holding((), f"claims ({args.file})", allow_concurrent=args.allow_concurrent):
        out_dir = run_claims(claims, Path(args.results_dir), only=args.only, budget_s=args.budget)
    print(f"claims: {out_dir / 'claims.md'}")
    print(f"report: {build_claims_report(out_dir)}")
    return 0


def version_text() -> str:
    """`--version`: the suite's version, then the key packages' installed versions."""
    from harness.results.environment import KEY_PACKAGES, installed_packages, suite_version

    found = {k.lower(): v for k, v in installed_packages().items()}
    key = ", ".join(f"{name} {found[name]}" for name in KEY_PACKAGES if name in found)
    return f"pywebbench {suite_version()} (Python {sys.version.split()[0]}; {key})"


class _Version(argparse.Action):
    """Prints version_text() as it is (argparse's own version action rewraps it)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(version_text())
        parser.exit()


def _allow_concurrent(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--allow-concurrent",
        action="store_true",
        help="run even while another run uses the same CPUs (every window is flagged)",
    )


def _non_negative(text: str) -> float:
    """A finite number >= 0 (a price), else argparse's error naming it."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def build_parser(prog: str = "python -m harness") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Benchmark Python web servers and frameworks."
    )
    parser.add_argument(
        "--version", action=_Version, nargs=0, help="the suite's and the key packages' versions"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every app x server combination, valid or not and why")
    p = sub.add_parser("serve", help="run one stack in the foreground until Ctrl-C")
    p.add_argument("stack", help="stack id, e.g. flask@gunicorn-gthread-w2t4")
    p = sub.add_parser("verify", help="full contract checks over HTTP against stacks")
    p.add_argument("stacks", nargs="*", help="stack ids (default: every valid app x server, w1)")
    p = sub.add_parser("run", help="run a scenario and write results/<run-id>/")
    p.add_argument("scenario", help="scenario TOML file, e.g. scenarios/quick.toml")
    p.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR), help="where runs go")
    p.add_argument(
        "--resume", metavar="RUN", help="finish an interrupted run (directory or run id)"
    )
    p.add_argument(
        "--allow-remote", action="store_true", help="allow a target host that is not loopback"
    )
    p.add_argument(
        "--crosscheck", choices=["wrk"], help="also measure each cell's endpoint with wrk"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print the plan and its estimated time, run nothing"
    )
    p.add_argument(
        "--progress", choices=["auto", "bar", "lines"], default="auto",
        help="bar: live bars (window in progress, requests/s, ETA) under the lines; lines: "
        "a line per window; auto (default): bar when stdout is a terminal",
    )  # fmt: skip
    for flag, what in (("--price-core-hour", "a core"), ("--price-gb-hour", "a GB of memory")):
        p.add_argument(
            flag, type=_non_negative, metavar="PRICE",
            help=f"a capacity search's price of {what} for an hour (over [capacity]'s)",
        )  # fmt: skip
    _allow_concurrent(p)
    p = sub.add_parser("calibrate", help="measure the load generator's ceiling (stored)")
    p.add_argument(
        "--scenario", default="scenarios/default.toml", help="its client and CPU sets are used"
    )
    p.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR), help="where it is stored")
    _allow_concurrent(p)
    p = sub.add_parser("claims", help="run the claims' experiments and compute their verdicts")
    p.add_argument("file", nargs="?", default="scenarios/claims.toml", help="claims file (TOML)")
    p.add_argument("--quick", action="store_true", help="the file's [quick.load] settings")
    p.add_argument("--only", nargs="+", default=[], metavar="ID", help="run only these claims")
    p.add_argument("--budget", type=float, metavar="S", help="time budget in seconds")
    p.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR), help="where it goes")
    _allow_concurrent(p)
    p = sub.add_parser("report", help="build the report of a run")
    p.add_argument("run", help="run directory, run id, or 'latest'")
    p.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR), help="where runs are")
    p.add_argument(
        "--p99-budget", type=float, default=100.0, metavar="MS",
        help="the latency objective of the decision section (default 100 ms)",
    )  # fmt: skip
    p = sub.add_parser("compare", help="run B against run A: B/A per mix, level and stack")
    p.add_argument("run_a", metavar="RUN_A", help="run directory, run id, 'latest' or 'reference'")
    p.add_argument("run_b", metavar="RUN_B", help="the same, for the run compared with A")
    p.add_argument(
        "--force", action="store_true", help="compare runs of other machines, CPU sets or Pythons"
    )
    _formats(p)
    p.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR), help="where runs are")
    p = sub.add_parser("export", help="a run's ranked summary as JSON or Markdown")
    p.add_argument("run", help="run directory, run id, 'latest' or 'reference'")
    _formats(p, required=True)
    p.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR), help="where runs are")
    return parser


def _formats(p: argparse.ArgumentParser, required: bool = False) -> None:
    group = p.add_mutually_exclusive_group(required=required)
    group.add_argument("--json", action="store_true", help="JSON (stable: its 'format' says)")
    group.add_argument("--markdown", action="store_true", help="Markdown tables")


COMMANDS = {
    "list": cmd_list,
    "serve": cmd_serve,
    "verify": cmd_verify,
    "run": cmd_run,
    "calibrate": cmd_calibrate,
    "report": cmd_report,
    "claims": cmd_claims,
    "compare": cmd_compare,
    "export": cmd_export,
}


# The commands that start servers and load them (list, report, --dry-run start nothing).
RUNS_THINGS = frozenset({"serve", "verify", "run", "calibrate", "claims"})


def platform_problem() -> str | None:
    """What this machine lacks to run servers as the suite does, or None."""
    if not sys.platform.startswith("linux") or not hasattr(os, "sched_setaffinity"):
        return f"Linux (CPU pinning with sched_setaffinity, /proc); this is {sys.platform}"
    return None


def entry() -> None:
    """The `pywebbench` command (pyproject.toml's console script)."""
    sys.exit(main(prog="pywebbench"))


def main(argv: Sequence[str] | None = None, prog: str = "python -m harness") -> int:
    """Entry point; returns the exit code."""
    args = build_parser(prog).parse_args(argv)
    missing = platform_problem() if args.command in RUNS_THINGS else None
    if missing is not None:
        print(f"error: pywebbench {args.command} needs {missing}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if Path("/proc/self").is_dir():
        # A harness that died outright (SIGKILL, OOM) may have left servers or Locust.
        from harness.core.marks import sweep_orphans

        for line in sweep_orphans():
            print(line)
    # Progress lines must show as they happen, also through a pipe (make, tee, CI logs).
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    try:
        return COMMANDS[args.command](args)
    except ScenarioError as exc:
        print(f"error: invalid scenario:\n{exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (StackError, RemoteTargetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (Interrupted, KeyboardInterrupt) as exc:
        print(f"interrupted: {exc or 'Ctrl-C'}; every process started was stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
