"""Accuracy and speed of smartshelf's SORT on the MOT15 training sequences.

Runs the tracker over every sequence in the data folder (timed: only the update calls count)
and scores the sequences that have ground truth with motmetrics: match at IoU >= 0.5, every
frame 1..max fed (empty ones too), no score filter, ground-truth rows with conf 0 ignored.

    .venv/bin/python bench/mot15.py [--data ../shared/data/mot15] [--reference /path/sort.py]

`--reference` loads a copy of the reference SORT (abewley/sort, GPL: obtain it yourself, never
commit it; its display-only matplotlib / skimage imports must be removed) and runs it on the
same data in the same process, then prints our figures over its figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import motmetrics as mm
import numpy as np

from smartshelf.tracking.sort import Sort

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mot15"
METRICS = ["mota", "idf1", "num_switches", "num_false_positives", "num_misses"]
HEAD = ["MOTA", "IDF1", "IDsw", "FP", "FN"]


@dataclass
class Sequence:
    name: str
    frames: list[np.ndarray]  # per frame 1..max: (N, 5) [x1, y1, x2, y2, score]
    gt: dict[int, tuple[np.ndarray, np.ndarray]] | None  # frame -> (ids, xywh)


def load_sequence(folder: Path) -> Sequence:
    det = np.loadtxt(folder / "det" / "det.txt", delimiter=",", ndmin=2)
    gt_path = folder / "gt" / "gt.txt"
    gt = None
    last = int(det[:, 0].max())
    if gt_path.is_file():
        rows = np.loadtxt(gt_path, delimiter=",", ndmin=2)
        rows = rows[rows[:, 6] != 0]  # conf 0: ignored in scoring
        last = max(last, int(rows[:, 0].max()))
        gt = {}
        for f in np.unique(rows[:, 0]).astype(int):
            r = rows[rows[:, 0] == f]
            gt[int(f)] = (r[:, 1].astype(int), r[:, 2:6])
    frames = []
    for f in range(1, last + 1):
        d = det[det[:, 0] == f, 2:7].copy()
        d[:, 2:4] += d[:, 0:2]  # xywh -> xyxy
        frames.append(d)
    return Sequence(folder.name, frames, gt)


def run(make: Callable[[], object], seq: Sequence) -> tuple[list[np.ndarray], float]:
    tracker = make()
    update = tracker.update  # type: ignore[attr-defined]
    out = []
    spent = 0.0
    for dets in seq.frames:
        t0 = time.perf_counter()
        res = update(dets)
        spent += time.perf_counter() - t0
        out.append(res)
    return out, spent


def iou_distance(objs: np.ndarray, hyps: np.ndarray, max_iou: float) -> np.ndarray:
    """motmetrics' `distances.iou_matrix` (1 - IoU, NaN beyond max_iou), on numpy 2.

    motmetrics 1.4's own function calls `np.asfarray`, which numpy 2 removed.
    """
    if objs.size == 0 or hyps.size == 0:
        return np.empty((0, 0))
    dist = 1.0 - mm.distances.boxiou(objs[:, None], hyps[None, :])
    return np.where(dist > max_iou, np.nan, dist)


def accumulate(seq: Sequence, out: list[np.ndarray]) -> mm.MOTAccumulator:
    assert seq.gt is not None
    acc = mm.MOTAccumulator(auto_id=True)
    empty = (np.zeros(0, int), np.zeros((0, 4)))
    for f, res in enumerate(out, start=1):
        gt_ids, gt_xywh = seq.gt.get(f, empty)
        hyp = np.asarray(res, dtype=np.float64).reshape(-1, 5)
        hyp_xywh = np.concatenate([hyp[:, :2], hyp[:, 2:4] - hyp[:, :2]], axis=1)
        dist = iou_distance(gt_xywh, hyp_xywh, max_iou=0.5)
        acc.update(gt_ids, hyp[:, 4].astype(int), dist)
    return acc


def evaluate(name: str, make: Callable[[], object], seqs: list[Sequence]) -> dict[str, float]:
    frames = 0
    spent = 0.0
    accs, names = [], []
    for seq in seqs:
        out, s = run(make, seq)
        frames += len(seq.frames)
        spent += s
        if seq.gt is not None:
            accs.append(accumulate(seq, out))
            names.append(seq.name)
    summary = mm.metrics.create().compute_many(
        accs, metrics=METRICS, names=names, generate_overall=True
    )
    print(f"\n== {name}: {frames} frames in {spent:.3f} s = {frames / spent:,.0f} updates/s")
    print(f"{'sequence':<16}" + "".join(f"{h:>8}" for h in HEAD))
    for row_name, row in summary.iterrows():
        vals = [100 * row["mota"], 100 * row["idf1"]] + [row[m] for m in METRICS[2:]]
        print(
            f"{row_name!s:<16}{vals[0]:>8.1f}{vals[1]:>8.1f}"
            + "".join(f"{int(v):>8d}" for v in vals[2:])
        )
    overall = summary.loc["OVERALL"]
    return {
        "MOTA": 100 * float(overall["mota"]),
        "IDF1": 100 * float(overall["idf1"]),
        "IDsw": float(overall["num_switches"]),
        "FP": float(overall["num_false_positives"]),
        "FN": float(overall["num_misses"]),
        "updates/s": frames / spent,
    }


def load_reference(path: Path) -> Callable[[], object]:
    spec = importlib.util.spec_from_file_location("reference_sort", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"--reference {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Sort  # type: ignore[no-any-return,unused-ignore]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MOT15 folder")
    ap.add_argument("--reference", type=Path, help="a local copy of abewley/sort's sort.py")
    ap.add_argument("--repeat", type=int, default=1, help="runs per tracker (best time kept)")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"--data {args.data}: no such folder", file=sys.stderr)
        return 2
    seqs = [load_sequence(d) for d in sorted(args.data.iterdir()) if (d / "det").is_dir()]
    print(f"{len(seqs)} sequences, {sum(s.gt is not None for s in seqs)} with ground truth")

    contenders: list[tuple[str, Callable[[], object]]] = [("smartshelf Sort", Sort)]
    if args.reference:
        contenders.append(("reference SORT", load_reference(args.reference)))
    results = {}
    for name, make in contenders:
        best: dict[str, float] | None = None
        for _ in range(args.repeat):
            r = evaluate(name, make, seqs)
            if best is None or r["updates/s"] > best["updates/s"]:
                best = r
        assert best is not None
        results[name] = best
    if args.reference:
        ours, ref = results["smartshelf Sort"], results["reference SORT"]
        print("\n== smartshelf vs reference (overall, five sequences with ground truth)")
        for key in ("MOTA", "IDF1", "IDsw", "FP", "FN"):
            diff = ours[key] - ref[key]
            print(f"{key:<10}{ours[key]:>10.1f}{ref[key]:>10.1f}   diff {diff:+.1f}")
        ratio = ours["updates/s"] / ref["updates/s"]
        speeds = f"{ours['updates/s']:>10,.0f}{ref['updates/s']:>10,.0f}"
        print(f"{'updates/s':<10}{speeds}   x{ratio:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
