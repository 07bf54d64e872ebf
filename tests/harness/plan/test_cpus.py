"""harness.plan.cpus: cpus = "auto" on simulated machines, worker counts in cores, and the
refusals, each named by file and key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core.errors import ScenarioError
from harness.plan.cpus import AUTO_RULE, TABLE_RULE, auto_split, parse_cpus, worker_count
from harness.plan.scenario import Scenario, load_scenario
from tests.conftest import readme_keys

SCENARIO = """
name = "t"
{cpus}
[load]
warmup_s = 1
measure_s = 2
users = [2]
{load}
[[stacks]]
apps = ["flask"]
servers = ["gunicorn-sync"]
workers = {workers}
[mixes.json]
json = 1
"""
AUTO = 'cpus = "auto"'


def plan(
    tmp_path: Path, machine: list[int], cpus: str = AUTO, workers: str = "[1]", load: str = ""
) -> Scenario:
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO.format(cpus=cpus, workers=workers, load=load))
    return load_scenario(path, machine=machine)


def refusal(tmp_path: Path, machine: list[int], **keys: str) -> list[str]:
    with pytest.raises(ScenarioError) as excinfo:
        plan(tmp_path, machine, **keys)
    return str(excinfo.value).splitlines()


@pytest.mark.parametrize(
    ("machine", "load", "server"),
    [
        ([0, 1], [0], [1]),
        (list(range(8)), [0, 1, 2, 3], [4, 5, 6, 7]),
        (list(range(16)), list(range(8)), list(range(8, 16))),
        (list(range(64)), list(range(32)), list(range(32, 64))),
        # Not contiguous (an affinity mask, a cgroup's cpuset): halves of the list, in order.
        ([6, 0, 4, 2], [0, 2], [4, 6]),
        # An odd count gives the server the extra CPU.
        ([0, 1, 2, 3, 4], [0, 1], [2, 3, 4]),
    ],
)
def test_auto_splits_the_machine_in_halves(
    machine: list[int], load: list[int], server: list[int]
) -> None:
    sets = auto_split(machine)
    assert (list(sets.load), list(sets.server)) == (load, server)
    assert sets.upstream == sets.load
    assert (sets.rule, list(sets.machine)) == (AUTO_RULE, sorted(machine))
    assert sets.split() == {"rule": AUTO_RULE, "machine_cpus": sorted(machine)}


@pytest.mark.parametrize(
    ("machine", "workers"),
    [
        # cores = the server's CPUs: 1, 4, 8, 32 and 2 ([4, 6]); "cores" = 1 twice on 2 CPUs.
        ([0, 1], [1, 3]),
        (list(range(8)), [1, 4, 9]),
        (list(range(16)), [1, 8, 17]),
        (list(range(64)), [1, 32, 65]),
        ([0, 2, 4, 6], [1, 2, 5]),
    ],
)
def test_worker_counts_in_cores_follow_the_server_cpus(
    tmp_path: Path, machine: list[int], workers: list[int]
) -> None:
    scenario = plan(tmp_path, machine, workers='[1, "cores", "2*cores+1"]')
    assert scenario.cpus == auto_split(machine)
    assert [s.id for s in scenario.stacks] == [f"flask@gunicorn-sync-w{w}" for w in workers]


def test_cores_of_a_table_is_its_server_set(tmp_path: Path) -> None:
    table = "[cpus]\nserver = [1, 2, 3]\nload = [0]"
    scenario = plan(tmp_path, list(range(4)), cpus=table, workers='["cores", "(cores + 1) * 2"]')
    assert [s.workers for s in scenario.stacks] == [3, 8]
    assert (scenario.cpus.rule, scenario.cpus.machine) == (TABLE_RULE, (0, 1, 2, 3))


@pytest.mark.parametrize(
    ("text", "value"),
    [("cores", 6), ("2*cores+1", 13), (" 2 * cores + 1 ", 13), ("(cores+1)*2", 14),
     ("cores*cores", 36), ("3", 3), ("1+2*3", 7), ("((cores))", 6)],
)  # fmt: skip
def test_worker_expressions_multiply_before_adding(text: str, value: int) -> None:
    assert worker_count(text, 6) == value


HELP = '(use whole numbers, cores, +, * and parentheses, e.g. "2*cores+1")'


@pytest.mark.parametrize(
    ("workers", "problem"),
    [
        ('["2*core+1"]', f"'2*core+1': unexpected 'core' {HELP}"),
        ('["cores-1"]', f"'cores-1': unexpected '-' {HELP}"),
        ('["2cores"]', f"'2cores': unexpected '2cores' {HELP}"),
        ('["os.system"]', f"'os.system': unexpected 'os' {HELP}"),
        ('["(cores+1"]', "'(cores+1': a '(' without its ')'"),
        ('["2*"]', f"'2*': the expression ends too early {HELP}"),
        ('["cores 2"]', f"'cores 2': unexpected '2' {HELP}"),
        ('[""]', f"'': empty expression {HELP}"),
        ('["0*cores"]', "'0*cores' is 0 with cores = 4: expected at least 1 worker"),
        (f'["{"1+" * 20}1"]', f"'{'1+' * 20}1': longer than 40 characters"),
        ("[0]", "expected at least 1 worker, got 0"),
        ("[1.5]", f"expected an int >= 1 or an expression ({HELP[5:-1]}), got 1.5"),
        ("[]", f"expected a non-empty list of ints >= 1 and expressions ({HELP[5:-1]}), got []"),
        ('"cores"', "expected a non-empty list of ints >= 1 and expressions "
                    f"({HELP[5:-1]}), got 'cores'"),
    ],
)  # fmt: skip
def test_bad_worker_counts_are_named(tmp_path: Path, workers: str, problem: str) -> None:
    lines = refusal(tmp_path, list(range(8)), workers=workers)
    assert f"{tmp_path / 's.toml'}: stacks[0].workers: {problem}" in lines


def test_auto_on_one_cpu_is_refused(tmp_path: Path) -> None:
    assert refusal(tmp_path, [3]) == [
        f'{tmp_path / "s.toml"}: cpus: "auto" needs at least 2 CPUs, this machine has [3]: '
        "the load generator and the server must not share a CPU"
    ]


@pytest.mark.parametrize(
    ("machine", "cpus", "problems"),
    [
        (list(range(8)), "[cpus]\nserver = [2, 3]\nload = [3, 4]",
         ["cpus: server [2, 3] and load [3, 4] must not share a CPU (both have [3])"]),
        # The default table (server [1], load [0]) on a machine without CPU 1.
        ([0, 2, 4, 6], "",
         ["cpus.server: CPU 1 is not available (this machine has [0, 2, 4, 6])"]),
        (list(range(4)), "[cpus]\nserver = [1]\nload = [0, 9]\nupstream = [8]",
         ["cpus.load: CPU 9 is not available (this machine has [0, 1, 2, 3])",
          "cpus.upstream: CPU 8 is not available (this machine has [0, 1, 2, 3])"]),
        (list(range(4)), "[cpus]\nserver = [true]",
         ["cpus.server: expected a non-empty list of CPU numbers, got [True]"]),
        (list(range(4)), "[cpus]\nsrever = [1]",
         ["cpus.srever: unknown key (allowed: load, server, upstream)"]),
        (list(range(4)), 'cpus = "half"', ["cpus: expected a table or \"auto\", got 'half'"]),
    ],
)  # fmt: skip
def test_bad_cpu_sets_are_refused(
    tmp_path: Path, machine: list[int], cpus: str, problems: list[str]
) -> None:
    assert refusal(tmp_path, machine, cpus=cpus) == [
        f"{tmp_path / 's.toml'}: {p}" for p in problems
    ]


@pytest.mark.parametrize(
    ("load", "processes"),
    [
        # The isolated design runs a Locust process per load CPU, unless told otherwise.
        ('design = "isolated"', 4),
        ('design = "isolated"\nprocesses = 2', 2),
        ('design = "isolated"\nload_workers = 3', 1),
        # The rounds design drives one Locust per round: it cannot distribute.
        ("", 1),
    ],
)
def test_auto_gives_locust_a_process_per_load_cpu_where_it_can(
    tmp_path: Path, load: str, processes: int
) -> None:
    assert plan(tmp_path, list(range(8)), load=load).load.processes == processes


def test_a_table_keeps_one_locust_process(tmp_path: Path) -> None:
    table = "[cpus]\nserver = [4, 5]\nload = [0, 1, 2, 3]"
    scenario = plan(tmp_path, list(range(8)), cpus=table, load='design = "isolated"')
    assert scenario.load.processes == 1


def test_the_readme_table_of_cpus_keys_is_the_code() -> None:
    # harness/README.md's [cpus] table: every key once, each default as parse_cpus has it.
    table = readme_keys("cpus")
    problems: list[str] = []

    def bad(key: str, problem: str) -> None:
        problems.append(f"{key}: {problem}")

    defaults = parse_cpus({}, range(4), bad)
    load_only = parse_cpus({"load": [2, 3]}, range(4), bad)
    assert problems == []
    assert set(table) == {"server", "load", "upstream"}
    assert tuple(json.loads(table["server"])) == defaults.server
    assert tuple(json.loads(table["load"])) == defaults.load
    # upstream defaults to the load set, whatever it is.
    assert table["upstream"] == "the load set" and load_only.upstream == (2, 3)
