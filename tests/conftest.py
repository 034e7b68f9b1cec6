"""Shared fixtures.  Tests that need ../shared/data are marked ``shared`` and skip when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


@pytest.fixture(params=["cpu"] + (["cuda"] if __import__("torch").cuda.is_available() else []))
def device(request) -> str:
    """Always CPU; CUDA too where it exists."""
    return request.param
