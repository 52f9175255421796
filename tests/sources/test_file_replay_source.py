"""Replay mode: every frame of a file, in order, with times from the index, never the clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from smartshelf.config import CameraConfig
from smartshelf.errors import UserError
from smartshelf.sources import EndOfStream, ReplayFileSource, open_source
from smartshelf.sources.replay import timestamps_path


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


def write_sidecar(video: Path, ts_s: object, epoch_s: object = 1.7e9) -> Path:
    side = timestamps_path(video)
    side.write_text(json.dumps({"video": video.name, "fps": 10.0, "epoch_s": epoch_s, "ts_s": ts_s}))
    return side


def test_a_recordings_own_frame_times_replace_index_over_fps(
        video_factory: Callable[..., Path]) -> None:
    """Guards against replaying a live recording at its nominal rate: a camera that lost frames
    or slowed down must replay with the times the daemon saw, and the events with the live
    wall-clock times."""
    path = video_factory(n=5, fps=10.0)
    times = [0.0, 0.1, 0.25, 0.9, 1.0]  # uneven: a stall between frames 2 and 3
    write_sidecar(path, times, epoch_s=1.7e9)
    source = open_source(CameraConfig("a", str(path)), mode="replay")
    frames = read_all(source)
    source.close()
    assert [f.ts_s for f in frames] == times
    assert {f.epoch_s for f in frames} == {1.7e9}
    given = ReplayFileSource(CameraConfig("a", str(path)), epoch_s=5.0)  # an explicit epoch wins
    assert given.read().epoch_s == 5.0
    given.close()


@pytest.mark.parametrize(
    ("ts_s", "epoch_s", "message"),
    [
        ([0.0, 0.1, 0.2], 0.0, "3 frame times for a video of 5 frames"),
        ([0.0, 0.1, 0.3, 0.2, 0.4], 0.0, "time goes backwards at frame 3"),
        ([0.0, 0.1, None, 0.3, 0.4], 0.0, "finite numbers"),
        ("0.0 0.1", 0.0, "ts_s: expected a non-empty list"),
        ([0.0, 0.1, 0.2, 0.3, 0.4], "yesterday", "epoch_s: expected a number"),
    ],
)
def test_a_bad_timestamps_file_is_refused_by_name(video_factory: Callable[..., Path], ts_s: object,
                                                   epoch_s: object, message: str) -> None:
    path = video_factory(n=5, fps=10.0)
    side = write_sidecar(path, ts_s, epoch_s)
    with pytest.raises(UserError, match=message) as err:
        ReplayFileSource(CameraConfig("a", str(path)))
    assert str(side) in str(err.value)


def test_an_unreadable_timestamps_file_is_refused_by_name(video_factory: Callable[..., Path]) -> None:
    path = video_factory(n=3, fps=10.0)
    timestamps_path(path).write_text("{not json")
    with pytest.raises(UserError, match="not a readable timestamps file"):
        ReplayFileSource(CameraConfig("a", str(path)))
