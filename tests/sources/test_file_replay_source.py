"""Replay mode: every frame of a file, in order, with times from the index, never the clock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from smartshelf.config import CameraConfig
from smartshelf.errors import UserError
from smartshelf.sources import EndOfStream, ReplayFileSource, open_source


def read_all(source: ReplayFileSource) -> list:
    frames = []
    while True:
        try:
            frame = source.read(timeout_s=1.0)
        except EndOfStream:
            return frames
        assert frame is not None
        frames.append(frame)


@pytest.mark.parametrize("fps", [25.0, 12.5])
def test_every_frame_in_order_with_exact_times(video_factory: Callable[..., Path],
                                              gray_level: Callable[[int], int], fps: float) -> None:
    path = video_factory(n=17, fps=fps)
    source = open_source(CameraConfig("shelf", str(path)), mode="replay")
    try:
        frames = read_all(source)
    finally:
        source.close()
    assert [f.index for f in frames] == list(range(17))
    assert [f.ts_s for f in frames] == [i / fps for i in range(17)]
    # The pixels are the frames written, in the order written (mp4v is lossy: allow a little).
    for i, f in enumerate(frames):
        assert abs(float(f.image_bgr.mean()) - gray_level(i)) < 4, f"frame {i} out of order"
        assert f.camera == "shelf" and f.epoch_s == 0.0 and f.size_wh == (96, 64)
    assert source.stats.frames_read == 17 and source.stats.frames_dropped == 0
    assert source.stats.last_frame_ts_s == 16 / fps


def test_two_replays_give_identical_times(video_factory: Callable[..., Path]) -> None:
    path = video_factory(n=9, fps=30.0)
    runs = []
    for _ in range(2):
        source = ReplayFileSource(CameraConfig("a", str(path)))
        runs.append([(f.index, f.ts_s) for f in read_all(source)])
        source.close()
    assert runs[0] == runs[1] and len(runs[0]) == 9


def test_epoch_can_be_given(video_factory: Callable[..., Path]) -> None:
    source = open_source(CameraConfig("a", str(video_factory(n=2))), mode="replay", epoch_s=1.7e9)
    frame = source.read(timeout_s=1.0)
    source.close()
    assert frame is not None and frame.epoch_s == 1.7e9


def test_end_of_stream_repeats_and_close_is_idempotent(video_factory: Callable[..., Path]) -> None:
    source = ReplayFileSource(CameraConfig("a", str(video_factory(n=3))))
    assert source.frame_count() == 3 and source.fps == 25.0
    assert len(read_all(source)) == 3
    with pytest.raises(EndOfStream):
        source.read(timeout_s=1.0)
    source.close()
    source.close()
    assert not source.stats.connected
    with pytest.raises(EndOfStream):
        source.read(timeout_s=1.0)


def test_missing_or_undecodable_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(UserError, match="nope.mp4"):
        open_source(CameraConfig("a", str(missing)), mode="replay")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(UserError, match="junk.mp4"):
        open_source(CameraConfig("a", str(junk)), mode="live")


def test_replay_refuses_a_stream_and_hides_its_password() -> None:
    cam = CameraConfig("door", "rtsp://admin:hunter2@10.0.0.5/stream1")
    with pytest.raises(UserError) as err:
        open_source(cam, mode="replay")
    assert "hunter2" not in str(err.value) and "admin:***@10.0.0.5" in str(err.value)


def test_unknown_mode_is_rejected(video_factory: Callable[..., Path]) -> None:
    with pytest.raises(ValueError, match="'replay' or 'live'"):
        open_source(CameraConfig("a", str(video_factory(n=1))), mode="fast")
