"""Live capture: a thread per camera decodes into a latest-frame slot and reconnects on its own.

Streams (rtsp/http through FFmpeg) and V4L2 devices: `ts_s` is seconds since the source was
opened, read from the monotonic clock as each frame is grabbed, and `epoch_s` is the wall time of
ts 0. A stream that breaks, or delivers nothing decodable for `stall_timeout_s`, is released and
reopened with exponential backoff and jitter; undecodable frames are counted and skipped.
Files (demos): played at their own frame rate, restarted at the end when `loop` is set, with
`ts_s` still index / fps and so increasing across loops.
"""

from __future__ import annotations

import enum
import logging
import random
import threading
import time
from dataclasses import dataclass

import cv2
import numpy as np

from smartshelf.config import CameraConfig
from smartshelf.errors import UserError
from smartshelf.sources.base import EndOfStream, SourceStats
from smartshelf.sources.capture import backoff_s, container_fps, open_capture
from smartshelf.sources.slot import LatestSlot
from smartshelf.sources.urls import is_file, redact_url
from smartshelf.types import Frame

log = logging.getLogger(__name__)

# Pace for a file that declares no frame rate (live mode only; replay uses the container clock).
FALLBACK_FILE_FPS = 15.0


class _Outcome(enum.Enum):
    LOST = "lost"  # stream broke or stalled: reconnect after a backoff
    LOOPED = "looped"  # looping file reached its end: reopen at once
    ENDED = "ended"  # non-looping file reached its end
    STOPPED = "stopped"  # close() was called


@dataclass
class _Cursor:
    index: int = 0  # next frame index: keeps increasing across reconnects and loops
    ts_offset_s: float = 0.0  # files: stream time at the start of the current pass


class LiveSource:
    """A capture thread feeding a one-frame slot; `read` takes the newest frame.

    A frame overwritten before `read` took it counts in `stats.frames_dropped`. `close()` stops the
    thread and wakes a blocked `read`, which then returns None.
    """

    def __init__(self, camera: CameraConfig, *, epoch_s: float | None = None,
                 rng: random.Random | None = None) -> None:
        self.camera = camera.name
        self.stats = SourceStats()
        self._cam = camera
        self._slot: LatestSlot[Frame] = LatestSlot()
        self._stop = threading.Event()
        self._finished = False  # set by the thread when a non-looping file ended
        self._rng = rng or random.Random()
        self._t0 = time.monotonic()
        self._epoch_s = time.time() if epoch_s is None else epoch_s
        first: cv2.VideoCapture | None = None
        if is_file(camera.source):  # a missing file will not heal: say so now, to the caller
            first = open_capture(camera.source)
            if not first.isOpened():
                first.release()
                raise UserError(f"{camera.source}: cannot open the video (missing, or not a format "
                                "OpenCV can decode)")
        self._thread = threading.Thread(target=self._run, args=(first,), daemon=True,
                                        name=f"capture-{camera.name}")
        self._thread.start()

    def read(self, timeout_s: float) -> Frame | None:
        """The newest frame; None on timeout or after close(); EndOfStream after a file's end."""
        frame = self._slot.take(timeout_s)
        if frame is None and self._finished:
            raise EndOfStream(self.camera)
        return frame

    def close(self, timeout_s: float = 3.0) -> None:
        """Stop the capture thread (joined up to `timeout_s`: a blocked grab ends with its
        read timeout) and wake readers; idempotent."""
        self._stop.set()
        self._slot.close()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    # -- capture thread ------------------------------------------------------------------------

    def _run(self, first: cv2.VideoCapture | None) -> None:
        cam, where = self._cam, redact_url(self._cam.source)
        cursor = _Cursor()
        failures = 0  # consecutive failed opens / connections that delivered nothing
        was_connected = looping = False
        while not self._stop.is_set():
            cap, first = first or open_capture(cam.source, timeout_s=cam.stall_timeout_s), None
            if not cap.isOpened():
                cap.release()
                if is_file(cam.source):
                    log.error("cannot reopen %s: stopping this camera", where, extra={"camera": self.camera})
                    break
                delay = backoff_s(failures, cam.reconnect_min_s, cam.reconnect_max_s, self._rng)
                failures += 1
                log.warning("cannot open %s: retrying in %.1f s", where, delay, extra={"camera": self.camera})
                self._stop.wait(delay)
                continue
            if was_connected and not looping:
                self.stats.reconnects += 1
                log.info("reconnected to %s", where, extra={"camera": self.camera})
            was_connected, looping = True, False
            self.stats.connected = True
            try:
                outcome, delivered = self._pump(cap, cursor)
            finally:
                cap.release()
                self.stats.connected = False
            if outcome is _Outcome.LOOPED:
                looping = True
                continue
            if outcome is not _Outcome.LOST:
                break
            failures = 0 if delivered else failures + 1
            delay = backoff_s(failures, cam.reconnect_min_s, cam.reconnect_max_s, self._rng)
            log.warning("lost %s: reconnecting in %.1f s", where, delay, extra={"camera": self.camera})
            self._stop.wait(delay)
        if not self._stop.is_set():
            self._finished = True
            self._slot.close()

    def _pump(self, cap: cv2.VideoCapture, cursor: _Cursor) -> tuple[_Outcome, int]:
        """Grab frames into the slot until the stream breaks, a file ends, or close()."""
        cam = self._cam
        file = is_file(cam.source)
        period_s = 1.0 / (container_fps(cap) or FALLBACK_FILE_FPS) if file else 0.0
        pass_start = last_good = time.monotonic()
        local = delivered = 0  # frames of this pass (files) / decodable frames delivered
        while not self._stop.is_set():
            grabbed = cap.grab()
            now = time.monotonic()
            if not grabbed:
                if not file:
                    return _Outcome.LOST, delivered
                if cam.loop and local:
                    cursor.ts_offset_s += local * period_s
                    return _Outcome.LOOPED, delivered
                return _Outcome.ENDED, delivered
            ok, image = cap.retrieve()
            pos = local
            if file:  # an undecodable file frame still uses up its index and its time
                local += 1
                cursor.index += 1
            if not ok or image is None or image.ndim != 3 or image.shape[2] != 3:
                self.stats.frames_corrupt += 1
                log.debug("undecodable frame skipped", extra={"camera": self.camera})
                if now - last_good > cam.stall_timeout_s:
                    log.warning("nothing decodable for %.1f s: reopening", now - last_good,
                                extra={"camera": self.camera})
                    return _Outcome.LOST, delivered
                continue
            last_good = now
            if file:
                index, ts = cursor.index - 1, cursor.ts_offset_s + pos * period_s
                ahead = pass_start + pos * period_s - time.monotonic()
                if ahead > 0 and self._stop.wait(ahead):
                    return _Outcome.STOPPED, delivered
            else:
                index, ts = cursor.index, now - self._t0
                cursor.index += 1
            delivered += 1
            self._slot.put(Frame(self.camera, index, ts, np.ascontiguousarray(image), self._epoch_s))
            self.stats.frames_read += 1
            self.stats.frames_dropped = self._slot.dropped
            self.stats.last_frame_ts_s = ts
        return _Outcome.STOPPED, delivered
