"""File replay: every frame of a video, in order, on the caller's thread, with deterministic times."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import cv2
import numpy as np

from smartshelf.config import CameraConfig
from smartshelf.errors import UserError
from smartshelf.sources.base import EndOfStream, SourceStats
from smartshelf.sources.capture import container_fps
from smartshelf.sources.urls import is_file, redact_url
from smartshelf.types import Frame

log = logging.getLogger(__name__)

# Consecutive undecodable frames after which a file is taken to have ended (a torn tail).
MAX_CORRUPT_RUN = 25


def timestamps_path(video: Path) -> Path:
    """`clip.mp4` -> `clip.mp4.timestamps.json`, the frame times `smartshelf record` keeps. Pure."""
    return video.with_name(video.name + ".timestamps.json")


def load_timestamps(path: Path) -> tuple[list[float], float]:
    """The stream times (s) of every frame and the wall time of the first, from a sidecar.

    Raises UserError naming the file and what is wrong with it.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UserError(f"{path}: not a readable timestamps file ({e})") from None
    ts = data.get("ts_s") if isinstance(data, dict) else None
    if not isinstance(ts, list) or not ts:
        raise UserError(f"{path}: ts_s: expected a non-empty list of frame times, got {ts!r}"[:300])
    if not all(isinstance(t, (int, float)) and math.isfinite(t) for t in ts):
        raise UserError(f"{path}: ts_s: expected finite numbers only")
    back = next((i for i in range(1, len(ts)) if ts[i] < ts[i - 1]), None)
    if back is not None:
        raise UserError(f"{path}: ts_s: time goes backwards at frame {back} "
                        f"({ts[back - 1]} then {ts[back]})")
    epoch = data.get("epoch_s", 0.0)
    if not isinstance(epoch, (int, float)) or not math.isfinite(epoch):
        raise UserError(f"{path}: epoch_s: expected a number of seconds, got {epoch!r}")
    return [float(t) for t in ts], float(epoch)


class ReplayFileSource:
    """Decodes a file frame by frame: no thread, no drops, `ts_s = index / fps`.

    The times come from the frame index and the container's declared rate, never the wall clock,
    so the same file always gives the same times (and the same events). A file that `smartshelf
    record` made has its frames' real stream times beside it (`timestamps_path`): those are used
    instead, so a replay sees the live camera's uneven timing, and its events the live times.
    `epoch_s` is the wall time of ts 0: the sidecar's when not given, else 0.0 (events then
    print 1970-based ISO times).
    """

    def __init__(self, camera: CameraConfig, *, epoch_s: float | None = None) -> None:
        if not is_file(camera.source):
            raise UserError(f"camera {camera.name}: replay needs a video file, "
                            f"got {redact_url(camera.source)}")
        self.camera = camera.name
        self.stats = SourceStats()
        self._path = str(camera.source)
        self._cap: cv2.VideoCapture | None = cv2.VideoCapture(self._path)
        if not self._cap.isOpened():
            self._cap.release()
            raise UserError(f"{self._path}: cannot open the video (missing, or not a format OpenCV "
                            "can decode)")
        self._fps = container_fps(self._cap)
        self._times: list[float] | None = None
        side = timestamps_path(Path(self._path))
        if side.is_file():
            self._times, side_epoch_s = load_timestamps(side)
            declared = self.frame_count()
            if declared and declared != len(self._times):
                self._cap.release()
                raise UserError(f"{side}: {len(self._times)} frame times for a video of {declared} "
                                "frames (remove or fix the file to replay at the declared rate)")
            epoch_s = side_epoch_s if epoch_s is None else epoch_s
            log.info("%s: frame times from %s", self._path, side, extra={"camera": self.camera})
        self._epoch_s = 0.0 if epoch_s is None else epoch_s
        self._index = 0
        self.stats.connected = True
        if not self._fps:
            # No (or an absurd) declared rate: the container's own clock (CAP_PROP_POS_MSEC) is
            # the only deterministic time left; it is still per-file, never the wall clock.
            log.warning("%s declares no usable frame rate: using the container's timestamps",
                        self._path, extra={"camera": self.camera})

    @property
    def fps(self) -> float:
        """The container's frame rate (0.0 when it declares none)."""
        return self._fps

    def frame_count(self) -> int:
        """Frames the container declares (an estimate for some formats; 0 when unknown)."""
        return int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if self._cap is not None else 0

    def read(self, timeout_s: float = 0.0) -> Frame | None:
        """The next decodable frame (never None: a file does not time out); EndOfStream at the end.

        An undecodable frame is counted in `stats.frames_corrupt`, logged and skipped; its index
        is used up, so later frames keep their times.
        """
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
            if self._times is not None:
                if index >= len(self._times):
                    raise UserError(f"{timestamps_path(Path(self._path))}: no time for frame {index} "
                                    f"(it has {len(self._times)})")
                ts = self._times[index]
            else:
                ts = index / self._fps if self._fps else pos_ms / 1000.0
            self.stats.frames_read += 1
            self.stats.last_frame_ts_s = ts
            return Frame(self.camera, index, ts, np.ascontiguousarray(image), self._epoch_s)

    def close(self) -> None:
        """Release the file; idempotent."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self.stats.connected = False
