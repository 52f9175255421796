"""Hands in pictures: a new hand where nothing has changed for seconds is printed, not real.

Packaging, shelf talkers and posters show hands, and a palm detector finds some of them (a
palm-like mark on a pack scored 0.51-0.57 for seconds in a composed clip, and held a zone
"occluded", delaying its neighbour's event). A real hand has to get where it is: the picture
under it changed within the last moments. So a detection is kept where the frame changed against
a look from `window_s` ago, or where it continues a hand kept that way a moment before: a real
hand that then holds still is not dropped.

Pure functions, plus a small memory of past frames (thumbnails, by stream time).
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np
import numpy.typing as npt

from smartshelf.detectors.recall import overlaps_any

FloatArray = npt.NDArray[np.float32]

THUMB_SCALE = 4  # frames are remembered at 1/4 size: noise averages out, and 640x480 costs 19 KB
# A thumbnail pixel changed when it moved by this share of its box's mean brightness, and a box
# changed when this share of its pixels did. Measured: SKU-110K shelf photos shot twice (noise
# sigma 3-6, JPEG 75, +10 % gain) changed at most 0.13 of a box; a palm-like mark on a pack in a
# composed clip 0.0; 69 of 70 real hands starting a track, 0.22 and more (the 70th, 0.04, came
# down over where its own arm had been).
PIXEL_CHANGE = 0.1
CHANGE = 0.15
KEEP_EVERY_S = 0.25  # one thumbnail per this much stream time is remembered


def thumbnail(image_bgr: npt.NDArray[np.uint8]) -> FloatArray:
    """Grey, 1/THUMB_SCALE size, float32."""
    grey = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    h, w = grey.shape
    size = (max(1, w // THUMB_SCALE), max(1, h // THUMB_SCALE))
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32)


def box_change(now: FloatArray, before: FloatArray, boxes_xyxy: FloatArray) -> FloatArray:
    """Per box (frame pixels): the share of its pixels that changed by PIXEL_CHANGE, each side
    divided by its own mean brightness there (a global gain change is no change). 1.0 for a box
    outside the picture: nothing there can be judged."""
    out = np.ones(len(boxes_xyxy), np.float32)
    h, w = now.shape
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes_xyxy, np.float64) / THUMB_SCALE):
        c1, r1 = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
        c2, r2 = min(w, max(c1 + 1, int(np.ceil(x2)))), min(h, max(r1 + 1, int(np.ceil(y2))))
        if c1 >= w or r1 >= h:
            continue
        a, b = now[r1:r2, c1:c2], before[r1:r2, c1:c2]
        step = np.abs(a / max(float(a.mean()), 1.0) - b / max(float(b.mean()), 1.0))
        out[i] = float((step > PIXEL_CHANGE).mean())
    return out


class FrameMemory:
    """Thumbnails of past frames; `before(ts)` is the newest one at least `window_s` old."""

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._kept: deque[tuple[float, FloatArray]] = deque()

    def wants(self, ts_s: float) -> bool:
        """Would `add` keep a thumbnail at `ts_s`? (Frames with no hand need none otherwise.)"""
        return (not self._kept or ts_s < self._kept[-1][0]
                or ts_s - self._kept[-1][0] >= KEEP_EVERY_S - 1e-9)

    def add(self, ts_s: float, thumb: FloatArray) -> None:
        if self._kept and ts_s < self._kept[-1][0]:  # time went back: a new stream
            self._kept.clear()
        if self._kept and self._kept[-1][1].shape != thumb.shape:  # the source changed size
            self._kept.clear()
        if self.wants(ts_s):
            self._kept.append((ts_s, thumb))
        # keep only the newest thumbnail old enough for a comparison, and everything newer
        while len(self._kept) >= 2 and ts_s - self._kept[1][0] >= self._window_s - 1e-9:
            self._kept.popleft()

    def before(self, ts_s: float, shape: tuple[int, ...]) -> FloatArray | None:
        """The newest look at least `window_s` older than `ts_s`, to compare a thumbnail of
        `shape` with: None until the memory reaches that far back, and when the source has
        changed size since."""
        old = [thumb for t, thumb in self._kept if ts_s - t >= self._window_s - 1e-9]
        return old[-1] if old and old[-1].shape == shape else None


def judge(boxes_xyxy: FloatArray, real_xyxy: FloatArray, now: FloatArray,
          before: FloatArray | None) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Per detection: (keep it, it is a real hand).

    Real: it overlaps a hand already judged real (`real_xyxy`, the last moments), or the picture
    under it changed by CHANGE against `before`. Kept: real, or not judged yet (no look from
    before: the first `window_s` of a stream). A hand that is kept unjudged is not real, so a
    poster found at start-up is dropped as soon as it can be judged.
    """
    real = overlaps_any(boxes_xyxy, real_xyxy)
    if before is None:
        return np.ones(len(boxes_xyxy), dtype=bool), real
    new = ~real
    if new.any():
        real[new] = box_change(now, before, boxes_xyxy[new]) >= CHANGE
    return real.copy(), real
