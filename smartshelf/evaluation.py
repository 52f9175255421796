"""Scoring detected events against labelled footage. Pure.

Label file (fixed, so anyone's footage can be scored):
`{"video": "<file>", "events": [{"type": "pick"|"return"|"touch", "zone": "<name>", "t_s": <s>}]}`
where `t_s` is when the hand has left the zone. A detected event matches one label of the same
type and zone within `tolerance_s` of its `t_end_s`, one-to-one (closest pairs first).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smartshelf.errors import UserError
from smartshelf.events.record import Event

TYPES = ("pick", "return", "touch")


@dataclass(frozen=True)
class Label:
    type: str
    zone: str
    t_s: float


@dataclass(frozen=True)
class TypeScore:
    type: str
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        d = self.true_positives + self.false_positives
        return self.true_positives / d if d else 1.0

    @property
    def recall(self) -> float:
        d = self.true_positives + self.false_negatives
        return self.true_positives / d if d else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class Score:
    per_type: dict[str, TypeScore]
    timing_errors_s: tuple[float, ...]  # |t_end_s - label t_s| of matched pairs
    latencies_s: tuple[float, ...]  # t_emit_s - label t_s of matched pairs

    @property
    def f1(self) -> float:
        """Micro-averaged F1 over all types present in labels or detections."""
        tp = sum(s.true_positives for s in self.per_type.values())
        fp = sum(s.false_positives for s in self.per_type.values())
        fn = sum(s.false_negatives for s in self.per_type.values())
        return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0

    def latency_p95_s(self) -> float:
        return float(np.percentile(self.latencies_s, 95)) if self.latencies_s else 0.0

    def summary(self) -> str:
        lines = ["type     precision  recall    f1     tp  fp  fn"]
        for t in TYPES:
            s = self.per_type[t]
            lines.append(f"{t:<8} {s.precision:9.3f} {s.recall:7.3f} {s.f1:6.3f} "
                         f"{s.true_positives:4d}{s.false_positives:4d}{s.false_negatives:4d}")
        if self.timing_errors_s:
            lines.append(f"timing error: mean {np.mean(self.timing_errors_s):.3f} s, "
                         f"max {np.max(self.timing_errors_s):.3f} s")
            lines.append(f"latency after the hand left: p50 {np.percentile(self.latencies_s, 50):.3f} s, "
                         f"p95 {self.latency_p95_s():.3f} s")
        lines.append(f"overall F1 {self.f1:.3f}")
        return "\n".join(lines)


def load_labels(path: Path) -> list[Label]:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read labels: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise UserError(f"{path}: events: expected a list of labelled events")
    labels = []
    for i, item in enumerate(data["events"]):
        if not isinstance(item, dict) or item.get("type") not in TYPES or not isinstance(
                item.get("zone"), str) or not isinstance(item.get("t_s"), int | float):
            raise UserError(f"{path}: events[{i}]: expected {{type: pick|return|touch, zone, t_s}}"
                            f" (got {item!r})")
        labels.append(Label(item["type"], item["zone"], float(item["t_s"])))
    return labels


def score(events: list[Event], labels: list[Label], tolerance_s: float = 1.0) -> Score:
    """Match events to labels one-to-one (closest first) and count per type."""
    pairs = []
    for ei, e in enumerate(events):
        for li, lab in enumerate(labels):
            if e.type.value == lab.type and e.zone == lab.zone:
                dt = abs(e.t_end_s - lab.t_s)
                if dt <= tolerance_s:
                    pairs.append((dt, ei, li))
    pairs.sort()
    used_e: set[int] = set()
    used_l: set[int] = set()
    timing: list[float] = []
    latency: list[float] = []
    for dt, ei, li in pairs:
        if ei in used_e or li in used_l:
            continue
        used_e.add(ei)
        used_l.add(li)
        timing.append(dt)
        latency.append(events[ei].t_emit_s - labels[li].t_s)
    per_type = {}
    for t in TYPES:
        tp = sum(1 for ei in used_e if events[ei].type.value == t)
        n_det = sum(1 for e in events if e.type.value == t)
        n_lab = sum(1 for lab in labels if lab.type == t)
        per_type[t] = TypeScore(t, tp, n_det - tp, n_lab - tp)
    return Score(per_type, tuple(timing), tuple(latency))
