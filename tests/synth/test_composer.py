"""The seeded composer: reproducible frames, labels that follow the drawn timeline, valid zones."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from smartshelf.config import load_config
from smartshelf.errors import UserError
from smartshelf.synth.__main__ import main as synth_main
from smartshelf.synth.composer import (
    ClipSpec,
    Lighting,
    compose,
    counts_at,
    hand_box_xyxy,
    idle_spec,
    iter_frames,
    iter_idle_frames,
    plan,
    write_config,
)
from smartshelf.synth.hands import default_hagrid_dir
from smartshelf.synth.scene import render

if not default_hagrid_dir().is_dir():
    pytest.skip(f"HaGRID hands not found at {default_hagrid_dir()} (../shared/data is absent)",
                allow_module_level=True)

SMALL = {"size_wh": (320, 240), "fps": 10.0}


def frame_hashes(seed: int, **kw: object) -> list[str]:
    return [hashlib.sha256(f.tobytes()).hexdigest() for _, f in iter_frames(seed, **SMALL, **kw)]


def box_overlaps_zone(box: tuple[int, int, int, int] | None, zone_poly) -> bool:
    if box is None:
        return False
    (zx1, zy1), (zx2, zy2) = zone_poly[0], zone_poly[2]
    return box[0] < zx2 and box[2] > zx1 and box[1] < zy2 and box[3] > zy1


def zone(spec: ClipSpec, name: str):
    return next(z for z in spec.zones if z.name == name)


def test_same_seed_gives_identical_frames_and_another_seed_does_not():
    a = frame_hashes(11, interactions=2, flicker=True, noise_sigma=3.0)
    b = frame_hashes(11, interactions=2, flicker=True, noise_sigma=3.0)
    c = frame_hashes(12, interactions=2, flicker=True, noise_sigma=3.0)
    assert len(a) > 50 and a == b
    assert len(set(a)) > len(a) // 2  # noise and the hand: frames are not all alike
    assert not set(a) & set(c)


def test_compose_writes_a_readable_video_and_labels_beside_it(tmp_path: Path):
    out = tmp_path / "clip.mp4"
    spec = compose(5, out, interactions=2, noise_sigma=0.0, **SMALL)  # type: ignore[arg-type]
    assert spec.video == out
    cap = cv2.VideoCapture(str(out))
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        assert frame.shape == (240, 320, 3)
        n += 1
    assert n == spec.frames
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
    labels = json.loads((tmp_path / "clip.labels.json").read_text())
    assert set(labels) == {"video", "events"} and labels["video"] == "clip.mp4"
    assert [(e["type"], e["zone"]) for e in labels["events"]] == [
        (x.kind, x.zone) for x in spec.interactions]
    assert all(set(e) == {"type", "zone", "t_s"} for e in labels["events"])


@pytest.mark.parametrize("seed", [1, 6, 42])
def test_label_time_is_the_first_frame_the_hand_box_has_left_the_zone(seed: int):
    spec = plan(seed, interactions=4)
    dt = 1.0 / spec.fps
    for inter, label in zip(spec.interactions, spec.labels, strict=True):
        poly = zone(spec, inter.zone).polygon
        t_s = float(label["t_s"])  # type: ignore[arg-type]
        assert round(t_s * spec.fps) == pytest.approx(t_s * spec.fps, abs=0.01)  # a frame time (ms)
        t = round(t_s * spec.fps) / spec.fps
        assert inter.t_depart_s <= t <= inter.t_gone_s + dt
        assert not box_overlaps_zone(hand_box_xyxy(spec, t), poly)
        assert box_overlaps_zone(hand_box_xyxy(spec, t - dt), poly)
        # during the whole dwell the hand is in the zone
        for k in np.arange(inter.t_arrive_s, inter.t_depart_s, dt):
            assert box_overlaps_zone(hand_box_xyxy(spec, float(k)), poly)


def test_the_hand_box_matches_the_drawn_hand():
    """Guards the labels: they are timed on hand_box_xyxy, which must be where the hand is drawn."""
    spec = plan(3, interactions=3, lighting=Lighting(noise_sigma=0.0), **SMALL)  # type: ignore[arg-type]
    seen = 0
    for t, frame in iter_frames(spec):
        clean = render(spec.layout, counts_at(spec, t))
        changed = np.abs(frame.astype(int) - clean.astype(int)).max(axis=2) > 0
        box = hand_box_xyxy(spec, t)
        if box is None:
            assert not changed.any(), f"pixels changed at {t:.2f} s with no hand in the picture"
            continue
        x1, y1, x2, y2 = box
        above = changed[: max(0, y2), :].copy()  # the arm only hangs below the hand's box
        above[max(0, y1):y2, max(0, x1):x2] = False
        assert not above.any(), f"hand pixels outside its box at {t:.2f} s"
        seen += int(changed[max(0, y1):y2, max(0, x1):x2].any())
    assert seen > 20


@pytest.mark.parametrize("seed", [2, 7, 19])
def test_pick_and_return_change_one_item_under_the_hand_and_touch_none(seed: int):
    spec = plan(seed, interactions=5, lighting=Lighting(noise_sigma=0.0), **SMALL)  # type: ignore[arg-type]
    kinds = {x.kind for x in spec.interactions}
    assert kinds == {"pick", "return", "touch"}
    frames = dict(iter_frames(spec))
    times = sorted(frames)

    def still_before(t: float) -> float:
        return max(k for k in times if k < t)

    for inter in spec.interactions:
        z = zone(spec, inter.zone)
        before = counts_at(spec, inter.t_enter_s - 0.01)
        after = counts_at(spec, inter.t_gone_s + 0.01)
        step = {"pick": -1, "return": 1, "touch": 0}[inter.kind]
        assert after[inter.zone] - before[inter.zone] == step
        assert all(after[k] == before[k] for k in before if k != inter.zone)
        assert 0 <= after[inter.zone] <= z.capacity
        # the change lands while the hand covers the slot that changes
        sx1, sy1, sx2, sy2 = z.slots_xyxy[inter.slot]
        hb = hand_box_xyxy(spec, inter.t_change_s)
        assert hb is not None and hb[0] < sx2 and hb[2] > sx1 and hb[1] < sy2 and hb[3] > sy1
        # and the drawn zone, hand-free before and after, differs exactly when an item moved
        (zx1, zy1), (zx2, zy2) = z.polygon[0], z.polygon[2]
        a = frames[still_before(inter.t_enter_s)][zy1:zy2, zx1:zx2]
        b = frames[min(k for k in times if k >= inter.t_gone_s)][zy1:zy2, zx1:zx2]
        assert (not np.array_equal(a, b)) == (step != 0), inter


@pytest.mark.parametrize("seed", [0, 1, 4, 8, 27, 36])
def test_during_a_dwell_the_hand_touches_no_other_zone(seed: int):
    """Regression: a hand centred on an end slot reached into the neighbouring facing."""
    from smartshelf.synth.composer import _sprite  # the drawn hand itself, not its margin

    spec = plan(seed, interactions=8)
    for inter in spec.interactions:
        bx1, by1, bx2, by2 = _sprite(inter).visible_xyxy
        for t in np.arange(inter.t_arrive_s, inter.t_depart_s, 1.0 / spec.fps):
            box = hand_box_xyxy(spec, float(t))
            assert box is not None
            visible = (box[0] + bx1, box[1] + by1, box[0] + bx2, box[1] + by2)
            others = [z.name for z in spec.zones
                      if z.name != inter.zone and box_overlaps_zone(visible, z.polygon)]
            assert not others, (inter, others)


def test_gaps_of_still_shelf_between_interactions():
    spec = plan(9, interactions=6)
    for a, b in zip(spec.interactions, spec.interactions[1:], strict=False):
        assert b.t_enter_s - a.t_gone_s >= 1.5
        assert 0.6 <= a.approach_s <= 0.9 and 0.8 <= a.dwell_s <= 1.5 and 0.6 <= a.leave_s <= 0.9


def test_written_config_is_a_valid_smartshelf_config_with_the_clip_zones(tmp_path: Path):
    spec = plan(4, interactions=1, **SMALL)  # type: ignore[arg-type]
    video = tmp_path / "clips" / "c.mp4"
    video.parent.mkdir()
    video.write_bytes(b"")  # the loader checks that the source file exists
    cfg = load_config(write_config(spec, tmp_path / "cfg" / "c.yaml", video))
    cam = cfg.cameras[0]
    assert Path(cam.source) == video.resolve()
    assert not cfg.mqtt.enabled and not cfg.output.stdout
    assert [(z.name, z.sku, z.capacity) for z in cam.zones] == [
        (z.name, z.sku, z.capacity) for z in spec.zones]
    for z, f in zip(cam.zones, spec.zones, strict=True):
        assert z.polygon == tuple((float(x), float(y)) for x, y in f.polygon)
        assert all(0 <= x <= 320 and 0 <= y <= 240 for x, y in z.polygon)
        assert f.capacity >= 3
    boxes = [(p[0][0], p[0][1], p[2][0], p[2][1]) for p in (f.polygon for f in spec.zones)]
    for i, a in enumerate(boxes):  # zones never overlap each other
        for b in boxes[i + 1:]:
            assert not (a[0] < b[2] and a[2] > b[0] and a[1] < b[3] and a[3] > b[1])


def test_write_config_needs_to_know_the_video():
    with pytest.raises(UserError, match="video"):
        write_config(plan(1, interactions=0), Path("/tmp/never.yaml"))


def test_duration_fits_interactions_or_says_it_cannot():
    spec = plan(3, duration_s=20.0)
    assert spec.duration_s == 20.0 and spec.frames == 300
    assert 2 <= len(spec.interactions) and spec.interactions[-1].t_gone_s <= 19.5
    with pytest.raises(UserError, match="duration_s"):
        plan(3, duration_s=8.0, interactions=5)


def test_cli_writes_clip_labels_and_config(tmp_path: Path):
    out = tmp_path / "c.mp4"
    assert synth_main(["--seed", "2", "--out", str(out), "--interactions", "1", "--size", "160x120",
                       "--fps", "5", "--config", str(tmp_path / "c.yaml")]) == 0
    assert out.stat().st_size > 0
    assert json.loads((tmp_path / "c.labels.json").read_text())["events"][0]["zone"]
    assert load_config(tmp_path / "c.yaml").cameras[0].zones


def test_idle_footage_has_no_hand_and_stays_within_its_lighting_bounds():
    flicker, ramp, sigma = 0.05, 0.2, 3.0
    base = render(idle_spec(8).layout, idle_spec(8).start_counts).astype(np.float32)
    n = 0
    gains = []
    for t, frame in iter_idle_frames(8, 600.0, fps=0.5, flicker=True, exposure_ramp=ramp,
                                     noise_sigma=sigma):
        f = frame.astype(np.float32)
        unclipped = base < 200
        gain = float(f[unclipped].mean() / base[unclipped].mean())
        residual = f[unclipped] - base[unclipped] * gain
        assert residual.std() < 2 * sigma, f"something other than light and noise at {t} s"
        assert np.abs(residual).max() < 8 * sigma
        gains.append(gain)
        n += 1
    assert n == 300
    assert min(gains) >= (1 - flicker) * 0.98 and max(gains) <= (1 + ramp) * (1 + flicker) * 1.02
    assert max(gains) - min(gains) > ramp / 2  # the exposure really ramps
    assert idle_spec(8).interactions == ()


def test_idle_frames_are_seeded():
    a = [f.tobytes() for _, f in iter_idle_frames(3, 2.0, fps=5, flicker=True, noise_sigma=2)]
    b = [f.tobytes() for _, f in iter_idle_frames(3, 2.0, fps=5, flicker=True, noise_sigma=2)]
    c = [f.tobytes() for _, f in iter_idle_frames(4, 2.0, fps=5, flicker=True, noise_sigma=2)]
    assert a == b and a != c and len(a) == 10
