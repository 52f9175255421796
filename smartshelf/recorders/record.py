"""`smartshelf record`: save a live camera to an mp4v file plus each frame's stream time.

The sidecar `<out>.timestamps.json` keeps the real stream times (a live camera's frame rate
wanders and frames get lost on reconnect), so a later replay can be faithful to them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from smartshelf.config import CameraConfig
from smartshelf.errors import UserError
from smartshelf.sources import EndOfStream, open_source, redact_url
from smartshelf.sources.replay import timestamps_path
from smartshelf.types import Frame

log = logging.getLogger(__name__)

# Without a requested fps, the mp4's declared rate is measured over this much of the stream first.
PROBE_S = 1.0
FALLBACK_FPS = 15.0  # a recording of a single frame declares this rate
# A stream that stops delivering ends a timed recording this long after its duration (wall time).
STALL_GRACE_S = 1.0


@dataclass(frozen=True)
class RecordStats:
    path: Path
    timestamps_path: Path
    frames: int  # frames in the mp4 (and in the sidecar)
    duration_s: float  # stream time from the first frame to the last
    fps: float  # the rate the mp4 declares
    dropped: int  # frames the source overwrote before the recorder took them
    skipped: int  # frames left out to keep to a requested fps
    reconnects: int
    interrupted: bool  # stopped by Ctrl-C or the stop event rather than by duration or file end


def measured_fps(ts_s: list[float]) -> float:
    """Mean frame rate of increasing stream times, to 2 decimals; FALLBACK_FPS for < 2. Pure."""
    if len(ts_s) < 2 or ts_s[-1] <= ts_s[0]:
        return FALLBACK_FPS
    return round((len(ts_s) - 1) / (ts_s[-1] - ts_s[0]), 2)


class _Mp4:
    """An mp4v writer opened on the first frame it gets; later frames of another size are resized."""

    def __init__(self, out: Path, fps: float) -> None:
        self.out, self.fps = out, fps
        self.size_wh: tuple[int, int] | None = None
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None

    def write(self, image: npt.NDArray[np.uint8]) -> None:
        h, w = image.shape[:2]
        if self._writer is None:
            self.size_wh = (w, h)
            self._writer = cv2.VideoWriter(str(self.out), cv2.VideoWriter.fourcc(*"mp4v"),
                                           self.fps, self.size_wh)
            if not self._writer.isOpened():
                raise UserError(f"{self.out}: cannot write an mp4v video there")
        elif (w, h) != self.size_wh:
            log.warning("frame size changed to %dx%d: resized to %s", w, h, self.size_wh)
            self._writer.write(cv2.resize(image, self.size_wh, interpolation=cv2.INTER_AREA))
            self.frames += 1
            return
        self._writer.write(image)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()


def record(source: str | int, out: Path, duration_s: float | None = None,
           fps: float | None = None, *, stop: threading.Event | None = None,
           camera: CameraConfig | None = None) -> RecordStats:
    """Record `source` (URL, device index or file) into `out` until `duration_s` of stream time,
    the end of a file, Ctrl-C or `stop`. `fps`: keep at most this rate (and declare it); None
    keeps every frame and declares the rate measured over the first PROBE_S. `camera` supplies
    stall and reconnect settings (its source is replaced by `source`)."""
    if duration_s is not None and duration_s <= 0:
        raise UserError(f"record: duration must be > 0 seconds, got {duration_s}")
    if fps is not None and not 0 < fps <= 1000:
        raise UserError(f"record: fps must be in (0, 1000], got {fps}")
    out = Path(out)
    if out.suffix.lower() != ".mp4":
        raise UserError(f"{out}: the recording must be an .mp4 file")
    out.parent.mkdir(parents=True, exist_ok=True)
    cam = dataclasses.replace(camera or CameraConfig("record", source), source=source, loop=False)
    src = open_source(cam, mode="live")
    stop = stop or threading.Event()
    mp4: _Mp4 | None = _Mp4(out, fps) if fps is not None else None
    probe: list[Frame] = []  # frames held until the rate is known (fps None only)
    kept_ts: list[float] = []
    first: Frame | None = None
    next_ts = 0.0  # with a requested fps: the stream time of the next frame to keep
    skipped = 0
    interrupted = False
    wall0 = time.monotonic()
    try:
        while True:
            if stop.is_set():
                interrupted = True
                break
            waited = time.monotonic() - wall0
            if duration_s is not None and waited >= duration_s + STALL_GRACE_S:
                log.warning("%s: no frame for a while: stopping at the duration",
                            redact_url(source))
                break
            try:
                frame = src.read(timeout_s=0.2)
            except EndOfStream:
                break
            if frame is None:
                continue
            if first is None:
                first, wall0 = frame, time.monotonic()
            rel = frame.ts_s - first.ts_s
            if duration_s is not None and rel >= duration_s - 1e-9:
                break
            if fps is not None:
                if rel < next_ts - 0.5 / fps:
                    skipped += 1
                    continue
                # On schedule, or from a late frame on: kept frames are >= half a period apart.
                next_ts = max(next_ts, rel) + 1.0 / fps
            kept_ts.append(rel)
            if mp4 is None:
                probe.append(frame)
                if rel >= PROBE_S:
                    mp4 = _flush_probe(out, probe)
            else:
                mp4.write(frame.image_bgr)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        src.close()
        if mp4 is None and probe:
            mp4 = _flush_probe(out, probe)
        if mp4 is not None:
            mp4.close()
    if first is None or mp4 is None or not kept_ts:
        out.unlink(missing_ok=True)
        raise UserError(f"{redact_url(source)}: no frame received, nothing recorded")
    side = timestamps_path(out)
    ts = [round(t, 6) for t in kept_ts]
    _write_json(side, {"video": out.name, "source": redact_url(source), "fps": mp4.fps,
                       "epoch_s": round(first.epoch_s + first.ts_s, 6), "ts_s": ts})
    stats = RecordStats(out, side, mp4.frames, ts[-1], mp4.fps, src.stats.frames_dropped,
                        skipped, src.stats.reconnects, interrupted)
    log.info("recorded %d frames (%.1f s at %.2f fps) to %s", stats.frames, stats.duration_s,
             stats.fps, out)
    return stats


def _flush_probe(out: Path, probe: list[Frame]) -> _Mp4:
    mp4 = _Mp4(out, measured_fps([f.ts_s for f in probe]))
    for f in probe:
        mp4.write(f.image_bgr)
    probe.clear()
    return mp4


def _write_json(path: Path, data: dict[str, object]) -> None:
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    os.replace(part, path)
