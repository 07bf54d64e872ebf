"""Task kinds (apps/contract/tasks.toml): what one step of a load mix sends.

The one reader of that file. The harness validates mixes against it, builds wrk's path
plans and finds the writes the integrity check counts; the Locust users
(scenarios/locustfiles/mix.py) send its requests. Standard library only, so that a Locust
process imports it cheaply. PWB_TASKS_FILE names another file of the same form.
"""

from __future__ import annotations

import os
import re
import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from apps.toml_file import read_toml

TASKS_FILE = Path(__file__).resolve().parent / "tasks.toml"
TASKS_FILE_ENV = "PWB_TASKS_FILE"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
EFFECTS = ("create", "delete")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_REQUEST_KEYS = {"method", "path", "name", "body", "status", "capture", "effect"}
_KIND_KEYS = {"param", "rotate", "requests"}


class TasksFileError(ValueError):
    """A tasks file that is not valid; the message names the file and the key."""


@dataclass(frozen=True)
class Param:
    """The [mixes.X.params] key a kind needs: an int in lo..hi, used in paths as {name}."""

    name: str
    lo: int
    hi: int


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    name: str
    body: dict[str, Any] | None = None
    # The status the request must get for the task to go on (and its effect to count).
    status: int | None = None
    # A field of the JSON answer kept for the paths of later requests ({field}).
    capture: str | None = None
    # "create" / "delete": adds or removes one row of `items` when it gets `status`.
    effect: str | None = None

    def fields(self) -> set[str]:
        """The {placeholders} of the path."""
        return {f for _, f, _, _ in string.Formatter().parse(self.path) if f}


@dataclass(frozen=True)
class TaskKind:
    name: str
    requests: tuple[Request, ...]
    param: Param | None = None
    # One request per task, the next each time (per user); else all of them in order.
    rotate: bool = False

    @property
    def writes(self) -> bool:
        """True when a request of the kind changes the database (the integrity check)."""
        return any(r.effect is not None for r in self.requests)

    @property
    def stateless_gets(self) -> bool:
        """Only GETs whose paths need nothing an earlier answer gave: a tool without state
        (wrk) can send them."""
        captured = {r.capture for r in self.requests if r.capture}
        return all(r.method == "GET" and not (r.fields() & captured) for r in self.requests)

    def paths(self, params: dict[str, int]) -> list[str]:
        """The request paths with the mix's parameters filled in (captures left as is)."""
        return [r.path.format_map(_Keep(params)) if r.fields() else r.path for r in self.requests]


class _Keep(dict[str, Any]):
    """format_map values that leaves unknown placeholders in place."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _bad(source: str, key: str, problem: str) -> TasksFileError:
    return TasksFileError(f"{source}: {key}: {problem}")


def _param(value: Any, source: str, key: str) -> Param:
    ok = isinstance(value, dict) and set(value) == {"name", "min", "max"}
    if ok:
        name, lo, hi = value["name"], value["min"], value["max"]
        ok = isinstance(name, str) and bool(_NAME.fullmatch(name))
        ok = ok and all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi))
    if not ok or lo > hi:
        raise _bad(source, key, f"expected {{ name = ..., min = int, max = int }}, got {value!r}")
    return Param(name, lo, hi)


def _request(value: Any, source: str, key: str, bodies: dict[str, Any], known: set[str]) -> Request:
    if not isinstance(value, dict):
        raise _bad(source, key, f"expected a table, got {value!r}")
    unknown = set(value) - _REQUEST_KEYS
    if unknown:
        raise _bad(source, key, f"unknown keys {sorted(unknown)} (known: {sorted(_REQUEST_KEYS)})")
    method, path = value.get("method"), value.get("path")
    if method not in METHODS:
        raise _bad(source, f"{key}.method", f"expected one of {', '.join(METHODS)}, got {method!r}")
    if not isinstance(path, str) or not path.startswith("/"):
        raise _bad(source, f"{key}.path", f"expected a path starting with /, got {path!r}")
    name = value.get("name", f"{method} {path.split('?', 1)[0]}")
    body = value.get("body")
    if body is not None and body not in bodies:
        raise _bad(source, f"{key}.body", f"no body {body!r} in [bodies]")
    status, capture, effect = value.get("status"), value.get("capture"), value.get("effect")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int)):
        raise _bad(source, f"{key}.status", f"expected an HTTP status, got {status!r}")
    if capture is not None and not (isinstance(capture, str) and _NAME.fullmatch(capture)):
        raise _bad(source, f"{key}.capture", f"expected a field name, got {capture!r}")
    if effect is not None and (effect not in EFFECTS or status is None):
        raise _bad(source, f"{key}.effect", f"expected one of {EFFECTS}, with a status")
    json_body = bodies[body] if body is not None else None
    request = Request(method, path, str(name), json_body, status, capture, effect)
    missing = request.fields() - known
    if missing:
        raise _bad(source, f"{key}.path", f"{{{', '.join(sorted(missing))}}} is not known here")
    return request


def parse_kinds(data: dict[str, Any], source: str) -> dict[str, TaskKind]:
    """The task kinds of a parsed tasks file, by name."""
    bodies = data.get("bodies", {})
    kinds = data.get("kinds")
    if not isinstance(bodies, dict) or not isinstance(kinds, dict) or not kinds:
        raise _bad(source, "kinds", "expected [bodies] and at least one [kinds.<name>] table")
    found: dict[str, TaskKind] = {}
    for name, table in kinds.items():
        where = f"kinds.{name}"
        if not _NAME.fullmatch(name) or not isinstance(table, dict):
            raise _bad(source, where, "expected a table named with letters, digits and _")
        unknown = set(table) - _KIND_KEYS
        if unknown:
            raise _bad(
                source, where, f"unknown keys {sorted(unknown)} (known: {sorted(_KIND_KEYS)})"
            )
        param = _param(table["param"], source, f"{where}.param") if "param" in table else None
        rotate = table.get("rotate", False)
        if not isinstance(rotate, bool):
            raise _bad(source, f"{where}.rotate", f"expected true or false, got {rotate!r}")
        listed = table.get("requests")
        if not isinstance(listed, list) or not listed:
            raise _bad(source, f"{where}.requests", "expected a non-empty list of requests")
        known = {param.name} if param else set()
        requests = []
        for i, value in enumerate(listed):
            request = _request(value, source, f"{where}.requests[{i}]", bodies, known)
            requests.append(request)
            if request.capture and not rotate:
                known.add(request.capture)
        found[name] = TaskKind(name, tuple(requests), param, rotate)
    return found


def tasks_file() -> Path:
    """The tasks file in use: PWB_TASKS_FILE, else apps/contract/tasks.toml."""
    return Path(os.environ.get(TASKS_FILE_ENV) or TASKS_FILE)


@cache
def _load(path: Path) -> dict[str, TaskKind]:
    return parse_kinds(read_toml(path, TasksFileError), str(path))


def task_kinds() -> dict[str, TaskKind]:
    """Every task kind of the tasks file in use, by name (read once per file)."""
    return _load(tasks_file())
