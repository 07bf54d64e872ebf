"""`python -m harness claims`: the budget, a claim that cannot run, an interruption (with a
stand-in for the runner), and one claim run for real end to end."""

from __future__ import annotations

import csv
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from harness.claims.report import build_claims_report
from harness.claims.run import run_claims
from harness.claims.spec import load_claims, parse_claims
from harness.claims.verdict import INCONCLUSIVE, SUPPORTED, VERDICTS, evaluate_claim
from harness.core.errors import HarnessError, Interrupted
from harness.core.marks import marked_pids
from tests.conftest import run_harness
from tests.harness.claims.test_claims_verdict import CLAIMS, FAST, SLOW, rows_for

CLAIMS_FILE = Path(__file__).resolve().parents[3] / "scenarios" / "claims.toml"


def two_claims() -> Any:
    data = tomllib.loads(CLAIMS)
    second = json.loads(json.dumps(data["claims"][0]))
    second["id"] = "two"
    data["claims"].append(second)
    return parse_claims(data, "claims.toml", Path("claims.toml"))


class FakeRunner:
    """Stands in for harness.run.runner.run_scenario: writes cells.csv rows, or raises."""

    def __init__(self, outcomes: dict[str, Any]) -> None:
        self.outcomes = outcomes
        self.ran: list[str] = []

    def __call__(self, scenario: Any, results_dir: Path, out: Any) -> Path:
        self.ran.append(scenario.name)
        outcome = self.outcomes[scenario.name]
        if isinstance(outcome, BaseException):
            raise outcome
        run_dir = results_dir / f"run-{scenario.name}"
        run_dir.mkdir(parents=True)
        with (run_dir / "cells.csv").open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(outcome[0]))
            writer.writeheader()
            writer.writerows(outcome)
        return run_dir


GOOD = rows_for(FAST, [600, 620, 610]) + rows_for(SLOW, [19.5, 19.6, 19.4])


def read_claims(out_dir: Path) -> dict[str, Any]:
    return json.loads((out_dir / "claims.json").read_text())


def test_every_claim_gets_a_verdict_and_files(tmp_path: Path) -> None:
    runner = FakeRunner({"one": GOOD, "two": HarnessError("nginx not found: make system-deps")})
    out_dir = run_claims(two_claims(), tmp_path, out=lambda _: None, run=runner)
    data = read_claims(out_dir)
    verdicts = {c["id"]: (c["verdict"], c["reason"]) for c in data["claims"]}
    assert verdicts["one"] == (SUPPORTED, "every check is supported")
    assert verdicts["two"] == (
        INCONCLUSIVE, "not run: HarnessError: nginx not found: make system-deps",
    )  # fmt: skip
    assert data["ended_at"] and data["packages"] and data["machine"]
    one = data["claims"][0]
    assert one["run_dir"] == "runs/run-one"
    assert one["checks"][0]["figures"][0]["values"] == [600.0, 620.0, 610.0]
    md = (out_dir / "claims.md").read_text()
    assert "✅ supported" in md and "not run: HarnessError: nginx not found" in md


def test_claims_past_the_budget_are_not_run_and_say_so(tmp_path: Path) -> None:
    runner = FakeRunner({"one": GOOD, "two": GOOD})
    out_dir = run_claims(two_claims(), tmp_path, budget_s=1, out=lambda _: None, run=runner)
    assert runner.ran == []
    for claim in read_claims(out_dir)["claims"]:
        assert claim["verdict"] == INCONCLUSIVE
        assert claim["reason"].startswith("not run: time budget: needs about ")


def test_only_selects_claims_and_rejects_unknown_ids(tmp_path: Path) -> None:
    runner = FakeRunner({"one": GOOD, "two": GOOD})
    out_dir = run_claims(two_claims(), tmp_path, only=["two"], out=lambda _: None, run=runner)
    assert runner.ran == ["two"]
    assert [c["id"] for c in read_claims(out_dir)["claims"]] == ["two"]
    with pytest.raises(HarnessError, match=r"no claim 'three' \(known: one, two\)"):
        run_claims(two_claims(), tmp_path, only=["three"], out=lambda _: None, run=runner)


def test_interruption_keeps_what_was_decided(tmp_path: Path) -> None:
    runner = FakeRunner({"one": GOOD, "two": Interrupted("stopped by SIGINT")})
    with pytest.raises(Interrupted):
        run_claims(two_claims(), tmp_path, out=lambda _: None, run=runner)
    (out_dir,) = tmp_path.iterdir()
    claims = read_claims(out_dir)["claims"]
    assert claims[0]["verdict"] == SUPPORTED
    assert claims[1]["reason"] == "not run: interrupted (Interrupted)"


def test_report_of_a_claims_directory(tmp_path: Path) -> None:
    runner = FakeRunner({"one": GOOD, "two": HarnessError("no postgres")})
    out_dir = run_claims(two_claims(), tmp_path, out=lambda _: None, run=runner)
    report = build_claims_report(out_dir)
    page = report.read_text()
    assert 'id="one"' in page and "supported" in page and "not run: HarnessError" in page
    assert "data:image/png;base64," in page
    assert (out_dir / "charts" / "one.png").stat().st_size > 0
    assert not (out_dir / "charts" / "two.png").exists()  # nothing measured, no chart
    done = run_harness("report", str(out_dir))
    assert done.returncode == 0, done.stderr
    assert f"report: {out_dir / 'report.html'}" in done.stdout


@pytest.mark.slow
@pytest.mark.cpus
def test_one_claim_for_real(tmp_path: Path) -> None:
    """blocking-in-async, --quick: real servers, real Locust, a verdict from the figures."""
    done = run_harness(
        "claims", str(CLAIMS_FILE), "--quick", "--only", "blocking-in-async",
        "--results-dir", str(tmp_path), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    (out_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    data = read_claims(out_dir)
    (claim,) = data["claims"]
    assert claim["id"] == "blocking-in-async"
    assert claim["verdict"] in VERDICTS and not claim["reason"].startswith("not run")
    run_dir = out_dir / claim["run_dir"]
    with (run_dir / "cells.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["cold"] != "true"]
    # Two stacks, three rounds of --quick (and a cold window each, left aside).
    assert len(rows) == 6 and {r["status"] for r in rows} == {"ok"}
    assert {r["stack"] for r in rows} == {"fastapi-blocking@uvicorn-w1", "fastapi-async@uvicorn-w1"}
    # The recorded verdict is the one the figures in cells.csv give.
    spec = {c.id: c for c in load_claims(CLAIMS_FILE, quick=True).claims}["blocking-in-async"]
    again = evaluate_claim(spec, rows)
    assert again.verdict == claim["verdict"]
    assert [c.value for c in again.checks] == pytest.approx([c["value"] for c in claim["checks"]])
    for check in claim["checks"]:
        for fig in check["figures"]:
            assert len(fig["values"]) == 3  # every round
            assert fig["ci_level"] == 0.75  # three values: [min, max], 75%, said so
        assert check["n"] == 3 and check["ci_level"] == 0.75
    assert (out_dir / "claims.md").exists() and (out_dir / "report.html").exists()
    assert (out_dir / "charts" / "blocking-in-async.png").exists()
    assert marked_pids(json.loads((run_dir / "metadata.json").read_text())["run_id"]) == []
