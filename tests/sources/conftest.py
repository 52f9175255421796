"""Fixtures for source tests (the test videos and the MJPEG server are in tests/conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from smartshelf.sources import LiveSource
from smartshelf.types import Frame


def read_frames(source: LiveSource, n: int, timeout_s: float = 10.0) -> list[Frame]:
    """Up to n frames from a live source, giving up after timeout_s."""
    frames: list[Frame] = []
    end = time.monotonic() + timeout_s
    while len(frames) < n and time.monotonic() < end:
        frame = source.read(timeout_s=0.5)
        if frame is not None:
            frames.append(frame)
    return frames


@pytest.fixture
def take() -> Callable[..., list[Frame]]:
    """read_frames, for tests."""
    return read_frames
