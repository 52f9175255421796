"""Live mode on files and the latest-frame slot: pacing, looping, drops, stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from smartshelf.config import CameraConfig
from smartshelf.sources import EndOfStream, LiveSource, open_source
from smartshelf.sources.slot import LatestSlot
from smartshelf.types import Frame


def test_slot_keeps_only_the_latest_and_counts_overwrites() -> None:
    slot: LatestSlot[int] = LatestSlot()
    assert slot.take(0.01) is None
    for i in range(5):
        slot.put(i)
    assert slot.take(0.01) == 4 and slot.dropped == 4
    assert slot.take(0.01) is None  # taken: gone
    slot.put(7)
    assert slot.take(0.0) == 7 and slot.dropped == 4


def test_slot_close_wakes_a_waiting_reader() -> None:
    slot: LatestSlot[int] = LatestSlot()
    got: list[int | None] = []
    reader = threading.Thread(target=lambda: got.append(slot.take(30.0)))
    reader.start()
    time.sleep(0.05)
    t0 = time.monotonic()
    slot.close()
    reader.join(5.0)
    assert got == [None] and time.monotonic() - t0 < 1.0


def test_live_file_is_paced_at_its_fps(video_factory: Callable[..., Path],
                                      take: Callable[..., list[Frame]]) -> None:
    source = open_source(CameraConfig("a", str(video_factory(n=12, fps=20.0))), mode="live")
    try:
        t0 = time.monotonic()
        frames = take(source, 12)
        elapsed = time.monotonic() - t0
        with pytest.raises(EndOfStream):  # not looping: the end is reported after the last frame
            for _ in range(10):
                source.read(timeout_s=1.0)
    finally:
        source.close()
    # 12 frames at 20 fps span 0.55 s of stream time; real-time pacing cannot deliver them faster.
    assert elapsed >= 0.5
    assert [f.index for f in frames] == list(range(12))
    assert all(f.ts_s == pytest.approx(f.index / 20.0) for f in frames)
    assert frames[0].epoch_s > 1.6e9  # live: the wall time of ts 0


def test_looping_file_keeps_time_increasing(video_factory: Callable[..., Path],
                                            take: Callable[..., list[Frame]]) -> None:
    cam = CameraConfig("a", str(video_factory(n=6, fps=50.0)), loop=True)
    source = open_source(cam, mode="live")
    try:
        frames = take(source, 20)
    finally:
        source.close()
    assert len(frames) == 20
    ts = [f.ts_s for f in frames]
    assert all(b > a for a, b in zip(ts, ts[1:], strict=False)), ts
    assert frames[-1].index >= 18  # at least three passes through a 6-frame file
    # Across loops the time is still index / fps: no jump back to 0, no gap.
    assert all(f.ts_s == pytest.approx(f.index / 50.0) for f in frames)
    assert source.stats.reconnects == 0  # a loop is not a reconnect


def test_a_slow_reader_gets_the_newest_frame_and_drops_are_counted(
        video_factory: Callable[..., Path]) -> None:
    source = LiveSource(CameraConfig("a", str(video_factory(n=30, fps=100.0))))
    taken: list[Frame] = []
    try:
        while True:
            try:
                frame = source.read(timeout_s=1.0)
            except EndOfStream:
                break
            if frame is not None:
                taken.append(frame)
                time.sleep(0.05)  # a pipeline five times slower than the camera
    finally:
        source.close()
    stats = source.stats
    assert stats.frames_read == 30
    assert stats.frames_dropped >= 10
    # Every frame read was either taken or dropped: nothing queued up, nothing lost silently.
    assert len(taken) + stats.frames_dropped == stats.frames_read
    assert [f.index for f in taken] == sorted(f.index for f in taken)
    assert taken[-1].index == 29  # the last frame is delivered before the end is reported


def test_close_wakes_a_blocked_read(video_factory: Callable[..., Path]) -> None:
    # A 1 fps file: the second frame is a second away, so read() is blocked when close() comes.
    source = LiveSource(CameraConfig("a", str(video_factory(n=5, fps=1.0))))
    assert source.read(timeout_s=5.0) is not None
    result: list[object] = []
    reader = threading.Thread(target=lambda: result.append(source.read(timeout_s=30.0)))
    reader.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    source.close()
    reader.join(5.0)
    assert result == [None] and time.monotonic() - t0 < 2.0
