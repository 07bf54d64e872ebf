"""Serve a WSGI app with the standard library's wsgiref: `python -m harness.run.wsgiref_serve
module:callable --host H --port P`.

wsgiref is the reference implementation: one process, one thread, one request at a time,
HTTP/1.0 (no keep-alive). It is in the suite on purpose, to show why it is not a
production server.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Callable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server


class QuietHandler(WSGIRequestHandler):
    """No access log line per request (it would measure logging)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def load_app(target: str) -> Callable[..., Any]:
    """Import "module:callable"."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise SystemExit(f"expected module:callable, got {target!r}")
    return getattr(importlib.import_module(module_name), attr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("app", help="module:callable")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, load_app(args.app), handler_class=QuietHandler)

    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"wsgiref serving {args.app} on http://{args.host}:{args.port}", file=sys.stderr)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
