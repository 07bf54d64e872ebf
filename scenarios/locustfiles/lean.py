"""LeanHttpUser: a minimal HTTP/1.1 Locust user that keeps the load generator out of the way.

FastHttpUser tops out near 10k requests/s on one core, below what fast servers answer, so
Locust ends up measuring itself. This user does the least work a correct client can do:
one persistent HTTP/1.1 connection per user (a non-blocking socket that waits on the gevent
hub, so it cooperates with Locust's other users), request bytes built once per distinct
request, and a response parser (_lean_http.py) that only looks for what it needs (status,
Content-Length or chunked Transfer-Encoding, Connection). Headers become a dict only when
read. Timeouts: ``connection_timeout`` bounds the TCP connect, ``network_timeout`` the whole
request, connecting included, to the last byte received; both count as failures.

Use it as a drop-in base class for task code written against FastHttpUser::

    from lean import LeanHttpUser   # Locust puts the locustfile's folder on sys.path; this
                                    # file, _lean_http.py, _cutoff.py and _client_env.py
                                    # must be found there

    class Api(LeanHttpUser):
        @task
        def item(self) -> None:
            r = self.client.post("/items", json={"name": "a", "price": 1}, name="/items")
            self.client.get(r.headers["location"], name="/items/{id}")
            self.client.delete("/items/1", name="/items/{id}", expect=(404,))

Every request is reported through ``environment.events.request`` with the same fields as
FastHttpUser. A status >= 400 is a failure unless listed in ``expect=``; ``catch_response=True``
gives FastHttpUser's ``with ... as r: r.success() / r.failure(msg)`` as well.

Cut-off requests: when Locust stops the user while a request is in flight (its greenlet is
killed once --stop-timeout has passed), the request is reported with
``exception=_cutoff.RequestCutOffError`` and no response before the kill goes on, so that
no request that was sent goes unreported.

Retries: when a reused keep-alive connection turns out closed before a single byte of the
answer arrived (the send fails, or the connection resets or reaches EOF before the first
byte), the request is sent once more on a new connection. That is the race of a server
closing an idle connection while our request travels, and the server has then not read
it. The same rule applies to POST: a server that processed a POST and then died without
answering a byte would see it twice; we accept that (rare, and it is a crash anyway) to
keep keep-alive closes out of the failure counts. Fresh connections are never retried.

TLS: an https:// base URL (default port 443) puts a TLS layer on the same socket, in its
own connection class (_TlsConnection), so plain http runs exactly the code it ran before.
The client keyword arguments, which LeanHttpUser takes from the environment:
  tls_ca      PWB_TLS_CA: a PEM file of the certificates to trust. With it the server's
              chain is verified against that file only and its name is NOT checked (the
              suite gives each window its own 127.x.y.z address, while its per-run
              certificate names 127.0.0.1 and localhost). Without it: the system's trust
              store and a checked host name (ssl.create_default_context()).
  tls_resume  PWB_TLS_RESUME=1: keep the TLS session of the last connection and offer it
              on the next, so a reconnect is an abbreviated handshake (TLS 1.3: with the
              ticket the server sent after the handshake, read with the first answer).
              Off by default: every connection is a full handshake.
  keepalive   PWB_KEEPALIVE=0: every request says "Connection: close" and gets a new
              connection (over https, a handshake per request); the retry rule above then
              never applies. On by default.
The client counts ``connections`` (opened; over https, with the handshake done) and
``resumed`` (TLS connections that resumed a session). The SSLContext is made once per
process and tls_ca.
"""

from __future__ import annotations

import errno
import json as jsonlib
import os
import ssl
import time
from collections.abc import Callable, Mapping
from socket import (
    IP_BIND_ADDRESS_NO_PORT,
    IPPROTO_IP,
    IPPROTO_TCP,
    SO_ERROR,
    SOCK_STREAM,
    SOL_SOCKET,
    TCP_NODELAY,
)
from ssl import MemoryBIO, SSLEOFError, SSLObject, SSLSession, SSLWantReadError, SSLZeroReturnError
from typing import Any, Self
from urllib.parse import urlencode, urlsplit

import gevent
from _client_env import KEEPALIVE, TLS_CA, TLS_RESUME
from _cutoff import report_cut_off
from _lean_http import (
    RECV_SIZE,
    ConnectionClosedError,
    Headers,
    HttpProtocolError,
    HttpStatusError,
    LeanResponse,
    read_response,
)
from gevent import GreenletExit, getcurrent
from gevent import socket as gsocket
from gevent.monkey import get_original
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
# The standard library's socket class even when Locust has monkey-patched it.
_RawSocket = get_original("socket", "socket")
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


class _Peer:
    """Where a client's connections go and how: address family and address, the connect
    timeout, and the local source address (any when None)."""

    __slots__ = ("family", "sockaddr", "source", "timeout")

    def __init__(
        self, family: int, sockaddr: Any, timeout: float | None, source: str | None
    ) -> None:
        self.family = family
        self.sockaddr = sockaddr
        self.timeout = timeout
        self.source = source


class _Connection:
    """A non-blocking TCP socket that waits on the gevent hub with its own two watchers.

    gevent's socket does the same with more work per call: sendall asks the kernel for the
    send buffer size, and each wait makes a new timer when a timeout is set. Requests here
    are small and the timeout is per request (LeanClient._timer).
    """

    __slots__ = ("_connect_timeout", "_connecting", "_hub", "_read", "_sock", "_write")

    def __init__(self, hub: Any, peer: _Peer) -> None:
        self._hub = hub
        self._connect_timeout = peer.timeout
        sockaddr, source = peer.sockaddr, peer.source
        self._sock = _RawSocket(peer.family, SOCK_STREAM)
        fd = self._sock.fileno()
        self._read, self._write = hub.loop.io(fd, 1), hub.loop.io(fd, 2)
        try:
            self._sock.setblocking(False)
            self._sock.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
            if source is not None:
                # Its own source address: a 4-tuple space no earlier connection used. The
                # port is picked at connect(), by the whole 4-tuple (Linux >= 4.2).
                self._sock.setsockopt(IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                self._sock.bind((source, 0))
            error = self._sock.connect_ex(sockaddr)
            if error not in (0, errno.EINPROGRESS):
                raise OSError(error, f"connect to {sockaddr}: {os.strerror(error)}")
        except BaseException:
            self.close()
            raise
        # No waiting for the handshake here: on loopback it is done when connect returns,
        # and sending at once gets the request to the server before it even accepts. If it
        # is not done, send() fails with EAGAIN and waits for it (_wait_writable).
        self._connecting = error != 0

    def send(self, data: bytes) -> None:
        try:
            sent = self._sock.send(data)
        except BlockingIOError:
            sent = 0
        while sent < len(data):  # handshake not done, or the send buffer was full
            self._wait_writable()
            try:
                sent += self._sock.send(memoryview(data)[sent:])
            except BlockingIOError:
                continue
        self._connecting = False

    def _wait_writable(self) -> None:
        if not self._connecting:
            self._hub.wait(self._write)
            return
        seconds = self._connect_timeout
        with gevent.Timeout(seconds, TimeoutError(f"connect timed out after {seconds} s")):
            self._hub.wait(self._write)
        self._connecting = False
        error = self._sock.getsockopt(SOL_SOCKET, SO_ERROR)
        if error:
            raise OSError(error, f"connect: {os.strerror(error)}")

    def recv_first(self) -> bytes:
        # The answer cannot be there yet: wait first instead of a recv bound to fail.
        self._hub.wait(self._read)
        return self.recv(RECV_SIZE)

    def recv(self, size: int) -> bytes:
        while True:
            try:
                return self._sock.recv(size)
            except BlockingIOError:
                self._hub.wait(self._read)

    def close(self) -> None:
        self._read.close()
        self._write.close()
        self._sock.close()


class _Tls:
    """What a client's TLS connections share: context, server name, the session to resume."""

    __slots__ = ("context", "hostname", "resume", "resumed", "session")

    def __init__(self, context: ssl.SSLContext, hostname: str, resume: bool) -> None:
        self.context = context
        self.hostname = hostname
        self.resume = resume
        self.session: SSLSession | None = None
        self.resumed = 0


class _TlsConnection(_Connection):
    """A _Connection carrying TLS: an SSLObject between two memory buffers, which this class
    fills from and drains to the raw socket, waiting on the same two watchers.

    Not ssl.SSLSocket: under Locust's monkey-patching the standard library's SSLSocket is
    built on gevent's socket class, and gevent's own SSLSocket waits its own way. The
    buffers never fill up, so TLS never wants to write: SSLWantWriteError cannot occur, and
    SSLWantReadError means "feed it more bytes from the socket". Renegotiation is refused
    (OP_NO_RENEGOTIATION), so writes never want to read either.
    """

    __slots__ = ("_in", "_out", "_shared", "_tls")

    def __init__(self, hub: Any, peer: _Peer, shared: _Tls) -> None:
        super().__init__(hub, peer)
        timeout = peer.timeout
        self._shared = shared
        self._tls: SSLObject | None = None  # set once the handshake is done
        self._in, self._out = MemoryBIO(), MemoryBIO()
        try:
            tls = shared.context.wrap_bio(
                self._in, self._out, server_hostname=shared.hostname, session=shared.session
            )
            # The TCP connect and the handshake share connection_timeout.
            message = f"connect and TLS handshake not done within {timeout} s"
            with gevent.Timeout(timeout, TimeoutError(message)):
                while True:
                    try:
                        tls.do_handshake()
                        break
                    except SSLWantReadError:
                        self._flush()
                        self._hub.wait(self._read)
                        self._feed()
            # The client's last flight (TLS 1.3's Finished) stays in the buffer: it goes
            # out with the request, in one send.
        except BaseException:
            self.close()
            raise
        self._tls = tls
        if tls.session_reused:
            shared.resumed += 1

    def _flush(self) -> None:
        data = self._out.read()
        if data:
            _Connection.send(self, data)

    def _feed(self) -> None:
        # Bytes from the socket (waiting for them if none are there) into TLS; EOF too.
        data = _Connection.recv(self, RECV_SIZE)
        if data:
            self._in.write(data)
        else:
            self._in.write_eof()

    def send(self, data: bytes) -> None:
        try:
            self._tls.write(data)  # type: ignore[union-attr]
        except (SSLEOFError, SSLZeroReturnError) as exc:
            raise ConnectionClosedError(f"TLS connection closed: {exc}") from exc
        _Connection.send(self, self._out.read())

    def recv_first(self) -> bytes:
        # As _Connection's: wait, then read; unless TLS already holds bytes (decrypted, or
        # records not yet decrypted). A wake-up for records without application data (TLS
        # 1.3 session tickets) makes recv wait again.
        if not self._in.pending and not self._tls.pending():  # type: ignore[union-attr]
            self._hub.wait(self._read)
            self._feed()
        return self.recv(RECV_SIZE)

    def recv(self, size: int) -> bytes:
        tls = self._tls
        while True:
            try:
                return tls.read(size)  # type: ignore[union-attr]
            except SSLWantReadError:
                pass
            except (SSLEOFError, SSLZeroReturnError):
                return b""  # closed, with or without close_notify: EOF, as on plain TCP
            self._flush()  # what TLS answers to post-handshake records (key updates)
            self._feed()

    def close(self) -> None:
        shared = self._shared
        if self._tls is not None and shared.resume:
            # Now, not after the handshake: TLS 1.3 tickets come after it, read with the
            # first answer, and the session is resumable only with one.
            session = self._tls.session
            if session is not None:
                shared.session = session
        super().close()


# One context per process and trust anchor: loading certificates is costly, and sessions
# resume only within the context that made them.
_TLS_CONTEXTS: dict[str | None, ssl.SSLContext] = {}


def tls_context(ca: str | None) -> ssl.SSLContext:
    """The client SSLContext: trusting only the PEM file ca, without a host name check, or
    the system's trust store with one (ca None). Made once per process for each ca."""
    context = _TLS_CONTEXTS.get(ca)
    if context is None:
        # ssl's names looked up now: Locust's monkey-patching gives gevent's SSLContext
        # (the standard library's class breaks once its module is patched).
        if ca is None:
            context = ssl.create_default_context()
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=ca)
        context.options |= ssl.OP_NO_RENEGOTIATION
        _TLS_CONTEXTS[ca] = context
    return context


def _expire(greenlet: Any, seconds: float) -> None:
    # Runs in the hub when a request's timer fires; the request's greenlet is then waiting
    # inside LeanClient._exchange (the timer runs only around it), which closes the socket.
    greenlet.throw(TimeoutError(f"no complete response within {seconds} s"))


def _resolve(host: str, port: int) -> tuple[gsocket.AddressFamily, Any]:
    # IPv4 first: "localhost" often lists ::1 first while servers here bind 127.0.0.1.
    infos = gsocket.getaddrinfo(host, port, 0, gsocket.SOCK_STREAM)
    if not infos:
        raise LocustError(f"cannot resolve host {host!r}")
    family, _, _, _, sockaddr = min(infos, key=lambda info: info[0] != gsocket.AF_INET)
    return family, sockaddr


class LeanClient:
    """One keep-alive HTTP/1.1 connection (http or https), reporting every request to Locust.

    A client serves one greenlet at a time, as a Locust user does; for concurrent requests
    inside one user, give each greenlet its own client.
    """

    def __init__(
        self,
        base_url: str,
        request_event: Any,
        *,
        context: Callable[[], dict[str, Any]] | None = None,
        connection_timeout: float | None = 60.0,
        network_timeout: float | None = 60.0,
        source_address: str | None = None,
        tls_ca: str | None = None,
        tls_resume: bool = False,
        keepalive: bool = True,
    ) -> None:
        parts = urlsplit(base_url)
        scheme = parts.scheme
        if scheme not in ("http", "https") or not parts.hostname:
            raise LocustError(
                f"LeanHttpUser speaks http:// or https://host[:port] only, got {base_url!r}"
            )
        https = scheme == "https"
        port = parts.port or (443 if https else 80)
        family, sockaddr = _resolve(parts.hostname, port)
        self._host_header = parts.netloc.rpartition("@")[2]
        self._prefix = parts.path.rstrip("/")
        self.base_url = f"{scheme}://{self._host_header}{self._prefix}"
        self._tls = _Tls(tls_context(tls_ca), parts.hostname, tls_resume) if https else None
        self._keepalive = keepalive
        # Connections opened (over https: with the handshake done).
        self.connections = 0
        self._fire = request_event.fire
        self._context = context
        self._network_timeout = network_timeout
        # Connections are made from source_address (any port) when given.
        self._peer = _Peer(family, sockaddr, connection_timeout, source_address)
        self._hub = gevent.get_hub()
        self._conn: _Connection | None = None
        # One bare libev timer per client, started and stopped around each request: a third
        # of the cost of a gevent.Timeout, and far less than gevent's socket timeouts, which
        # make a new timer for every wait.
        self._timer = None if network_timeout is None else self._hub.loop.timer(network_timeout)
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
        timer = self._timer
        try:
            if timer is not None:
                timer.start(_expire, getcurrent(), self._network_timeout)
            response = self._exchange(entry[0], method == "HEAD")
        except (OSError, HttpProtocolError) as exc:
            elapsed = (time.perf_counter() - t0) * 1000
            response = LeanResponse(0, b"", b"")
            response.error = exception = exc
        except GreenletExit:
            report_cut_off(
                self._fire, request_type=method, name=name or path, start_time=start_time,
                t0=t0, url=entry[1], context=self._request_context(context),
            )  # fmt: skip
            raise
        else:
            elapsed = (time.perf_counter() - t0) * 1000
            status = response.status
            exception = None
            if status >= 400 and status not in expect:
                response.error = exception = HttpStatusError(status)
        finally:
            if timer is not None:
                timer.stop()
        response.url = url = entry[1]
        ctx = self._request_context(context)
        if catch_response:
            meta = {
                "request_type": method,
                "name": name or path,
                "response_time": elapsed,
                "response_length": len(response.body),
                "response": response,
                "context": ctx,
                "exception": exception,
                "start_time": start_time,
                "url": url,
            }
            return CatchResponse(response, self._fire, meta)
        # Keywords spelled out (not **meta): one dict fewer per request.
        self._fire(
            request_type=method,
            name=name or path,
            response_time=elapsed,
            response_length=len(response.body),
            response=response,
            context=ctx,
            exception=exception,
            start_time=start_time,
            url=url,
        )
        return response

    def _request_context(self, context: Mapping[str, Any] | None) -> dict[str, Any]:
        ctx = self._context() if self._context is not None else {}
        return {**ctx, **context} if context else ctx

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
        if not self._keepalive and "connection" not in given:
            lines.append("Connection: close")
        if "content-length" not in given and (body is not None or method in _BODY_METHODS):
            lines.append(f"Content-Length: {len(body or b'')}")
        for line in lines:
            if "\r" in line or "\n" in line:
                raise ValueError(f"CR or LF inside the request line or a header: {line!r}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("latin-1") + (body or b""), self.base_url + target

    def _exchange(self, request: bytes, no_body: bool) -> LeanResponse:
        # The connection leaves self._conn while in use: an exception or a killed greenlet
        # must never leave a half-read connection behind for the next request.
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.send(request)
                first = conn.recv_first()
            except ConnectionError:
                first = b""  # reset before any byte: same as a close, see the module docs
            except BaseException:
                conn.close()
                raise
            if first:
                return self._finish(conn, first, no_body)
            conn.close()
        conn = self._connect()
        try:
            conn.send(request)
            first = conn.recv_first()
        except BaseException:
            conn.close()
            raise
        return self._finish(conn, first, no_body)

    def _connect(self) -> _Connection:
        if self._tls is None:
            conn = _Connection(self._hub, self._peer)
        else:
            conn = _TlsConnection(self._hub, self._peer, self._tls)
        self.connections += 1
        return conn

    def _finish(self, conn: _Connection, first: bytes, no_body: bool) -> LeanResponse:
        try:
            response, keep_alive, rest = read_response(conn.recv, first, no_body=no_body)
        except BaseException:
            conn.close()
            raise
        if keep_alive and not rest and self._keepalive:
            self._conn = conn
        else:
            conn.close()  # server or client said close, or bytes came we did not ask for
        return response

    @property
    def resumed(self) -> int:
        """TLS connections that resumed the session of an earlier one."""
        return 0 if self._tls is None else self._tls.resumed

    def close(self) -> None:
        """Close the idle connection, if any."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # The shortcuts name `name` and the body arguments: forwarding only **kwargs costs a
    # dict per call, and name= is on nearly every call.
    def get(self, path: str, name: str | None = None, **kwargs: Any) -> LeanResponse:
        return self.request("GET", path, name=name, **kwargs)

    def head(self, path: str, name: str | None = None, **kwargs: Any) -> LeanResponse:
        return self.request("HEAD", path, name=name, **kwargs)

    def delete(self, path: str, name: str | None = None, **kwargs: Any) -> LeanResponse:
        return self.request("DELETE", path, name=name, **kwargs)

    def post(
        self, path: str, data: bytes | str | None = None, json: Any = None, **kwargs: Any
    ) -> LeanResponse:
        return self.request("POST", path, data=data, json=json, **kwargs)

    def put(
        self, path: str, data: bytes | str | None = None, json: Any = None, **kwargs: Any
    ) -> LeanResponse:
        return self.request("PUT", path, data=data, json=json, **kwargs)

    def patch(
        self, path: str, data: bytes | str | None = None, json: Any = None, **kwargs: Any
    ) -> LeanResponse:
        return self.request("PATCH", path, data=data, json=json, **kwargs)


class LeanHttpUser(User):
    """A Locust user whose ``self.client`` is a LeanClient on ``self.host``."""

    abstract = True
    connection_timeout: float | None = 60.0
    """Seconds to wait for a TCP connection; None waits forever."""
    network_timeout: float | None = 60.0
    """Seconds a whole request may take, connecting included; None waits forever."""
    tls_ca: str | None = TLS_CA
    """https: the PEM file of the certificates to trust (PWB_TLS_CA); None: the system's."""
    tls_resume: bool = TLS_RESUME
    """https: resume the last connection's TLS session when reconnecting (PWB_TLS_RESUME)."""
    keepalive: bool = KEEPALIVE
    """False: a new connection for every request, sent with "Connection: close"."""

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
            tls_ca=self.tls_ca,
            tls_resume=self.tls_resume,
            keepalive=self.keepalive,
        )
