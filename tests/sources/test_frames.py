"""`frames()`: what the tools (replay, detect, calibrate, zones) read a source with."""

from __future__ import annotations

import time

from smartshelf.config import CameraConfig
from smartshelf.sources import frames, open_source


def test_every_frame_of_a_file_then_stops(video_factory):
    path = video_factory(n=12, fps=10.0)
    source = open_source(CameraConfig("c", str(path)), mode="replay")
    try:
        got = list(frames(source, timeout_s=1.0))
    finally:
        source.close()
    assert [f.index for f in got] == list(range(12))
    assert [round(f.ts_s, 3) for f in got] == [round(i / 10.0, 3) for i in range(12)]


def test_a_camera_that_never_answers_ends_after_the_timeout():
    """Regression: `calibrate` on a dead stream waited for ever (None reads were retried)."""
    cam = CameraConfig("dead", "http://127.0.0.1:9/none", reconnect_min_s=0.2, reconnect_max_s=0.5)
    source = open_source(cam, mode="live")
    t0 = time.monotonic()
    try:
        assert list(frames(source, timeout_s=0.5)) == []
    finally:
        source.close()
    assert time.monotonic() - t0 < 5.0
