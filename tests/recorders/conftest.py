"""Fixtures for recorder tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest


def _read_all(path: Path) -> list[np.ndarray]:
    """Every frame of a video, decoded through OpenCV (not the container's declared count)."""
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        out.append(image)
    cap.release()
    return out


@pytest.fixture
def read_video() -> Callable[[Path], list[np.ndarray]]:
    return _read_all
