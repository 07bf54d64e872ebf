"""Contract checks of /static/{name}: the files byte for byte, unknown names, traversal."""

from __future__ import annotations

import contextlib
import socket
import ssl
from pathlib import Path

import httpx

from apps.contract.probe import Check, Session, check

# The contract's files and their Content-Types (openapi.yaml, /static/{name}), written out
# here rather than imported from the apps so that the apps cannot agree with themselves.
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
STATIC_TYPES = {
    "site.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "blob.bin": "application/octet-stream",
}
# Names that are not files of the directory: each answers 404.
UNKNOWN_NAMES = ("nope.css", "SITE.CSS", "site.css.bak", "site.css/x", "", "%20site.css")
# Ways out of the directory towards apps/common/settings.py: each answers 404, never the
# file. A literal "/static/../x" is resolved by the client (httpx, like every browser)
# before it is sent; these spellings reach the server as written. One level up only:
# nginx refuses a path that climbs above "/" with its own 400 page before any location
# (tests/fuzz/hostile.py sends deeper climbs to the apps themselves).
TRAVERSALS = (
    "..%2fcommon%2fsettings.py",
    "%2e%2e%2fcommon%2fsettings.py",
    "%2e%2e/common/settings.py",
    ".%2e/common/settings.py",
    "..%5ccommon%5csettings.py",
    "%252e%252e%252fcommon%252fsettings.py",
    "%2e%2e",
)
# Sent byte for byte over a socket, past the client's dot-segment removal. A server may
# refuse such a request line itself (400); the app must never answer with the file.
LITERAL_TRAVERSALS = ("/static/../common/settings.py", "/static/./../common/settings.py")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _same_type(got: str | None, wanted: str) -> bool:
    # Case and the space after ';' are spelling, not meaning.
    return (got or "").replace(" ", "").lower() == wanted.replace(" ", "").lower()


@check(quick=True)
def static_files(s: Session) -> None:
    for name, content_type in STATIC_TYPES.items():
        response = s.call("GET", f"/static/{name}", expect=200)
        got = response.headers.get("content-type")
        wanted_type = f"{name}: Content-Type {got!r}, not {content_type!r}"
        s.expect(_same_type(got, content_type), wanted_type)
        wanted = (STATIC_DIR / name).read_bytes()
        s.expect(
            response.content == wanted,
            f"{name}: {len(response.content)} bytes that differ from the file's {len(wanted)}",
        )


@check()
def static_unknown_names(s: Session) -> None:
    for name in UNKNOWN_NAMES:
        s.probe("GET", f"/static/{name}", expect=404)
    s.probe("GET", "/static", expect=404)
    s.probe("POST", "/static/site.css", expect=405)
    s.probe("DELETE", "/static/site.css", expect=405)


@check()
def static_no_traversal(s: Session) -> None:
    secret = (STATIC_DIR.parent / "common" / "settings.py").read_bytes()
    for target in TRAVERSALS:
        response = s.probe("GET", f"/static/{target}", expect=404)
        if response is not None:
            s.expect(secret not in response.content, f"/static/{target} sent settings.py")


def raw_get(url: httpx.URL, target: str, timeout: float = 10.0) -> tuple[int, bytes]:
    """(status, whole response) of one GET of target sent as written, on a new connection."""
    https = url.scheme == "https"
    host, port = url.host, url.port or (443 if https else 80)
    request = f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    chunks = []
    with contextlib.ExitStack() as stack:
        sock = stack.enter_context(socket.create_connection((host, port), timeout=timeout))
        if https:
            # What is checked here is the path, not the certificate: every other check
            # goes through the session's client, which verifies it.
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            sock = stack.enter_context(context.wrap_socket(sock))
        sock.sendall(request.encode("ascii"))
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    data = b"".join(chunks)
    return int(data.split(b" ", 2)[1]), data


@check()
def static_no_literal_dotdot(s: Session) -> None:
    # Only over a real socket: an in-process client has no request line to write.
    if s.client.base_url.host not in LOOPBACK:
        return
    secret = (STATIC_DIR.parent / "common" / "settings.py").read_bytes()
    for target in LITERAL_TRAVERSALS:
        status, data = raw_get(s.client.base_url, target)
        s.expect(status in (400, 404), f"GET {target} (as written): {status}", target)
        s.expect(secret not in data, f"GET {target} (as written) sent settings.py", target)


STATIC_CHECKS: tuple[Check, ...] = (
    static_files,
    static_unknown_names,
    static_no_traversal,
    static_no_literal_dotdot,
)
