"""Hand detectors on the shared real images: hit counts and latency per 640x480 frame.

Usage: .venv/bin/python bench/hands.py [--runs 50] [--threshold 0.5]
Rows: palm full (the default), palm lite, and the handtrack.js SSD converted to a SavedModel
(classes 1-4 = hands; TF's thread count is per process, so each SSD latency runs in a child).
Columns: images with a hand found on HaGRID (x/40) and handtrack.js (x/11), shelf photos with
any hand (x/12, should be 0), median ms per 640x480 frame at 1 and 2 threads.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from smartshelf import models
from smartshelf.config import HandDetectorConfig
from smartshelf.detectors.base import HandDetector
from smartshelf.detectors.palm import PalmDetector
from smartshelf.detectors.tf_od import HANDTRACK_HAND_CLASSES, TfOdDetector
from smartshelf.detectors.tfjs_convert import convert

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
SETS = {
    "hagrid": sorted((DATA / "hands" / "hagrid").glob("*/*.jpg")),
    "handtrackjs": sorted((DATA / "hands" / "handtrackjs").glob("*.jpg")),
    "shelf": sorted((DATA / "shelves" / "sku110k" / "images").glob("*.jpg")),
}
TFJS = DATA / "models" / "handtrackjs_ssd320fpnlite_int8"


def imread(path: Path) -> npt.NDArray[np.uint8]:
    img = cv2.imread(str(path))
    if img is None:
        sys.exit(f"cannot read {path}")
    return np.asarray(img, np.uint8)


def hits(detector: HandDetector) -> dict[str, str]:
    out = {}
    for name, files in SETS.items():
        found = sum(len(detector.detect(imread(f))) > 0 for f in files)
        out[name] = f"{found}/{len(files)}"
    return out


def median_ms(detect: Callable[[npt.NDArray[np.uint8]], object], runs: int) -> float:
    frames = [np.asarray(cv2.resize(imread(f), (640, 480)), np.uint8) for f in SETS["handtrackjs"]]
    for f in frames[:3]:
        detect(f)  # warm-up (first call allocates)
    times = []
    for i in range(runs):
        frame = frames[i % len(frames)]
        t0 = time.perf_counter()
        detect(frame)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def ssd_child(saved: Path, threads: int, runs: int, threshold: float) -> None:
    det = TfOdDetector(saved, threshold, HANDTRACK_HAND_CLASSES, None, threads)
    print(json.dumps({"ms": median_ms(det.detect, runs)}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--ssd-child", nargs=2, metavar=("SAVEDMODEL", "THREADS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ssd_child:
        ssd_child(Path(args.ssd_child[0]), int(args.ssd_child[1]), args.runs, args.threshold)
        return
    if not all(SETS.values()):
        sys.exit(f"shared data not found under {DATA}")
    mdir = models.default_models_dir()
    models.fetch(mdir)
    rows = []
    for name in (models.PALM_FULL, models.PALM_LITE):
        cfg = HandDetectorConfig(score_threshold=args.threshold)
        lat = [median_ms(PalmDetector(HandDetectorConfig(score_threshold=args.threshold, threads=t),
                                      mdir / name).detect, args.runs) for t in (1, 2)]
        rows.append((name.removesuffix(".tflite"), hits(PalmDetector(cfg, mdir / name)), lat))
    with tempfile.TemporaryDirectory() as tmp:
        saved = convert(TFJS, Path(tmp) / "ssd")
        det = TfOdDetector(saved, args.threshold, HANDTRACK_HAND_CLASSES, None, 2)
        lat = []
        for t in (1, 2):
            proc = subprocess.run([sys.executable, __file__, "--runs", str(args.runs), "--threshold",
                                   str(args.threshold), "--ssd-child", str(saved), str(t)],
                                  capture_output=True, text=True, check=True)
            lat.append(json.loads(proc.stdout.strip().splitlines()[-1])["ms"])
        rows.append(("handtrack SSD (classes 1-4)", hits(det), lat))
    print(f"score threshold {args.threshold}, {args.runs} timed frames of 640x480")
    print(f"{'detector':<30}{'hagrid':>8}{'htjs':>8}{'shelf':>8}{'ms@1thr':>10}{'ms@2thr':>10}")
    for name, h, (ms1, ms2) in rows:
        print(f"{name:<30}{h['hagrid']:>8}{h['handtrackjs']:>8}{h['shelf']:>8}{ms1:>10.1f}{ms2:>10.1f}")


if __name__ == "__main__":
    main()
