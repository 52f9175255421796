"""Seeded, labelled shelf footage: a drawn shelf, a real hand reaching in, picks and put-backs.

`compose(seed, out)` writes `<out>.mp4` and `<out stem>.labels.json`; the same seed gives the same
frames, bit for bit. Label times follow the project's label format: `t_s` is the first frame time
at which the hand's box no longer overlaps the zone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from smartshelf.errors import UserError
from smartshelf.synth.hands import HANDS, HandSprite, default_hagrid_dir, draw_arm, load_sprite, paste
from smartshelf.synth.scene import Facing, Layout, make_layout, render

Image = npt.NDArray[np.uint8]
KINDS = ("pick", "return", "touch")


@dataclass(frozen=True)
class Interaction:
    kind: str
    zone: str
    slot: int  # the slot the hand goes to (and that changes on pick / return)
    t_enter_s: float  # the hand starts rising from below the frame
    approach_s: float
    dwell_s: float
    leave_s: float
    hand: int  # index into HANDS
    hand_px: int  # sprite height

    @property
    def t_arrive_s(self) -> float:
        return self.t_enter_s + self.approach_s

    @property
    def t_change_s(self) -> float:
        return self.t_arrive_s + self.dwell_s / 2.0

    @property
    def t_depart_s(self) -> float:
        return self.t_arrive_s + self.dwell_s

    @property
    def t_gone_s(self) -> float:
        return self.t_depart_s + self.leave_s


@dataclass(frozen=True)
class Lighting:
    flicker: float = 0.0  # amplitude of a mains-like brightness flicker (0.05 = +-5 %)
    ramp: float = 0.0  # total exposure drift over the clip (0.2 = +20 % by the end)
    noise_sigma: float = 2.0  # Gaussian sensor noise, grey levels


@dataclass(frozen=True)
class ClipSpec:
    seed: int
    fps: float
    size_wh: tuple[int, int]
    duration_s: float
    layout: Layout
    interactions: tuple[Interaction, ...]
    start_counts: dict[str, int]
    lighting: Lighting
    labels: tuple[dict[str, object], ...] = field(default_factory=tuple)

    @property
    def frames(self) -> int:
        return int(round(self.duration_s * self.fps))


def _smooth(u: float) -> float:
    u = min(1.0, max(0.0, u))
    return u * u * (3.0 - 2.0 * u)


def plan(seed: int, *, fps: float = 15.0, size_wh: tuple[int, int] = (640, 480),
         kinds: tuple[str, ...] | None = None, interactions: int = 6,
         lighting: Lighting | None = None) -> ClipSpec:
    """The whole clip decided up front: layout, stock, the interactions and their labels."""
    rng = np.random.default_rng(seed)
    layout = make_layout(rng, size_wh)
    counts = {f.name: int(rng.integers(2, f.capacity)) for f in layout.facings}
    start_counts = dict(counts)
    if kinds is None:
        base = ["pick", "return", "touch", "pick"]
        kinds = tuple(base[i % 4] if i < 4 else str(rng.choice(KINDS, p=[0.45, 0.35, 0.2]))
                      for i in range(interactions))
        kinds = tuple(rng.permutation(np.array(kinds)).tolist())
    t = 1.5
    out = []
    last_zone = None
    for kind in kinds:
        options = [f for f in layout.facings if f.name != last_zone and (
            (kind == "pick" and counts[f.name] >= 2) or (kind == "return" and counts[f.name] < f.capacity)
            or kind == "touch")]
        f: Facing = options[int(rng.integers(0, len(options)))]
        if kind == "pick":
            slot = counts[f.name] - 1
            counts[f.name] -= 1
        elif kind == "return":
            slot = counts[f.name]
            counts[f.name] += 1
        else:
            slot = int(rng.integers(0, counts[f.name]))
        inter = Interaction(kind, f.name, slot, round(t, 3), float(rng.uniform(0.7, 0.9)),
                            float(rng.uniform(0.9, 1.4)), float(rng.uniform(0.6, 0.8)),
                            int(rng.integers(0, len(HANDS))), int(rng.integers(140, 160)))
        out.append(inter)
        last_zone = f.name
        t = inter.t_gone_s + float(rng.uniform(1.8, 2.6))
    duration = t + 0.5
    spec = ClipSpec(seed, fps, size_wh, duration, layout, tuple(out), start_counts,
                    lighting or Lighting())
    return _with_labels(spec)


def _hand_top_left(spec: ClipSpec, inter: Interaction, sprite_wh: tuple[int, int],
                   t: float) -> tuple[int, int] | None:
    """Where the hand sprite is at stream time t (None when it is not in the picture)."""
    if not inter.t_enter_s <= t < inter.t_gone_s:
        return None
    facing = next(f for f in spec.layout.facings if f.name == inter.zone)
    x1, y1, x2, y2 = facing.slots_xyxy[inter.slot]
    sw, sh = sprite_wh
    target = ((x1 + x2) / 2.0 - sw / 2.0, (y1 + y2) / 2.0 - sh / 2.0 - 4)
    below = spec.size_wh[1] + 8.0
    if t < inter.t_arrive_s:
        u = _smooth((t - inter.t_enter_s) / inter.approach_s)
        y = below + (target[1] - below) * u
        wobble = 0.0
    elif t < inter.t_depart_s:
        y = target[1]
        wobble = 3.0 * np.sin(2 * np.pi * 1.3 * (t - inter.t_arrive_s))
    else:
        u = _smooth((t - inter.t_depart_s) / inter.leave_s)
        y = target[1] + (below - target[1]) * u
        wobble = 0.0
    return int(round(target[0] + wobble)), int(round(y))


def _overlaps(top_left: tuple[int, int], wh: tuple[int, int], poly: tuple[tuple[int, int], ...]) -> bool:
    x, y = top_left
    px1, py1 = poly[0]
    px2, py2 = poly[2]
    return x < px2 and x + wh[0] > px1 and y < py2 and y + wh[1] > py1


def _with_labels(spec: ClipSpec) -> ClipSpec:
    labels = []
    for inter in spec.interactions:
        wh = _sprite_wh(inter)
        poly = next(f.polygon for f in spec.layout.facings if f.name == inter.zone)
        i = int(np.ceil(inter.t_depart_s * spec.fps))
        while True:
            t = i / spec.fps
            tl = _hand_top_left(spec, inter, wh, t)
            if tl is None or not _overlaps(tl, wh, poly):
                break
            i += 1
        labels.append({"type": inter.kind, "zone": inter.zone, "t_s": round(i / spec.fps, 3)})
    return ClipSpec(spec.seed, spec.fps, spec.size_wh, spec.duration_s, spec.layout,
                    spec.interactions, spec.start_counts, spec.lighting, tuple(labels))


_SPRITE_CACHE: dict[tuple[int, int], HandSprite] = {}


def _sprite(inter: Interaction) -> HandSprite:
    key = (inter.hand, inter.hand_px)
    sprite = _SPRITE_CACHE.get(key)
    if sprite is None:
        sprite = load_sprite(HANDS[inter.hand], default_hagrid_dir(), inter.hand_px)
        _SPRITE_CACHE[key] = sprite
    return sprite


def _sprite_wh(inter: Interaction) -> tuple[int, int]:
    return _sprite(inter).size_wh


def _apply_lighting(img: Image, lighting: Lighting, t: float, frac: float,
                    rng: np.random.Generator) -> Image:
    gain = 1.0 + lighting.ramp * frac
    if lighting.flicker:
        gain *= 1.0 + lighting.flicker * np.sin(2 * np.pi * 0.7 * t) * (0.6 + 0.4 * rng.random())
    out = img.astype(np.float32) * gain
    if lighting.noise_sigma:
        out += rng.normal(0.0, lighting.noise_sigma, out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def iter_frames(spec: ClipSpec) -> Iterator[tuple[float, Image]]:
    """(t_s, BGR frame) for every frame of the clip, in order."""
    rng = np.random.default_rng(spec.seed + 1_000_003)
    cache: dict[tuple[tuple[str, int], ...], Image] = {}
    sleeve = tuple(int(v) for v in np.random.default_rng(spec.seed + 7).integers(20, 120, 3))
    n = spec.frames
    for i in range(n):
        t = i / spec.fps
        active = next((x for x in spec.interactions if x.t_enter_s <= t < x.t_gone_s), None)
        counts = dict(spec.start_counts)
        for inter in spec.interactions:
            if inter.t_change_s <= t:
                if inter.kind == "pick":
                    counts[inter.zone] -= 1
                elif inter.kind == "return":
                    counts[inter.zone] += 1
        key = tuple(sorted(counts.items()))
        base = cache.get(key)
        if base is None:
            base = cache[key] = render(spec.layout, counts)
        frame = base.copy()
        if active is not None:
            sprite = _sprite(active)
            tl = _hand_top_left(spec, active, sprite.size_wh, t)
            if tl is not None:
                sw, sh = sprite.size_wh
                draw_arm(frame, (tl[0] + sw // 2, tl[1] + sh - 6), int(sw * 0.42), sprite.skin_bgr,
                         sleeve)  # type: ignore[arg-type]
                paste(frame, sprite, tl)
        yield t, _apply_lighting(frame, spec.lighting, t, i / max(1, n - 1), rng)


def iter_idle_frames(seed: int, duration_s: float, *, fps: float = 5.0,
                     size_wh: tuple[int, int] = (320, 240),
                     lighting: Lighting | None = None) -> Iterator[tuple[float, Image]]:
    """A stocked shelf with nobody at it: only light and noise change. Cheap to generate."""
    spec = plan(seed, fps=fps, size_wh=size_wh, kinds=(), lighting=lighting)
    base = render(spec.layout, spec.start_counts)
    rng = np.random.default_rng(seed + 99)
    n = int(round(duration_s * fps))
    for i in range(n):
        t = i / fps
        yield t, _apply_lighting(base, spec.lighting, t, i / max(1, n - 1), rng)


def write_labels(spec: ClipSpec, video: Path) -> Path:
    path = video.with_name(video.stem + ".labels.json")
    data = {"video": video.name, "seed": spec.seed, "events": list(spec.labels)}
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


def compose(seed: int, out: Path, **kw: object) -> ClipSpec:
    """Write the clip (mp4v) and its labels beside it; return the spec."""
    spec = plan(seed, **kw)  # type: ignore[arg-type]
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), spec.fps, spec.size_wh)
    if not writer.isOpened():
        raise UserError(f"{out}: cannot open a video writer (mp4v)")
    try:
        for _, frame in iter_frames(spec):
            writer.write(frame)
    finally:
        writer.release()
    write_labels(spec, out)
    return spec


def config_text(spec: ClipSpec, video: str, *, embedded_mqtt: bool = False) -> str:
    """A smartshelf config for the clip: one camera, a zone per facing."""
    lines = [
        "cameras:",
        "  - name: demo-shelf",
        f"    source: {video}   # relative paths resolve against this file's folder",
        "    zones:",
    ]
    for f in spec.layout.facings:
        poly = ", ".join(f"[{x}, {y}]" for x, y in f.polygon)
        lines += [f"      - name: {f.name}", f"        polygon: [{poly}]",
                  f'        sku: "{f.sku}"', f"        capacity: {f.capacity}"]
    if embedded_mqtt:
        lines += ["mqtt:", "  embedded: true", "  port: 18830"]
    else:
        lines += ["mqtt:", "  enabled: false"]
    return "\n".join(lines) + "\n"


def write_config(spec: ClipSpec, path: Path, video: Path) -> Path:
    try:
        source = str(video.resolve().relative_to(path.parent.resolve()))
    except ValueError:
        source = str(video.resolve())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config_text(spec, source), encoding="utf-8")
    return path
