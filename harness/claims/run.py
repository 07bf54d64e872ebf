"""`python -m harness claims`: every claim's experiment as a run of its own, within a time
budget, then the verdicts (claims.json, claims.md, charts/, report.html).

Layout: results/<UTC time>-claims/ holds the verdicts and runs/<time>-<claim id>/, one
ordinary run directory per claim (cells.csv, per-request files, metadata.json). What has
been decided is written after every claim, so an interrupted run keeps it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.claims.spec import Claim, ClaimsFile
from harness.claims.verdict import ClaimResult, evaluate_claim, not_run
from harness.core.errors import HarnessError
from harness.plan.estimate import estimate
from harness.results.capacity import round_rows
from harness.results.environment import git_info, installed_packages, iso, machine_info, utc_now
from harness.results.files import (
    finite,
    new_run_dir,
    read_json_object,
    read_rows,
    write_json_atomic,
)

Printer = Callable[[str], None]


def estimate_s(claim: Claim, scale: float = 1.0) -> float:
    """How long a claim's run should take: the scenario's estimate (the arithmetic of
    `run --dry-run`, harness/plan/estimate.py) times scale, what the claims run so far
    took against their estimates."""
    return estimate(claim.scenario).wall_s * scale


def select(claims: ClaimsFile, only: Sequence[str]) -> list[Claim]:
    """The claims to run, in file order; an unknown id is an error naming the known ones."""
    known = [c.id for c in claims.claims]
    unknown = [x for x in only if x not in known]
    if unknown:
        raise HarnessError(
            f"{claims.path}: no claim {', '.join(map(repr, unknown))} (known: {', '.join(known)})"
        )
    return [c for c in claims.claims if not only or c.id in only]


def write_outputs(out_dir: Path, header: dict[str, Any], results: Sequence[ClaimResult]) -> None:
    """claims.json and claims.md (charts and report.html come from the report step)."""
    from harness.claims.report import write_markdown

    data = {**header, "claims": [dataclasses.asdict(r) for r in results]}
    write_json_atomic(out_dir / "claims.json", finite(data))
    write_markdown(out_dir, data)


def run_claims(
    claims: ClaimsFile,
    results_dir: Path,
    *,
    only: Sequence[str] = (),
    budget_s: float | None = None,
    out: Printer = print,
    run: Callable[..., Path] | None = None,
) -> Path:
    """Run the selected claims within the budget; returns the claims directory."""
    if run is None:
        from harness.run.runner import run_scenario

        run = run_scenario
    chosen = select(claims, only)
    budget = claims.budget_s if budget_s is None else budget_s
    claims_id, out_dir = new_run_dir(results_dir, "claims")
    header: dict[str, Any] = {
        "claims_id": claims_id,
        "file": str(claims.path),
        "quick": claims.quick,
        "only": list(only),
        "budget_s": budget,
        "started_at": iso(utc_now()),
        "ended_at": None,
        "machine": machine_info(),
        "packages": installed_packages(),
        "git": git_info(),
    }
    total = sum(estimate_s(c) for c in chosen)
    out(
        f"claims {claims_id}: {len(chosen)} claims, about {total / 60:.0f} min estimated, "
        f"budget {budget / 60:.0f} min; results in {out_dir}"
    )
    results: list[ClaimResult] = []
    t_start = time.monotonic()
    estimated, took_so_far = 0.0, 0.0
    try:
        for i, claim in enumerate(chosen, start=1):
            need = estimate_s(claim, took_so_far / estimated if estimated else 1.0)
            left = budget - (time.monotonic() - t_start)
            if need > left:
                results.append(not_run(
                    claim, f"time budget: needs about {need:.0f} s, {max(left, 0):.0f} s left "
                    "(raise --budget, or pick claims with --only)",
                ))  # fmt: skip
                out(f"[{i}/{len(chosen)}] {claim.id}: not run (budget)")
                write_outputs(out_dir, header, results)
                continue
            out(f"[{i}/{len(chosen)}] {claim.id}: {claim.cells} cells, about {need:.0f} s")
            t0 = time.monotonic()
            try:
                run_dir = run(claim.scenario, out_dir / "runs", out=_indented(out))
            except HarnessError as exc:
                took = time.monotonic() - t0
                results.append(not_run(claim, f"{type(exc).__name__}: {exc}", took_s=took))
                out(f"    {claim.id}: not run: {exc}")
                write_outputs(out_dir, header, results)
                continue
            took = time.monotonic() - t0
            rows: list[Mapping[str, Any]] = [*read_rows(run_dir / "cells.csv")]
            if claim.scenario.capacity is not None:
                info = read_json_object(run_dir / "metadata.json").get("capacity") or {}
                rows += round_rows(rows, info)
            estimated += estimate_s(claim)
            took_so_far += took
            result = evaluate_claim(
                claim, rows, run_dir=str(run_dir.relative_to(out_dir)), took_s=took
            )
            results.append(result)
            out(f"    {claim.id}: {result.verdict.upper()} ({result.reason})")
            write_outputs(out_dir, header, results)
    except BaseException as exc:
        done = {r.id for r in results}
        results.extend(
            not_run(c, f"interrupted ({type(exc).__name__})") for c in chosen if c.id not in done
        )
        raise
    finally:
        header["ended_at"] = iso(utc_now())
        write_outputs(out_dir, header, results)
    return out_dir


def _indented(out: Printer) -> Printer:
    return lambda line: out("    " + line.replace("\n", "\n    "))
