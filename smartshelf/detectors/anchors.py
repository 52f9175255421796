"""SSD anchors and box decoding, as MediaPipe's SsdAnchorsCalculator / TensorsToDetectionsCalculator.

Pure functions over numpy arrays; coordinates are normalised to the model input (0..1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from smartshelf.types import FloatArray


@dataclass(frozen=True)
class AnchorOptions:
    """SsdAnchorsCalculatorOptions (defaults: the palm_detection_cpu.pbtxt values for 0.10.x)."""

    input_size: int = 192
    strides: tuple[int, ...] = (8, 16, 16, 16)
    min_scale: float = 0.1484375
    max_scale: float = 0.75
    anchor_offset: float = 0.5
    aspect_ratios: tuple[float, ...] = (1.0,)
    # proto default 1.0: one extra anchor per location at sqrt(scale * next_scale)
    interpolated_scale_aspect_ratio: float = 1.0
    fixed_anchor_size: bool = True


PALM_ANCHORS = AnchorOptions()


def _scale(opts: AnchorOptions, index: int) -> float:
    n = len(opts.strides)
    if n == 1:
        return (opts.min_scale + opts.max_scale) * 0.5
    return opts.min_scale + (opts.max_scale - opts.min_scale) * index / (n - 1.0)


def ssd_anchors(opts: AnchorOptions = PALM_ANCHORS) -> FloatArray:
    """(N, 4) anchors [x_center, y_center, w, h]; 2016 rows for the palm model.

    Layers with the same stride are merged (their anchors interleave per grid cell), exactly as
    MediaPipe orders them, because the model's 2016 outputs follow that order.
    """
    rows: list[tuple[float, float, float, float]] = []
    layer = 0
    n = len(opts.strides)
    while layer < n:
        sizes: list[tuple[float, float]] = []  # (w, h) per anchor at one grid cell
        last = layer
        while last < n and opts.strides[last] == opts.strides[layer]:
            scale = _scale(opts, last)
            for ratio in opts.aspect_ratios:
                r = math.sqrt(ratio)
                sizes.append((scale * r, scale / r))
            if opts.interpolated_scale_aspect_ratio > 0.0:
                nxt = 1.0 if last == n - 1 else _scale(opts, last + 1)
                r = math.sqrt(opts.interpolated_scale_aspect_ratio)
                s = math.sqrt(scale * nxt)
                sizes.append((s * r, s / r))
            last += 1
        fm = math.ceil(opts.input_size / opts.strides[layer])
        for y in range(fm):
            for x in range(fm):
                cx = (x + opts.anchor_offset) / fm
                cy = (y + opts.anchor_offset) / fm
                for w, h in sizes:
                    rows.append((cx, cy, 1.0, 1.0) if opts.fixed_anchor_size else (cx, cy, w, h))
        layer = last
    return np.asarray(rows, dtype=np.float32)


def sigmoid_scores(raw: FloatArray, clip: float = 100.0) -> FloatArray:
    """Raw logits -> 0..1 scores, clipped first as TensorsToDetections' score_clipping_thresh."""
    x = np.clip(np.asarray(raw, dtype=np.float64).reshape(-1), -clip, clip)  # exp(100) > float32 max
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


def decode_boxes(raw: FloatArray, anchors: FloatArray, scale: float = 192.0,
                 num_keypoints: int = 7) -> tuple[FloatArray, FloatArray]:
    """Regressor output (N, 4 + 2K) -> normalised xyxy boxes (N, 4) and keypoints (N, K, 2).

    Order is x, y, w, h (reverse_output_order), offsets in input pixels relative to the anchor
    centre, and box size is linear (no exponential), as the palm graph configures it.
    """
    raw = np.asarray(raw, dtype=np.float32).reshape(anchors.shape[0], -1)
    aw, ah = anchors[:, 2], anchors[:, 3]
    cx = raw[:, 0] / scale * aw + anchors[:, 0]
    cy = raw[:, 1] / scale * ah + anchors[:, 1]
    w = raw[:, 2] / scale * aw
    h = raw[:, 3] / scale * ah
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kp = raw[:, 4:4 + 2 * num_keypoints].reshape(-1, num_keypoints, 2)
    kx = kp[:, :, 0] / scale * aw[:, None] + anchors[:, 0:1]
    ky = kp[:, :, 1] / scale * ah[:, None] + anchors[:, 1:2]
    return boxes.astype(np.float32), np.stack([kx, ky], axis=2).astype(np.float32)
