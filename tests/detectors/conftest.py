"""Fixtures for the detector tests: the shared real images (the models fixture is in tests/)."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (DATA / "hands").is_dir():
        pytest.skip(f"shared test data not found at {DATA} (../shared/data is not in a user clone)")
    return DATA
