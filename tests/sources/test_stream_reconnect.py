"""A real MJPEG stream over loopback HTTP that dies, stalls and comes back."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from smartshelf.config import CameraConfig
from smartshelf.sources import LiveSource
from smartshelf.sources.capture import backoff_s


def wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def camera(url: str, **kw: float) -> CameraConfig:
    return CameraConfig("door", url, reconnect_min_s=0.05, reconnect_max_s=0.4,
                        stall_timeout_s=kw.get("stall_timeout_s", 5.0))


def test_stream_cut_and_restored(mjpeg_server: Any, take: Any, caplog: pytest.LogCaptureFixture) -> None:
    url = mjpeg_server.url.replace("http://", "http://viewer:s3cret@")
    source = LiveSource(camera(url), rng=random.Random(1))
    caplog.set_level(logging.INFO, logger="smartshelf.sources")
    try:
        before = take(source, 5)
        assert len(before) == 5 and source.stats.connected
        assert before[0].image_bgr.shape == (48, 64, 3)
        assert all(b.ts_s > a.ts_s for a, b in zip(before, before[1:], strict=False))

        mjpeg_server.stop()
        assert wait_for(lambda: not source.stats.connected), "the cut was not noticed"
        time.sleep(0.5)  # several failed reconnects while the camera is down
        assert source.read(timeout_s=0.3) is None
        assert source.stats.reconnects == 0  # nothing came back yet

        mjpeg_server.start()
        after = take(source, 5)
        assert len(after) == 5, "frames did not resume after the stream came back"
        assert source.stats.connected and source.stats.reconnects == 1
        # Time and index keep increasing across the outage; the gap shows in ts_s.
        assert after[0].index > before[-1].index and after[0].ts_s >= before[-1].ts_s + 0.5
    finally:
        source.close()
    assert "s3cret" not in caplog.text and "viewer:***@127.0.0.1" in caplog.text
    assert "lost" in caplog.text and "reconnected" in caplog.text


def test_a_stalled_stream_is_reopened(mjpeg_server: Any, take: Any) -> None:
    """The connection stays open but sends nothing: after stall_timeout_s the source reconnects."""
    source = LiveSource(camera(mjpeg_server.url, stall_timeout_s=0.6), rng=random.Random(2))
    try:
        assert len(take(source, 3)) == 3
        mjpeg_server.paused.set()
        assert wait_for(lambda: mjpeg_server.connections >= 2, 5.0), "no reconnect after a stall"
        mjpeg_server.paused.clear()
        assert len(take(source, 3)) == 3
        assert source.stats.reconnects >= 1
    finally:
        source.close()


def test_close_returns_promptly_while_the_camera_is_down() -> None:
    source = LiveSource(CameraConfig("door", "http://127.0.0.1:9/none.mjpg", reconnect_min_s=5.0,
                                     reconnect_max_s=5.0))
    assert source.read(timeout_s=0.3) is None and not source.stats.connected
    t0 = time.monotonic()
    source.close()
    assert time.monotonic() - t0 < 1.5


@pytest.mark.parametrize("attempt", range(8))
def test_backoff_grows_to_the_cap_with_jitter(attempt: int) -> None:
    rng = random.Random(attempt)
    delays = [backoff_s(attempt, 0.5, 8.0, rng) for _ in range(200)]
    cap = min(8.0, 0.5 * 2**attempt)
    assert min(delays) >= cap / 2 and max(delays) <= cap
    assert max(delays) - min(delays) > cap / 4  # jittered, not one fixed value
