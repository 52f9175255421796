"""Event clips: an mp4 of each event with pre- and post-roll, its JSON and a snapshot, on disk.

The processing thread only JPEG-encodes each frame into a ring buffer (about 0.6 ms for 640x480)
and hands finished clips to a writer thread through a bounded queue; decoding, mp4 encoding,
disk writes and retention all happen on the writer thread. Clip membership is decided by stream
time (`ts_s`) alone, so the same replay gives the same clip frames.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from smartshelf.config import RecordingConfig
from smartshelf.events.record import Event, to_json

if TYPE_CHECKING:  # the pipeline imports this module for clip_folder
    from smartshelf.runtime.pipeline import FrameResult

log = logging.getLogger(__name__)

# Longest interaction (event start to decision) a clip's pre-roll still reaches back over. The
# ring buffer keeps MAX_INTERACTION_S + pre_roll_s of frames: about 32 s x 15 fps x 40 kB = 20 MB
# per 640x480 camera. An event that started earlier gets a clip that begins at the oldest frame.
MAX_INTERACTION_S = 30.0
JPEG_QUALITY = 90  # ring-buffer copies (and the snapshot); raising it costs memory, not CPU
QUEUE_CLIPS = 4  # finished clips waiting for the writer; more are dropped (and counted)
_EPS_S = 1e-6  # stream times are sums of 1/fps: compare with a little slack


@dataclass(frozen=True)
class _Shot:
    """One frame in the ring buffer: stream time and JPEG bytes."""

    ts_s: float
    jpeg: bytes


@dataclass(frozen=True)
class ClipInfo:
    """A clip the writer finished: where it is and which stream times it holds."""

    event_id: str
    path: Path
    frame_ts_s: tuple[float, ...]
    fps: float


@dataclass(frozen=True)
class _Job:
    event: Event
    shots: tuple[_Shot, ...]
    snapshot: bytes
    folder: Path


@dataclass
class _Pending:
    """A clip still collecting post-roll frames."""

    event: Event
    end_ts_s: float
    shots: list[_Shot]
    snapshot: bytes


def safe_name(name: str) -> str:
    """A camera name usable as one folder name (no separators, no dot-only names). Pure."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return "_" if cleaned.strip(".") == "" else cleaned


def clip_folder(base_dir: Path, camera: str, event: Event) -> Path:
    """`<base_dir>/<camera>/<YYYY-MM-DD>`, the date being the UTC day the event ended. Pure."""
    return base_dir / safe_name(camera) / event.ended_at[:10]


def clip_fps(ts_s: tuple[float, ...], fps_hint: float) -> float:
    """The rate to declare in the mp4: the median frame interval of the clip, else `fps_hint`."""
    if len(ts_s) >= 2:
        gaps = np.diff(np.asarray(ts_s, np.float64))
        gaps = gaps[gaps > 0]
        if gaps.size:
            return float(round(1.0 / float(np.median(gaps)), 3))
    return fps_hint


class ClipRecorder:
    """Cuts one camera's events into clips. `push` runs on the processing thread and never waits.

    A clip spans [t_start_s - pre_roll_s, t_end_s + post_roll_s] of stream time. It is queued for
    the writer when a frame past its end arrives, or at `close()` (then with a short post-roll).
    `dropped_clips` counts clips lost to a full queue or a write error; `written_clips` those on
    disk. Several recorders (one per camera) may share one base_dir: retention covers all of it.
    """

    def __init__(self, camera: str, cfg: RecordingConfig, base_dir: Path,
                 fps_hint: float = 15.0, *, queue_clips: int = QUEUE_CLIPS) -> None:
        if cfg.pre_roll_s < 0 or cfg.post_roll_s < 0:
            raise ValueError(f"recording: pre_roll_s and post_roll_s must be >= 0, got "
                             f"{cfg.pre_roll_s} and {cfg.post_roll_s}")
        self.camera = camera
        self.base_dir = Path(base_dir)
        self.dropped_clips = 0
        self.written_clips = 0
        self.clips: list[ClipInfo] = []  # appended by the writer thread
        self._cfg = cfg
        self._fps_hint = fps_hint
        self._keep_s = cfg.pre_roll_s + MAX_INTERACTION_S
        self._ring: deque[_Shot] = deque()
        self._pending: list[_Pending] = []
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=queue_clips)
        self._lock = threading.Lock()  # counters are written by both threads
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"clips-{camera}")
        self._thread.start()

    # -- processing thread ---------------------------------------------------------------------

    def push(self, result: FrameResult) -> None:
        """Keep this frame for pre-roll, feed open clips, and open a clip for each new event."""
        frame = result.frame
        if frame.camera != self.camera:
            raise ValueError(f"ClipRecorder({self.camera!r}) got a frame of camera {frame.camera!r}")
        if self._closed:
            return
        ok, buf = cv2.imencode(".jpg", frame.image_bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:  # cannot happen for a valid Frame; never let it stop the pipeline
            log.warning("frame %d could not be JPEG-encoded: not kept for clips", frame.index,
                        extra={"camera": self.camera})
            return
        shot = _Shot(frame.ts_s, buf.tobytes())
        self._ring.append(shot)
        while self._ring and self._ring[0].ts_s < frame.ts_s - self._keep_s - _EPS_S:
            self._ring.popleft()
        still: list[_Pending] = []
        for p in self._pending:
            if shot.ts_s <= p.end_ts_s + _EPS_S:
                p.shots.append(shot)
            if shot.ts_s >= p.end_ts_s - _EPS_S:
                self._submit(p)
            else:
                still.append(p)
        self._pending = still
        for event in result.events:
            self._open(event, shot)

    def _open(self, event: Event, now: _Shot) -> None:
        start = event.t_start_s - self._cfg.pre_roll_s
        end = event.t_end_s + self._cfg.post_roll_s
        shots = [s for s in self._ring if start - _EPS_S <= s.ts_s <= end + _EPS_S]
        if self._ring and self._ring[0].ts_s > start + _EPS_S:
            log.info("event began %.1f s before the decision: the clip starts %.1f s late",
                     now.ts_s - event.t_start_s, self._ring[0].ts_s - start,
                     extra={"camera": self.camera, "event_id": event.event_id})
        pending = _Pending(event, end, shots, now.jpeg)
        if now.ts_s >= end - _EPS_S:
            self._submit(pending)
        else:
            self._pending.append(pending)

    def _submit(self, p: _Pending) -> None:
        job = _Job(p.event, tuple(p.shots), p.snapshot,
                   clip_folder(self.base_dir, self.camera, p.event))
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self._count_drop()
            log.warning("clip writer is behind (%d clips queued): clip dropped",
                        self._queue.maxsize,
                        extra={"camera": self.camera, "event_id": p.event.event_id})

    def close(self, timeout_s: float = 10.0) -> None:
        """Queue open clips as they are (short post-roll), let the writer finish, join it."""
        if self._closed:
            return
        self._closed = True
        for p in self._pending:
            self._submit(p)
        self._pending = []
        self._ring.clear()
        deadline = time.monotonic() + timeout_s
        while self._thread.is_alive():  # the stop mark must not be dropped, and must not hang
            try:
                self._queue.put(None, timeout=0.1)
                break
            except queue.Full:
                if time.monotonic() >= deadline:
                    break
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            log.warning("clip writer still busy after %.1f s: left behind", timeout_s,
                        extra={"camera": self.camera})

    def _count_drop(self) -> None:
        with self._lock:
            self.dropped_clips += 1

    # -- writer thread -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                info = self._write(job)
            except Exception as exc:  # a full disk, a file where a folder should be, ...
                self._count_drop()
                why = "disk full" if isinstance(exc, OSError) and exc.errno == errno.ENOSPC else exc
                log.warning("clip not written (%s): dropped", why,
                            extra={"camera": self.camera, "event_id": job.event.event_id})
                continue
            with self._lock:
                self.written_clips += 1
            self.clips.append(info)
            try:
                removed = enforce_retention(self.base_dir, self._cfg.max_age_days * 86400.0,
                                            int(self._cfg.max_total_mb * 1024 * 1024),
                                            time.time(), keep=info.path)
            except OSError as exc:
                log.warning("clip retention failed: %s", exc, extra={"camera": self.camera})
            else:
                if removed:
                    log.info("retention removed %d old clips", len(removed),
                             extra={"camera": self.camera})

    def _write(self, job: _Job) -> ClipInfo:
        """mp4, then JSON and snapshot; each written under a temporary name and renamed, so a
        failed write leaves no half file behind."""
        eid = job.event.event_id
        job.folder.mkdir(parents=True, exist_ok=True)
        shots = job.shots or (_Shot(job.event.t_emit_s, job.snapshot),)
        ts = tuple(s.ts_s for s in shots)
        fps = clip_fps(ts, self._fps_hint)
        mp4 = job.folder / f"{eid}.mp4"
        part = job.folder / f"{eid}.part.mp4"
        parts = [part, job.folder / f"{eid}.json.part", job.folder / f"{eid}.jpg.part"]
        try:
            first = _decode(shots[0].jpeg)
            h, w = first.shape[:2]
            writer = cv2.VideoWriter(str(part), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
            if not writer.isOpened():
                raise OSError(f"{part}: OpenCV cannot open an mp4v writer here")
            try:
                for i, s in enumerate(shots):
                    writer.write(first if i == 0 else _decode(s.jpeg))
            finally:
                writer.release()
            if not part.is_file() or part.stat().st_size == 0:
                raise OSError(f"{part}: the mp4 writer produced nothing (disk full?)")
            parts[1].write_text(to_json(job.event) + "\n", encoding="utf-8")
            parts[2].write_bytes(job.snapshot)
            os.replace(parts[1], job.folder / f"{eid}.json")
            os.replace(parts[2], job.folder / f"{eid}.jpg")
            os.replace(part, mp4)  # last: an mp4 on disk always has its JSON and snapshot
        except BaseException:
            for p in parts:
                p.unlink(missing_ok=True)
            raise
        return ClipInfo(eid, mp4, ts, fps)


def _decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("a ring-buffer JPEG did not decode")
    return image


CLIP_SUFFIXES = (".mp4", ".json", ".jpg")


def enforce_retention(base_dir: Path, max_age_s: float, max_total_bytes: int, now_s: float, *,
                      keep: Path | None = None) -> list[Path]:
    """Delete clips (mp4 + JSON + snapshot) older than `max_age_s` by the mp4's mtime, then the
    oldest until all clips under `base_dir` take at most `max_total_bytes`. `keep` (the clip just
    written) is never deleted. Returns the mp4 paths removed. Files another recorder removes
    meanwhile are skipped."""
    clips: list[tuple[float, int, Path]] = []
    for mp4 in base_dir.glob("*/*/*.mp4"):
        if mp4.name.endswith(".part.mp4"):
            continue
        try:
            mtime = mp4.stat().st_mtime
            size = sum(_size(mp4.with_suffix(s)) for s in CLIP_SUFFIXES)
        except FileNotFoundError:
            continue
        clips.append((mtime, size, mp4))
    clips.sort()
    total = sum(size for _, size, _ in clips)
    removed: list[Path] = []
    for mtime, size, mp4 in clips:
        if keep is not None and mp4 == keep:
            continue
        if now_s - mtime > max_age_s or total > max_total_bytes:
            for suffix in (".mp4", ".json", ".jpg"):  # mp4 first: no mp4 without its JSON
                mp4.with_suffix(suffix).unlink(missing_ok=True)
            total -= size
            removed.append(mp4)
            _remove_if_empty(mp4.parent)
    return removed


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
