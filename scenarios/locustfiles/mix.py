"""Closed- or open-loop load from a weighted mix of named task kinds, with per-request records.

Run by the harness as a subprocess. It reads from the environment:
  PWB_MIX         JSON {"name": str, "weights": {kind: int}, "params": {key: int}}
  PWB_OUTPUT_DIR  where to write requests.<pid>.csv and spawn.<pid>.json (distributed:
                  the master writes requests.w<index>.csv per worker and
                  spawn.master.json; workers write nothing there, see _records.py)
  PWB_GO_FILE     optional: wait (after importing, before any user starts) until this file
                  exists, so that Locust's start-up overlaps the server's (not on workers:
                  the master starts them)
  PWB_USERS       optional: the users of the whole load, over every worker (open loop:
                  each user's share of the rate); default: this process's target count
  PWB_CLIENT      "lean" (LeanHttpUser from lean.py beside this file, the default: less
                  client work per request) or "fasthttp" (Locust's FastHttpUser)
  PWB_REQUEST_TIMEOUT_S  seconds after which an unanswered request fails (default 60)
  PWB_TLS_CA      optional, https: a PEM file of the certificates to trust (only those);
                  the server's name is not checked then (lean: see lean.py; fasthttp: its
                  ssl_context_factory). Without it lean trusts the system's store and checks
                  the name, while fasthttp verifies nothing (FastHttpUser's insecure=True)
  PWB_TLS_RESUME  "1": on reconnecting, resume the last connection's TLS session
                  (abbreviated handshake); default off: a full handshake per connection.
                  Lean only: with fasthttp it stops Locust at start
  PWB_KEEPALIVE   "0": every request says "Connection: close" on a connection of its own
                  (over https, a handshake per request); default "1", keep-alive
  PWB_STOP_AFTER_S  seconds after spawning completes at which Locust quits (warm-up +
                  measure + a short tail); --run-time stays as an upper bound only, since
                  its clock starts before the users are spawned
  PWB_TARGET_RPS  open loop when > 0: the users share this arrival rate (requests/s)
  PWB_CONTROL_DIR driven mode (the rounds design): the harness sends window after window
                  through files in this directory, each with its own URL, mix, users and
                  rate; PWB_MIX, PWB_OUTPUT_DIR, PWB_GO_FILE, PWB_STOP_AFTER_S and
                  PWB_TARGET_RPS are then unused (_rounds.py)
Each request appends one line: t_start (unix s, 6 decimals), latency_us, name, status, ok, bytes.
A request still unanswered when Locust stops its user (--stop-timeout passed) is written
with status -1 (_cutoff.CUT_OFF_STATUS), ok 0, and its latency so far.

Open loop (coordinated omission): each of the U users owns a fixed schedule, one task
every U / rate seconds, staggered by 1 / rate between users. A task starts at its intended
time, or at once when the user is late (the previous answer came after it); its first
request keeps its actual t_start (so rps counts what was really sent: the achieved rate)
but its latency runs from the INTENDED time to the answer, so a server that stalls is
charged for the requests it delayed. Further requests
of one task (crud) start when the previous answer arrives, as in the closed loop. Too
small a pool cannot keep the rate: the achieved rate (cells.csv rps) then falls below
target_rps, and latencies grow with the backlog.
Lines are buffered in memory-backed file buffers and flushed when Locust quits (a worker
sends them to its master when told to stop).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import gevent
import gevent.ssl
from locust import constant, events

MIX: dict[str, Any] = json.loads(
    os.environ.get("PWB_MIX", '{"name": "json", "weights": {"json": 1}}')
)
PARAMS: dict[str, int] = MIX.get("params", {})
OUTPUT_DIR = Path(os.environ.get("PWB_OUTPUT_DIR", "."))
STOP_AFTER_S = float(os.environ.get("PWB_STOP_AFTER_S", "0"))
GO_FILE = os.environ.get("PWB_GO_FILE")
GO_TIMEOUT_S = 300.0
CLIENT = os.environ.get("PWB_CLIENT", "lean")
REQUEST_TIMEOUT_S = float(os.environ.get("PWB_REQUEST_TIMEOUT_S", "60"))
TARGET_RPS = float(os.environ.get("PWB_TARGET_RPS", "0"))
TOTAL_USERS = int(os.environ.get("PWB_USERS", "0"))
CONTROL_DIR = os.environ.get("PWB_CONTROL_DIR")
# Locust puts this file's folder on sys.path, where _records.py and lean.py live; the task
# kinds come from the repository's apps/contract/tasks.py (also for a worker started with
# the `locust` command, whose sys.path starts elsewhere).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from _client_env import KEEPALIVE, TLS_CA, TLS_RESUME  # noqa: E402
from _cutoff import CUT_OFF_STATUS, CutOffFastHttpUser, RequestCutOffError  # noqa: E402
from _records import Records  # noqa: E402
from _rounds import Driven, Tasks  # noqa: E402

from apps.contract.tasks import Request, TaskKind, task_kinds  # noqa: E402

if CLIENT == "lean":
    from lean import LeanClient
    from lean import LeanHttpUser as BaseUser
elif CLIENT == "fasthttp":
    BaseUser = CutOffFastHttpUser
    if TLS_RESUME:
        raise SystemExit("PWB_TLS_RESUME=1 needs PWB_CLIENT=lean (fasthttp cannot resume)")
else:
    raise SystemExit(f"PWB_CLIENT must be 'fasthttp' or 'lean', got {CLIENT!r}")
# Open loop: each user greenlet's intended send time of its current task's first request.
_intended: dict[Any, float] = {}


@events.init.add_listener
def _open_records_and_wait_for_go(environment: Any, **_: Any) -> None:
    RECORDS.init(environment)
    if GO_FILE is None or RECORDS.role == "worker":
        return
    deadline = time.monotonic() + GO_TIMEOUT_S
    while not os.path.exists(GO_FILE):
        if time.monotonic() > deadline:
            raise SystemExit(f"no go file {GO_FILE} after {GO_TIMEOUT_S:g} s")
        time.sleep(0.01)


@events.request.add_listener
def _record(
    request_type: str,
    name: str,
    response_time: float,
    response_length: int,
    response: Any = None,
    exception: BaseException | None = None,
    start_time: float | None = None,
    **_: Any,
) -> None:
    status = getattr(response, "status_code", 0) or 0
    if isinstance(exception, RequestCutOffError):
        status = CUT_OFF_STATUS
    ok = 1 if exception is None else 0
    t_start = start_time if start_time is not None else time.time() - response_time / 1000
    # Open loop: the first request of a task counts from its intended send time.
    intended = _intended.pop(gevent.getcurrent(), None)
    if intended is not None and intended < t_start:
        response_time += (t_start - intended) * 1000
    RECORDS.file.write(  # type: ignore[union-attr]
        f"{t_start:.6f},{round(response_time * 1000)},{name},{status},{ok},{response_length or 0}\n"
    )


@events.spawning_complete.add_listener
def _spawned(user_count: int, **_: Any) -> None:
    RECORDS.spawning_complete(user_count)


@events.quitting.add_listener
def _flush(environment: Any, **_: Any) -> None:
    RECORDS.quitting(environment)


def _task(kind: TaskKind, params: dict[str, int]) -> Callable[..., None]:
    """One task of a kind (apps/contract/tasks.toml): its requests in order, stopping when
    one does not get its required status, each capture kept for the later paths; or, for a
    rotating kind, the user's next request in turn."""
    steps = list(zip(kind.requests, kind.paths(params), strict=True))

    def send(user: Any, request: Request, path: str) -> Any:
        return user.client.request(request.method, path, json=request.body, name=request.name)

    if kind.rotate:

        def rotate(user: Any) -> None:
            turn = user.turns.get(kind.name, 0)
            user.turns[kind.name] = (turn + 1) % len(steps)
            send(user, *steps[turn])

        rotate.__name__ = f"task_{kind.name}"
        return rotate

    def in_order(user: Any) -> None:
        captured: dict[str, Any] = {}
        for request, path in steps:
            response = send(user, request, path.format_map(captured) if captured else path)
            if request.status is not None and response.status_code != request.status:
                return
            if request.capture:
                captured[request.capture] = json.loads(response.content)[request.capture]

    in_order.__name__ = f"task_{kind.name}"
    return in_order


def _paced(task: Callable[..., None]) -> Callable[..., None]:
    """Open loop: run task at the user's next intended time (at once when late)."""

    def run(user: Any) -> None:
        intended = user.next_at
        user.next_at += user.interval
        delay = intended - time.time()
        if delay > 0:
            gevent.sleep(delay)
        _intended[gevent.getcurrent()] = intended
        try:
            task(user)
        finally:
            _intended.pop(gevent.getcurrent(), None)

    run.__name__ = task.__name__
    return run


def tasks_for(mix: dict[str, Any], target_rps: float) -> Tasks:
    """The task functions of a mix ({"weights": {kind: weight}, "params": {...}}) and their
    weights; paced to the user's schedule in open loop."""
    kinds, params = task_kinds(), mix.get("params", {})
    tasks = [_task(kinds[kind], params) for kind in mix["weights"]]
    if target_rps > 0:
        tasks = [_paced(task) for task in tasks]
    return tasks, list(mix["weights"].values())


def _fasthttp_tls_context(cafile: str | None = None) -> Any:
    """FastHttpUser's ssl_context_factory with PWB_TLS_CA: the chain verified against that
    file only. geventhttpclient passes its own CA bundle as cafile: not used. It turns the
    name check off itself (FastHttpUser's insecure=True), as lean does with a CA file."""
    context = gevent.ssl.SSLContext(gevent.ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = gevent.ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=TLS_CA)
    return context


def new_client(user: Any, url: str, source: str | None) -> None:
    """Driven mode: a fresh client for user on url (its old connection closed), bound to
    the source address when given (LeanHttpUser only; FastHttpUser connects from any)."""
    old = getattr(user, "client", None)
    if CLIENT == "lean":
        if old is not None:
            old.close()
        user.client = LeanClient(
            url, user.environment.events.request, connection_timeout=REQUEST_TIMEOUT_S,
            network_timeout=REQUEST_TIMEOUT_S, source_address=source, tls_ca=TLS_CA,
            tls_resume=TLS_RESUME, keepalive=KEEPALIVE,
        )  # fmt: skip
    else:
        user.host = url
        user.client = CutOffFastHttpUser.session_for(user)


if CONTROL_DIR:
    RECORDS: Records | Driven = Driven(Path(CONTROL_DIR), tasks_for, new_client)
    TASKS, WEIGHTS = [lambda user: RECORDS.serve(user)], [1]  # type: ignore[union-attr]
else:
    RECORDS = Records(OUTPUT_DIR, STOP_AFTER_S)
    TASKS, WEIGHTS = tasks_for(MIX, TARGET_RPS)
_user_index = [0]


class MixUser(BaseUser):  # type: ignore[misc,valid-type]
    # Closed loop: each user sends its next request as soon as the previous one returns.
    wait_time = constant(0)
    # A request unanswered after this long is a failure (status 0), never a hung user.
    connection_timeout = REQUEST_TIMEOUT_S
    network_timeout = REQUEST_TIMEOUT_S
    tasks: ClassVar[dict[Callable[..., None], int]] = dict(zip(TASKS, WEIGHTS, strict=True))
    if CLIENT == "fasthttp":
        # Also read by CutOffFastHttpUser.session_for (driven mode).
        if TLS_CA is not None:
            ssl_context_factory = staticmethod(_fasthttp_tls_context)
        if not KEEPALIVE:
            default_headers: ClassVar[dict[str, str]] = {"Connection": "close"}

    def on_start(self) -> None:
        # Per rotating kind: the index of the user's next request.
        self.turns: dict[str, int] = {}
        if TARGET_RPS > 0 and not CONTROL_DIR:
            runner = self.environment.runner
            users = max(1, TOTAL_USERS or int(runner.target_user_count or 1))
            self.interval = users / TARGET_RPS
            # Locust hands users to workers in turn: worker i of n gets users i, i + n, ...
            n = max(1, int(getattr(self.environment.parsed_options, "expect_workers", 1) or 1))
            index = _user_index[0] * n + max(0, getattr(runner, "worker_index", 0))
            self.next_at = time.time() + (index % users) / TARGET_RPS
            _user_index[0] += 1
