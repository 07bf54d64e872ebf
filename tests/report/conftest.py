"""Fixtures of the report tests: synthetic run directories built in code (see synthetic.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .synthetic import SynthSpec, build_run


@pytest.fixture(scope="session")
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default synthetic run: six stacks, mixes json and io, two user levels, failures.

    Shared by the session: tests must not write into it (build_report works on a copy).
    """
    return build_run(tmp_path_factory.mktemp("synthetic"), SynthSpec())
