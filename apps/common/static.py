"""The static files every variant serves under /static/{name}: names, types, the directory.

The files live in apps/static/ (committed); generate() writes them again, byte for byte,
from a fixed seed, so the repository holds data that can always be reproduced. Every
variant answers with exactly these Content-Types (nginx's config says the same), so the
variants and nginx are compared on the same bytes and headers.
"""

from __future__ import annotations

import random
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
STATIC_PREFIX = "/static/"
# name -> Content-Type. Explicit, not guessed: mimetypes differs between Python versions
# (.js) and frameworks add a charset to text/* on their own terms.
CONTENT_TYPES: dict[str, str] = {
    "site.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "blob.bin": "application/octet-stream",
}
SIZES = {"site.css": 1024, "app.js": 10 * 1024, "blob.bin": 100 * 1024}
SEED = 20201
_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")


def content_type(name: str) -> str | None:
    """The Content-Type of a known file; None for any other name (a 404)."""
    return CONTENT_TYPES.get(name)


def path_of(name: str) -> Path | None:
    """The file of a known name, None for any other: names are looked up, never joined
    onto the directory, so no spelling of '..' can leave it."""
    return STATIC_DIR / name if name in CONTENT_TYPES else None


def _text(rng: random.Random, size: int, line: str) -> bytes:
    out = bytearray()
    i = 0
    while len(out) < size:
        out += line.format(i=i, w=rng.choice(_WORDS), n=rng.randrange(1000)).encode()
        i += 1
    return bytes(out[: size - 1]) + b"\n"


def contents() -> dict[str, bytes]:
    """Every file's bytes, from the fixed seed."""
    rng = random.Random(SEED)
    return {
        "site.css": _text(rng, SIZES["site.css"], ".{w}-{i} {{ margin: {n}px; }}\n"),
        "app.js": _text(rng, SIZES["app.js"], "const {w}{i} = {n}; // {w}\n"),
        "blob.bin": rng.randbytes(SIZES["blob.bin"]),
    }


def generate(directory: Path = STATIC_DIR) -> None:
    """Write the files into directory (the committed copies are this function's output)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in contents().items():
        (directory / name).write_bytes(data)
