"""`record` on a real MJPEG-over-HTTP stream and a real file: the mp4 and its timestamps agree."""

from __future__ import annotations

import json
import threading

import cv2
import numpy as np
import pytest

from smartshelf.config import CameraConfig
from smartshelf.errors import UserError
from smartshelf.recorders.record import measured_fps, record
from smartshelf.sources import ReplayFileSource
from smartshelf.sources import frames as read_frames
from smartshelf.sources.replay import timestamps_path

# The grey levels the conftest MJPEG server cycles through ((i * 23) % 200 + 20, i < 10).
STREAM_LEVELS = np.array([(i * 23) % 200 + 20 for i in range(10)], np.float64)


def stream_level(image: np.ndarray) -> int:
    """Which of the server's frames this is (index into STREAM_LEVELS)."""
    return int(np.argmin(np.abs(STREAM_LEVELS - float(image.mean()))))


def check_sidecar(stats, frames: list[np.ndarray]) -> list[float]:  # type: ignore[no-untyped-def]
    side = json.loads(timestamps_path(stats.path).read_text())
    assert side["video"] == stats.path.name and side["fps"] == stats.fps
    ts = side["ts_s"]
    assert len(ts) == len(frames) == stats.frames
    assert ts[0] == 0.0 and all(b > a for a, b in zip(ts, ts[1:], strict=False))
    return list(ts)


def test_record_a_live_mjpeg_stream_for_a_duration(mjpeg_server, tmp_path, read_video):
    stats = record(mjpeg_server.url, tmp_path / "cam.mp4", duration_s=1.5, fps=None)
    frames = read_video(stats.path)
    ts = check_sidecar(stats, frames)
    assert ts[-1] < 1.5 and stats.duration_s == ts[-1]
    # the server sends ~30 fps: a good part of 1.5 s of it arrives (loose: CI machines are
    # loaded), and the declared rate is the one measured
    assert len(frames) >= 10
    assert 10 <= stats.fps <= 40
    assert frames[0].shape == (48, 64, 3)
    # every frame is one the server sent, in the server's order (mp4v keeps flat greys apart)
    levels = [stream_level(f) for f in frames]
    steps = [(b - a) % 10 for a, b in zip(levels, levels[1:], strict=False)]
    assert all(s >= 1 for s in steps), steps  # never the same frame twice, never backwards
    assert steps.count(1) >= 0.5 * len(steps), steps  # mostly consecutive: few frames lost
    assert stats.skipped == 0 and not stats.interrupted
    # a replay of the recording runs on the times the stream had, not index / declared fps
    source = ReplayFileSource(CameraConfig("cam", str(stats.path)))
    replayed = list(read_frames(source, timeout_s=1.0))
    source.close()
    assert [f.ts_s for f in replayed] == ts
    side = json.loads(timestamps_path(stats.path).read_text())
    assert {f.epoch_s for f in replayed} == {side["epoch_s"]}


def test_record_keeps_to_a_requested_fps(mjpeg_server, tmp_path, read_video):
    stats = record(mjpeg_server.url, tmp_path / "slow.mp4", duration_s=2.0, fps=10.0)
    frames = read_video(stats.path)
    ts = check_sidecar(stats, frames)
    assert stats.fps == 10.0
    cap = cv2.VideoCapture(str(stats.path))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
    cap.release()
    assert 12 <= len(frames) <= 21  # 2 s at 10 fps from a ~30 fps stream (never more)
    assert stats.skipped >= len(frames)
    gaps = np.diff(ts)
    assert float(gaps.min()) >= 0.05 - 1e-6  # never two frames within half a period


def test_record_rides_out_a_stream_cut(mjpeg_server, tmp_path, read_video):
    cam = CameraConfig("c", mjpeg_server.url, reconnect_min_s=0.2, reconnect_max_s=0.5,
                       stall_timeout_s=2.0)
    cut = threading.Timer(0.8, mjpeg_server.stop)
    back = threading.Timer(1.4, mjpeg_server.start)
    cut.start()
    back.start()
    try:
        stats = record(mjpeg_server.url, tmp_path / "cut.mp4", duration_s=3.0, fps=None, camera=cam)
    finally:
        cut.join()
        back.join()
    frames = read_video(stats.path)
    ts = check_sidecar(stats, frames)
    assert stats.reconnects >= 1
    assert max(np.diff(ts)) >= 0.4  # the gap is in the timestamps, not hidden
    assert ts[-1] >= 2.0  # frames came again after the cut


def test_record_a_file_until_its_end_and_stop_early(tmp_path, read_video):
    src = tmp_path / "in.mp4"
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter.fourcc(*"mp4v"), 20.0, (64, 48))
    for i in range(16):  # two 32 px bands: the frame index in base 4, 50 grey levels a digit
        img = np.empty((48, 64, 3), np.uint8)
        img[:, :32], img[:, 32:] = 50 + 50 * (i % 4), 50 + 50 * (i // 4)
        writer.write(img)
    writer.release()
    stats = record(str(src), tmp_path / "copy.mp4", duration_s=None, fps=None)
    frames = read_video(stats.path)
    ts = check_sidecar(stats, frames)
    assert ts == pytest.approx([i / 20.0 for i in range(16)])
    assert stats.fps == 20.0 and not stats.interrupted
    digits = [(round((f[:, :32].mean() - 50) / 50), round((f[:, 32:].mean() - 50) / 50))
              for f in frames]
    assert [lo + 4 * hi for lo, hi in digits] == list(range(16))  # every frame, in order

    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    early = record(str(src), tmp_path / "early.mp4", duration_s=None, fps=None, stop=stop)
    timer.join()
    assert early.interrupted and 1 <= early.frames < 16
    check_sidecar(early, read_video(early.path))


def test_bad_input_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="missing.mp4"):
        record(str(tmp_path / "missing.mp4"), tmp_path / "o.mp4", duration_s=1.0, fps=None)
    with pytest.raises(UserError, match="o.avi"):
        record("http://127.0.0.1:9/x", tmp_path / "o.avi", duration_s=1.0, fps=None)
    with pytest.raises(UserError, match="duration"):
        record("http://127.0.0.1:9/x", tmp_path / "o.mp4", duration_s=0.0, fps=None)


def test_a_stream_that_never_answers_records_nothing(tmp_path):
    with pytest.raises(UserError, match="no frame received"):
        record("http://127.0.0.1:9/x", tmp_path / "o.mp4", duration_s=0.5, fps=None)
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize(("ts", "fps"), [([], 15.0), ([0.0], 15.0), ([0.0, 0.1, 0.2], 10.0),
                                         ([1.0, 1.0], 15.0), ([0.0, 0.04, 0.07, 0.1], 30.0)])
def test_measured_fps(ts, fps):
    assert measured_fps(ts) == fps
