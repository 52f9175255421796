"""OpenCV capture helpers shared by the replay and live sources: open, frame rate, backoff."""

from __future__ import annotations

import random

import cv2

from smartshelf.sources.urls import is_stream

# Rates outside this range are container junk (0, 90000, NaN): fall back to the container's clock.
MIN_SANE_FPS = 0.5
MAX_SANE_FPS = 1000.0


def container_fps(cap: cv2.VideoCapture) -> float:
    """The frame rate the container declares, or 0.0 when it declares none or an absurd one."""
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    return fps if MIN_SANE_FPS <= fps <= MAX_SANE_FPS else 0.0


def open_capture(source: str | int, *, timeout_s: float = 10.0) -> cv2.VideoCapture:
    """Open a file, a URL (FFmpeg backend) or a V4L2 device index; check `isOpened()`.

    For URLs `timeout_s` bounds both the connect and every read, so a dead stream makes `grab()`
    return False instead of blocking the capture thread forever.
    """
    if isinstance(source, int):
        return cv2.VideoCapture(source, cv2.CAP_V4L2)
    if is_stream(source):
        ms = max(1, int(timeout_s * 1000))
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        return cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)
    return cv2.VideoCapture(source)


def backoff_s(attempt: int, min_s: float, max_s: float, rng: random.Random) -> float:
    """Delay before reconnect `attempt` (0-based): exponential, capped, with 'equal jitter'.

    Half of the capped delay is fixed and half random, so cameras that lost the same switch do
    not all come back in the same instant, yet none retries sooner than min_s / 2.
    """
    base = min(max_s, min_s * (2.0 ** min(max(0, attempt), 30)))
    return base / 2.0 + rng.uniform(0.0, base / 2.0)
