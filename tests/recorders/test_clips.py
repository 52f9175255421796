"""Event clips on real video: spans, sidecars, snapshots, retention, write errors, never blocking."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np
import pytest

from smartshelf.config import CameraConfig, RecordingConfig, load_config
from smartshelf.events.record import Event, EventType, iso_utc, make_event_id, to_json
from smartshelf.recorders.clips import ClipRecorder, clip_folder, enforce_retention, safe_name
from smartshelf.runtime.pipeline import FrameResult
from smartshelf.sources import EndOfStream, open_source
from smartshelf.types import Detections, Frame, Tracks

REPO = Path(__file__).resolve().parents[2]
CAM = "cam1"
FPS = 10.0
EPOCH = 1_795_000_000.0  # 2026-11-18 UTC: clips land in a dated folder, not 1970


# -- a small generated video whose frames say their own index --------------------------------

def _levels(i: int) -> tuple[int, int, int]:
    """Grey levels of the three 32 px bands of frame i: its base-5 digits, 40 levels apart, so
    mp4v's lossy P-frames and JPEG keep every frame's index readable."""
    return 40 + 40 * (i % 5), 40 + 40 * (i // 5 % 5), 40 + 40 * (i // 25)


def _index_of(image: np.ndarray) -> int:
    digits = [round((float(image[:, 32 * b: 32 * b + 32].mean()) - 40) / 40) for b in range(3)]
    return digits[0] + 5 * digits[1] + 25 * digits[2]


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> list[Frame]:
    """120 frames (12 s at 10 fps) of an mp4v file, decoded by the real replay source."""
    path = tmp_path_factory.mktemp("video") / "indexed.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (96, 48))
    assert writer.isOpened()
    for i in range(120):
        img = np.empty((48, 96, 3), np.uint8)
        for b, level in enumerate(_levels(i)):
            img[:, 32 * b: 32 * b + 32] = level
        writer.write(img)
    writer.release()
    source = open_source(CameraConfig(CAM, str(path)), mode="replay", epoch_s=EPOCH)
    out: list[Frame] = []
    try:
        while True:
            frame = source.read()
            assert frame is not None
            out.append(frame)
    except EndOfStream:
        pass
    source.close()
    assert [_index_of(f.image_bgr) for f in out] == list(range(120))
    return out


def make_event(t_start_s: float, t_end_s: float, t_emit_s: float, zone: str = "A1") -> Event:
    return Event(event_id=make_event_id(CAM, zone, t_start_s), type=EventType.PICK, camera=CAM,
                 zone=zone, sku="sku-1", count=1, confidence=0.9, track_id=3,
                 started_at=iso_utc(EPOCH + t_start_s), ended_at=iso_utc(EPOCH + t_end_s),
                 t_start_s=t_start_s, t_end_s=t_end_s, occupancy_before=0.75,
                 occupancy_after=0.5, t_emit_s=t_emit_s)


def result(frame: Frame, events: Iterable[Event] = ()) -> FrameResult:
    return FrameResult(frame, Detections.empty(), Tracks.empty(), {}, tuple(events), 0.0, 0.0)


def feed(rec: ClipRecorder, frames: list[Frame], events: list[Event]) -> None:
    """Push every frame; each event rides on the frame at its t_emit_s (the decision frame)."""
    by_index: dict[int, list[Event]] = {}
    for e in events:
        by_index.setdefault(round(e.t_emit_s * FPS), []).append(e)
    for f in frames:
        rec.push(result(f, by_index.get(f.index, [])))


@pytest.fixture
def mp4_indices(read_video: Callable[[Path], list[np.ndarray]]) -> Callable[[Path], list[int]]:
    """The source frame index of every frame in a written clip, read back through OpenCV."""
    return lambda path: [_index_of(image) for image in read_video(path)]


def rec_cfg(**kw: float) -> RecordingConfig:
    return RecordingConfig(enabled=True, **kw)  # type: ignore[arg-type]


def wait_for(cond: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.01)


# -- spans ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("pre", "post"), [(2.0, 2.0), (1.0, 0.5), (0.0, 0.0), (3.3, 1.7)])
def test_clip_spans_pre_roll_to_post_roll_frame_exact(mp4_indices, frames, tmp_path, pre, post):
    events = [make_event(4.0, 5.0, 5.5), make_event(7.0, 7.6, 8.0, zone="B2")]
    rec = ClipRecorder(CAM, rec_cfg(pre_roll_s=pre, post_roll_s=post), tmp_path, fps_hint=FPS)
    feed(rec, frames, events)
    rec.close()
    assert rec.written_clips == 2 and rec.dropped_clips == 0
    for e in events:
        path = tmp_path / CAM / "2026-11-18" / f"{e.event_id}.mp4"
        got = mp4_indices(path)
        first = int(np.ceil((e.t_start_s - pre) * FPS - 1e-6))
        last = int(np.floor((e.t_end_s + post) * FPS + 1e-6))
        assert got == list(range(first, last + 1))
        # pre-/post-roll measured from the written frames, within one frame of the config
        assert abs((e.t_start_s - got[0] / FPS) - pre) <= 1 / FPS + 1e-9
        assert abs((got[-1] / FPS - e.t_end_s) - post) <= 1 / FPS + 1e-9
        span_s = (e.t_end_s + post) - (e.t_start_s - pre)
        assert abs(len(got) - span_s * FPS) <= 1 + 1e-9  # a closed span holds span * fps + 1
        cap = cv2.VideoCapture(str(path))
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS)
        cap.release()


def test_sidecar_is_the_event_and_snapshot_is_the_decision_frame(frames, tmp_path):
    event = make_event(2.0, 3.0, 3.7)
    rec = ClipRecorder(CAM, rec_cfg(), tmp_path, fps_hint=FPS)
    feed(rec, frames, [event])
    rec.close()
    folder = clip_folder(tmp_path, CAM, event)
    assert folder == tmp_path / CAM / "2026-11-18"
    assert (folder / f"{event.event_id}.json").read_text().strip() == to_json(event)
    snap = cv2.imread(str(folder / f"{event.event_id}.jpg"))
    assert snap is not None and snap.shape == (48, 96, 3)
    assert _index_of(snap) == 37
    assert not list(folder.glob("*.part*"))


def test_same_frames_give_the_same_clips(mp4_indices, frames, tmp_path):
    events = [make_event(1.0, 2.5, 3.0), make_event(5.0, 5.5, 6.0, zone="C1")]
    runs = []
    for k in range(2):
        rec = ClipRecorder(CAM, rec_cfg(), tmp_path / str(k), fps_hint=FPS)
        feed(rec, frames, events)
        rec.close()
        runs.append(sorted((c.event_id, c.frame_ts_s, c.fps) for c in rec.clips))
        runs.append(sorted(len(mp4_indices(c.path)) for c in rec.clips))
    assert runs[0] == runs[2] and runs[1] == runs[3]
    assert len(runs[0]) == 2


def test_an_interaction_longer_than_the_ring_starts_the_clip_at_the_oldest_frame(
        mp4_indices, frames, tmp_path, monkeypatch):
    """Guards the ring bound: it keeps pre-roll + MAX_INTERACTION_S of stream time, no more."""
    monkeypatch.setattr("smartshelf.recorders.clips.MAX_INTERACTION_S", 3.0)
    event = make_event(1.0, 8.0, 9.0)  # decided 8 s after it began
    rec = ClipRecorder(CAM, rec_cfg(pre_roll_s=1.0, post_roll_s=0.5), tmp_path, fps_hint=FPS)
    feed(rec, frames, [event])
    rec.close()
    got = mp4_indices(rec.clips[0].path)
    assert got == list(range(50, 86))  # ring holds 9.0 - (3.0 + 1.0) .. 9.0; clip ends at 8.5


def test_close_writes_a_clip_still_waiting_for_post_roll(mp4_indices, frames, tmp_path):
    event = make_event(10.0, 11.0, 11.5)
    rec = ClipRecorder(CAM, rec_cfg(post_roll_s=5.0), tmp_path, fps_hint=FPS)
    feed(rec, frames, [event])  # the video ends at 11.9 s, before 11.0 + 5.0
    assert rec.written_clips == 0
    rec.close()
    assert rec.written_clips == 1
    assert mp4_indices(rec.clips[0].path) == list(range(80, 120))


def test_a_frame_of_another_camera_is_refused(frames, tmp_path):
    rec = ClipRecorder("other", rec_cfg(), tmp_path)
    with pytest.raises(ValueError, match="cam1"):
        rec.push(result(frames[0]))
    rec.close()


@pytest.mark.parametrize(("name", "folder"), [("cam-1.a", "cam-1.a"), ("../x", ".._x"),
                                              ("a/b c", "a_b_c"), ("..", "_")])
def test_safe_name(name, folder):
    assert safe_name(name) == folder


# -- retention -----------------------------------------------------------------------------------

def _clip_size(rec: ClipRecorder) -> int:
    return sum(p.stat().st_size for p in rec.clips[0].path.parent.iterdir())


def test_retention_keeps_the_newest_clips_under_max_total_mb(frames, tmp_path):
    starts = [1.0, 3.0, 5.0, 7.0, 9.0]
    events = [make_event(t, t + 0.5, t + 0.8, zone=f"Z{k}") for k, t in enumerate(starts)]
    probe = ClipRecorder(CAM, rec_cfg(pre_roll_s=1.0, post_roll_s=1.0), tmp_path / "probe",
                         fps_hint=FPS)
    feed(probe, frames, events[:1])
    probe.close()
    one = _clip_size(probe)
    # room for 2.5 clips: after each write the oldest go until the rest fit
    cfg = rec_cfg(pre_roll_s=1.0, post_roll_s=1.0, max_total_mb=2.5 * one / 1024 / 1024)
    # these frames come faster than any camera: queue all five rather than drop
    rec = ClipRecorder(CAM, cfg, tmp_path / "clips", fps_hint=FPS, queue_clips=len(events))
    feed(rec, frames, events)
    rec.close()
    assert rec.written_clips == 5
    left = sorted(p.stem for p in (tmp_path / "clips").rglob("*.mp4"))
    assert left == sorted(e.event_id for e in events[-2:])
    for stem in left:  # the survivors keep their sidecar and snapshot
        assert {p.suffix for p in (tmp_path / "clips").rglob(f"{stem}.*")} == {".mp4", ".json", ".jpg"}
    assert not list((tmp_path / "clips").rglob(f"{events[0].event_id}.*"))


def test_retention_deletes_clips_older_than_max_age_days(frames, tmp_path):
    cfg = rec_cfg(pre_roll_s=0.5, post_roll_s=0.5, max_age_days=7.0)
    old = make_event(1.0, 1.5, 2.0)
    rec = ClipRecorder(CAM, cfg, tmp_path, fps_hint=FPS)
    feed(rec, frames[:40], [old])
    wait_for(lambda: rec.written_clips == 1)
    old_mp4 = rec.clips[0].path
    eight_days = time.time() - 8 * 86400
    for p in old_mp4.parent.glob(f"{old.event_id}.*"):
        os.utime(p, (eight_days, eight_days))
    new = make_event(6.0, 6.5, 7.0)
    feed(rec, frames[40:], [new])
    rec.close()
    assert rec.written_clips == 2
    assert not list(tmp_path.rglob(f"{old.event_id}.*"))
    assert (clip_folder(tmp_path, CAM, new) / f"{new.event_id}.mp4").is_file()


def _fake_clip(folder: Path, stem: str, size: int, mtime: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for suffix, n in ((".mp4", size), (".json", 10), (".jpg", 10)):
        p = folder / f"{stem}{suffix}"
        p.write_bytes(b"x" * n)
        os.utime(p, (mtime, mtime))
    return folder / f"{stem}.mp4"


@pytest.mark.parametrize(("max_age_s", "max_bytes", "kept"), [
    (1e9, 10**9, {"a", "b", "c", "d"}),   # nothing to do
    (2.5e3, 10**9, {"c", "d"}),           # a (4000 s) and b (3000 s) are too old
    (1e9, 2 * 1020, {"c", "d"}),          # size: the oldest go first, across cameras
    (1e9, 0, {"d"}),                      # the clip just written is never deleted
])
def test_enforce_retention_table(tmp_path, max_age_s, max_bytes, kept):
    now = 10_000.0
    _fake_clip(tmp_path / "cam1" / "2026-11-20", "a", 1000, now - 4000)
    _fake_clip(tmp_path / "cam2" / "2026-11-21", "b", 1000, now - 3000)
    _fake_clip(tmp_path / "cam1" / "2026-11-22", "c", 1000, now - 2000)
    keep = _fake_clip(tmp_path / "cam2" / "2026-11-22", "d", 1000, now - 1000)
    removed = enforce_retention(tmp_path, max_age_s, max_bytes, now, keep=keep)
    left = {p.stem for p in tmp_path.rglob("*.mp4")}
    assert left == kept
    assert {p.stem for p in removed} == {"a", "b", "c", "d"} - kept
    assert len([p for p in tmp_path.rglob("*") if p.is_file()]) == 3 * len(kept)
    day = {"a": "cam1/2026-11-20", "b": "cam2/2026-11-21", "c": "cam1/2026-11-22",
           "d": "cam2/2026-11-22"}
    # emptied day folders are gone
    assert {p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("*/*")} == {day[k] for k in kept}


# -- failures never stop the camera ----------------------------------------------------------------

def test_a_write_error_drops_that_clip_and_the_next_is_written(frames, tmp_path, caplog):
    base = tmp_path / "clips"
    base.write_text("a file where the clip folder should be")
    first, second = make_event(1.0, 1.5, 2.0), make_event(6.0, 6.5, 7.0)
    rec = ClipRecorder(CAM, rec_cfg(pre_roll_s=0.5, post_roll_s=0.5), base, fps_hint=FPS)
    feed(rec, frames[:40], [first])
    wait_for(lambda: rec.dropped_clips == 1)
    assert rec.dropped_clips == 1 and rec.written_clips == 0
    assert "clip not written" in caplog.text
    assert any(getattr(r, "event_id", None) == first.event_id for r in caplog.records)
    base.unlink()
    feed(rec, frames[40:], [second])
    rec.close()
    assert rec.written_clips == 1 and rec.dropped_clips == 1
    assert [p.stem for p in base.rglob("*.mp4")] == [second.event_id]


def test_a_full_disk_drops_the_clip_and_leaves_no_half_files(frames, tmp_path, caplog):
    """A real full filesystem (a 64 KiB tmpfs): ENOSPC is logged and counted, never raised."""
    disk = tmp_path / "tiny"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs needs root")
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)],
                           capture_output=True, text=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")
    try:
        big = [dataclasses.replace(f, image_bgr=np.random.default_rng(f.index).integers(
            0, 255, (240, 320, 3), np.uint8)) for f in frames[:60]]
        rec = ClipRecorder(CAM, rec_cfg(pre_roll_s=2.0, post_roll_s=1.0), disk, fps_hint=FPS)
        feed(rec, big, [make_event(3.0, 4.0, 4.5)])
        rec.close()
        assert rec.dropped_clips == 1 and rec.written_clips == 0
        assert "clip not written" in caplog.text
        assert not [p for p in disk.rglob("*") if p.is_file()]
    finally:
        subprocess.run(["umount", str(disk)], check=False)


class _GatedRecorder(ClipRecorder):
    """A writer that waits for the test before writing: the slowest disk there is."""

    def __init__(self, *args, gate: threading.Event, **kw) -> None:  # type: ignore[no-untyped-def]
        self.gate = gate
        super().__init__(*args, **kw)

    def _write(self, job):  # type: ignore[no-untyped-def]
        assert self.gate.wait(30)
        return super()._write(job)


def test_push_drops_clips_rather_than_wait_for_a_slow_writer(frames, tmp_path, caplog):
    gate = threading.Event()
    rec = _GatedRecorder(CAM, rec_cfg(pre_roll_s=0.2, post_roll_s=0.0), tmp_path, fps_hint=FPS,
                         queue_clips=2, gate=gate)
    events = [make_event(t, t + 0.3, t + 0.5, zone=f"Z{k}") for k, t in enumerate(range(1, 11))]
    pusher = threading.Thread(target=feed, args=(rec, frames, events))
    pusher.start()
    pusher.join(30)
    assert not pusher.is_alive(), "push blocked on the writer"
    # at most one clip taken by the (stuck) writer and two queued: the other seven or more dropped
    assert rec.dropped_clips >= 7
    assert "clip writer is behind" in caplog.text
    gate.set()
    rec.close()
    assert rec.written_clips == 10 - rec.dropped_clips
    assert len(list(tmp_path.rglob("*.mp4"))) == rec.written_clips


# -- the real pipeline -------------------------------------------------------------------------------

@pytest.mark.slow
def test_every_event_of_the_demo_replay_gets_its_clip(models_dir, tmp_path, read_video):
    from smartshelf.detectors.factory import build_hand_detector
    from smartshelf.runtime.replay import replay, replay_camera

    cfg = load_config(REPO / "configs" / "default.yaml")
    cfg = dataclasses.replace(cfg, mqtt=dataclasses.replace(cfg.mqtt, enabled=False))
    cam = replay_camera(cfg, None, None)
    hands = build_hand_detector(cfg.detectors.hands, models_dir, cfg.resolve)
    rec = ClipRecorder(cam.name, cfg.recording, tmp_path, fps_hint=15.0)
    events: list[Event] = []
    decision_index: dict[str, int] = {}

    def on_result(r: FrameResult) -> None:
        for e in r.events:
            decision_index[e.event_id] = r.frame.index
        events.extend(r.events)
        rec.push(r)

    replay(cfg, cam, hands, [], on_result=on_result)
    rec.close()
    assert len(events) >= 5 and rec.dropped_clips == 0 and rec.written_clips == len(events)
    demo = cv2.VideoCapture(str(cam.source))
    fps = demo.get(cv2.CAP_PROP_FPS)
    pre, post = cfg.recording.pre_roll_s, cfg.recording.post_roll_s
    for e in events:
        folder = clip_folder(tmp_path, cam.name, e)
        n = len(read_video(folder / f"{e.event_id}.mp4"))
        assert abs(n - (e.t_end_s + post - (e.t_start_s - pre)) * fps) <= 1 + 1e-9, e.event_id
        assert json.loads((folder / f"{e.event_id}.json").read_text()) == json.loads(to_json(e))
        snap = cv2.imread(str(folder / f"{e.event_id}.jpg"))
        demo.set(cv2.CAP_PROP_POS_FRAMES, decision_index[e.event_id])
        ok, original = demo.read()
        assert ok and snap is not None and snap.shape == original.shape
        assert float(np.abs(snap.astype(np.int16) - original).mean()) < 3.0
    demo.release()
