"""OpenCV sources: files replayed frame by frame, and live cameras behind a latest-frame slot.

Replay (`ReplayFileSource`): the caller's thread decodes every frame in order; `ts_s` is the
frame index over the container's fps, so the same file always gives the same times.

Live (`LiveSource`): a capture thread decodes into a one-frame slot (a frame overwritten before
the pipeline took it counts as dropped); streams reconnect with exponential backoff and jitter,
a stream that delivers nothing for `stall_timeout_s` is reopened, undecodable frames are counted
and skipped. Files in live mode play at their own fps and may loop.
"""

from __future__ import annotations

import logging
import random
import threading
import time

import cv2
import numpy as np

from smartshelf.config import CameraConfig
from smartshelf.errors import UserError
from smartshelf.sources.base import EndOfStream, SourceStats
from smartshelf.sources.slot import LatestSlot
from smartshelf.sources.urls import is_file, redact_url
from smartshelf.types import Frame

log = logging.getLogger(__name__)

# Consecutive undecodable frames after which a file is taken to have ended (a torn tail).
MAX_CORRUPT_RUN = 25
OPEN_TIMEOUT_MS = 5000
READ_TIMEOUT_MS = 5000


def file_fps(cap: cv2.VideoCapture) -> float:
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    return fps if 0.5 <= fps <= 1000.0 else 0.0


def _open_capture(source: str | int) -> cv2.VideoCapture:
    if isinstance(source, int):
        return cv2.VideoCapture(source, cv2.CAP_V4L2)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS,
              cv2.CAP_PROP_READ_TIMEOUT_MSEC, READ_TIMEOUT_MS]
    if "://" in source:
        return cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)
    return cv2.VideoCapture(source)


def backoff_s(attempt: int, min_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential backoff with 'equal jitter': half fixed, half random. Pure given rng."""
    base = min(max_s, min_s * (2.0 ** max(0, attempt)))
    return base / 2.0 + rng.uniform(0.0, base / 2.0)


class ReplayFileSource:
    """Every frame of a file, in order, on the caller's thread."""

    def __init__(self, camera: CameraConfig, epoch_s: float = 0.0) -> None:
        if not is_file(camera.source):
            raise UserError(f"camera {camera.name}: replay needs a file, got {redact_url(camera.source)}")
        self.camera = camera.name
        self.stats = SourceStats()
        self._path = str(camera.source)
        self._cap = cv2.VideoCapture(self._path)
        if not self._cap.isOpened():
            raise UserError(f"{self._path}: cannot open the video (not a video OpenCV can decode)")
        self._fps = file_fps(self._cap)
        self._epoch_s = epoch_s
        self._index = 0
        self.stats.connected = True
        if not self._fps:
            log.warning("%s reports no frame rate: using the container's timestamps", self._path,
                        extra={"camera": self.camera})

    def frame_count(self) -> int:
        return int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)

    @property
    def fps(self) -> float:
        return self._fps

    def read(self, timeout_s: float = 0.0) -> Frame | None:
        corrupt_run = 0
        while True:
            if self._cap is None or not self._cap.grab():
                raise EndOfStream(self._path)
            index = self._index
            self._index += 1
            pos_ms = float(self._cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0)
            ok, image = self._cap.retrieve()
            if not ok or image is None or image.ndim != 3:
                self.stats.frames_corrupt += 1
                corrupt_run += 1
                log.warning("frame %d of %s is not decodable: skipped", index, self._path,
                            extra={"camera": self.camera})
                if corrupt_run >= MAX_CORRUPT_RUN:
                    raise EndOfStream(self._path)
                continue
            ts = index / self._fps if self._fps else pos_ms / 1000.0
            self.stats.frames_read += 1
            self.stats.last_frame_ts_s = ts
            return Frame(self.camera, index, ts, np.ascontiguousarray(image), self._epoch_s)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None  # type: ignore[assignment]
        self.stats.connected = False


class _End:
    """Slot marker: the (non-looping) file ended."""


class LiveSource:
    """A capture thread per camera feeding a latest-frame slot; reconnects on its own."""

    def __init__(self, camera: CameraConfig, *, rng: random.Random | None = None) -> None:
        self.camera = camera.name
        self.stats = SourceStats()
        self._cam = camera
        self._slot: LatestSlot[Frame | _End] = LatestSlot()
        self._stop = threading.Event()
        self._rng = rng or random.Random()
        self._ended = False
        self._t0 = time.monotonic()
        self._epoch_s = time.time()
        self._thread = threading.Thread(target=self._run, name=f"capture-{camera.name}", daemon=True)
        self._thread.start()

    def read(self, timeout_s: float) -> Frame | None:
        if self._ended:
            raise EndOfStream(self.camera)
        item = self._slot.take(timeout_s)
        self.stats.frames_dropped = self._slot.dropped
        if isinstance(item, _End):
            self._ended = True
            raise EndOfStream(self.camera)
        return item

    def close(self, timeout_s: float = 3.0) -> None:
        self._stop.set()
        self._slot.close()
        self._thread.join(timeout_s)

    # -- capture thread ------------------------------------------------------------------------

    def _run(self) -> None:
        cam = self._cam
        attempt = 0
        index = 0
        ts_offset = 0.0  # files: stream time keeps increasing across loops
        while not self._stop.is_set():
            cap = _open_capture(cam.source)
            if not cap.isOpened():
                cap.release()
                self.stats.connected = False
                delay = backoff_s(attempt, cam.reconnect_min_s, cam.reconnect_max_s, self._rng)
                log.warning("cannot open %s: retrying in %.1f s", redact_url(cam.source), delay,
                            extra={"camera": cam.name})
                attempt += 1
                if is_file(cam.source) and attempt > 3:
                    log.error("giving up on %s", redact_url(cam.source), extra={"camera": cam.name})
                    self._slot.put(_End())
                    return
                self._stop.wait(delay)
                continue
            if attempt or self.stats.reconnects:
                self.stats.reconnects += 1
                log.info("connected to %s", redact_url(cam.source), extra={"camera": cam.name})
            attempt = 0
            self.stats.connected = True
            try:
                index, ts_offset, finished = self._pump(cap, index, ts_offset)
            finally:
                cap.release()
                self.stats.connected = False
            if finished:
                self._slot.put(_End())
                return
            if not self._stop.is_set() and not is_file(cam.source):
                delay = backoff_s(0, cam.reconnect_min_s, cam.reconnect_max_s, self._rng)
                log.warning("stream %s lost: reconnecting in %.1f s", redact_url(cam.source), delay,
                            extra={"camera": cam.name})
                self._stop.wait(delay)

    def _pump(self, cap: cv2.VideoCapture, index: int, ts_offset: float) -> tuple[int, float, bool]:
        """Read until the stream breaks (False) or a non-looping file ends (True)."""
        cam = self._cam
        file = is_file(cam.source)
        fps = file_fps(cap) if file else 0.0
        wall0 = time.monotonic()
        local = 0
        last_frame = time.monotonic()
        corrupt_run = 0
        while not self._stop.is_set():
            if not cap.grab():
                if file:
                    if cam.loop:
                        return index, ts_offset + local / (fps or 15.0), False
                    return index, ts_offset, True
                return index, ts_offset, False
            ok, image = cap.retrieve()
            now = time.monotonic()
            if not ok or image is None or image.ndim != 3:
                self.stats.frames_corrupt += 1
                corrupt_run += 1
                if corrupt_run >= MAX_CORRUPT_RUN or now - last_frame > cam.stall_timeout_s:
                    log.warning("no decodable frame for %.1f s: reopening", now - last_frame,
                                extra={"camera": cam.name})
                    return index, ts_offset, False
                continue
            corrupt_run = 0
            last_frame = now
            if file:
                ts = ts_offset + local / (fps or 15.0)
                ahead = wall0 + (ts - ts_offset) - time.monotonic()
                if ahead > 0 and self._stop.wait(ahead):
                    break
            else:
                ts = now - self._t0
            local += 1
            frame = Frame(cam.name, index, ts, np.ascontiguousarray(image), self._epoch_s)
            index += 1
            self.stats.frames_read += 1
            self.stats.last_frame_ts_s = ts
            self._slot.put(frame)
        return index, ts_offset, True


def open_source(camera: CameraConfig, *, mode: str) -> ReplayFileSource | LiveSource:
    """`replay`: every frame of a file, on the caller's thread; `live`: capture thread + slot."""
    if mode == "replay":
        return ReplayFileSource(camera)
    if mode == "live":
        return LiveSource(camera)
    raise ValueError(f"mode must be 'replay' or 'live', got {mode!r}")
