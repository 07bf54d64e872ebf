"""Requests cut off when Locust stops its users, reported instead of lost.

Locust stops a user by killing its greenlet (GreenletExit): at once with a stop timeout of
0, else when --stop-timeout has passed and the user's task still runs. A request in flight
then never completes, and a client that reports requests only when they complete would
leave no trace of it: a load whose latency nears the run's length would lose exactly its
slowest requests. The clients here catch the kill around the request, report the request
through Locust's request event with ``exception=RequestCutOffError`` and no response, and
let the kill go on. mix.py writes such a request with status CUT_OFF_STATUS.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gevent import GreenletExit
from locust import FastHttpUser
from locust.contrib.fasthttp import FastHttpSession

# The status a per-request record carries for a cut-off request (harness/run/loadgen.py has the
# same value): no HTTP status is negative, and 0 already means a failure without an answer.
CUT_OFF_STATUS = -1


class RequestCutOffError(Exception):
    """The request was sent but still unanswered when Locust stopped its user."""


def report_cut_off(
    fire: Callable[..., None],
    *,
    request_type: str,
    name: str,
    start_time: float,
    t0: float,
    url: str,
    context: dict[str, Any],
) -> None:
    """Report one cut-off request: its latency is how long it had waited (a lower bound)."""
    fire(
        request_type=request_type,
        name=name,
        response_time=(time.perf_counter() - t0) * 1000,
        response_length=0,
        response=None,
        context=context,
        exception=RequestCutOffError("unanswered when Locust stopped the user"),
        start_time=start_time,
        url=url,
    )


class CutOffFastHttpUser(FastHttpUser):
    """FastHttpUser whose client also reports the requests cut off when the user is stopped."""

    abstract = True

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self._guard(self.client)

    @staticmethod
    def session_for(user: CutOffFastHttpUser) -> FastHttpSession:
        """A new guarded session on user.host, set up as FastHttpUser sets up its own."""
        session = FastHttpSession(
            base_url=user.host, request_event=user.environment.events.request,
            network_timeout=user.network_timeout, connection_timeout=user.connection_timeout,
            max_redirects=user.max_redirects, max_retries=user.max_retries,
            insecure=user.insecure, concurrency=user.concurrency, user=user,
            client_pool=user.client_pool, ssl_context_factory=user.ssl_context_factory,
            headers=user.default_headers, proxy_host=user.proxy_host, proxy_port=user.proxy_port,
        )  # fmt: skip
        user._guard(session)
        return session

    def _guard(self, session: FastHttpSession) -> None:
        request = session.request
        fire = self.environment.events.request.fire

        def guarded(method: str, url: str, name: str | None = None, **kwargs: Any) -> Any:
            start_time = time.time()
            t0 = time.perf_counter()
            try:
                return request(method, url, name=name, **kwargs)
            except GreenletExit:
                report_cut_off(
                    fire, request_type=method, name=name or url, start_time=start_time, t0=t0,
                    url=session._build_url(url), context=self.context(),
                )  # fmt: skip
                raise

        # get(), post(), ... of FastHttpSession all go through self.request.
        session.request = guarded
