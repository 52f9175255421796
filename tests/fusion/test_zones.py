import pytest

from smartshelf.fusion.zones import (
    box_near_zone,
    box_zone_overlap,
    clip_polygon_to_box,
    polygon_area,
)

SQUARE = ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0))
TRIANGLE = ((0.0, 0.0), (10.0, 0.0), (0.0, 10.0))


@pytest.mark.parametrize(
    ("poly", "area"),
    [(SQUARE, 100.0), (TRIANGLE, 50.0), (tuple(reversed(SQUARE)), 100.0), (SQUARE[:2], 0.0)],
)
def test_polygon_area(poly, area):
    assert polygon_area(poly) == pytest.approx(area)


@pytest.mark.parametrize(
    ("box", "share"),
    [
        ((0, 0, 10, 10), 1.0),  # box equals the zone
        ((5, 5, 15, 15), 0.25),  # a quarter inside
        ((20, 20, 30, 30), 0.0),  # disjoint
        ((2, 2, 4, 4), 1.0),  # wholly inside
        ((-10, -10, 20, 20), 100 / 900),  # zone inside a big box
        ((0, 0, 10, 10), 1.0),
    ],
)
def test_box_zone_overlap_square(box, share):
    assert box_zone_overlap(box, SQUARE) == pytest.approx(share)


def test_overlap_with_triangle_halves_the_square():
    assert box_zone_overlap((0, 0, 10, 10), TRIANGLE) == pytest.approx(0.5)


def test_zero_area_box_overlaps_nothing():
    assert box_zone_overlap((5, 5, 5, 8), SQUARE) == 0.0


def test_clip_does_not_change_its_arguments():
    poly = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0)]
    before = list(poly)
    clip_polygon_to_box(poly, (2, 2, 5, 5))
    assert poly == before


@pytest.mark.parametrize(
    ("box", "margin", "near"),
    [((12, 0, 20, 5), 1.0, False), ((12, 0, 20, 5), 3.0, True), ((5, 5, 6, 6), 0.0, True)],
)
def test_box_near_zone(box, margin, near):
    assert box_near_zone(box, SQUARE, margin) is near
