"""Deterministic CPU-bound work for GET /cpu."""

from __future__ import annotations

import hashlib

SEED = b"pywebbench"


def hash_chain(n: int) -> str:
    """SHA-256 applied n times, starting from b"pywebbench"; the last digest in hex."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    digest = SEED
    sha256 = hashlib.sha256
    for _ in range(n):
        digest = sha256(digest).digest()
    return digest.hex()
