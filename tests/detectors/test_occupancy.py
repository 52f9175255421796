"""Zone appearance comparison on drawn shelves: goods removed / added / unchanged, and lighting."""

from __future__ import annotations

import numpy as np
import pytest

from smartshelf.config import CameraConfig, FusionConfig, ShelfDetectorConfig, ZoneConfig
from smartshelf.detectors.occupancy import (
    Calibration,
    change_direction,
    changed_fraction,
    fill_estimate,
    make_sampler,
    sample_patch,
)
from smartshelf.detectors.shelf import OccupancyTracker, ReferenceShelfDetector
from smartshelf.types import Frame, SurfaceState

POLY = ((100.0, 100.0), (420.0, 100.0), (420.0, 260.0), (100.0, 260.0))
THRESHOLDS = (ShelfDetectorConfig().change_threshold, ShelfDetectorConfig().texture_change_threshold)
BACK = (150, 160, 170)


def shelf_image(items: int, *, gain: float = 1.0, noise: float = 0.0, seed: int = 0,
                camouflaged: bool = False) -> np.ndarray:
    """A plain shelf back with `items` printed boxes side by side in the zone (`camouflaged`:
    boxes the colour of the back, with only their print to tell them apart)."""
    rng = np.random.default_rng(seed)
    img = np.full((360, 520, 3), BACK, np.float32)
    for i in range(items):
        x = 110 + i * 76
        if camouflaged:  # thin dark seams and print lines on a box the colour of the back
            img[120:255, x:x + 66] = BACK
            img[120:255, x:x + 2] = img[120:255, x + 64:x + 66] = (90, 96, 102)
            img[124:255:10, x + 6:x + 60] = (90, 96, 102)
            continue
        img[120:255, x:x + 66] = (40 + 30 * i, 90, 200 - 25 * i)
        for k in range(6):  # printed stripes and text-like marks: goods have texture
            img[130 + 20 * k:138 + 20 * k, x + 6:x + 60] = (240, 240, 240) if k % 2 else (20, 20, 60)
    img *= gain
    if noise:
        img += rng.normal(0.0, noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def sampler():
    return make_sampler("A", POLY, 32, (520, 360))


def patch(img, sampler):
    return sample_patch(img, sampler)


@pytest.mark.parametrize(("before", "after", "sign"), [(4, 3, -1), (3, 4, 1), (4, 2, -1), (1, 3, 1)])
def test_direction_of_change(sampler, before, after, sign):
    a, b = patch(shelf_image(before), sampler), patch(shelf_image(after), sampler)
    assert changed_fraction(a, b, sampler, *THRESHOLDS) > 0.1
    assert np.sign(change_direction(a, b, sampler, *THRESHOLDS, Calibration())) == sign
    fa = fill_estimate(a, sampler, Calibration())
    fb = fill_estimate(b, sampler, Calibration())
    assert np.sign(fb - fa) == sign


@pytest.mark.parametrize("gain", [0.6, 0.8, 1.25])
def test_global_brightness_change_is_not_a_change(sampler, gain):
    a = patch(shelf_image(3), sampler)
    b = patch(shelf_image(3, gain=gain), sampler)
    assert changed_fraction(a, b, sampler, *THRESHOLDS) == 0.0


def test_sensor_noise_is_not_a_change(sampler):
    a = patch(shelf_image(3, noise=6.0, seed=1), sampler)
    b = patch(shelf_image(3, noise=6.0, seed=2), sampler)
    assert changed_fraction(a, b, sampler, *THRESHOLDS) == 0.0


def test_an_item_the_colour_of_the_shelf_back_changes_the_zone_by_its_print(sampler):
    """Regression (composed seed 27783): a grey bottle taken from before a grey-green back moved
    the colour of only its label's cells, under min_changed_fraction, and the pick read as a
    touch. Its edges and print went with it."""
    a = patch(shelf_image(4, camouflaged=True), sampler)
    b = patch(shelf_image(3, camouflaged=True), sampler)
    colour_only = changed_fraction(a, b, sampler, THRESHOLDS[0], np.inf)
    with_texture = changed_fraction(a, b, sampler, *THRESHOLDS)
    assert with_texture > 2 * colour_only
    assert with_texture >= FusionConfig().min_changed_fraction
    assert change_direction(a, b, sampler, *THRESHOLDS, Calibration()) < 0


def test_sensor_noise_on_busy_print_is_not_a_texture_change(sampler):
    a = patch(shelf_image(4, noise=8.0, seed=3), sampler)
    b = patch(shelf_image(4, noise=8.0, seed=4, gain=1.1), sampler)
    assert changed_fraction(a, b, sampler, *THRESHOLDS) == 0.0


def test_calibration_decides_fill(sampler):
    cal = Calibration(empty=patch(shelf_image(0), sampler), full=patch(shelf_image(4), sampler))
    assert fill_estimate(patch(shelf_image(4), sampler), sampler, cal) > 0.9
    assert fill_estimate(patch(shelf_image(0), sampler), sampler, cal) < 0.1
    half = fill_estimate(patch(shelf_image(2), sampler), sampler, cal)
    assert 0.3 < half < 0.7


def test_tracker_settles_refuses_to_update_under_a_hand_and_reports_the_change():
    cam = CameraConfig("c", "rtsp://x/y", (ZoneConfig("A", POLY),))
    cfg = ShelfDetectorConfig(settle_s=0.3)
    det = ReferenceShelfDetector(cam, cfg)
    occ = OccupancyTracker(cam, cfg, det.samplers((520, 360)))
    no_hand = np.zeros((0, 4), np.float32)
    hand = np.array([[200, 150, 280, 240]], np.float32)
    ts = 0.0

    def step(img, boxes):
        nonlocal ts
        out = occ.update(det.measure(Frame("c", 0, ts, img)), boxes)["A"]
        ts += 1 / 15
        return out

    states = [step(shelf_image(4), no_hand).state for _ in range(10)]
    assert states[0] is not SurfaceState.STABLE and states[-1] is SurfaceState.STABLE
    covered = shelf_image(4)
    covered[150:240, 200:280] = (120, 150, 210)  # a hand over the goods
    for _ in range(10):
        assert step(covered, hand).state is SurfaceState.OCCLUDED
    after = [step(shelf_image(3), no_hand) for _ in range(10)]
    assert after[-1].state is SurfaceState.STABLE
    assert after[-1].changed_fraction > 0.1
    assert after[-1].direction < 0
    assert after[-1].fill < after[-1].fill_before


def test_fingertips_entering_a_corner_before_the_hand_is_detected_are_motion():
    """Regression (seed 7009): fingers rose into a corner of the zone a frame before the hand
    detector found the hand. Averaged over the zone that was no motion, so the zone was still
    "stable" and the look before the touch held the fingertips: the touch was read as a return."""
    cam = CameraConfig("c", "rtsp://x/y", (ZoneConfig("A", POLY),))
    cfg = ShelfDetectorConfig(settle_s=0.3)
    det = ReferenceShelfDetector(cam, cfg)
    occ = OccupancyTracker(cam, cfg, det.samplers((520, 360)))
    no_hand = np.zeros((0, 4), np.float32)
    ts = 0.0

    def step(img, boxes=no_hand):
        nonlocal ts
        out = occ.update(det.measure(Frame("c", 0, ts, img)), boxes)["A"]
        ts += 1 / 15
        return out

    for _ in range(10):
        assert step(shelf_image(3)).state is not SurfaceState.OCCLUDED
    for top in (240, 228):  # fingertips rising into the bottom-left corner, not detected yet
        fingers = shelf_image(3)
        fingers[top:260, 112:150] = (120, 150, 210)
        assert step(fingers).state is SurfaceState.CHANGING
        if top == 240:  # where it moved: the pipeline looks for a hand there
            moved = occ.moved_xyxy("A")
            assert moved is not None and moved[0] <= 112 < moved[2] and moved[1] < 260 == moved[3]
    detected_at = ts
    hand = shelf_image(3)
    hand[180:260, 112:190] = (120, 150, 210)
    for _ in range(8):
        assert step(hand, np.array([[112, 180, 190, 300]], np.float32)).state is SurfaceState.OCCLUDED
    for _ in range(8):  # the hand only touched: the zone settles looking as it did before
        last = step(shelf_image(3))
    assert last.state is SurfaceState.STABLE
    change = occ.compare("A", detected_at)
    assert change is not None and change.changed_fraction == 0.0
