"""Shelf occupancy (reference backend): does the occupancy step get the direction right, does it
stay quiet on idle shelves, and what does it cost per zone. Prints figures; not a test.

Usage: .venv/bin/python bench/occupancy.py [--seeds 1,2,3] [--lit-seeds 4] [--idle-minutes 60]

1. Direction: for every labelled interaction (pick = goods removed, return = added, touch =
   unchanged) on the bundled recording and on composed clips (the "lit" ones with flicker
   +-5 %, an exposure ramp of +20 % and noise sigma 3):
   - replay: the real pipeline (palm detector, tracker, fusion) replays the video; the event
     nearest in time in the label's zone (any type, within 1 s) is compared with the label, so a
     wrong type counts against the occupancy step and a missing event is reported apart (that
     one is the hand path's miss). `evaluation.score` (same type required) is printed as well.
   - oracle hands (composed clips only): the true hand boxes from the clip plan drive occlusion,
     and `OccupancyTracker.compare(zone, hand enters)` at the first settled moment after the
     hand left is classified by `fusion.rules.classify`: the occupancy step alone.
2. False changes per hour on idle footage (flicker, exposure ramp, noise; 320x240 at 5 fps):
   episodes (rising edges per zone) of a settled zone whose Occupancy, compare(t - 3 s) or look
   against its first settled look reaches FusionConfig.min_changed_fraction; with no hands, and
   with an empty-handed reach (a detected hand box over a zone, nothing moved) every 30 s.
3. Time per evaluation per zone (median us, 640x480 recording): measure (sampling) and
   tracker update + compare.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from smartshelf.config import CameraConfig, Config, FusionConfig, ShelfDetectorConfig, ZoneConfig, load_config
from smartshelf.detectors.base import HandDetector
from smartshelf.detectors.factory import build_hand_detector
from smartshelf.detectors.occupancy import FloatArray, changed_fraction
from smartshelf.detectors.shelf import OccupancyTracker, ReferenceShelfDetector
from smartshelf.evaluation import Label, load_labels, score
from smartshelf.events.record import Event
from smartshelf.fusion import rules
from smartshelf.models import default_models_dir
from smartshelf.runtime.replay import replay, replay_camera
from smartshelf.synth.composer import (
    ClipSpec,
    compose,
    hand_box_xyxy,
    idle_spec,
    iter_idle_frames,
    write_config,
)
from smartshelf.types import Frame, SurfaceState

REPO = Path(__file__).resolve().parents[1]
TOLERANCE_S = 1.0
LOOK_BACK_S = 3.0
IDLE_FPS, IDLE_WH = 5.0, (320, 240)
NO_HANDS = np.zeros((0, 4), np.float32)


def replay_events(cfg: Config, hands: HandDetector) -> list[Event]:
    events: list[Event] = []
    replay(cfg, replay_camera(cfg, None, None), hands, [],
           on_result=lambda r: events.extend(r.events))
    return events


def direction_by_replay(events: list[Event], labels: list[Label]) -> tuple[int, int, int]:
    """(right type, wrong type, no event in the zone near the label)."""
    right = wrong = missed = 0
    used: set[int] = set()
    for lab in labels:
        near = [(abs(e.t_end_s - lab.t_s), i) for i, e in enumerate(events)
                if e.zone == lab.zone and i not in used and abs(e.t_end_s - lab.t_s) <= TOLERANCE_S]
        if not near:
            missed += 1
            continue
        _, i = min(near)
        used.add(i)
        if events[i].type.value == lab.type:
            right += 1
        else:
            wrong += 1
    return right, wrong, missed


def camera_of(cfg: Config) -> CameraConfig:
    return cfg.cameras[0]


def direction_with_oracle_hands(spec: ClipSpec, video: Path, cam: CameraConfig,
                                shelf_cfg: ShelfDetectorConfig) -> tuple[int, int, int]:
    """(right, wrong, never settled) per interaction, true hand boxes for occlusion."""
    fusion = FusionConfig()
    det = ReferenceShelfDetector(cam, shelf_cfg)
    cap = cv2.VideoCapture(str(video))
    tracker: OccupancyTracker | None = None
    pending = {i: inter for i, inter in enumerate(spec.interactions)}
    decided: dict[int, str | None] = {}
    i = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        t = i / spec.fps
        i += 1
        frame = Frame(cam.name, i, t, np.ascontiguousarray(img))
        if tracker is None:
            tracker = OccupancyTracker(cam, shelf_cfg, det.samplers(frame.size_wh))
        box = hand_box_xyxy(spec, t)
        boxes = NO_HANDS if box is None else np.array([box], np.float32)
        occ = tracker.update(det.measure(frame), boxes)
        for k, inter in list(pending.items()):
            if t < inter.t_gone_s:
                continue
            # the zone was covered before the hand got to it: its look before is the last one
            # settled before the hand arrived (as fusion's "hand in zone" time)
            o = occ.get(inter.zone)
            after = o is not None and (o.stable_since_s or 0.0) >= inter.t_arrive_s
            if o is not None and o.state is SurfaceState.STABLE and after:
                change = tracker.compare(inter.zone, inter.t_arrive_s)
                if change is not None:
                    decided[k] = rules.classify(change, fusion).value
                    del pending[k]
            elif t - inter.t_gone_s > fusion.settle_timeout_s:
                decided[k] = None
                del pending[k]
    cap.release()
    right = sum(1 for k, kind in decided.items() if kind == spec.interactions[k].kind)
    unsettled = sum(1 for kind in decided.values() if kind is None) + len(pending)
    return right, len(spec.interactions) - right - unsettled, unsettled


def idle_false_changes(seed: int, minutes: float, reach_every_s: float | None) -> tuple[int, float]:
    """(false-change episodes, hours of footage) on one idle clip."""
    spec = idle_spec(seed, IDLE_WH, IDLE_FPS)
    cam = CameraConfig("idle", "rtsp://camera.local/idle", tuple(
        ZoneConfig(f.name, tuple((float(x), float(y)) for x, y in f.polygon), f.sku, f.capacity)
        for f in spec.zones))
    cfg = ShelfDetectorConfig()
    limit = FusionConfig().min_changed_fraction
    det = ReferenceShelfDetector(cam, cfg)
    samplers = det.samplers(IDLE_WH)
    tracker = OccupancyTracker(cam, cfg, samplers)
    first: dict[str, FloatArray] = {}
    flagged: dict[str, bool] = {}
    episodes = 0
    zones = list(spec.zones)
    for i, (t, img) in enumerate(iter_idle_frames(seed, minutes * 60.0, IDLE_FPS, IDLE_WH, flicker=True,
                                                  exposure_ramp=0.3, noise_sigma=4.0)):
        boxes = NO_HANDS
        if reach_every_s and t % reach_every_s < 1.0 and t >= reach_every_s:
            z = zones[int(t // reach_every_s) % len(zones)]
            xs = [p[0] for p in z.polygon]
            ys = [p[1] for p in z.polygon]
            boxes = np.array([[min(xs), min(ys), max(xs), max(ys)]], np.float32)
        for zone, occ in tracker.update(det.measure(Frame("idle", i, t, img)), boxes).items():
            bad = False
            if occ.state is SurfaceState.STABLE:
                change = tracker.compare(zone, t - LOOK_BACK_S)
                look = tracker.settled_patch(zone)
                assert look is not None
                first.setdefault(zone, look)
                bad = (occ.changed_fraction >= limit
                       or (change is not None and change.changed_fraction >= limit)
                       or changed_fraction(first[zone], look, samplers[zone], cfg.change_threshold,
                                        cfg.texture_change_threshold) >= limit)
            if bad and not flagged.get(zone, False):
                episodes += 1
            flagged[zone] = bad
    return episodes, minutes / 60.0


def timing_per_zone(cfg: Config, frames: int = 300) -> tuple[float, float, float]:
    """Median us per zone: measure (sampling), update, compare; on the bundled recording."""
    cam = camera_of(cfg)
    det = ReferenceShelfDetector(cam, cfg.detectors.shelf)
    cap = cv2.VideoCapture(str(cam.source))
    tracker: OccupancyTracker | None = None
    m_us, u_us, c_us = [], [], []
    n = len(cam.zones)
    for i in range(frames):
        ok, img = cap.read()
        if not ok:
            break
        frame = Frame(cam.name, i, i / 15.0, np.ascontiguousarray(img))
        if tracker is None:
            tracker = OccupancyTracker(cam, cfg.detectors.shelf, det.samplers(frame.size_wh))
        t0 = time.perf_counter()
        m = det.measure(frame)
        t1 = time.perf_counter()
        tracker.update(m, NO_HANDS)
        t2 = time.perf_counter()
        for z in cam.zones:
            tracker.compare(z.name, frame.ts_s - LOOK_BACK_S)
        t3 = time.perf_counter()
        m_us.append((t1 - t0) / n * 1e6)
        u_us.append((t2 - t1) / n * 1e6)
        c_us.append((t3 - t2) / n * 1e6)
    cap.release()
    return statistics.median(m_us), statistics.median(u_us), statistics.median(c_us)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1,2,3", help="composed clips (comma-separated seeds)")
    ap.add_argument("--lit-seeds", default="4", help="composed clips with flicker, ramp and noise")
    ap.add_argument("--idle-minutes", type=float, default=60.0, help="idle footage per run")
    args = ap.parse_args()
    demo_cfg = load_config(REPO / "configs" / "default.yaml")
    hands = build_hand_detector(demo_cfg.detectors.hands, default_models_dir(), demo_cfg.resolve)

    print("1. direction of labelled interactions (pick=removed, return=added, touch=unchanged)")
    print(f"{'clip':<14}{'labels':>7}{'replay right':>14}{'wrong':>7}{'no event':>10}"
          f"{'score F1':>10}{'oracle right':>14}{'wrong':>7}{'unsettled':>11}")
    totals = np.zeros(6, int)
    n_labels = n_oracle = 0
    with tempfile.TemporaryDirectory() as tmp:
        clips: list[tuple[str, Config, list[Label], ClipSpec | None]] = [
            ("demo", demo_cfg, load_labels(REPO / "recordings" / "demo.labels.json"), None)]
        runs = [(int(x), False) for x in args.seeds.split(",") if x]
        runs += [(int(x), True) for x in args.lit_seeds.split(",") if x]
        for seed, lit in runs:
            light = {"flicker": True, "exposure_ramp": 0.2, "noise_sigma": 3.0} if lit else {}
            stem = f"clip{seed}{'lit' if lit else ''}"
            spec = compose(seed, Path(tmp) / f"{stem}.mp4", **light)  # type: ignore[arg-type]
            assert spec.video is not None
            cfg = load_config(write_config(spec, Path(tmp) / f"{stem}.yaml"))
            clips.append((f"seed {seed}{' lit' if lit else ''}", cfg,
                          load_labels(spec.video.with_name(f"{stem}.labels.json")), spec))
        for name, cfg, labels, clip_spec in clips:
            events = replay_events(cfg, hands)
            r, w, m = direction_by_replay(events, labels)
            f1 = score(events, labels, TOLERANCE_S).f1
            oracle = ("-", "-", "-")
            if clip_spec is not None and clip_spec.video is not None:
                o = direction_with_oracle_hands(clip_spec, clip_spec.video, camera_of(cfg),
                                                cfg.detectors.shelf)
                totals[3:] += o
                n_oracle += len(clip_spec.interactions)
                oracle = (str(o[0]), str(o[1]), str(o[2]))
            totals[:3] += (r, w, m)
            n_labels += len(labels)
            print(f"{name:<14}{len(labels):>7}{r:>14}{w:>7}{m:>10}{f1:>10.3f}"
                  f"{oracle[0]:>14}{oracle[1]:>7}{oracle[2]:>11}")
    judged = totals[0] + totals[1]
    print(f"replay: {totals[0]}/{judged} interactions with an event have the right direction "
          f"({totals[0] / max(1, judged):.1%}); {totals[0]}/{n_labels} of all labels "
          f"({totals[0] / max(1, n_labels):.1%}); {totals[2]} had no event in the zone")
    print(f"oracle hands: {totals[3]}/{n_oracle} right ({totals[3] / max(1, n_oracle):.1%}), "
          f"{totals[5]} never settled")

    print(f"\n2. false changes on idle footage (flicker +-5 %, exposure ramp +30 %, noise sigma 4; "
          f"{args.idle_minutes:g} min per run)")
    for label, reach in (("no hands", None), ("empty-handed reach every 30 s", 30.0)):
        t0 = time.perf_counter()
        episodes, hours = idle_false_changes(7, args.idle_minutes, reach)
        print(f"{label:<32} {episodes} false changes in {hours:.2f} h = {episodes / hours:.2f}/h "
              f"({time.perf_counter() - t0:.0f} s)")

    m_us, u_us, c_us = timing_per_zone(demo_cfg)
    print(f"\n3. time per evaluation per zone (demo, 640x480, {len(camera_of(demo_cfg).zones)} zones): "
          f"measure {m_us:.0f} us, update {u_us:.0f} us, compare {c_us:.1f} us (median)")


if __name__ == "__main__":
    main()
