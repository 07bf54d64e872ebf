"""HTTP/1.1 response parsing for lean.py's LeanHttpUser.

Kept apart from lean.py because it needs neither locust nor gevent: the tests import it
in-process, while importing locust would monkey-patch the test runner. The parser pulls
bytes from a ``recv(n)`` callable (a socket's, or a test's scripted one), finds the end of
the head, and reads only what delimits the body: Content-Length, chunked
Transfer-Encoding, or the end of the connection. No regular expressions: three
``bytes.find`` calls over the lower-cased head do it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Self

RECV_SIZE = 65536
MAX_HEAD_BYTES = 65536
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_CRLF = b"\r\n"
_SP, _CR, _ZERO = 32, 13, 48  # b" ", b"\r", b"0" as items of a bytes object
_AFTER_STATUS = (_SP, _CR)
_NO_BODY_STATUSES = frozenset({204, 304})
Recv = Callable[[int], bytes]


class HttpProtocolError(ValueError):
    """The server sent bytes that are not a valid HTTP/1.x response."""


class ConnectionClosedError(ConnectionError):
    """The server closed the connection before the response was complete."""


class HttpStatusError(Exception):
    """The response status was >= 400 and not listed in ``expect``."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP status {status}")
        self.status = status


class Headers(dict[str, str]):
    """Response headers: keys are lower-cased; lookups ignore case, as FastHttpUser's do."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


def parse_headers(head: bytes) -> Headers:
    """Header lines of a response head (status line first) into a Headers dict."""
    headers = Headers()
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        key = name.strip().lower().decode("latin-1")
        text = value.strip().decode("latin-1")
        old = dict.get(headers, key)
        dict.__setitem__(headers, key, text if old is None else f"{old}, {text}")
    return headers


class LeanResponse:
    """One HTTP response: status, headers (lower-cased keys, parsed lazily), body bytes."""

    __slots__ = ("_head", "_headers", "body", "error", "status", "url")

    def __init__(self, status: int, head: bytes, body: bytes, url: str = "") -> None:
        self.status = status
        self._head = head
        self._headers: Headers | None = None
        self.body = body
        self.url = url
        self.error: BaseException | None = None

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = parse_headers(self._head)
        return self._headers

    @property
    def status_code(self) -> int:
        return self.status

    @property
    def content(self) -> bytes:
        return self.body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def ok(self) -> bool:
        return self.error is None

    def json(self) -> Any:
        return json.loads(self.body)

    def raise_for_status(self) -> None:
        if self.error is not None:
            raise self.error

    # The with-block API of catch_response=True, which returns lean.CatchResponse instead.
    def __enter__(self) -> Self:
        raise TypeError("a response is a context manager only with catch_response=True")

    def __exit__(self, *exc_info: object) -> bool:
        raise TypeError("a response is a context manager only with catch_response=True")

    def success(self) -> None:
        raise TypeError("success() needs catch_response=True")

    def failure(self, exc: Exception | str) -> None:
        raise TypeError("failure() needs catch_response=True")


def _header_value(lower_head: bytes, marker: bytes) -> bytes | None:
    # marker is b"\r\n<name>:"; the status line ends with CRLF, so every header line,
    # the first included, is preceded by one, and a value cannot contain CRLF.
    pos = lower_head.find(marker)
    if pos < 0:
        return None
    start = pos + len(marker)
    return lower_head[start : lower_head.find(b"\r\n", start)].strip()


def _more(recv: Recv, data: bytes, what: str) -> bytes:
    chunk = recv(RECV_SIZE)
    if not chunk:
        raise ConnectionClosedError(f"connection closed inside the {what} after {len(data)} bytes")
    return data + chunk


def _read_chunked(recv: Recv, data: bytes, pos: int) -> tuple[bytes, bytes]:
    parts: list[bytes] = []
    while True:
        eol = data.find(b"\r\n", pos)
        while eol < 0:
            data, pos = _more(recv, data[pos:], "chunk size line"), 0
            eol = data.find(b"\r\n", pos)
        size_field = data[pos:eol].partition(b";")[0].strip()
        if not size_field or size_field.strip(_HEX_DIGITS):
            raise HttpProtocolError(f"bad chunk size line {data[pos:eol]!r}")
        size = int(size_field, 16)
        pos = eol + 2
        if size == 0:
            break
        while len(data) - pos < size + 2:
            data, pos = _more(recv, data[pos:], "chunked body"), 0
        parts.append(data[pos : pos + size])
        if data[pos + size : pos + size + 2] != b"\r\n":
            raise HttpProtocolError(f"chunk of {size} bytes not followed by CRLF")
        pos += size + 2
    while True:  # trailer section: header lines up to an empty line
        eol = data.find(b"\r\n", pos)
        while eol < 0:
            data, pos = _more(recv, data[pos:], "chunked trailer"), 0
            eol = data.find(b"\r\n", pos)
        if eol == pos:
            return b"".join(parts), data[pos + 2 :]
        pos = eol + 2


def _read_to_eof(recv: Recv, first: bytes) -> bytes:
    parts = [first]
    while chunk := recv(RECV_SIZE):
        parts.append(chunk)
    return b"".join(parts)


def _read_length(recv: Recv, data: bytes, start: int, n: int) -> tuple[bytes, bytes]:
    have = len(data) - start
    if have >= n:
        return data[start : start + n], data[start + n :]
    parts = [data[start:]]
    while have < n:
        chunk = recv(RECV_SIZE)
        if not chunk:
            raise ConnectionClosedError(f"connection closed after {have} of {n} body bytes")
        parts.append(chunk)
        have += len(chunk)
    joined = b"".join(parts)
    return joined[:n], joined[n:]


def read_response(
    recv: Recv, data: bytes, *, no_body: bool = False
) -> tuple[LeanResponse, bool, bytes]:
    """Read one response from ``data`` (bytes already received) and then ``recv``.

    Returns the response, whether the connection may be reused, and any bytes received
    past the end of the response. ``no_body`` is for answers to HEAD requests.
    """
    while True:
        end = data.find(b"\r\n\r\n")
        while end < 0:
            if len(data) > MAX_HEAD_BYTES:
                raise HttpProtocolError(f"response head longer than {MAX_HEAD_BYTES} bytes")
            searched = max(len(data) - 3, 0)
            data = _more(recv, data, "response head")
            end = data.find(b"\r\n\r\n", searched)
        head = data[: end + 2]
        code = head[9:12]
        # Indexing is safe in this order: the head ends with CRLF after the three digits.
        if not (
            head.startswith(b"HTTP/1.")
            and head[8] == _SP
            and code.isdigit()
            and head[12] in _AFTER_STATUS
        ):
            raise HttpProtocolError(f"bad status line {head.partition(_CRLF)[0]!r}")
        status = int(code)
        if status >= 200:
            break
        data = data[end + 4 :]  # 1xx interim answer: the real one follows
    lower = head.lower()
    connection = _header_value(lower, b"\r\nconnection:")
    if head[7] == _ZERO:  # HTTP/1.0
        keep_alive = connection is not None and b"keep-alive" in connection
    else:
        keep_alive = connection is None or b"close" not in connection
    start = end + 4
    if no_body or status in _NO_BODY_STATUSES:
        body, rest = b"", data[start:]
    elif lower.find(b"\r\ntransfer-encoding:") >= 0 and b"chunked" in (
        _header_value(lower, b"\r\ntransfer-encoding:") or b""
    ):
        body, rest = _read_chunked(recv, data, start)
    elif (length := _header_value(lower, b"\r\ncontent-length:")) is not None:
        if not length.isdigit():
            raise HttpProtocolError(f"bad Content-Length {length!r}")
        stop = start + int(length)
        if len(data) >= stop:  # the usual case: all of it came with the head
            body, rest = data[start:stop], data[stop:]
        else:
            body, rest = _read_length(recv, data, start, stop - start)
    else:
        body, rest, keep_alive = _read_to_eof(recv, data[start:]), b"", False
    return LeanResponse(status, head, body), keep_alive, rest
