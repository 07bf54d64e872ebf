"""`python -m harness list | serve | verify | run | calibrate | claims | report`."""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.core.errors import HarnessError, Interrupted, ScenarioError, StackError
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
    from harness.run.faults import require_loopback
    from harness.run.launch import HOST
    from harness.run.runner import check_before_run, run_scenario

    scenario = load_scenario(Path(args.scenario))
    if args.crosscheck:
        from harness.measure.crosscheck import with_tool

        scenario = with_tool(scenario, args.crosscheck)
    # Where the target host is chosen: loopback only, unless --allow-remote.
    require_loopback(HOST, allow_remote=args.allow_remote)
    results_dir = Path(args.results_dir)
    resume_dir = find_run(args.resume, results_dir) if args.resume else None
    # Refused before a calibration (a minute of load) is measured for it.
    check_before_run(
        scenario, results_dir, allow_remote=args.allow_remote, resume=resume_dir is not None
    )
    run_dir = run_scenario(
        scenario,
        results_dir,
        resume_dir=resume_dir,
        allow_remote=args.allow_remote,
        calibration=measure_for_run(scenario, results_dir, print),
    )
    print(f"results: {run_dir}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from harness.calibrate import measure_calibration
    from harness.measure.calibration import store_calibration
    from harness.plan.scenario import load_scenario

    scenario = load_scenario(Path(args.scenario))
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
    run_dir = find_run(args.run, Path(args.results_dir))
    from harness.report import build_report  # written apart; imported only when asked for

    print(f"report: {build_report(run_dir)}")
    return 0


def cmd_claims(args: argparse.Namespace) -> int:
    from harness.claims.report import build_claims_report
    from harness.claims.run import run_claims
    from harness.claims.spec import load_claims

    claims = load_claims(Path(args.file), quick=args.quick)
    out_dir = run_claims(claims, Path(args.results_dir), only=args.only, budget_s=args.budget)
    print(f"claims: {out_dir / 'claims.md'}")
    print(f"report: {build_claims_report(out_dir)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness", description="Benchmark Python web servers and frameworks."
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
    p = sub.add_parser("calibrate", help="measure the load generator's ceiling (stored)")
    p.add_argument(
        "--scenario", default="scenarios/default.toml", help="its client and CPU sets are used"
    )
    p.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR), help="where it is stored")
    p = sub.add_parser("claims", help="run the claims' experiments and compute their verdicts")
    p.add_argument("file", nargs="?", default="scenarios/claims.toml", help="claims file (TOML)")
    p.add_argument("--quick", action="store_true", help="the file's [quick.load] settings")
    p.add_argument("--only", nargs="+", default=[], metavar="ID", help="run only these claims")
    p.add_argument("--budget", type=float, metavar="S", help="time budget in seconds")
    p.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR), help="where it goes")
    p = sub.add_parser("report", help="build the report of a run")
    p.add_argument("run", help="run directory, run id, or 'latest'")
    p.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR), help="where runs are")
    return parser


COMMANDS = {
    "list": cmd_list,
    "serve": cmd_serve,
    "verify": cmd_verify,
    "run": cmd_run,
    "calibrate": cmd_calibrate,
    "report": cmd_report,
    "claims": cmd_claims,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
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
