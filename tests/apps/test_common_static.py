"""apps.common.static: the committed files are generate()'s output, names are looked up,
and every variant refuses a literal '..' that an HTTP client would have resolved away."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from apps.common import static
from apps.contract.clients import import_app, load_variants

VARIANTS = load_variants()
REPO_ROOT = Path(__file__).resolve().parents[2]
# What a server hands the app for "GET /static/../common/settings.py" sent as written
# (gunicorn, uvicorn and uWSGI do not resolve dot segments).
LITERAL = ("/static/../common/settings.py", "/static/./../common/settings.py", "/static/..")
SECRET = (static.STATIC_DIR.parent / "common" / "settings.py").read_bytes()


def test_committed_files_are_the_generated_ones(tmp_path: Path) -> None:
    static.generate(tmp_path)
    assert sorted(p.name for p in static.STATIC_DIR.iterdir()) == sorted(static.CONTENT_TYPES)
    for name, size in static.SIZES.items():
        made = (tmp_path / name).read_bytes()
        assert len(made) == size and made == (static.STATIC_DIR / name).read_bytes(), name


def test_names_are_looked_up_never_joined() -> None:
    assert static.path_of("app.js") == static.STATIC_DIR / "app.js"
    for name in ("../common/settings.py", "..", "", "app.js/", "/etc/passwd", "APP.JS"):
        assert static.path_of(name) is None and static.content_type(name) is None


def _wsgi(app: Any, path: str) -> tuple[int, bytes]:
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000", "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr, "wsgi.multithread": False,
        "wsgi.multiprocess": False, "wsgi.run_once": False,
    }  # fmt: skip
    status: list[str] = []
    body = b"".join(app(environ, lambda s, h, *_: status.append(s)))
    return int(status[0].split()[0]), body


def _asgi(app: Any, path: str) -> tuple[int, bytes]:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "headers": [(b"host", b"127.0.0.1:8000")],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }  # fmt: skip
    sent: list[dict[str, Any]] = []
    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def run() -> None:
        answered = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if requests:
                return requests.pop()
            # Then the client stays until the whole response is sent (Django listens).
            await answered.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                answered.set()

        await app(scope, receive, send)

    asyncio.run(run())
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def probe(variant: str) -> list[tuple[str, int, bool]]:
    """(path, status, whether the file's bytes leaked) for each literal '..' path."""
    entry = VARIANTS[variant]
    app = import_app(entry.app)
    call = _wsgi if entry.interface == "wsgi" else _asgi
    answers = [(path, *call(app, path)) for path in LITERAL]
    return [(path, status, SECRET in body) for path, status, body in answers]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_literal_dot_segments_never_leave_the_directory(variant: str, tmp_path: Path) -> None:
    # Django reads DATABASE_URL once per process, when it is imported: importing a variant
    # here would point every later in-process test at this module's database. Each
    # variant is therefore called in a process of its own.
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "DATABASE_URL": "sqlite:///" + str(tmp_path / "static.sqlite3"),
    }
    done = subprocess.run(
        [sys.executable, __file__, variant], cwd=REPO_ROOT, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for path, status, leaked in json.loads(done.stdout.splitlines()[-1]):
        assert status == 404 and not leaked, (variant, path, status)


if __name__ == "__main__":
    print(json.dumps(probe(sys.argv[1])))
