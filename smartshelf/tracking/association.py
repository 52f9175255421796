"""Box checks, IoU and gated one-to-one association (Hungarian). Pure functions."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

_NO_PAIRS = np.zeros((0, 2), dtype=np.int64)
_NONE = np.zeros(0, dtype=np.int64)


def check_boxes(name: str, boxes: object, columns: int = 4) -> F64:
    """`boxes` as a float64 (N, columns) array whose first four columns are xyxy.

    Raises ValueError naming `name`, what was expected and what arrived: a wrong shape,
    NaN / inf anywhere, or a box with x2 < x1 or y2 < y1. Zero-size boxes are allowed (they
    overlap nothing). An empty input of any shape gives (0, columns).
    """
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, columns))
    if arr.ndim != 2 or arr.shape[1] != columns:
        raise ValueError(f"{name}: expected an (N, {columns}) array, got shape {arr.shape}")
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"{name}: expected finite numbers, got row {row} = {arr[row].tolist()}")
    bad = (arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1])
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name}: expected x1 <= x2 and y1 <= y2 (xyxy), got row {row} = {arr[row].tolist()}"
        )
    return arr


def iou_matrix(a: F64, b: F64) -> F64:
    """IoU of every box in a (N, 4) with every box in b (M, 4), xyxy: (N, M). Pure.

    Boxes with no area overlap nothing: their IoU is 0 (not NaN).
    """
    lo = np.maximum(a[:, None, 0:2], b[None, :, 0:2])
    wh = np.minimum(a[:, None, 2:4], b[None, :, 2:4])
    wh -= lo
    np.maximum(wh, 0.0, out=wh)
    inter = wh[:, :, 0] * wh[:, :, 1]
    size_a = a[:, 2:4] - a[:, 0:2]
    size_b = b[:, 2:4] - b[:, 0:2]
    union = (size_a[:, 0] * size_a[:, 1])[:, None] + (size_b[:, 0] * size_b[:, 1])[None, :]
    union -= inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def associate(iou: F64, threshold: float) -> tuple[I64, I64, I64]:
    """One-to-one matches between rows and columns of an IoU matrix, gated at `threshold`.

    Pairs below the threshold, or with no overlap at all, are forbidden (they can neither match
    nor steer the assignment); among the rest the total IoU is maximised with the Hungarian
    method. When every row and column has at most one admissible pair the answer is read off
    directly. Returns
    (matches (K, 2) [row, col], unmatched rows, unmatched cols), each sorted. Pure.
    """
    n_rows, n_cols = iou.shape
    if n_rows == 0 or n_cols == 0:
        return _NO_PAIRS, np.arange(n_rows, dtype=np.int64), np.arange(n_cols, dtype=np.int64)
    ok = iou >= threshold
    if threshold <= 0.0:
        ok &= iou > 0.0  # boxes that do not overlap never match
    if ok.sum(axis=0).max() <= 1 and ok.sum(axis=1).max() <= 1:
        rows, cols = np.nonzero(ok)
    else:
        rows, cols = linear_sum_assignment(np.where(ok, iou, 0.0), maximize=True)
        keep = ok[rows, cols]
        rows, cols = rows[keep], cols[keep]
    matches = np.stack([rows, cols], axis=1).astype(np.int64)
    row_free = np.ones(n_rows, dtype=bool)
    row_free[rows] = False
    col_free = np.ones(n_cols, dtype=bool)
    col_free[cols] = False
    return matches, np.flatnonzero(row_free), np.flatnonzero(col_free)
