"""TLS for a run: a self-signed certificate made per run with the openssl command, and the
client context that trusts it.

The certificate names 127.0.0.1 and localhost. Each stack of a run listens on its own
127.x.y.z address, so clients verify the chain against this one certificate and do not
check the name (harness/run/services/tls.client_context; the lean load user does the
same with PWB_TLS_CA). The private key stays in a temporary directory removed with the
session; the certificate, which is public, is copied into the run's directory.
"""

from __future__ import annotations

import hashlib
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError
from harness.run.services.binaries import require

# Key kinds a scenario may ask for (tls_key), with openssl's arguments for each.
KEY_ARGS = {
    "ecdsa-p256": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
    "rsa-2048": ["-newkey", "rsa:2048"],
}
SUBJECT_ALT_NAMES = "IP:127.0.0.1,DNS:localhost"
VALID_DAYS = 7


class TlsError(HarnessError):
    """The certificate could not be made."""


@dataclass(frozen=True)
class TlsFiles:
    """A run's certificate and key (PEM files) and how they were made."""

    cert: Path
    key: Path
    kind: str
    openssl: str

    def describe(self) -> dict[str, Any]:
        """For metadata.json: the key kind, the certificate's SHA-256 fingerprint, openssl."""
        der = ssl.PEM_cert_to_DER_cert(self.cert.read_text())
        return {
            "key": self.kind,
            "sha256": hashlib.sha256(der).hexdigest(),
            "subject_alt_names": SUBJECT_ALT_NAMES,
            "self_signed": True,
            "openssl": self.openssl,
        }


def make_certificate(directory: Path, kind: str) -> TlsFiles:
    """A self-signed certificate and its unencrypted key in directory (made if missing)."""
    if kind not in KEY_ARGS:
        raise TlsError(f"unknown TLS key kind {kind!r} (known: {', '.join(KEY_ARGS)})")
    openssl = require(["openssl"], "TLS (a stack with +tls)")["openssl"]
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    argv = [
        openssl, "req", "-x509", *KEY_ARGS[kind], "-nodes", "-sha256",
        "-days", str(VALID_DAYS), "-subj", "/CN=127.0.0.1",
        "-addext", f"subjectAltName={SUBJECT_ALT_NAMES}",
        "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise TlsError(f"openssl could not make a {kind} certificate: {done.stderr.strip()}")
    version = subprocess.run(
        [openssl, "version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout.strip()
    return TlsFiles(cert=cert, key=key, kind=kind, openssl=version)


def client_context(ca: Path | str) -> ssl.SSLContext:
    """A client context trusting only ca: the chain is verified, the name is not checked."""
    context = ssl.create_default_context(cafile=str(ca))
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def verify_for(ca: Path | str | None) -> ssl.SSLContext | bool:
    """httpx's verify= for a front: the run's certificate when it speaks TLS, else the
    default (unused over plain http)."""
    return client_context(ca) if ca is not None else True
