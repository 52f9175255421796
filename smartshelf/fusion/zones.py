"""Zone geometry: how much of a box lies in a zone polygon, and whether a box is near one. Pure."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Point = tuple[float, float]


def polygon_area(points: Sequence[Point]) -> float:
    """Unsigned area by the shoelace formula."""
    n = len(points)
    if n < 3:
        return 0.0
    s = 0.0
    for i in range(n):
        x1, y1 = points[i]
        x2, y2 = points[(i + 1) % n]
        s += x1 * y2 - x2 * y1
    return abs(s) / 2.0


def _clip_edge(points: list[Point], inside: object, cross: object) -> list[Point]:
    out: list[Point] = []
    n = len(points)
    for i in range(n):
        cur, prev = points[i], points[i - 1]
        cur_in, prev_in = inside(cur), inside(prev)  # type: ignore[operator]
        if cur_in:
            if not prev_in:
                out.append(cross(prev, cur))  # type: ignore[operator]
            out.append(cur)
        elif prev_in:
            out.append(cross(prev, cur))  # type: ignore[operator]
    return out


def clip_polygon_to_box(points: Sequence[Point], box_xyxy: Sequence[float]) -> list[Point]:
    """The part of a polygon inside an axis-aligned box (Sutherland-Hodgman)."""
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    poly = [(float(x), float(y)) for x, y in points]

    def x_cross(xc: float) -> object:
        def f(p: Point, q: Point) -> Point:
            t = (xc - p[0]) / (q[0] - p[0])
            return (xc, p[1] + t * (q[1] - p[1]))
        return f

    def y_cross(yc: float) -> object:
        def f(p: Point, q: Point) -> Point:
            t = (yc - p[1]) / (q[1] - p[1])
            return (p[0] + t * (q[0] - p[0]), yc)
        return f

    for inside, cross in (
        (lambda p: p[0] >= x1, x_cross(x1)),
        (lambda p: p[0] <= x2, x_cross(x2)),
        (lambda p: p[1] >= y1, y_cross(y1)),
        (lambda p: p[1] <= y2, y_cross(y2)),
    ):
        if not poly:
            break
        poly = _clip_edge(poly, inside, cross)
    return poly


def box_zone_overlap(box_xyxy: Sequence[float], polygon: Sequence[Point]) -> float:
    """Share of the box's area that lies inside the zone polygon, 0..1."""
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    box_area = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    if box_area <= 0.0:
        return 0.0
    return min(1.0, polygon_area(clip_polygon_to_box(polygon, box_xyxy)) / box_area)


def boxes_zone_overlap(
    boxes_xyxy: npt.NDArray[np.float32], polygon: Sequence[Point]
) -> npt.NDArray[np.float32]:
    """`box_zone_overlap` for each row of an (N, 4) array."""
    return np.array([box_zone_overlap(b, polygon) for b in boxes_xyxy], dtype=np.float32)


def grow_box(box_xyxy: Sequence[float], margin_px: float) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    return (x1 - margin_px, y1 - margin_px, x2 + margin_px, y2 + margin_px)


def box_near_zone(box_xyxy: Sequence[float], polygon: Sequence[Point], margin_px: float) -> bool:
    """True where the box, grown by `margin_px`, touches the zone polygon."""
    grown = grow_box(box_xyxy, margin_px)
    return polygon_area(clip_polygon_to_box(polygon, grown)) > 0.0


def box_shadows_zone(box_xyxy: Sequence[float], polygon: Sequence[Point], margin_px: float) -> bool:
    """True where the zone lies below the box's bottom edge within its columns (plus margin).

    A front-view shelf camera sees a shopper's arm hang from the hand down to the bottom of the
    picture: everything under a hand is covered by its arm even though no detector sees the arm.
    """
    x1, _, x2, y2 = (float(v) for v in box_xyxy)
    zx1, _, zx2, zy2 = polygon_bounds(polygon)
    return x2 + margin_px > zx1 and x1 - margin_px < zx2 and y2 < zy2


def polygon_bounds(polygon: Sequence[Point]) -> tuple[int, int, int, int]:
    """Integer xyxy bounds of a polygon (x2, y2 exclusive)."""
    xs = [p[0] for p in polygon]
    ys = [p[1] for p in polygon]
    return (int(np.floor(min(xs))), int(np.floor(min(ys))),
            int(np.ceil(max(xs))), int(np.ceil(max(ys))))
