"""The machinery under the contract checks: problems, the check registry, one request probe.

A check is a small function taking a Session. Every request made through Session.call is
validated against the whole contract (status, Content-Length, Content-Type, compact JSON,
the openapi.yaml schema of that status); the check itself only asserts what is specific
to it. apps/contract/checks.py gathers the checks and exposes the public API.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from apps.contract import schema

JSON = "application/json"
_STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


class Severity(enum.Enum):
    """ERROR breaks the contract; WARNING is suspicious but allowed."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One way a response differs from the contract."""

    severity: Severity
    check: str
    reason: str
    url: str


@dataclass(frozen=True)
class Check:
    """A named contract check; quick ones are cheap enough to run before every benchmark."""

    name: str
    quick: bool
    func: Callable[[httpx.Client], list[Problem]]
    needs_upstream: bool = False


class CheckFailed(Exception):
    """Ends a check whose next steps depend on a response that was wrong (already recorded)."""


def _short(data: bytes, limit: int = 200) -> str:
    text = data.decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + "..."


def is_compact_json(text: str) -> bool:
    """True when no whitespace appears between JSON tokens (only inside strings)."""
    return not any(ch in " \t\r\n" for ch in _STRING_LITERAL.sub('""', text))


def encode(value: Any) -> bytes:
    """A JSON request body; UTF-8 without escapes so non-ASCII really crosses the wire."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Session:
    """The state of one check run: its client, problems so far, items to clean up."""

    def __init__(self, client: httpx.Client, check: str) -> None:
        self.client = client
        self.check = check
        self.problems: list[Problem] = []
        self.created: set[int] = set()
        self.warned: set[str] = set()  # kinds of warning reported once per check
        self.last_url = str(client.base_url)

    def url(self, path: str) -> str:
        """The absolute URL of a path (for problem reports)."""
        return str(self.client.base_url).rstrip("/") + path

    def error(self, reason: str, path: str | None = None) -> None:
        """Record an ERROR problem."""
        url = self.url(path) if path is not None else self.last_url
        self.problems.append(Problem(Severity.ERROR, self.check, reason, url))

    def warn(self, reason: str, path: str | None = None) -> None:
        """Record a WARNING problem."""
        url = self.url(path) if path is not None else self.last_url
        self.problems.append(Problem(Severity.WARNING, self.check, reason, url))

    def expect(self, condition: bool, reason: str, path: str | None = None) -> bool:
        """Record an ERROR unless condition holds; returns condition."""
        if not condition:
            self.error(reason, path)
        return condition

    def fail(self, reason: str, path: str | None = None) -> CheckFailed:
        """Record an ERROR; the caller raises the returned exception to end the check."""
        self.error(reason, path)
        return CheckFailed(reason)

    def call(
        self,
        method: str,
        path: str,
        *,
        expect: int | tuple[int, ...],
        body: bytes | None = None,
        content_type: str | None = None,
        item: Any = None,
    ) -> httpx.Response:
        """Send one request and validate the response against the contract.

        item is JSON-encoded as the body with Content-Type application/json. A status
        outside `expect` is recorded and ends the check (raises CheckFailed).
        """
        if item is not None:
            body, content_type = encode(item), content_type or JSON
        headers = {"content-type": content_type} if content_type is not None else {}
        allowed = (expect,) if isinstance(expect, int) else expect
        if body is not None and all(status >= 400 for status in allowed):
            # An app may refuse a body without reading it; some servers (gunicorn's gthread,
            # granian's WSGI) then close a connection they announced as keep-alive. That is
            # the server's connection handling, not the app's contract: use the connection
            # for this one request only.
            headers["connection"] = "close"
        self.last_url = self.url(path)
        response = self.client.request(method, path, content=body, headers=headers)
        self._remember_created(method, path, response)
        label = f"{method} {path}"
        if response.status_code not in allowed:
            wanted = " or ".join(map(str, allowed))
            raise self.fail(
                f"{label}: expected {wanted}, got {response.status_code}: "
                f"{_short(response.content)}"
            )
        self._check_length(label, response)
        self._check_body(method, path, response)
        return response

    def probe(self, method: str, path: str, **call: Any) -> httpx.Response | None:
        """Like call (same keywords), but a wrong status is recorded without ending the
        check (for loops)."""
        try:
            return self.call(method, path, **call)
        except CheckFailed:
            return None

    def _remember_created(self, method: str, path: str, response: httpx.Response) -> None:
        # Also when 201 was the wrong answer (a bad body accepted): cleanup deletes it.
        if method != "POST" or path != "/items" or response.status_code != 201:
            return
        try:
            item_id = response.json().get("id")
        except (ValueError, AttributeError):
            return
        if isinstance(item_id, int) and not isinstance(item_id, bool):
            self.created.add(item_id)

    def _check_length(self, label: str, response: httpx.Response) -> None:
        length = response.headers.get("content-length")
        if response.status_code == 204:
            self.expect(response.content == b"", f"{label}: 204 with a body")
            self.expect(length in (None, "0"), f"{label}: 204 with Content-Length {length!r}")
            return
        if "chunked" in response.headers.get("transfer-encoding", "").lower():
            return
        if length is None:
            self.error(f"{label}: no Content-Length (and not chunked)")
        elif not length.isdigit() or int(length) != len(response.content):
            self.error(
                f"{label}: Content-Length {length!r} but the body has {len(response.content)} bytes"
            )

    def _check_body(self, method: str, path: str, response: httpx.Response) -> None:
        content_type = response.headers.get("content-type")
        label = f"{method} {path} -> {response.status_code}"
        for problem in schema.validate_response(
            method,
            schema.match_path(path),
            response.status_code,
            response.content,
            content_type,
            response.headers,
        ):
            self.error(f"{label}: {problem}")
        if (content_type or "").split(";")[0].strip().lower() == JSON:
            text = response.content.decode("utf-8", errors="replace")
            self.expect(
                is_compact_json(text.strip()), f"{label}: JSON is not compact: {text[:120]!r}"
            )
            if text != text.strip() and "json-padding" not in self.warned:
                # Not whitespace between tokens, but bytes the other variants do not send.
                self.warned.add("json-padding")
                self.warn(f"{label}: whitespace around the JSON document: {text[-20:]!r}")

    def json(self, response: httpx.Response) -> Any:
        """The parsed JSON body (a response that is not JSON ends the check)."""
        try:
            return response.json()
        except ValueError as exc:
            raise self.fail(f"body is not JSON ({exc}): {_short(response.content)}") from None

    def cleanup(self) -> None:
        """Delete the items this check created and did not delete itself."""
        for item_id in sorted(self.created):
            try:
                self.client.delete(f"/items/{item_id}")
            except Exception:  # best effort: the findings are already recorded
                continue
        self.created.clear()


def check(*, quick: bool = False, needs_upstream: bool = False) -> Callable[..., Check]:
    """Turn `def name(s: Session) -> None` into a Check named after the function."""

    def wrap(body: Callable[[Session], None]) -> Check:
        name = body.__name__

        def run(client: httpx.Client) -> list[Problem]:
            session = Session(client, name)
            try:
                body(session)
            except CheckFailed:
                pass
            except Exception as exc:
                # A crash (connection refused, app exception, bad JSON) is a finding, not
                # the end of the run.
                session.error(f"{type(exc).__name__}: {exc}")
            finally:
                session.cleanup()
            return session.problems

        return Check(name=name, quick=quick, func=run, needs_upstream=needs_upstream)

    return wrap
