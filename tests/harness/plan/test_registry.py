"""harness.plan.registry: both registries parse, and malformed entries are refused by key."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from harness.core.errors import RegistryError
from harness.plan import registry


def server_entry(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "program": "x",
        "worker_class": "sync",
        "interfaces": ["wsgi"],
        "threads": False,
        "keepalive": True,
        "stop_signal": "SIGTERM",
        "packages": [],
        "argv": ["{python}", "-m", "x", "{app}", "--port", "{port}"],
    }
    entry.update(changes)
    return entry


def test_shipped_registries_parse() -> None:
    servers = registry.servers()
    assert {"gunicorn-sync", "uvicorn", "uwsgi", "wsgiref"} <= set(servers)
    assert servers["uwsgi"].stop_signal is signal.SIGTERM
    assert servers["gunicorn-gthread"].threads and servers["gunicorn-gthread"].default_threads
    assert servers["wsgiref"].max_workers == 1
    variants = registry.variants()
    assert variants["flask"].interface == "wsgi"
    assert variants["fastapi-async"].interface == "asgi"


def test_readme_lists_every_server() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    table = readme[readme.index("| server entry |") :].split("\n\n", 1)[0]
    missing = [sid for sid in registry.servers() if f"`{sid}`" not in table]
    assert missing == [], f"README.md's server table lacks {missing}"


def test_every_server_turns_access_logs_off_or_never_had_them() -> None:
    for server in registry.servers().values():
        assert not any(a.startswith("--access-log") for a in server.argv), server.id


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"interfaces": ["cgi"]}, "[s].interfaces"),
        ({"stop_signal": "SIGNOPE"}, "unknown signal 'SIGNOPE'"),
        ({"argv": ["{python}", "{nope}"]}, "unknown placeholder {nope}"),
        ({"threads": True, "default_threads": 2}, "{threads} must appear"),
        ({"threads": True}, "default_threads"),
        ({"max_workers": 0}, "max_workers"),
        ({"keepalive": "yes"}, "[s].keepalive: expected bool"),
        ({"refuses_root": "yes"}, "[s].refuses_root: expected true or false"),
        ({"tls_args": ["--cert", "{certfile}"]}, "[s].tls_args: must contain {certfile} and"),
        ({"tls_args": ["--cert", "{certfile}", "{keyfile}", "{pem}"]}, "unknown placeholder"),
        ({"argv": ["{python}", "--cert", "{certfile}"]}, "unknown placeholder {certfile}"),
    ],
)
def test_bad_server_entries_are_refused(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(RegistryError) as excinfo:
        registry.parse_servers({"s": server_entry(**changes)}, "servers.toml")
    assert expected in str(excinfo.value)
    assert str(excinfo.value).startswith("servers.toml: [s]")


def test_tmpdir_placeholder_is_known_and_marks_the_server() -> None:
    plain = registry.parse_servers({"s": server_entry()}, "servers.toml")["s"]
    assert not plain.needs_tmpdir and not plain.refuses_root
    argv = ["{python}", "x", "--root", "{tmpdir}", "--port", "{port}"]
    spec = registry.parse_servers(
        {"s": server_entry(argv=argv, refuses_root=True)}, "servers.toml"
    )["s"]
    assert spec.needs_tmpdir and spec.refuses_root
    shipped = registry.servers()
    assert shipped["apache"].needs_tmpdir and shipped["apache"].refuses_root
    assert shipped["waitress"].max_workers == 1 and shipped["waitress"].uds_argv


def test_servers_that_take_a_certificate() -> None:
    takes = {sid for sid, spec in registry.servers().items() if spec.tls_args}
    assert {"gunicorn-sync", "gunicorn-uvicorn", "uvicorn", "hypercorn", "granian-asgi"} <= takes
    assert not {"uwsgi", "waitress", "wsgiref", "apache"} & takes


def test_missing_key_is_named() -> None:
    entry = server_entry()
    del entry["argv"]
    with pytest.raises(RegistryError, match=r"\[s\]: missing key 'argv'"):
        registry.parse_servers({"s": entry}, "servers.toml")


def test_bad_variant_is_refused() -> None:
    bad = {"v": {"framework": "f", "interface": "asgi", "app": "no_colon"}}
    with pytest.raises(RegistryError, match="expected 'module:callable'"):
        registry.parse_variants(bad, "variants.toml")
