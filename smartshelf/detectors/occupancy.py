"""Model-free zone appearance: sampling, comparison and fill estimates (pure functions).

A zone is sampled as a small, illumination-normalised patch: the zone's bounding box resized to
P x P and divided by its mean brightness, so a global gain change (flicker, auto-exposure) leaves
it unchanged. Patches are compared cell by cell (a grid of C x C cells): averaging inside a cell
suppresses sensor noise, and a cell is the unit of "changed" and of "stocked".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from smartshelf.fusion.zones import Point, polygon_bounds

FloatArray = npt.NDArray[np.float32]
CellArray = npt.NDArray[np.floating[Any]]  # one value per grid cell

CELLS = 8  # the comparison grid is CELLS x CELLS
# A cell's texture counts as changed only when the step is also this share of the larger value:
# measured on SKU-110K shelf photos (sensor noise sigma 3, JPEG 80, +10 % gain between looks),
# no cell passed both this and an absolute step of 0.1; 1 in 7,700 passed it and 0.08.
TEXTURE_CHANGE_RATIO = 0.5


@dataclass(frozen=True, eq=False)
class ZoneSampler:
    """Everything needed to cut one zone out of a frame, precomputed once per zone."""

    name: str
    bounds_xyxy: tuple[int, int, int, int]
    mask: FloatArray  # P x P, 1 inside the polygon, 0 outside
    cell_weight: FloatArray  # CELLS x CELLS share of each cell inside the polygon
    patch_px: int


def make_sampler(name: str, polygon: Sequence[Point], patch_px: int,
                 frame_wh: tuple[int, int]) -> ZoneSampler:
    """A sampler for one zone in frames of `frame_wh`; the polygon is clipped to the frame."""
    w, h = frame_wh
    x1, y1, x2, y2 = polygon_bounds(polygon)
    x1, y1 = max(0, x1), max(0, y1)
    x2, y2 = min(w, max(x2, x1 + 1)), min(h, max(y2, y1 + 1))
    full = np.zeros((y2 - y1, x2 - x1), np.uint8)
    pts = np.array([[px - x1, py - y1] for px, py in polygon], np.float32)
    cv2.fillPoly(full, [np.round(pts).astype(np.int32)], 255)
    mask = cv2.resize(full, (patch_px, patch_px), interpolation=cv2.INTER_AREA).astype(np.float32)
    mask /= 255.0
    return ZoneSampler(name, (x1, y1, x2, y2), mask, cell_means(mask), patch_px)


def sample_patch(image_bgr: npt.NDArray[np.uint8], sampler: ZoneSampler) -> FloatArray:
    """P x P x 3 patch of the zone divided by its mean brightness (gain-invariant)."""
    x1, y1, x2, y2 = sampler.bounds_xyxy
    crop = image_bgr[y1:y2, x1:x2]
    small = cv2.resize(crop, (sampler.patch_px, sampler.patch_px), interpolation=cv2.INTER_AREA)
    patch = small.astype(np.float32)
    weight = sampler.mask[..., None]
    denom = float((patch * weight).sum() / max(1e-6, 3.0 * weight.sum()))
    return patch / max(denom, 1.0)


def cell_means(a: FloatArray) -> FloatArray:
    """Average over a CELLS x CELLS grid (extra channels averaged too)."""
    p = a.shape[0]
    step = p // CELLS
    trimmed = a[: step * CELLS, : step * CELLS]
    if trimmed.ndim == 3:
        trimmed = trimmed.mean(axis=2)
    return trimmed.reshape(CELLS, step, CELLS, step).mean(axis=(1, 3)).astype(np.float32)


def motion(prev: FloatArray, cur: FloatArray, sampler: ZoneSampler) -> float:
    """Mean absolute change between two patches inside the zone, in normalised units."""
    diff = np.abs(cur - prev).mean(axis=2)
    w = sampler.mask
    return float((diff * w).sum() / max(1e-6, w.sum()))


def cell_changes(prev: FloatArray, cur: FloatArray, sampler: ZoneSampler) -> CellArray:
    """The mean change of each cell of the zone's grid between two patches (pixels outside the
    zone do not count)."""
    diff = np.abs(cur - prev).mean(axis=2) * sampler.mask
    return cell_means(diff) / np.maximum(sampler.cell_weight, 1e-6)


def cell_motion(changes: CellArray, sampler: ZoneSampler) -> float:
    """The largest of `cell_changes` inside the zone.

    `motion` averages over the whole zone, so fingertips entering one corner barely move it;
    here they move their cells as much as a whole hand would.
    """
    inside = sampler.cell_weight > 0.5
    return float(changes[inside].max()) if inside.any() else 0.0


def moved_cells(changes: CellArray, sampler: ZoneSampler, threshold: float) -> npt.NDArray[np.bool_]:
    """Cells of `cell_changes` above `threshold` that lie in the zone."""
    return (changes > threshold) & (sampler.cell_weight > 0.5)


def changed_cells(before: FloatArray, after: FloatArray, sampler: ZoneSampler,
                  threshold: float, texture_threshold: float) -> npt.NDArray[np.bool_]:
    """Cells (in the zone) whose mean colour moved by more than `threshold`, or whose texture
    energy rose or fell by more than `texture_threshold` and by more than TEXTURE_CHANGE_RATIO of
    the larger of the two.

    Colour alone misses an item close in colour to the shelf back behind it (a grey bottle on a
    grey-green wall changes only its label's cells); its edges and print still go. The ratio keeps
    sensor noise on busy packaging (texture 0.3 and more) from counting.
    """
    colour = cell_changes(before, after, sampler) > threshold
    t_before, t_after = texture(before), texture(after)
    step = np.abs(t_after - t_before)
    textured = (step > texture_threshold) & (step > TEXTURE_CHANGE_RATIO * np.maximum(t_before, t_after))
    return (colour | textured) & (sampler.cell_weight > 0.5)


def cells_xyxy(cells: npt.NDArray[np.bool_],
               sampler: ZoneSampler) -> tuple[float, float, float, float] | None:
    """Frame-pixel bounds of the marked cells of a zone's grid (None when none is marked)."""
    rows, cols = np.nonzero(cells)
    if rows.size == 0:
        return None
    x1, y1, x2, y2 = sampler.bounds_xyxy
    cw, ch = (x2 - x1) / CELLS, (y2 - y1) / CELLS
    return (float(x1 + cols.min() * cw), float(y1 + rows.min() * ch),
            float(x1 + (cols.max() + 1) * cw), float(y1 + (rows.max() + 1) * ch))


def changed_fraction(before: FloatArray, after: FloatArray, sampler: ZoneSampler,
                     threshold: float, texture_threshold: float) -> float:
    inside = sampler.cell_weight > 0.5
    n = int(inside.sum())
    if n == 0:
        return 0.0
    return float(changed_cells(before, after, sampler, threshold, texture_threshold).sum() / n)


def texture(patch: FloatArray) -> FloatArray:
    """Per-cell texture energy: mean gradient magnitude of the normalised brightness.

    Goods have edges, print and packaging seams; an empty stretch of shelf back is plain. This is
    what tells "removed" from "added" without a model or a calibration.
    """
    gray = patch.mean(axis=2)
    gx = np.abs(np.diff(gray, axis=1, prepend=gray[:, :1]))
    gy = np.abs(np.diff(gray, axis=0, prepend=gray[:1, :]))
    return cell_means((gx + gy).astype(np.float32))


@dataclass(frozen=True, eq=False)
class Calibration:
    """Settled patches of one zone empty and full (`smartshelf calibrate`)."""

    empty: FloatArray | None = None
    full: FloatArray | None = None


def fill_estimate(patch: FloatArray, sampler: ZoneSampler, calibration: Calibration,
                  texture_threshold: float = 0.12) -> float:
    """Share of the zone's cells that look stocked, 0..1.

    With both calibration snapshots a cell is stocked when it is closer to the full snapshot than
    to the empty one; otherwise when its texture energy exceeds `texture_threshold`.
    """
    inside = sampler.cell_weight > 0.5
    n = int(inside.sum())
    if n == 0:
        return 0.0
    if calibration.empty is not None and calibration.full is not None:
        d_empty = cell_means(np.abs(patch - calibration.empty))
        d_full = cell_means(np.abs(patch - calibration.full))
        stocked = d_full < d_empty
    else:
        stocked = texture(patch) > texture_threshold
    return float((stocked & inside).sum() / n)


def change_direction(before: FloatArray, after: FloatArray, sampler: ZoneSampler,
                     threshold: float, texture_threshold: float, calibration: Calibration) -> float:
    """Signed evidence that goods were added (> 0) or removed (< 0), judged on changed cells only.

    With a calibration: the change of the "closer to full" margin; without: the change of texture
    energy, relative to the texture before. 0.0 when nothing changed.
    """
    cells = changed_cells(before, after, sampler, threshold, texture_threshold)
    if not cells.any():
        return 0.0
    empty, full = calibration.empty, calibration.full
    if empty is not None and full is not None:
        def margin(p: FloatArray) -> FloatArray:
            return cell_means(np.abs(p - empty)) - cell_means(np.abs(p - full))
        return float((margin(after) - margin(before))[cells].mean())
    t_before = texture(before)[cells]
    t_after = texture(after)[cells]
    return float((t_after.mean() - t_before.mean()) / max(1e-3, max(t_before.mean(), t_after.mean())))
