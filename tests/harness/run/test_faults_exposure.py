"""Exposure: everything the harness starts binds loopback (or a Unix socket), Django runs
with DEBUG off, ALLOWED_HOSTS set and a per-run secret, and no command goes through a shell."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from harness.plan import registry
from harness.plan.stacks import all_combinations, parse_stack_id
from harness.run.faults import is_loopback
from harness.run.launch import HOST, upstream_argv
from harness.run.rounds import CLIENT_ADDRESSES, client_address, stack_address
from harness.run.session import open_session

REPO_ROOT = Path(__file__).resolve().parents[3]
HARNESS = REPO_ROOT / "harness"
ANY_ADDRESS = re.compile(r"0\.0\.0\.0|listen_addresses\s*=\s*\*|\[::\]|'::'|\"::\"")


def test_every_server_template_binds_host_or_a_unix_socket() -> None:
    for server in registry.servers().values():
        assert "{host}" in " ".join(server.argv), server.id
        if server.uds_argv:
            joined = " ".join(server.uds_argv)
            assert "{socket}" in joined and "{host}" not in joined, server.id
    for combo in all_combinations():
        if combo.reason or not combo.stack_id:
            continue
        argv = parse_stack_id(combo.stack_id).argv(HOST, 8000, tmpdir="/tmp/pwb-sock-x")
        assert HOST == "127.0.0.1" and any(HOST in arg for arg in argv), argv
        assert not any(ANY_ADDRESS.search(arg) for arg in argv), argv


def test_upstream_and_services_bind_loopback() -> None:
    argv = upstream_argv(8001)
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    services = sorted((HARNESS / "run" / "services").glob("*.py"))
    for path in [HARNESS / "plan" / "servers.toml", *services]:
        text = path.read_text()
        assert not ANY_ADDRESS.search(text), path
    services = {p.stem: p.read_text() for p in (HARNESS / "run" / "services").glob("*.py")}
    assert "listen_addresses={HOST}" in services["postgres"]
    assert "listen_addr = {HOST}" in services["pgbouncer"]
    # nginx listens on the stack's address: 127.0.0.1, or a rounds design stack's own.
    assert "listen {host}:{port}" in services["nginx"]
    assert "host: str = HOST," in services["nginx"]


def test_every_rounds_address_is_loopback() -> None:
    addresses = [stack_address(i) for i in range(600)] + [client_address(n) for n in range(70_000)]
    assert client_address(CLIENT_ADDRESSES) == client_address(0) == "127.1.0.1"
    assert all(is_loopback(a) for a in addresses)
    assert len(set(addresses)) == len(addresses) and "127.0.0.1" not in addresses


def test_no_subprocess_through_a_shell() -> None:
    shells = re.compile(r"shell\s*=\s*True|os\.system\(|os\.popen\(|getoutput\(|getstatusoutput\(")
    for path in HARNESS.rglob("*.py"):
        assert not shells.search(path.read_text()), path


DJANGO_FACTS = (
    "import json, os;"
    "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'apps.django_app.settings');"
    "from django.conf import settings;"
    "print(json.dumps([settings.DEBUG, settings.ALLOWED_HOSTS,"
    " settings.SECRET_KEY == os.environ['DJANGO_SECRET_KEY'], settings.SECRET_KEY]))"
)


def test_django_runs_without_debug_with_a_per_run_secret(tmp_path: Path) -> None:
    secrets = []
    for n in range(2):
        work = tmp_path / f"run{n}"
        work.mkdir()
        with open_session(f"exposure-test-{n}", work, upstream_cpus=None) as session:
            done = subprocess.run(
                [sys.executable, "-c", DJANGO_FACTS], env=session.env, cwd=REPO_ROOT,
                capture_output=True, text=True, timeout=60, check=True,
            )  # fmt: skip
            assert "DJANGO_SECRET_KEY" not in session.public_env()
        debug, hosts, from_env, secret = json.loads(done.stdout)
        assert debug is False and from_env is True and len(secret) >= 50
        assert hosts and "*" not in hosts and set(hosts) <= {
            "127.0.0.1", "localhost", "[::1]", "testserver",
        }  # fmt: skip
        secrets.append(secret)
    assert secrets[0] != secrets[1]
