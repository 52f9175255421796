"""Fixtures for source tests: small videos written here, and a real MJPEG-over-HTTP server."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from smartshelf.sources import LiveSource
from smartshelf.types import Frame

BOUNDARY = "smartshelfframe"


def gray_for(i: int) -> int:
    """The grey level of frame i in the test videos (distinct and far apart, survives mp4v)."""
    return (i * 23) % 200 + 20


def write_video(path: Path, n: int, fps: float, size_wh: tuple[int, int] = (96, 64)) -> Path:
    """n flat grey frames (level gray_for(i)) as an mp4v .mp4."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size_wh)
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for i in range(n):
        writer.write(np.full((size_wh[1], size_wh[0], 3), gray_for(i), np.uint8))
    writer.release()
    return path


@pytest.fixture
def gray_level() -> Callable[[int], int]:
    """gray_for, for tests (test modules do not import conftest)."""
    return gray_for


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


@pytest.fixture
def video_factory(tmp_path: Path) -> Callable[..., Path]:
    def make(n: int = 20, fps: float = 25.0, name: str = "clip.mp4") -> Path:
        return write_video(tmp_path / name, n, fps)

    return make


