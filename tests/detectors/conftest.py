"""Fixtures for the detector tests: the real palm models and the shared real images."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartshelf import models

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The repo's models/ folder with the pinned palm models (fetched once if absent)."""
    target = models.default_models_dir()
    models.fetch(target)
    return target


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (DATA / "hands").is_dir():
        pytest.skip(f"shared test data not found at {DATA} (../shared/data is not in a user clone)")
    return DATA
