"""Score pick / return / touch events on composed clips (and the bundled recording).

Prints precision / recall per type, timing error and latency per clip and overall. Not a test:
`python bench/fusion.py --seeds 1-20 [--lighting] [--set detectors.shelf.settle_s=0.3]`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from smartshelf.config import Config, load_config
from smartshelf.detectors.factory import build_hand_detector
from smartshelf.evaluation import TYPES, load_labels, score
from smartshelf.events.record import Event
from smartshelf.models import default_models_dir
from smartshelf.runtime.replay import replay, replay_camera
from smartshelf.synth.composer import Lighting, compose, write_config

REPO = Path(__file__).resolve().parents[1]


def seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def override(cfg: Config, assignment: str) -> Config:
    """`detectors.shelf.settle_s=0.3` -> a copy of cfg with that field replaced."""
    key, _, value = assignment.partition("=")
    parts = key.split(".")

    def rebuild(obj: object, path: list[str]) -> object:
        current = getattr(obj, path[0])
        if len(path) == 1:
            new = type(current)(value) if not isinstance(current, bool) else value == "true"
        else:
            new = rebuild(current, path[1:])
        return dataclasses.replace(obj, **{path[0]: new})  # type: ignore[type-var]

    return rebuild(cfg, parts)  # type: ignore[return-value]


def run_clip(cfg_path: Path, labels: Path, sets: list[str]) -> tuple[list[Event], float, float]:
    cfg = load_config(cfg_path)
    for s in sets:
        cfg = override(cfg, s)
    cfg = dataclasses.replace(cfg, mqtt=dataclasses.replace(cfg.mqtt, enabled=False))
    cam = replay_camera(cfg, None, None)
    events: list[Event] = []
    hands = build_hand_detector(cfg.detectors.hands, default_models_dir(), cfg.resolve)
    stats = replay(cfg, cam, hands, [], on_result=lambda r: events.extend(r.events))
    return events, stats.stream_s, stats.wall_s


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seeds", default="1-10")
    p.add_argument("--interactions", type=int, default=6)
    p.add_argument("--lighting", action="store_true", help="flicker 5%%, exposure ramp 15%%, noise 3")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--no-demo", action="store_true")
    args = p.parse_args()
    all_events: list[Event] = []
    all_labels = []
    rows = []
    clips: list[tuple[str, Path, Path]] = []
    if not args.no_demo:
        clips.append(("demo", REPO / "configs" / "default.yaml", REPO / "recordings" / "demo.labels.json"))
    tmp = Path(tempfile.mkdtemp(prefix="smartshelf-bench-"))
    lighting = Lighting(0.05, 0.15, 3.0) if args.lighting else Lighting()
    for seed in seeds(args.seeds):
        video = tmp / f"seed{seed}.mp4"
        spec = compose(seed, video, interactions=args.interactions, lighting=lighting)
        clips.append((f"seed {seed}", write_config(spec, tmp / f"seed{seed}.yaml", video),
                      video.with_name(video.stem + ".labels.json")))
    for name, cfg_path, labels_path in clips:
        t0 = time.perf_counter()
        events, stream_s, wall_s = run_clip(cfg_path, labels_path, args.set)
        labels = load_labels(labels_path)
        # keep times unique across clips so one overall score can be computed
        offset = 10_000.0 * len(rows)
        all_events += [dataclasses.replace(e, t_end_s=e.t_end_s + offset,
                                           t_emit_s=e.t_emit_s + offset, zone=f"{name}/{e.zone}")
                       for e in events]
        all_labels += [dataclasses.replace(lab, t_s=lab.t_s + offset, zone=f"{name}/{lab.zone}")
                       for lab in labels]
        s = score(events, labels)
        rows.append((name, s, stream_s / wall_s, time.perf_counter() - t0))
        counts = "  ".join(
            f"{t} {c.true_positives}/{c.true_positives + c.false_negatives} +{c.false_positives}"
            for t, c in ((t, s.per_type[t]) for t in TYPES))
        print(f"{name:<9} F1 {s.f1:5.3f}  {counts}"
              + f"  latency p95 {s.latency_p95_s():.2f} s  replay {stream_s / wall_s:4.1f}x", flush=True)
    total = score(all_events, all_labels)
    light = " (lighting: flicker, ramp, noise)" if args.lighting else ""
    print(f"\noverall over {len(rows)} clips{light}")
    print(total.summary())
    late = [x for x in total.latencies_s if x > 0.5]
    print(f"events emitted more than 0.5 s after the hand left: {len(late)} of {len(total.latencies_s)}"
          + (f" (latest {max(late):.2f} s)" if late else ""))
    print(f"replay speed: median {np.median([r[2] for r in rows]):.1f}x real time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
