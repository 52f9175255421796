"""Bounded memory: replay the bundled recording in a loop at full speed and watch the RSS.

Every loop reopens the file (decoding included) and feeds one CameraPipeline whose stream time
keeps growing, as a camera's would; events go to a JSONL sink in a temp folder. Prints RSS
every `--every` seconds and the growth after warm-up. Not a test.
`python bench/memory.py [--minutes 10] [--warmup 60]`
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from smartshelf.config import load_config
from smartshelf.detectors.factory import build_hand_detector
from smartshelf.models import default_models_dir
from smartshelf.publishers.jsonl import JsonlPublisher
from smartshelf.runtime.pipeline import CameraPipeline, dispatch
from smartshelf.sources import frames, open_source
from smartshelf.types import Frame

REPO = Path(__file__).resolve().parents[1]


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=60.0, help="seconds before the baseline")
    p.add_argument("--every", type=float, default=30.0)
    args = p.parse_args()
    cfg = load_config(REPO / "configs" / "default.yaml")
    cfg = dataclasses.replace(cfg, mqtt=dataclasses.replace(cfg.mqtt, enabled=False))
    cam = cfg.cameras[0]
    hands = build_hand_detector(cfg.detectors.hands, default_models_dir(), cfg.resolve)
    pipe = CameraPipeline(cam, cfg, hands)
    sink = JsonlPublisher(path=Path(tempfile.mkdtemp()) / "events.jsonl")
    t0 = time.monotonic()
    end = t0 + args.minutes * 60.0
    next_print = t0
    baseline = None
    offset = 0.0
    done = events = 0
    samples: list[tuple[float, float]] = []
    while time.monotonic() < end:
        src = open_source(cam, mode="replay")
        last = 0.0
        try:
            for f in frames(src, timeout_s=1.0):
                if time.monotonic() >= end:
                    break
                last = f.ts_s
                result = pipe.process(Frame(cam.name, done, offset + f.ts_s, f.image_bgr))
                dispatch(result.outputs, [sink])
                done += 1
                events += len(result.events)
                now = time.monotonic()
                if baseline is None and now - t0 >= args.warmup:
                    baseline = rss_mib()
                if now >= next_print:
                    samples.append((now - t0, rss_mib()))
                    print(f"{now - t0:7.0f} s  {done:7d} frames  {events:5d} events  "
                          f"RSS {samples[-1][1]:7.1f} MiB", flush=True)
                    next_print = now + args.every
        finally:
            src.close()
        offset += last + 1.0 / 15.0
    pipe.close()
    sink.close()
    final = rss_mib()
    print(f"\n{done} frames ({offset / 60:.1f} min of video) in {args.minutes:.1f} min; "
          f"{events} events")
    if baseline:
        print(f"RSS after {args.warmup:.0f} s warm-up {baseline:.1f} MiB, at the end {final:.1f} MiB: "
              f"growth {100.0 * (final - baseline) / baseline:+.2f} % (goal < 5 %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
