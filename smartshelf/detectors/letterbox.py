"""Letterbox (keep aspect, zero padding) maps between image regions and a square model input.

Pure geometry, plus `letterbox_image` that renders one, as MediaPipe's ImageToTensorCalculator
does with keep_aspect_ratio and BORDER_ZERO.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from smartshelf.types import FloatArray

# Shrinks larger than this go through INTER_AREA first. Below it the warp is MediaPipe's own
# bilinear one (on the HaGRID set, ~3x shrinks, it finds 37/40 hands against 35/40 with an area
# pre-shrink); above it a bare bilinear warp of a 3264 px shelf photo samples 1 pixel in 17 and
# aliases product texture into palm-like blobs (a 0.48 score on SKU-110K, 0.16 with it).
PRESHRINK_ABOVE = 6.0


@dataclass(frozen=True)
class Letterbox:
    """A square of `side` pixels at (x0, y0) in the frame, shown as the whole model input.

    Model-normalised coordinates n (0..1) map to frame pixels as x0 + n * side; the part of the
    square outside the region being looked at is zero padding.
    """

    x0: float
    y0: float
    side: float

    def to_frame(self, xy_norm: FloatArray) -> FloatArray:
        """(..., 2) normalised points -> frame pixels."""
        xy = np.asarray(xy_norm, dtype=np.float32)
        return (xy * np.float32(self.side) + np.asarray([self.x0, self.y0], np.float32)).astype(np.float32)

    def to_norm(self, xy_px: FloatArray) -> FloatArray:
        """(..., 2) frame pixels -> normalised model coordinates."""
        xy = np.asarray(xy_px, dtype=np.float32)
        return ((xy - np.asarray([self.x0, self.y0], np.float32)) / np.float32(self.side)).astype(np.float32)

    def boxes_to_frame(self, xyxy_norm: FloatArray) -> FloatArray:
        b = np.asarray(xyxy_norm, dtype=np.float32).reshape(-1, 2, 2)
        return self.to_frame(b).reshape(-1, 4)


def letterbox_for(region_xyxy: tuple[float, float, float, float]) -> Letterbox:
    """The square letterbox that fits a region: side = its longer edge, centred on it."""
    x1, y1, x2, y2 = region_xyxy
    w, h = x2 - x1, y2 - y1
    if w <= 0 or h <= 0:
        raise ValueError(f"letterbox_for: expected a region with positive size, got {region_xyxy}")
    side = max(w, h)
    return Letterbox(x1 + (w - side) / 2.0, y1 + (h - side) / 2.0, float(side))


def clip_region(region_xyxy: tuple[float, float, float, float], size_wh: tuple[int, int]
                ) -> tuple[int, int, int, int] | None:
    """A region rounded to whole pixels and clipped to the image, or None if nothing is left."""
    w, h = size_wh
    x1 = max(0, math.floor(region_xyxy[0]))
    y1 = max(0, math.floor(region_xyxy[1]))
    x2 = min(w, math.ceil(region_xyxy[2]))
    y2 = min(h, math.ceil(region_xyxy[3]))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    return x1, y1, x2, y2


def tile_regions(region: tuple[int, int, int, int], tile_px: int, overlap: float
                 ) -> list[tuple[int, int, int, int]]:
    """Overlapping square tiles of `tile_px` covering a region (edge tiles flush with its edges).

    Neighbouring tiles overlap by at least `overlap` of a tile, so a hand smaller than that
    share of a tile lies whole inside at least one of them. A region not larger than a tile is
    one tile: itself.
    """
    x1, y1, x2, y2 = region
    w, h = x2 - x1, y2 - y1
    if tile_px <= 0 or not 0.0 <= overlap < 1.0:
        raise ValueError(f"tile_regions: expected tile_px > 0 and 0 <= overlap < 1, got {tile_px}, {overlap}")
    step = tile_px * (1.0 - overlap)

    def starts(lo: int, length: int) -> list[int]:
        if length <= tile_px:
            return [lo]
        n = math.ceil((length - tile_px) / step) + 1
        return [lo + round(i * (length - tile_px) / (n - 1)) for i in range(n)]

    tiles = []
    for ty in starts(y1, h):
        for tx in starts(x1, w):
            tiles.append((tx, ty, min(tx + tile_px, x2), min(ty + tile_px, y2)))
    return tiles


def letterbox_image(image_bgr: npt.NDArray[np.uint8], region: tuple[int, int, int, int],
                    size: int) -> tuple[npt.NDArray[np.float32], Letterbox]:
    """Render a region of the image as a (size, size, 3) RGB float32 0..1 letterboxed input.

    Pixels outside the region are zero (the region is cropped first, so an ROI never shows its
    surroundings). Shrinks above PRESHRINK_ABOVE go through INTER_AREA first.
    """
    x1, y1, x2, y2 = region
    crop: npt.NDArray[np.uint8] = image_bgr[y1:y2, x1:x2]
    box = letterbox_for((float(x1), float(y1), float(x2), float(y2)))
    shrink = box.side / size
    if shrink > PRESHRINK_ABOVE:
        pre_w = max(1, round((x2 - x1) / shrink * 2.0))
        pre_h = max(1, round((y2 - y1) / shrink * 2.0))
        crop = np.asarray(cv2.resize(crop, (pre_w, pre_h), interpolation=cv2.INTER_AREA), np.uint8)
    ch, cw = crop.shape[:2]
    # crop pixel (u, v) covers frame x1 + u * (x2 - x1) / cw; the square starts at box.x0
    sx = (x2 - x1) / cw / box.side * size
    sy = (y2 - y1) / ch / box.side * size
    m = np.asarray([[sx, 0.0, (x1 - box.x0) / box.side * size],
                    [0.0, sy, (y1 - box.y0) / box.side * size]], dtype=np.float64)
    warped = cv2.warpAffine(crop, m, (size, size), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    rgb = cv2.cvtColor(warped, cv2.COLOR_BGR2RGB)
    return rgb.astype(np.float32) * np.float32(1.0 / 255.0), box
