"""The two registries the harness reads: app variants (apps/variants.toml) and servers
(harness/plan/servers.toml). Both are data; this module only parses and checks them."""

from __future__ import annotations

import signal
import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from apps import variants as apps_variants
from apps.toml_file import entries, read_toml, require
from apps.variants import Variant as AppVariant
from harness.core.errors import RegistryError

SERVERS_PATH = Path(__file__).resolve().parent / "servers.toml"

INTERFACES = apps_variants.INTERFACES
PLACEHOLDERS = frozenset(
    {"python", "bin", "app", "app_module", "app_callable", "host", "port", "workers", "threads",
     "socket", "tmpdir"}
)  # fmt: skip
# Only in tls_args: the run's certificate and key files.
TLS_PLACEHOLDERS = frozenset({"certfile", "keyfile"})
UDS_PROTOCOLS = ("http", "uwsgi")


@dataclass(frozen=True)
class ServerSpec:
    """One server and worker model, as declared in harness/plan/servers.toml."""

    id: str
    program: str
    worker_class: str
    interfaces: tuple[str, ...]
    threads: bool
    default_threads: int | None
    max_workers: int | None
    keepalive: bool
    stop_signal: signal.Signals
    packages: tuple[str, ...]
    argv: tuple[str, ...]
    # The command line binding a Unix socket ({socket}) instead of {host}:{port}, used
    # behind a proxy, and the protocol spoken there; () when the server has none.
    uds_argv: tuple[str, ...] = ()
    uds_protocol: str = "http"
    # For a server whose socket speaks another protocol (uWSGI): the command line speaking
    # HTTP on the Unix socket, for a stack that asks for it (+nginx-http); () when none.
    uds_http_argv: tuple[str, ...] = ()
    # The server will not serve as root (Apache): a harness running as root starts it as
    # an unprivileged account (harness/run/launch.py unprivileged).
    refuses_root: bool = False
    # Arguments added to argv for a stack whose server terminates TLS itself (+tls without
    # a proxy); () when the server cannot.
    tls_args: tuple[str, ...] = ()

    @property
    def needs_tmpdir(self) -> bool:
        """True when its command lines use {tmpdir}: a private temporary directory the
        harness makes before the start and removes after the stop."""
        return any("{tmpdir}" in a for a in (*self.argv, *self.uds_argv, *self.uds_http_argv))


def _require(table: dict[str, Any], key: str, kind: type, where: str) -> Any:
    return require(table, key, kind, where, RegistryError)


def parse_variants(data: dict[str, Any], source: str) -> dict[str, AppVariant]:
    """The app variants of a parsed variants file (apps/variants.py reads it)."""
    try:
        return apps_variants.parse_variants(data, source)
    except apps_variants.VariantsError as exc:
        raise RegistryError(str(exc)) from None


def _parse_signal(name: str, where: str) -> signal.Signals:
    try:
        return signal.Signals[name]
    except KeyError:
        raise RegistryError(f"{where}.stop_signal: unknown signal {name!r}") from None


def _check_argv(
    argv: list[Any], where: str, known: frozenset[str] = PLACEHOLDERS
) -> tuple[str, ...]:
    if not argv or not all(isinstance(a, str) for a in argv):
        raise RegistryError(f"{where}.argv: expected a non-empty list of strings")
    for arg in argv:
        for _, field, _, _ in string.Formatter().parse(arg):
            if field is not None and field not in known:
                raise RegistryError(f"{where}.argv: unknown placeholder {{{field}}} in {arg!r}")
    return tuple(argv)


def _parse_server(sid: str, table: dict[str, Any], where: str) -> ServerSpec:
    interfaces = _require(table, "interfaces", list, where)
    if not interfaces or any(i not in INTERFACES for i in interfaces):
        raise RegistryError(f"{where}.interfaces: expected some of {INTERFACES}, got {interfaces}")
    threads = _require(table, "threads", bool, where)
    default_threads = table.get("default_threads")
    if threads and not (isinstance(default_threads, int) and default_threads >= 1):
        raise RegistryError(f"{where}.default_threads: threaded servers need an int >= 1")
    if not threads and default_threads is not None:
        raise RegistryError(f"{where}.default_threads: only for servers with threads = true")
    max_workers = table.get("max_workers")
    if max_workers is not None and not (isinstance(max_workers, int) and max_workers >= 1):
        raise RegistryError(f"{where}.max_workers: expected an int >= 1, got {max_workers!r}")
    argv = _check_argv(_require(table, "argv", list, where), where)
    if threads != any("{threads}" in a for a in argv):
        raise RegistryError(f"{where}.argv: {{threads}} must appear exactly when threads = true")
    uds_argv = _check_argv(table["uds_argv"], f"{where}.uds") if "uds_argv" in table else ()
    if uds_argv and not any("{socket}" in a for a in uds_argv):
        raise RegistryError(f"{where}.uds_argv: must contain {{socket}}")
    uds_protocol = table.get("uds_protocol", "http")
    if uds_protocol not in UDS_PROTOCOLS:
        raise RegistryError(f"{where}.uds_protocol: expected one of {UDS_PROTOCOLS}")
    uds_http_argv: tuple[str, ...] = ()
    if "uds_http_argv" in table:
        uds_http_argv = _check_argv(table["uds_http_argv"], f"{where}.uds_http")
        if uds_protocol == "http" or not any("{socket}" in a for a in uds_http_argv):
            raise RegistryError(
                f"{where}.uds_http_argv: only for a uds_protocol other than http, "
                "and must contain {socket}"
            )
    tls_args: tuple[str, ...] = ()
    if "tls_args" in table:
        tls_args = _check_argv(table["tls_args"], f"{where}.tls", PLACEHOLDERS | TLS_PLACEHOLDERS)
        if not all(any(f"{{{p}}}" in a for a in tls_args) for p in TLS_PLACEHOLDERS):
            raise RegistryError(f"{where}.tls_args: must contain {{certfile}} and {{keyfile}}")
    refuses_root = table.get("refuses_root", False)
    if not isinstance(refuses_root, bool):
        raise RegistryError(f"{where}.refuses_root: expected true or false, got {refuses_root!r}")
    return ServerSpec(
        id=sid,
        program=_require(table, "program", str, where),
        worker_class=_require(table, "worker_class", str, where),
        interfaces=tuple(interfaces),
        threads=threads,
        default_threads=default_threads,
        max_workers=max_workers,
        keepalive=_require(table, "keepalive", bool, where),
        stop_signal=_parse_signal(_require(table, "stop_signal", str, where), where),
        packages=tuple(_require(table, "packages", list, where)),
        argv=argv,
        uds_argv=uds_argv,
        uds_protocol=uds_protocol,
        uds_http_argv=uds_http_argv,
        refuses_root=refuses_root,
        tls_args=tls_args,
    )


def parse_servers(data: dict[str, Any], source: str) -> dict[str, ServerSpec]:
    """Build the server specs from a parsed servers.toml."""
    return {
        sid: _parse_server(sid, table, where)
        for sid, table, where in entries(data, source, RegistryError)
    }


def variants() -> dict[str, AppVariant]:
    """The app variants declared in apps/variants.toml, by id."""
    try:
        return apps_variants.load_variants()
    except apps_variants.VariantsError as exc:
        raise RegistryError(str(exc)) from None


@cache
def servers() -> dict[str, ServerSpec]:
    """The servers declared in harness/plan/servers.toml, by id."""
    return parse_servers(read_toml(SERVERS_PATH, RegistryError), "harness/plan/servers.toml")
