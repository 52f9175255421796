"""Processed frames per second per camera for 1, 2 and 4 cameras (640x480, both detectors on
every frame), and the speed-up of running the hand and shelf detectors concurrently.

Each camera is a CameraPipeline in its own thread fed the bundled recording's frames as fast as
it takes them (decoding is done up front and not timed). Not a test: prints figures.
`python bench/throughput.py [--seconds 20]`
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import statistics
import threading
import time
from pathlib import Path

from smartshelf.config import load_config
from smartshelf.detectors.factory import build_hand_detector
from smartshelf.models import default_models_dir
from smartshelf.runtime.pipeline import CameraPipeline
from smartshelf.sources import frames as source_frames
from smartshelf.sources import open_source
from smartshelf.types import Frame

REPO = Path(__file__).resolve().parents[1]


def load_frames(cfg_path: Path, limit: int = 300) -> list[Frame]:
    cfg = load_config(cfg_path)
    src = open_source(cfg.cameras[0], mode="replay")
    try:
        return list(itertools.islice(source_frames(src, timeout_s=1.0), limit))
    finally:
        src.close()


def run(n_cameras: int, seconds: float, parallel: bool, frames: list[Frame]) -> list[float]:
    cfg = load_config(REPO / "configs" / "default.yaml")
    cfg = dataclasses.replace(cfg, mqtt=dataclasses.replace(cfg.mqtt, enabled=False))
    base = cfg.cameras[0]
    period = frames[1].ts_s - frames[0].ts_s
    done = [0] * n_cameras
    stop = threading.Event()

    def worker(k: int) -> None:
        cam = dataclasses.replace(base, name=f"cam{k}")
        hands = build_hand_detector(cfg.detectors.hands, default_models_dir(), cfg.resolve)
        pipe = CameraPipeline(cam, cfg, hands, parallel=parallel)
        i = 0
        while not stop.is_set():
            f = frames[i % len(frames)]
            # stream time keeps growing across loops, as a live camera's would
            ts = (i // len(frames)) * len(frames) * period + f.ts_s
            pipe.process(Frame(cam.name, i, ts, f.image_bgr))
            done[k] += 1
            i += 1
        pipe.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_cameras)]
    for t in threads:
        t.start()
    time.sleep(2.0)  # warm-up: interpreters built and first frames run
    start = list(done)
    t0 = time.perf_counter()
    time.sleep(seconds)
    counts = [d - s for d, s in zip(done, start, strict=True)]
    wall = time.perf_counter() - t0
    stop.set()
    for t in threads:
        t.join()
    return [c / wall for c in counts]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=20.0)
    args = p.parse_args()
    frames = load_frames(REPO / "configs" / "default.yaml")
    print(f"{len(frames)} frames of {frames[0].size_wh[0]}x{frames[0].size_wh[1]} from the demo")
    seq = run(1, args.seconds, parallel=False, frames=frames)[0]
    par = run(1, args.seconds, parallel=True, frames=frames)[0]
    print(f"1 camera, detectors one after the other: {seq:6.1f} fps")
    print(f"1 camera, detectors concurrently:        {par:6.1f} fps  (x{par / seq:.2f})")
    for n in (2, 4):
        fps = run(n, args.seconds, parallel=True, frames=frames)
        print(f"{n} cameras: " + ", ".join(f"{f:5.1f}" for f in fps)
              + f" fps each (median {statistics.median(fps):.1f}, total {sum(fps):.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
