"""Scenario keys that reach beyond one Locust process and beyond servers the harness
starts: [load] processes / workers / master_* (Locust's master and workers), and a
selector's target (a server started by the user, possibly on another host).

Problems go through `bad(key path, problem)`, as in harness/plan/scenario.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from harness.plan.stacks import Stack

Bad = Callable[[str, str], None]
# Locust's own default port for workers to reach the master.
MASTER_PORT = 5557
DISTRIBUTION_KEYS = {
    "processes", "load_workers", "master_host", "master_port", "workers_wait_s",
    # The old name of load_workers: accepted, with a warning.
    "workers",
}  # fmt: skip
Warn = Callable[[str, str], None]


def _int_key(bad: Bad, t: dict[str, Any], key: str, lo: int, hi: int, default: int) -> int:
    value = t.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        bad(f"load.{key}", f"expected an int in {lo}..{hi}, got {value!r}")
        return default
    return value


def parse_distribution(
    t: dict[str, Any], bad: Bad, warn: Warn, default: dict[str, Any]
) -> dict[str, Any]:
    """The LoadSpec fields of [load] processes, load_workers, master_host, master_port and
    workers_wait_s. `workers`, the old name of load_workers, is read with a warning (under
    [[stacks]] workers are server processes; here they are Locust's)."""
    if "workers" in t:
        if "load_workers" in t:
            bad("load.workers", "the old name of load.load_workers: give only load_workers")
        else:
            warn("load.workers", "deprecated: it is now load.load_workers (Locust's workers)")
            t = {**{k: v for k, v in t.items() if k != "workers"}, "load_workers": t["workers"]}
    processes = _int_key(bad, t, "processes", 1, 1024, default["processes"])
    workers = _int_key(bad, t, "load_workers", 1, 1024, 1) if "load_workers" in t else 0
    if "load_workers" in t and processes > 1:
        bad(
            "load.load_workers",
            "not with load.processes > 1: Locust either forks its workers here "
            "(processes) or waits for workers started by hand (load_workers)",
        )
    for key in sorted(DISTRIBUTION_KEYS - {"processes", "load_workers", "workers"}):
        if key in t and "load_workers" not in t:
            bad(f"load.{key}", "only with load.load_workers (the master waits for workers)")
    host = t.get("master_host", default["master_host"])
    if not isinstance(host, str) or not host or any(c in host for c in "/: "):
        bad("load.master_host", f"expected a host name or IP address, got {host!r}")
        host = default["master_host"]
    wait = t.get("workers_wait_s", default["workers_wait_s"])
    if isinstance(wait, bool) or not isinstance(wait, int | float) or wait < 1:
        bad("load.workers_wait_s", f"expected a number >= 1, got {wait!r}")
        wait = default["workers_wait_s"]
    return {
        "processes": processes,
        "load_workers": workers,
        "master_host": host,
        "master_port": _int_key(bad, t, "master_port", 1, 65535, default["master_port"]),
        "workers_wait_s": float(wait),
    }


def target_stacks(path: str, sel: dict[str, Any], stacks: list[Stack], bad: Bad) -> list[Stack]:
    """A selector with target: one server started by the user, described by its one
    app, server and worker count; the harness loads it but never starts or stops it."""
    target = sel["target"]
    parts = urlsplit(target) if isinstance(target, str) else None
    try:
        port = parts.port if parts is not None else None
    except ValueError:
        port = None
    if parts is None or parts.scheme != "http" or not parts.hostname or port is None:
        bad(f"{path}.target", f"expected http://HOST:PORT, got {target!r}")
        return []
    if parts.path.strip("/") or parts.query or parts.fragment or parts.username:
        bad(f"{path}.target", f"expected http://HOST:PORT and nothing more, got {target!r}")
        return []
    if len(stacks) != 1:
        bad(
            path,
            "a target is one server: expected one app, one server, one worker count and "
            f"one proxy setting, got {len(stacks)} stacks",
        )
        return []
    return [replace(stacks[0], target=f"http://{parts.netloc}")]


def endpoints(
    data: dict[str, Any], workers: int, master_host: str, source: str
) -> tuple[tuple[str, str], ...]:
    """("<file>: <key path>", host) of every target, and of the master's bind address when
    it waits for workers: what --allow-remote must allow (faults.require_endpoints)."""
    found = []
    selectors = data.get("stacks")
    for i, sel in enumerate(selectors if isinstance(selectors, list) else []):
        target = sel.get("target") if isinstance(sel, dict) else None
        host = urlsplit(target).hostname if isinstance(target, str) else None
        if host:
            found.append((f"{source}: stacks[{i}].target", host))
    if workers:
        found.append((f"{source}: load.master_host", master_host))
    return tuple(found)
