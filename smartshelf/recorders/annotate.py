"""Annotated debug video: hand boxes with track ids, zones coloured by state, occupancy bars,
event banners. Drawing is a pure function of a `FrameResult`; the writer only encodes.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from smartshelf.config import CameraConfig, Config
from smartshelf.errors import UserError
from smartshelf.events.record import Event, EventType
from smartshelf.runtime.pipeline import FrameResult
from smartshelf.types import SurfaceState

log = logging.getLogger(__name__)

# BGR colours
_STATE_COLOUR = {
    SurfaceState.STABLE: (80, 200, 80),
    SurfaceState.OCCLUDED: (0, 165, 255),
    SurfaceState.CHANGING: (0, 220, 220),
}
_EVENT_COLOUR = {EventType.PICK: (60, 60, 230), EventType.RETURN: (230, 160, 40),
                 EventType.TOUCH: (200, 200, 200)}
BANNER_S = 1.5  # how long an event banner stays on screen (stream seconds)
FIRST_FRAME_WAIT_S = 20.0  # a live camera's first frame, reconnects included


def draw_zones(image: npt.NDArray[np.uint8], camera: CameraConfig,
               colours: dict[str, tuple[int, int, int]] | None = None) -> npt.NDArray[np.uint8]:
    out = image.copy()
    for zone in camera.zones:
        pts = np.round(np.array(zone.polygon, np.float32)).astype(np.int32)
        colour = (colours or {}).get(zone.name, (255, 255, 255))
        cv2.polylines(out, [pts], True, colour, 2, cv2.LINE_AA)
        x, y = int(pts[:, 0].min()), int(pts[:, 1].min())
        cv2.putText(out, zone.name, (x + 3, y + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1,
                    cv2.LINE_AA)
    return out


def draw_result(result: FrameResult, camera: CameraConfig,
                recent: list[Event]) -> npt.NDArray[np.uint8]:
    """One annotated frame. `recent` holds events still to be shown as banners."""
    colours = {name: _STATE_COLOUR[o.state] for name, o in result.occupancy.items()}
    out = draw_zones(result.frame.image_bgr, camera, colours)
    for zone in camera.zones:
        occ = result.occupancy.get(zone.name)
        if occ is None:
            continue
        pts = np.array(zone.polygon, np.float32)
        x1, y2 = int(pts[:, 0].min()), int(pts[:, 1].max())
        width = int(pts[:, 0].max()) - x1
        cv2.rectangle(out, (x1, y2 - 6), (x1 + width, y2 - 1), (40, 40, 40), -1)
        cv2.rectangle(out, (x1, y2 - 6), (x1 + int(width * occ.fill), y2 - 1), (80, 200, 80), -1)
    for box in result.hands.xyxy:
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), (255, 200, 0), 1)
    for box, tid in zip(result.tracks.xyxy, result.tracks.track_id, strict=True):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (x2, y2), (255, 0, 255), 2)
        cv2.putText(out, f"hand {tid}", (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (255, 0, 255), 1, cv2.LINE_AA)
    for i, ev in enumerate(recent):
        text = f"{ev.type.value.upper()} {ev.zone}" + (f" x{ev.count}" if ev.count else "")
        text += f"  {ev.confidence:.2f}"
        y = 24 + 26 * i
        cv2.rectangle(out, (6, y - 18), (16 + 11 * len(text), y + 6), _EVENT_COLOUR[ev.type], -1)
        cv2.putText(out, text, (10, y), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 2, cv2.LINE_AA)
    ts = f"{result.frame.camera}  t={result.frame.ts_s:7.2f}s  #{result.frame.index}"
    h = out.shape[0]
    cv2.putText(out, ts, (8, h - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return out


class AnnotatedWriter:
    """Writes one annotated frame per processed frame (same frame count as the input)."""

    def __init__(self, path: Path, camera: CameraConfig, fps: float = 15.0) -> None:
        self._path = path
        self._camera = camera
        self._fps = fps
        self._writer: cv2.VideoWriter | None = None
        self._recent: list[Event] = []
        self.frames = 0

    def write(self, result: FrameResult) -> None:
        ts = result.frame.ts_s
        self._recent = [e for e in self._recent if ts - e.t_emit_s < BANNER_S] + result.events
        image = draw_result(result, self._camera, self._recent)
        if self._writer is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            h, w = image.shape[:2]
            fourcc = cv2.VideoWriter.fourcc(*"mp4v")
            self._writer = cv2.VideoWriter(str(self._path), fourcc, self._fps, (w, h))
            if not self._writer.isOpened():
                raise UserError(f"{self._path}: cannot open a video writer (mp4v)")
        self._writer.write(image)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


def first_frame(cfg: Config, camera: CameraConfig) -> npt.NDArray[np.uint8]:
    from smartshelf.sources import frames, is_file, open_source

    source = open_source(camera, mode="replay" if is_file(camera.source) else "live")
    try:
        for frame in frames(source, timeout_s=FIRST_FRAME_WAIT_S):
            return frame.image_bgr
    finally:
        source.close()
    raise UserError(f"{cfg.path}: camera {camera.name!r} gave no frame")


def zones_snapshot(cfg: Config, camera_name: str | None, out: Path) -> Path:
    """Draw the configured zones over the camera's first frame, so users can check polygons."""
    camera = cfg.camera(camera_name) if camera_name else cfg.cameras[0]
    image = draw_zones(first_frame(cfg, camera), camera)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), image):
        raise UserError(f"{out}: cannot write the snapshot")
    return out
