"""The response parser of LeanHttpUser (scenarios/locustfiles/_lean_http.py) on crafted bytes.

Every stream is fed split at every byte boundary and one byte at a time: the parser must give
the same answer however the bytes arrive, and must not read past the end of a framed
response (a real socket would block there).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scenarios" / "locustfiles"))

from _lean_http import (
    MAX_HEAD_BYTES,
    ConnectionClosedError,
    HttpProtocolError,
    LeanResponse,
    read_response,
)

JSON = b'{"message":"Hello, World!"}'
LONG = bytes(range(256)) * 12


class ScriptedRecv:
    """recv(n) over fixed pieces; past the end, EOF if allowed, else a test failure."""

    def __init__(self, pieces: list[bytes], eof_allowed: bool) -> None:
        self._pieces = [p for p in pieces if p]
        self._eof_allowed = eof_allowed

    def __call__(self, n: int) -> bytes:
        if self._pieces:
            piece = self._pieces.pop(0)
            if len(piece) > n:
                self._pieces.insert(0, piece[n:])
                piece = piece[:n]
            return piece
        if not self._eof_allowed:
            raise AssertionError("the parser read past the end of a framed response")
        return b""


def splits(raw: bytes) -> Iterator[tuple[bytes, list[bytes]]]:
    """(bytes already received, pieces recv returns) for every way we feed ``raw``."""
    for i in range(len(raw) + 1):
        yield raw[:i], [raw[i:]]
    yield b"", [raw[i : i + 1] for i in range(len(raw))]


@dataclass(frozen=True)
class Case:
    raw: bytes
    status: int
    body: bytes
    keep_alive: bool
    rest: bytes = b""
    no_body: bool = False
    eof_ends_body: bool = False


CASES = {
    "content-length": Case(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n" + JSON,
        200,
        JSON,
        True,
    ),
    "upper-case names, no reason phrase": Case(
        b"HTTP/1.1 200\r\nCONTENT-LENGTH:   5 \r\nCONNECTION: Keep-Alive\r\n\r\nhello",
        200,
        b"hello",
        True,
    ),
    "connection close": Case(
        b"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
        404,
        b"{}",
        False,
    ),
    "http/1.0 closes by default": Case(
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, b"ok", False
    ),
    "http/1.0 keep-alive": Case(
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
        200,
        b"ok",
        True,
    ),
    "long body": Case(
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(LONG), LONG), 200, LONG, True
    ),
    "chunked with extension and trailer": Case(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Sum: 1\r\n\r\n",
        200,
        b"helloabcdefghijklmnopqrstuvwxyz",
        True,
    ),
    "chunked wins over content-length": Case(
        b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n",
        200,
        b"abc",
        True,
    ),
    "chunked long chunk": Case(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
        % (len(LONG), LONG),
        200,
        LONG,
        True,
    ),
    "204 has no body": Case(b"HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n", 204, b"", True),
    "answer to HEAD": Case(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", 200, b"", True, no_body=True
    ),
    "interim 100 skipped": Case(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}",
        201,
        b"{}",
        True,
    ),
    "body until EOF": Case(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it",
        200,
        b"all of it",
        False,
        eof_ends_body=True,
    ),
    "bytes past the response": Case(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1", 200, b"ok", True, b"HTTP/1.1"
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_parses_however_the_bytes_arrive(case: Case) -> None:
    for first, pieces in splits(case.raw):
        recv = ScriptedRecv(pieces, eof_allowed=case.eof_ends_body)
        response, keep_alive, rest = read_response(recv, first, no_body=case.no_body)
        assert (response.status, response.body) == (case.status, case.body), (first, pieces)
        assert keep_alive is case.keep_alive
        # Bytes past the end are returned if they came with the response, never waited for.
        assert case.rest.startswith(rest)
        if first == case.raw:
            assert rest == case.rest


ERRORS = {
    "closed before any byte": (b"", ConnectionClosedError),
    "closed inside the head": (b"HTTP/1.1 200 OK\r\nContent-Len", ConnectionClosedError),
    "closed inside the body": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345",
        ConnectionClosedError,
    ),
    "closed inside a chunk": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n12345",
        ConnectionClosedError,
    ),
    "closed before the last chunk": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n",
        ConnectionClosedError,
    ),
    "not http": (b"ICY 200 OK\r\n\r\n", HttpProtocolError),
    "status not a number": (b"HTTP/1.1 2x0 OK\r\n\r\n", HttpProtocolError),
    "status of four digits": (b"HTTP/1.1 2000 OK\r\n\r\n", HttpProtocolError),
    "negative content-length": (
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        HttpProtocolError,
    ),
    "chunk size not hex": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
        HttpProtocolError,
    ),
    "chunk without its CRLF": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokxx0\r\n\r\n",
        HttpProtocolError,
    ),
}


@pytest.mark.parametrize(("raw", "error"), ERRORS.values(), ids=ERRORS.keys())
def test_rejects_broken_responses_however_they_arrive(raw: bytes, error: type[Exception]) -> None:
    for first, pieces in splits(raw):
        with pytest.raises(error):
            read_response(ScriptedRecv(pieces, eof_allowed=True), first)


def test_head_without_end_is_refused_not_buffered_forever() -> None:
    endless = ScriptedRecv([b"X-Filler: " + b"x" * 1000 + b"\r\n"] * 100, eof_allowed=False)
    with pytest.raises(HttpProtocolError, match=str(MAX_HEAD_BYTES)):
        read_response(endless, b"HTTP/1.1 200 OK\r\n")


def test_headers_are_lower_cased_joined_and_looked_up_in_any_case() -> None:
    raw = b"HTTP/1.1 201 Created\r\nLocation: /items/7\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n"
    response = LeanResponse(201, raw, b'{"id": 7}')
    assert response.headers == {"location": "/items/7", "set-cookie": "a=1, b=2"}
    assert response.headers["Location"] == response.headers.get("LOCATION") == "/items/7"
    assert "SET-COOKIE" in response.headers
    assert response.status_code == 201
    assert response.json() == {"id": 7}
