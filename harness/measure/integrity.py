"""Data integrity of a cell that writes: the database against what the load generator saw.

Before the load starts and after the server has stopped, the rows of `items` are counted
(and their distinct ids). The rows added must equal the `POST /items` answered 201 minus
the `DELETE /items/{id}` answered 204: nothing lost, nothing duplicated. A write whose
answer never came (status 0: a client timeout or a dropped connection) may or may not have
happened; each such request widens the accepted range by one and is reported.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from apps.contract.tasks import task_kinds
from harness.core.errors import HarnessError
from harness.plan.scenario import Mix
from harness.results.records import Record


class IntegrityError(HarnessError):
    """The database does not hold what the load generator was told it holds."""


@dataclass(frozen=True)
class Snapshot:
    rows: int
    distinct_ids: int


@dataclass(frozen=True)
class Verdict:
    status: str  # "ok" or "failed"
    rows_before: int
    rows_after: int
    created_201: int
    deleted_204: int
    unanswered_writes: int
    duplicate_ids: int
    message: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def applies(mix: Mix) -> bool:
    """True for a mix with a task kind that writes to the database (a request with an
    effect in apps/contract/tasks.toml)."""
    kinds = task_kinds()
    return any(kinds[kind].writes for kind, _ in mix.weights)


def effects() -> dict[str, tuple[str, int]]:
    """Request name -> (effect, the status at which it took effect), over every kind."""
    return {
        r.name: (r.effect, r.status)
        for kind in task_kinds().values()
        for r in kind.requests
        if r.effect is not None and r.status is not None
    }


def snapshot(database_url: str) -> Snapshot:
    """Count the rows and distinct ids of `items` (SQLite or PostgreSQL)."""
    from apps.common.sql import SQLITE, dialect_of, sqlite_path

    query = "SELECT COUNT(*), COUNT(DISTINCT id) FROM items"
    try:
        if dialect_of(database_url) == SQLITE:
            conn = sqlite3.connect(sqlite_path(database_url), timeout=30)
            try:
                row = conn.execute(query).fetchone()
            finally:
                conn.close()
        else:
            import psycopg

            with psycopg.connect(database_url) as pg:
                row = pg.execute(query).fetchone()
    except Exception as exc:  # any driver's error: the check cannot be made, say why
        raise IntegrityError(f"cannot count items: {type(exc).__name__}: {exc}") from exc
    if row is None:
        raise IntegrityError("cannot count items: no row returned")
    return Snapshot(int(row[0]), int(row[1]))


def settle(database_url: str) -> None:
    """After a writing window, before the next one: SQLite's write-ahead log folded back
    (PRAGMA wal_checkpoint), PostgreSQL's dead rows of `items` vacuumed, so that a later
    window does not pay for this one's writes."""
    from apps.common.sql import SQLITE, dialect_of, sqlite_path

    try:
        if dialect_of(database_url) == SQLITE:
            conn = sqlite3.connect(sqlite_path(database_url), timeout=30)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                conn.close()
        else:
            import psycopg

            with psycopg.connect(database_url, autocommit=True) as pg:
                pg.execute("VACUUM items")
    except Exception as exc:  # any driver's error: say which
        raise IntegrityError(f"cannot settle the database: {type(exc).__name__}: {exc}") from exc


def _named(writes: dict[str, tuple[str, int]], effect: str) -> str:
    """How the requests with this effect are named in a message: 'POST /items' 201."""
    return " or ".join(f"'{name}' {status}" for name, (e, status) in writes.items() if e == effect)


def judge(before: Snapshot, after: Snapshot, records: Iterable[Record]) -> Verdict:
    """Compare the change in `items` with the creations and deletions seen (the requests
    with an effect in the task kinds, at their status: POST /items 201, DELETE 204)."""
    created = deleted = unanswered = 0
    writes = effects()
    for r in records:
        if r.name not in writes:
            continue
        effect, status = writes[r.name]
        done = r.status == status
        created += done and effect == "create"
        deleted += done and effect == "delete"
        unanswered += r.status == 0 or r.cut_off
    expected = before.rows + created - deleted
    duplicates = after.rows - after.distinct_ids
    # A creation without an answer may have added a row, a deletion one may have removed it.
    low, high = expected - unanswered, expected + unanswered
    problems = []
    if duplicates:
        problems.append(f"{duplicates} duplicate id(s) in items")
    if not low <= after.rows <= high:
        problems.append(
            f"items went from {before.rows} to {after.rows} rows, expected {expected} "
            f"({created} {_named(writes, 'create')} - {deleted} {_named(writes, 'delete')}"
            + (f", +/- {unanswered} unanswered writes" if unanswered else "")
            + ")"
        )
    message = "; ".join(problems) or (
        f"items {before.rows} -> {after.rows} = +{created} created - {deleted} deleted"
        + (f" (+/- {unanswered} unanswered writes)" if unanswered else "")
    )
    return Verdict(
        status="failed" if problems else "ok",
        rows_before=before.rows,
        rows_after=after.rows,
        created_201=created,
        deleted_204=deleted,
        unanswered_writes=unanswered,
        duplicate_ids=duplicates,
        message=message,
    )
