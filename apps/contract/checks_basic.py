"""Contract checks of the read-only routes, routing (404) and methods (405)."""

from __future__ import annotations

import time

from apps.contract.probe import Check, Session, check

HELLO = "Hello, World!"
# Query values every required/ranged integer parameter must refuse with 422.
NOT_INTEGERS = ("abc", "1.5", "", "1e3", "0x10")


def _refuses(s: Session, path: str, param: str, queries: tuple[str, ...]) -> None:
    """422 for each query string given, and for every non-integer value of param."""
    for query in queries:
        s.probe("GET", f"{path}{query}", expect=422)
    for value in NOT_INTEGERS:
        s.probe("GET", f"{path}?{param}={value}", expect=422)


@check(quick=True)
def health(s: Session) -> None:
    response = s.call("GET", "/health", expect=200)
    s.expect(s.json(response) == {"status": "ok"}, f"body {response.text!r}")


@check(quick=True)
def json_hello(s: Session) -> None:
    response = s.call("GET", "/json", expect=200)
    s.expect(s.json(response) == {"message": HELLO}, f"body {response.text!r}")


@check(quick=True)
def plaintext(s: Session) -> None:
    response = s.call("GET", "/plaintext", expect=200)
    media = response.headers.get("content-type", "").split(";")[0].strip()
    s.expect(media == "text/plain", f"Content-Type {response.headers.get('content-type')!r}")
    s.expect(response.content == HELLO.encode(), f"body {response.content!r}")


@check(quick=True)
def db_query(s: Session) -> None:
    row = s.json(s.call("GET", "/db/query", expect=200))
    s.expect(
        isinstance(row, dict) and set(row) == {"id", "randomNumber"},
        f"row {row!r} is not {{id, randomNumber}}",
    )


@check()
def db_query_random_rows(s: Session) -> None:
    seen: dict[int, int] = {}
    for _ in range(12):
        row = s.json(s.call("GET", "/db/query", expect=200))
        row_id, number = row["id"], row["randomNumber"]
        if row_id in seen:
            # Nothing writes table world: the same id must read the same number.
            s.expect(seen[row_id] == number, f"id {row_id}: {seen[row_id]} then {number}")
        seen[row_id] = number
    if len(seen) == 1:
        s.warn(f"12 queries all read id {next(iter(seen))}: the id is not random")


@check()
def io_sleep_zero(s: Session) -> None:
    body = s.json(s.call("GET", "/io/sleep?ms=0", expect=200))
    s.expect(body == {"slept_ms": 0}, f"body {body!r}")


def _waits(s: Session, path: str, body: dict[str, int], ms: int, what: str) -> None:
    """GET path answers body, and not before ms have passed (1 ms of slack for timer
    granularity; a shorter wait means it did not wait)."""
    started = time.perf_counter()
    got = s.json(s.call("GET", path, expect=200))
    elapsed_ms = (time.perf_counter() - started) * 1000
    s.expect(got == body, f"body {got!r}")
    s.expect(elapsed_ms >= ms - 1, f"answered after {elapsed_ms:.1f} ms, before the {ms} ms {what}")


@check()
def io_sleep_waits(s: Session) -> None:
    _waits(s, "/io/sleep?ms=20", {"slept_ms": 20}, 20, "sleep")


@check()
def io_sleep_bad_ms(s: Session) -> None:
    _refuses(s, "/io/sleep", "ms", ("", "?ms=-1", "?ms=10001", "?ms=99999999999999999999", "?x=1"))


@check(needs_upstream=True)
def io_upstream(s: Session) -> None:
    body = s.json(s.call("GET", "/io/upstream?ms=0", expect=200))
    s.expect(body == {"upstream_ms": 0}, f"body {body!r}")
    _waits(s, "/io/upstream?ms=15", {"upstream_ms": 15}, 15, "delay")


@check()
def io_upstream_bad_ms(s: Session) -> None:
    # Query validation comes before the upstream call: no upstream needed.
    _refuses(s, "/io/upstream", "ms", ("", "?ms=-1", "?ms=10001"))


@check()
def cpu_digest(s: Session) -> None:
    from apps.common.cpu import hash_chain

    for n in (1, 1000):
        body = s.json(s.call("GET", f"/cpu?n={n}", expect=200))
        wanted = {"n": n, "digest": hash_chain(n)}
        s.expect(body == wanted, f"/cpu?n={n}: body {body!r}, expected {wanted!r}")


@check()
def cpu_bad_n(s: Session) -> None:
    _refuses(s, "/cpu", "n", ("", "?n=0", "?n=-5", "?n=1000001", "?n=99999999999999999999"))


@check()
def unknown_query_params_ignored(s: Session) -> None:
    s.probe("GET", "/json?debug=1", expect=200)
    s.probe("GET", "/items?foo=bar&limit=1", expect=200)
    body = s.json(s.call("GET", "/io/sleep?ms=0&extra=x", expect=200))
    s.expect(body == {"slept_ms": 0}, f"body {body!r}")


@check(quick=True)
def unknown_route(s: Session) -> None:
    s.call("GET", "/does-not-exist", expect=404)


@check()
def unknown_routes(s: Session) -> None:
    for path in ("/", "/jsonx", "/items/1/extra", "/health/x", "/db", "/io", "/cpu/1"):
        s.probe("GET", path, expect=404)
    s.probe("POST", "/does-not-exist", expect=404, item={"name": "x", "price": 1})


@check()
def trailing_slash_is_404(s: Session) -> None:
    # Exact routes: no redirect (Django's APPEND_SLASH) and no lenient matching.
    for path in ("/json/", "/health/", "/plaintext/", "/items/", "/db/query/", "/cpu/"):
        s.probe("GET", path, expect=404)


@check(quick=True)
def method_not_allowed(s: Session) -> None:
    s.call("DELETE", "/json", expect=405)


@check()
def methods_not_allowed(s: Session) -> None:
    wrong = (
        ("POST", "/health"),
        ("PUT", "/json"),
        ("POST", "/plaintext"),
        ("DELETE", "/db/query"),
        ("POST", "/io/sleep?ms=0"),
        ("POST", "/cpu?n=1"),
        ("PUT", "/items"),
        ("DELETE", "/items"),
        ("PATCH", "/items"),
        ("POST", "/items/1"),
    )
    for method, path in wrong:
        s.probe(method, path, expect=405)
    s.probe("PATCH", "/items/1", expect=405, item={"name": "x", "price": 1})


BASIC_CHECKS: tuple[Check, ...] = (
    health,
    json_hello,
    plaintext,
    db_query,
    db_query_random_rows,
    io_sleep_zero,
    io_sleep_waits,
    io_sleep_bad_ms,
    io_upstream,
    io_upstream_bad_ms,
    cpu_digest,
    cpu_bad_n,
    unknown_query_params_ignored,
    unknown_route,
    unknown_routes,
    trailing_slash_is_404,
    method_not_allowed,
    methods_not_allowed,
)
