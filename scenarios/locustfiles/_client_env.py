"""Client settings from the environment, for lean.py's LeanHttpUser and for mix.py.

  PWB_TLS_CA      https: a PEM file of the certificates to trust instead of the system's
  PWB_TLS_RESUME  "1": resume the last connection's TLS session on reconnecting (lean only)
  PWB_KEEPALIVE   "0": a new connection for every request, sent with "Connection: close"

Checked when imported: a bad value stops Locust at start with one line naming the setting.
"""

from __future__ import annotations

import os


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "")
    if value not in ("", "0", "1"):
        raise SystemExit(f"{name} must be 0 or 1, got {value!r}")
    return default if value == "" else value == "1"


def _file(name: str) -> str | None:
    value = os.environ.get(name) or None
    if value is not None and not os.path.isfile(value):
        raise SystemExit(f"{name}={value}: no such file")
    return value


TLS_CA = _file("PWB_TLS_CA")
TLS_RESUME = _flag("PWB_TLS_RESUME", False)
KEEPALIVE = _flag("PWB_KEEPALIVE", True)
