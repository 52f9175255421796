"""Non-maximum suppression: MediaPipe's weighted blend and plain greedy NMS. Pure functions."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from smartshelf.tracking.association import iou_matrix
from smartshelf.types import FloatArray

IntArray = npt.NDArray[np.int64]


def weighted_nms(boxes: FloatArray, scores: FloatArray, keypoints: FloatArray | None,
                 min_suppression_iou: float = 0.3
                 ) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """NonMaxSuppressionCalculator's WEIGHTED algorithm.

    Take the best remaining box; every remaining box whose IoU with it is > the threshold
    (itself included) is a candidate; the output box and keypoints are the score-weighted mean of
    the candidates, its score the best one's. Repeat on the rest. Averaging the ~10 overlapping
    anchors that fire on one palm steadies the box from frame to frame (less tracker jitter).
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    kp = None if keypoints is None else np.asarray(keypoints, dtype=np.float64)
    order = np.argsort(-s, kind="stable")
    iou = iou_matrix(b, b)
    out_b, out_s, out_k = [], [], []
    remaining = order
    while remaining.size:
        top = remaining[0]
        close = iou[top, remaining] > min_suppression_iou
        close[0] = True  # a zero-area top box still counts itself
        cand = remaining[close]
        w = s[cand][:, None]
        total = float(w.sum())
        out_b.append((b[cand] * w).sum(0) / total if total > 0 else b[top])
        out_s.append(s[top])
        if kp is not None:
            out_k.append((kp[cand] * w[:, :, None]).sum(0) / total if total > 0 else kp[top])
        remaining = remaining[~close]
    n = len(out_b)
    rb = np.asarray(out_b, dtype=np.float32).reshape(n, 4)
    rs = np.asarray(out_s, dtype=np.float32).reshape(n)
    rk = None
    if kp is not None:
        rk = np.asarray(out_k, dtype=np.float32).reshape((n, *kp.shape[1:]))
    return rb, rs, rk


def greedy_nms(boxes: FloatArray, scores: FloatArray, iou_threshold: float) -> IntArray:
    """Indices (best first) of the boxes kept by plain greedy NMS (suppress IoU > threshold)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float64).reshape(-1), kind="stable")
    iou = iou_matrix(b, b)
    keep: list[int] = []
    for i in order:
        if all(iou[i, k] <= iou_threshold for k in keep):
            keep.append(int(i))
    return np.asarray(keep, dtype=np.int64)
