"""LeanHttpUser: a minimal HTTP/1.1 Locust user that keeps the load generator out of the way.

FastHttpUser tops out near 10k requests/s on one core, below what fast servers answer, so
Locust ends up measuring itself. This user does the least work a correct client can do:
one persistent gevent socket per user, request bytes built once per distinct request,
and a response parser that only looks for what it needs (status, Content-Length or
chunked Transfer-Encoding, Connection). Headers are turned into a dict only when read.

Use it as a drop-in base class for task code written against FastHttpUser::

    from lean import LeanHttpUser          # locust puts the locustfile's folder on sys.path

    class Api(LeanHttpUser):
        @task
        def item(self) -> None:
            r = self.client.post("/items", json={"name": "a", "price": 1}, name="/items")
            self.client.get(r.headers["location"], name="/items/{id}")
            self.client.delete("/items/1", name="/items/{id}", expect=(404,))

Every request is reported through ``environment.events.request`` with the same fields as
FastHttpUser. A status >= 400 is a failure unless listed in ``expect=``; ``catch_response=True``
gives FastHttpUser's ``with ... as r: r.success() / r.failure(msg)`` as well.

Retries: when a reused keep-alive connection turns out closed before a single byte of the
answer arrived (the send fails, or the connection resets or reaches EOF before the first
byte), the request is sent once more on a new connection. That is the race of a server
closing an idle connection while our request travels, and the server has then not read
it. The same rule applies to POST: a server that processed a POST and then died without
answering a byte would see it twice; we accept that (rare, and it is a crash anyway) to
keep keep-alive closes out of the failure counts. Fresh connections are never retried.
"""

from __future__ import annotations

import json as jsonlib
import time
from collections.abc import Callable, Mapping
from typing import Any, Self
from urllib.parse import urlencode, urlsplit

import gevent
from _lean_http import (
    RECV_SIZE,
    ConnectionClosedError,
    Headers,
    HttpProtocolError,
    HttpStatusError,
    LeanResponse,
    read_response,
)
from gevent import socket as gsocket
from locust import User, events
from locust.exception import CatchResponseError, LocustError, ResponseError

__all__ = [
    "ConnectionClosedError",
    "Headers",
    "HttpProtocolError",
    "HttpStatusError",
    "LeanClient",
    "LeanHttpUser",
    "LeanResponse",
]

# Distinct requests (method, path, body, headers) whose bytes are kept per client; random
# paths or bodies would otherwise grow the cache without bound.
MAX_CACHED_REQUESTS = 2048
# Methods that carry a body by definition: they get "Content-Length: 0" when sent without one.
_BODY_METHODS = ("POST", "PUT", "PATCH")


@events.init.add_listener
def _refresh_loop_clock(**_: Any) -> None:
    # gevent timers count from the event loop's cached clock, which stood still while the
    # locustfiles were imported (~1.7 s on the 2-core test machine): Locust schedules
    # --run-time right after this event, and without a refresh every run ends that much early.
    gevent.get_hub().loop.update_now()


class CatchResponse(LeanResponse):
    """A response reported when its ``with`` block ends, as FastHttpUser's catch_response."""

    __slots__ = ("_fire", "_manual", "_meta")

    def __init__(self, response: LeanResponse, fire: Callable[..., None], meta: dict[str, Any]):
        super().__init__(response.status, response._head, response.body, response.url)
        self.error = response.error
        self._fire = fire
        self._meta = meta
        self._manual: Exception | bool | None = None
        meta["response"] = self

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> bool:
        exc = exc_info[1]
        if self._manual is not None:
            self._meta["exception"] = None if self._manual is True else self._manual
        elif exc is not None:
            if not isinstance(exc, ResponseError):
                return False  # a bug in the block: let it propagate, unreported
            self._meta["exception"] = exc
        self._fire(**self._meta)
        return True

    def success(self) -> None:
        self._manual = True

    def failure(self, exc: Exception | str) -> None:
        self._manual = exc if isinstance(exc, Exception) else CatchResponseError(exc)


def _resolve(host: str, port: int) -> tuple[gsocket.AddressFamily, Any]:
    # IPv4 first: "localhost" often lists ::1 first while servers here bind 127.0.0.1.
    infos = gsocket.getaddrinfo(host, port, 0, gsocket.SOCK_STREAM)
    if not infos:
        raise LocustError(f"cannot resolve host {host!r}")
    family, _, _, _, sockaddr = min(infos, key=lambda info: info[0] != gsocket.AF_INET)
    return family, sockaddr


class LeanClient:
    """One keep-alive HTTP/1.1 connection, reporting every request to Locust."""

    def __init__(
        self,
        base_url: str,
        request_event: Any,
        *,
        context: Callable[[], dict[str, Any]] | None = None,
        connection_timeout: float | None = 60.0,
        network_timeout: float | None = 60.0,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise LocustError(
                f"LeanHttpUser speaks plain http://host[:port] only, got {base_url!r}"
            )
        self._family, self._sockaddr = _resolve(parts.hostname, parts.port or 80)
        self._host_header = parts.netloc.rpartition("@")[2]
        self._prefix = parts.path.rstrip("/")
        self.base_url = f"http://{self._host_header}{self._prefix}"
        self._fire = request_event.fire
        self._context = context
        self._connection_timeout = connection_timeout
        self._network_timeout = network_timeout
        self._sock: gsocket.socket | None = None
        self._cache: dict[tuple[Any, ...], tuple[bytes, str]] = {}

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        name: str | None = None,
        json: Any = None,
        data: bytes | str | None = None,
        params: Mapping[str, Any] | None = None,
        expect: tuple[int, ...] = (),
        catch_response: bool = False,
        context: Mapping[str, Any] | None = None,
    ) -> LeanResponse:
        """Send one request, wait for the whole response, report it, and return it."""
        if body is None and data is not None:
            body = data.encode() if isinstance(data, str) else data
        extra = tuple(headers.items()) if headers else ()
        if json is not None and body is None:
            body = jsonlib.dumps(json, separators=(",", ":")).encode()
            extra = (*extra, ("Content-Type", "application/json"))
        target = f"{path}?{urlencode(params, doseq=True)}" if params else path
        key = (method, target, body, extra)
        entry = self._cache.get(key)
        if entry is None:
            entry = self._build(method, target, body, extra)
            if len(self._cache) < MAX_CACHED_REQUESTS:
                self._cache[key] = entry
        start_time = time.time()
        t0 = time.perf_counter()
        exception: BaseException | None
        try:
            response = self._exchange(entry[0], method == "HEAD")
        except (OSError, HttpProtocolError) as exc:
            elapsed = (time.perf_counter() - t0) * 1000
            response = LeanResponse(0, b"", b"")
            response.error = exception = exc
        else:
            elapsed = (time.perf_counter() - t0) * 1000
            status = response.status
            exception = None
            if status >= 400 and status not in expect:
                response.error = exception = HttpStatusError(status)
        response.url = entry[1]
        ctx = self._context() if self._context is not None else {}
        if context:
            ctx = {**ctx, **context}
        meta = {
            "request_type": method,
            "name": name or path,
            "response_time": elapsed,
            "response_length": len(response.body),
            "response": response,
            "context": ctx,
            "exception": exception,
            "start_time": start_time,
            "url": entry[1],
        }
        if catch_response:
            return CatchResponse(response, self._fire, meta)
        self._fire(**meta)
        return response

    def _build(
        self, method: str, target: str, body: bytes | None, extra: tuple[tuple[str, str], ...]
    ) -> tuple[bytes, str]:
        if not target.startswith("/"):
            raise ValueError(f"LeanHttpUser takes paths starting with '/', got {target!r}")
        given = {name.lower() for name, _ in extra}
        lines = [f"{method} {self._prefix}{target} HTTP/1.1"]
        if "host" not in given:
            lines.append(f"Host: {self._host_header}")
        lines.extend(f"{name}: {value}" for name, value in extra)
        if "content-length" not in given and (body is not None or method in _BODY_METHODS):
            lines.append(f"Content-Length: {len(body or b'')}")
        for line in lines:
            if "\r" in line or "\n" in line:
                raise ValueError(f"CR or LF inside the request line or a header: {line!r}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("latin-1") + (body or b""), self.base_url + target

    def _connect(self) -> gsocket.socket:
        sock = gsocket.socket(self._family, gsocket.SOCK_STREAM)
        try:
            sock.setsockopt(gsocket.IPPROTO_TCP, gsocket.TCP_NODELAY, 1)
            sock.settimeout(self._connection_timeout)
            sock.connect(self._sockaddr)
            sock.settimeout(self._network_timeout)
        except BaseException:
            sock.close()
            raise
        return sock

    def _exchange(self, request: bytes, no_body: bool) -> LeanResponse:
        # The socket leaves self._sock while in use: an exception or a killed greenlet
        # must never leave a half-read connection behind for the next request.
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.sendall(request)
                first = sock.recv(RECV_SIZE)
            except ConnectionError:
                first = b""  # reset before any byte: same as a close, see the module docs
            except BaseException:
                sock.close()
                raise
            if first:
                return self._finish(sock, first, no_body)
            sock.close()
        sock = self._connect()
        try:
            sock.sendall(request)
            first = sock.recv(RECV_SIZE)
        except BaseException:
            sock.close()
            raise
        return self._finish(sock, first, no_body)

    def _finish(self, sock: gsocket.socket, first: bytes, no_body: bool) -> LeanResponse:
        try:
            response, keep_alive, rest = read_response(sock.recv, first, no_body=no_body)
        except BaseException:
            sock.close()
            raise
        if keep_alive and not rest:
            self._sock = sock
        else:
            sock.close()  # server said close, or sent bytes we did not ask for
        return response

    def close(self) -> None:
        """Close the idle connection, if any."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def get(self, path: str, **kwargs: Any) -> LeanResponse:
        return self.request("GET", path, **kwargs)

    def head(self, path: str, **kwargs: Any) -> LeanResponse:
        return self.request("HEAD", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> LeanResponse:
        return self.request("DELETE", path, **kwargs)

    def post(self, path: str, data: bytes | str | None = None, **kwargs: Any) -> LeanResponse:
        return self.request("POST", path, data=data, **kwargs)

    def put(self, path: str, data: bytes | str | None = None, **kwargs: Any) -> LeanResponse:
        return self.request("PUT", path, data=data, **kwargs)

    def patch(self, path: str, data: bytes | str | None = None, **kwargs: Any) -> LeanResponse:
        return self.request("PATCH", path, data=data, **kwargs)


class LeanHttpUser(User):
    """A Locust user whose ``self.client`` is a LeanClient on ``self.host``."""

    abstract = True
    connection_timeout: float | None = 60.0
    """Seconds to wait for a TCP connection; None waits forever."""
    network_timeout: float | None = 60.0
    """Seconds to wait on each send or receive; None waits forever."""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        if self.host is None:
            raise LocustError(
                "You must specify the base host, in the host attribute of the User class "
                "or with --host on the command line."
            )
        custom_context = type(self).context is not User.context
        self.client = LeanClient(
            self.host,
            environment.events.request,
            context=self.context if custom_context else None,
            connection_timeout=self.connection_timeout,
            network_timeout=self.network_timeout,
        )
