"""Facts about where a run happens: the time, the machine, the installed packages, the
commit (metadata.json)."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

import psutil

from harness.core.paths import REPO_ROOT

# The packages a reader looks for first (the report's header, `pywebbench --version`).
KEY_PACKAGES: tuple[str, ...] = (
    "flask", "fastapi", "starlette", "pydantic", "django", "djangorestframework", "gunicorn",
    "uvicorn", "uvicorn-worker", "uvloop", "httptools", "granian", "hypercorn", "uwsgi",
    "waitress", "mod_wsgi", "gevent", "locust", "aiosqlite", "psycopg",
)  # fmt: skip


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "hostname": socket.gethostname(),
    }


def suite_version() -> str:
    """This suite's version: the installed package's, else the checkout's pyproject.toml."""
    try:
        return importlib.metadata.version("pywebbench")
    except importlib.metadata.PackageNotFoundError:
        pass
    import tomllib

    try:
        with (REPO_ROOT / "pyproject.toml").open("rb") as f:
            return str(tomllib.load(f)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def installed_packages() -> dict[str, str]:
    """Every installed distribution and its version, sorted by name."""
    found = {d.metadata["Name"]: d.version for d in importlib.metadata.distributions()}
    return dict(sorted(found.items(), key=lambda kv: kv[0].lower()))


def git_info() -> dict[str, Any]:
    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        return out.stdout.strip() if out.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    return {
        "commit": commit or None,
        "dirty": bool(git("status", "--porcelain")) if commit else None,
    }
