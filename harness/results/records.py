"""Per-request records: what the locustfile logs for every request, and requests.csv.gz.

One line per request: t_start (unix s, 6 decimals), latency_us, name, status, ok, bytes.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import LoadError

REQUEST_COLUMNS = ("t_start", "latency_us", "name", "status", "ok", "bytes")
# The status of a request that was sent but still unanswered when Locust stopped its user
# (scenarios/locustfiles/_cutoff.py): ok is 0, latency_us how long it had waited. Request
# files written before it existed simply have no such line.
CUT_OFF_STATUS = -1
# The status nginx answers a request its rate limit turns away (a stack's -limit<N>,
# harness/run/services/nginx.py): counted as rejected for such a stack, not as an error.
REJECTED_STATUS = 429


@dataclass(frozen=True, slots=True)
class Record:
    """One request as the locustfile logged it."""

    t_start: float
    latency_us: int
    name: str
    status: int
    ok: bool
    bytes: int

    @property
    def cut_off(self) -> bool:
        """Sent, but unanswered when the load stopped: neither a success nor an error."""
        return self.status == CUT_OFF_STATUS


def _parse_line(line: str, source: Path) -> Record:
    try:
        t_start, latency_us, rest = line.split(",", 2)
        name, status, ok, size = rest.rsplit(",", 3)
        return Record(float(t_start), int(latency_us), name, int(status), ok == "1", int(size))
    except ValueError:
        raise LoadError(f"{source}: malformed request record {line!r}") from None


def read_records(path: Path) -> list[Record]:
    """Records from a requests CSV (plain, or gzip with a header line)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="ascii") as f:
        lines = f.read().splitlines()
    if lines and lines[0].startswith("t_start,"):
        lines = lines[1:]
    return [_parse_line(line, path) for line in lines if line]


def write_records_gz(records: list[Record], path: Path) -> None:
    """requests.csv.gz: header plus one line per request, warm-up included."""
    with gzip.open(path, "wt", encoding="ascii", newline="\n", compresslevel=6) as f:
        f.write(",".join(REQUEST_COLUMNS) + "\n")
        for r in records:
            f.write(f"{r.t_start:.6f},{r.latency_us},{r.name},{r.status},{int(r.ok)},{r.bytes}\n")
