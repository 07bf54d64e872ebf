"""Task kinds are declared once (apps/contract/tasks.toml, read by apps/contract/tasks.py):
kinds added in another file reach scenario validation, the Locust users, wrk's path plan
and the integrity check with no change to any of them."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from apps.contract import tasks
from harness.core.errors import ScenarioError
from harness.measure import crosscheck, integrity
from harness.plan.scenario import Mix, parse_scenario
from tests.conftest import need, run_one_cell

EXTRA = Path(__file__).resolve().parents[2] / "fixtures" / "tasks_extra.toml"
ONE_CELL = """
name = "extra-kinds"
[load]
warmup_s = 0.5
measure_s = 1.5
users = [2]
spawn_margin_s = 5
stop_timeout_s = 1
time_wait_drain_s = 0
crosscheck = "wrk"
[[stacks]]
apps = ["raw-asgi"]
servers = ["uvicorn"]
[mixes.extra]
hello = 2
create_only = 1
[mixes.extra.params]
hello_n = 3
"""


@pytest.fixture
def extra_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tasks.TASKS_FILE_ENV, str(EXTRA))


def test_the_declared_kinds_are_the_ones_every_consumer_knows() -> None:
    kinds = tasks.task_kinds()
    assert set(kinds) == {
        "json", "plaintext", "db", "crud", "list", "sleep", "upstream", "cpu", "static",
    }  # fmt: skip
    assert [k for k, kind in kinds.items() if kind.writes] == ["crud"]
    assert {k: kind.param.name for k, kind in kinds.items() if kind.param} == {
        "sleep": "sleep_ms", "upstream": "upstream_ms", "cpu": "cpu_n",
    }  # fmt: skip
    # Every kind is either driven by wrk or left out of its plan, by name.
    for name in kinds:
        plan = crosscheck.mix_plan(
            Mix("m", ((name, 1),), (("sleep_ms", 1), ("upstream_ms", 1), ("cpu_n", 1)))
        )
        assert plan.paths or plan.left_out == (name,)


def test_validation_knows_the_added_kinds_and_their_parameters(extra_kinds: None) -> None:
    data = {
        "name": "x", "load": {"users": [1], "measure_s": 1, "warmup_s": 0},
        "stacks": [{"apps": ["raw-asgi"], "servers": ["uvicorn"]}],
        "mixes": {"extra": {"hello": 1, "params": {"hello_n": 9}}, "old": {"json": 1}},
    }  # fmt: skip
    with pytest.raises(ScenarioError) as err:
        parse_scenario(data, "t.toml", Path("t.toml"))
    text = str(err.value)
    assert "t.toml: mixes.extra.params.hello_n: expected an int in 1..5, got 9" in text
    # The file in use is the whole declaration: json is unknown there.
    assert "t.toml: mixes.old.json: unknown task kind (known: hello, create_only)" in text


def test_a_broken_tasks_file_names_its_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "tasks.toml"
    bad.write_text('[bodies]\n[kinds.x]\nrequests = [{ method = "GET", path = "/a/{nope}" }]\n')
    with pytest.raises(
        tasks.TasksFileError, match=r"kinds\.x\.requests\[0\]\.path: \{nope\} is not known"
    ):
        tasks.parse_kinds(tomllib.loads(bad.read_text()), str(bad))
    monkeypatch.setenv(tasks.TASKS_FILE_ENV, str(bad))
    data = {
        "name": "x", "load": {"users": [1], "measure_s": 1},
        "stacks": [{"apps": ["raw-asgi"], "servers": ["uvicorn"]}], "mixes": {"m": {"x": 1}},
    }  # fmt: skip
    with pytest.raises(ScenarioError, match="is not known here"):
        parse_scenario(data, "t.toml", Path("t.toml"))


@pytest.mark.slow
@pytest.mark.cpus
def test_added_kinds_are_sent_planned_for_wrk_and_checked(
    tmp_path: Path, extra_kinds: None
) -> None:
    need("wrk")
    cell = run_one_cell(tmp_path, ONE_CELL)
    names = {r["name"] for r in cell.records()}
    # The users sent both requests of hello, in order, and the write.
    assert {"GET /cpu (hello)", "GET /plaintext (hello)", "POST /items (kept)"} <= names
    # wrk drove hello's two GETs with its weight each and left the write out.
    wrk = cell.info["crosscheck"]
    assert wrk["paths"] == {"/cpu?n=3": 2, "/plaintext": 2}
    assert wrk["left_out"] == ["create_only"] and wrk["rps"] > 0
    # The integrity check counted the 201s of the new kind: rows grew by exactly them.
    created = sum(
        1 for r in cell.records() if r["name"] == "POST /items (kept)" and r["status"] == "201"
    )
    verdict = cell.info["integrity"]
    assert verdict["status"] == "ok" and cell.row["integrity"] == "ok"
    assert verdict["created_201"] == created > 0
    assert verdict["rows_after"] - verdict["rows_before"] == created
    assert integrity.effects()["POST /items (kept)"] == ("create", 201)
    assert integrity.applies(Mix("m", (("create_only", 1),), ()))
