"""Seeded, labelled shelf footage: a drawn shelf, a real hand reaching in, picks and put-backs.

`compose(seed, out)` writes `<out>.mp4` and `<out stem>.labels.json`; the same seed gives the same
frames, bit for bit. Label times follow the project's label format: `t_s` is the first frame time
at which the hand's box no longer overlaps the zone.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from smartshelf.errors import UserError
from smartshelf.synth.hands import HANDS, HandSprite, default_hagrid_dir, draw_arm, load_sprite, paste
from smartshelf.synth.scene import Facing, Layout, draw_item, make_layout, render

Image = npt.NDArray[np.uint8]
KINDS = ("pick", "return", "touch")
log = logging.getLogger(__name__)


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
    video: Path | None = None  # set by compose(): where the clip was written

    @property
    def frames(self) -> int:
        return int(round(self.duration_s * self.fps))

    @property
    def zones(self) -> tuple[Facing, ...]:
        """One zone per facing: `.name`, `.polygon` (frame pixels), `.sku`, `.capacity`."""
        return self.layout.facings


def _smooth(u: float) -> float:
    u = min(1.0, max(0.0, u))
    return u * u * (3.0 - 2.0 * u)


def make_lighting(flicker: bool | float = False, exposure_ramp: float = 0.0,
                  noise_sigma: float = 2.0) -> Lighting:
    """`flicker=True` means +-5 %; a float gives the amplitude itself."""
    amp = 0.05 if flicker is True else float(flicker or 0.0)
    return Lighting(amp, float(exposure_ramp), float(noise_sigma))


def plan(seed: int, *, fps: float = 15.0, size_wh: tuple[int, int] = (640, 480),
         kinds: tuple[str, ...] | None = None, interactions: int | None = None,
         duration_s: float | None = None, lighting: Lighting | None = None) -> ClipSpec:
    """The whole clip decided up front: layout, stock, the interactions and their labels.

    `interactions` fixes how many (6 when neither it nor `duration_s` is given); `duration_s`
    alone fits as many as the time allows; both: exactly that many in exactly that long.
    """
    if duration_s is not None and duration_s <= 0:
        raise UserError(f"duration_s: expected > 0 s (got {duration_s})")
    if interactions is not None and interactions < 0:
        raise UserError(f"interactions: expected >= 0 (got {interactions})")
    rng = np.random.default_rng(seed)
    layout = make_layout(rng, size_wh)
    counts = {f.name: int(rng.integers(2, f.capacity)) for f in layout.facings}
    start_counts = dict(counts)
    if kinds is None:
        n = interactions if interactions is not None else (
            6 if duration_s is None else int(duration_s // 4.0) + 1)
        base = ["pick", "return", "touch", "pick"]
        kinds = tuple(base[i % 4] if i < 4 else str(rng.choice(KINDS, p=[0.45, 0.35, 0.2]))
                      for i in range(n))
        kinds = tuple(rng.permutation(np.array(kinds)).tolist())
    t = 1.5
    out: list[Interaction] = []
    last_zone = None
    for kind in kinds:
        if kind not in KINDS:
            raise UserError(f"kinds: expected pick | return | touch (got {kind!r})")
        options = [f for f in layout.facings if f.name != last_zone and (
            (kind == "pick" and counts[f.name] >= 2) or (kind == "return" and counts[f.name] < f.capacity)
            or kind == "touch")]
        f: Facing = options[int(rng.integers(0, len(options)))]
        if kind == "pick":
            slot = counts[f.name] - 1
        elif kind == "return":
            slot = counts[f.name]
        else:
            slot = int(rng.integers(0, counts[f.name]))
        inter = Interaction(kind, f.name, slot, round(t, 3), float(rng.uniform(0.7, 0.9)),
                            float(rng.uniform(0.9, 1.4)), float(rng.uniform(0.6, 0.8)),
                            int(rng.integers(0, len(HANDS))),
                            round(int(rng.integers(140, 160)) * size_wh[1] / 480))
        if duration_s is not None and inter.t_gone_s + 0.5 > duration_s:
            if interactions is not None:
                raise UserError(f"duration_s: {duration_s} s holds only {len(out)} of the "
                                f"{interactions} interactions asked for")
            break
        counts[f.name] += {"pick": -1, "return": 1}.get(kind, 0)
        out.append(inter)
        last_zone = f.name
        t = inter.t_gone_s + float(rng.uniform(1.8, 2.6))
    duration = t + 0.5 if duration_s is None else float(duration_s)
    spec = ClipSpec(seed, fps, size_wh, duration, layout, tuple(out), start_counts,
                    lighting or Lighting())
    return _with_labels(spec)


def _dwell_offset(spec: ClipSpec, inter: Interaction, sprite: HandSprite,
                  target: tuple[float, float]) -> tuple[float, float]:
    """Shift the dwell spot so the visible hand (plus its wobble) overlaps no other zone.

    Zones sit close together; a hand centred on an end slot would reach into the neighbour.
    """
    zone = next(f for f in spec.layout.facings if f.name == inter.zone)
    (zx1, zy1), (zx2, zy2) = zone.polygon[0], zone.polygon[2]
    bx1, by1, bx2, by2 = sprite.visible_xyxy
    hx1, hy1 = target[0] + bx1, target[1] + by1
    hx2, hy2 = target[0] + bx2, target[1] + by2
    lo_x, hi_x, lo_y, hi_y = -1e9, 1e9, -1e9, 1e9
    for f in spec.layout.facings:
        (ox1, oy1), (ox2, oy2) = f.polygon[0], f.polygon[2]
        if f is zone:
            continue
        if oy1 < zy2 and oy2 > zy1:  # same row: left / right neighbours
            if ox2 <= zx1:
                lo_x = max(lo_x, ox2 + _WOBBLE_PX + 1)
            elif ox1 >= zx2:
                hi_x = min(hi_x, ox1 - _WOBBLE_PX - 1)
        elif ox1 < zx2 and ox2 > zx1:  # same column: zones above / below
            if oy2 <= zy1:
                lo_y = max(lo_y, oy2 + 1)
            elif oy1 >= zy2:
                hi_y = min(hi_y, oy1 - 1)
    return _clamp_shift(hx1, hx2, lo_x, hi_x), _clamp_shift(hy1, hy2, lo_y, hi_y)


def _clamp_shift(a: float, b: float, lo: float, hi: float) -> float:
    """The smallest shift that puts [a, b] inside [lo, hi] (centred when it cannot fit)."""
    if b - a > hi - lo:
        return (lo + hi) / 2.0 - (a + b) / 2.0
    if a < lo:
        return lo - a
    if b > hi:
        return hi - b
    return 0.0


_WOBBLE_PX = 3.0


def _hand_top_left(spec: ClipSpec, inter: Interaction, sprite: HandSprite,
                   t: float) -> tuple[int, int] | None:
    """Where the hand sprite is at stream time t (None when it is not in the picture)."""
    if not inter.t_enter_s <= t < inter.t_gone_s:
        return None
    facing = next(f for f in spec.layout.facings if f.name == inter.zone)
    x1, y1, x2, y2 = facing.slots_xyxy[inter.slot]
    sw, sh = sprite.size_wh
    target = ((x1 + x2) / 2.0 - sw / 2.0, (y1 + y2) / 2.0 - sh / 2.0 - 4)
    dx, dy = _dwell_offset(spec, inter, sprite, target)
    target = (target[0] + dx, target[1] + dy)
    below = spec.size_wh[1] + 8.0
    if t < inter.t_arrive_s:
        u = _smooth((t - inter.t_enter_s) / inter.approach_s)
        y = below + (target[1] - below) * u
        wobble = 0.0
    elif t < inter.t_depart_s:
        y = target[1]
        wobble = _WOBBLE_PX * np.sin(2 * np.pi * 1.3 * (t - inter.t_arrive_s))
    else:
        u = _smooth((t - inter.t_depart_s) / inter.leave_s)
        y = target[1] + (below - target[1]) * u
        wobble = 0.0
    return int(round(target[0] + wobble)), int(round(y))


def hand_box_xyxy(spec: ClipSpec, t: float) -> tuple[int, int, int, int] | None:
    """The hand's box at stream time t (the pasted cut-out: the hand plus a thin margin),
    frame pixels, or None when no hand is in the picture. Labels are timed on this box."""
    inter = next((x for x in spec.interactions if x.t_enter_s <= t < x.t_gone_s), None)
    if inter is None:
        return None
    sprite = _sprite(inter)
    tl = _hand_top_left(spec, inter, sprite, t)
    if tl is None:
        return None
    return tl[0], tl[1], tl[0] + sprite.size_wh[0], tl[1] + sprite.size_wh[1]


def counts_at(spec: ClipSpec, t: float) -> dict[str, int]:
    """Items in each zone at stream time t (a pick / return lands mid-dwell, under the hand)."""
    counts = dict(spec.start_counts)
    for inter in spec.interactions:
        if inter.t_change_s <= t:
            counts[inter.zone] += {"pick": -1, "return": 1}.get(inter.kind, 0)
    return counts


def _overlaps(top_left: tuple[int, int], wh: tuple[int, int], poly: tuple[tuple[int, int], ...]) -> bool:
    x, y = top_left
    px1, py1 = poly[0]
    px2, py2 = poly[2]
    return x < px2 and x + wh[0] > px1 and y < py2 and y + wh[1] > py1


def _with_labels(spec: ClipSpec) -> ClipSpec:
    labels = []
    for inter in spec.interactions:
        sprite = _sprite(inter)
        wh = sprite.size_wh
        poly = next(f.polygon for f in spec.layout.facings if f.name == inter.zone)
        i = int(np.ceil(inter.t_depart_s * spec.fps))
        while True:
            t = i / spec.fps
            tl = _hand_top_left(spec, inter, sprite, t)
            if tl is None or not _overlaps(tl, wh, poly):
                break
            i += 1
        labels.append({"type": inter.kind, "zone": inter.zone, "t_s": round(i / spec.fps, 3)})
    return dataclasses.replace(spec, labels=tuple(labels))


def _sprite(inter: Interaction) -> HandSprite:
    return _sprite_for(inter.hand, inter.hand_px)


@lru_cache(maxsize=128)
def _sprite_for(hand: int, height_px: int) -> HandSprite:
    """Sprites are read-only once made, so one per (hand, size) serves every clip."""
    return load_sprite(HANDS[hand], default_hagrid_dir(), height_px)


def _apply_lighting(img: Image, lighting: Lighting, t: float, frac: float,
                    rng: np.random.Generator, *, fast_noise: bool = False) -> Image:
    gain = 1.0 + lighting.ramp * frac
    if lighting.flicker:
        gain *= 1.0 + lighting.flicker * np.sin(2 * np.pi * 0.7 * t) * (0.6 + 0.4 * rng.random())
    out = img.astype(np.float32) * np.float32(gain)
    if lighting.noise_sigma:
        if fast_noise:  # float32 draws: about 3x cheaper, a different (still seeded) stream
            out += rng.standard_normal(out.shape, dtype=np.float32) * np.float32(lighting.noise_sigma)
        else:
            out += rng.normal(0.0, lighting.noise_sigma, out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


# Drawing the item in the hand as it is carried away (or brought in) hides the fingers from
# BlazePalm in some poses: the hand is then not seen leaving and the interaction waits for the
# occlusion grace. Off until the composer picks item placements the detector copes with.
CARRY_ITEMS = False


def _holds_item(inter: Interaction, t: float) -> bool:
    """A pick carries its item away after it leaves the shelf; a return brings one in."""
    return (inter.kind == "pick" and t >= inter.t_change_s) or (
        inter.kind == "return" and t < inter.t_change_s)


def _draw_held_item(frame: Image, spec: ClipSpec, inter: Interaction,
                    hand_xyxy: tuple[int, int, int, int]) -> None:
    """The item in the hand's grip, behind the fingers, inside the hand's box."""
    facing = next(f for f in spec.layout.facings if f.name == inter.zone)
    sx1, sy1, sx2, sy2 = facing.slots_xyxy[inter.slot]
    iw, ih = sx2 - sx1, sy2 - sy1
    hx1, hy1, hx2, hy2 = hand_xyxy
    x1 = min(max(hx1, (hx1 + hx2 - iw) // 2), hx2 - iw)
    y1 = min(max(hy1, (hy1 + hy2 - ih) // 2 + (hy2 - hy1) // 10), hy2 - ih)
    draw_item(frame, facing, (x1, y1, x1 + iw, y1 + ih), inter.slot)


def iter_frames(spec: ClipSpec | int, **plan_kw: Any) -> Iterator[tuple[float, Image]]:
    """(t_s, BGR frame) for every frame of the clip, in order, without writing a video.

    Pass a planned ClipSpec, or a seed and plan()'s keywords (plus flicker / exposure_ramp /
    noise_sigma), e.g. `iter_frames(3, size_wh=(320, 240), interactions=2)`.
    """
    if not isinstance(spec, ClipSpec):
        spec = plan(spec, **_plan_kw(plan_kw))
    elif plan_kw:
        raise TypeError("iter_frames(spec) takes no plan keywords: the spec is already planned")
    rng = np.random.default_rng(spec.seed + 1_000_003)
    cache: dict[tuple[tuple[str, int], ...], Image] = {}
    sleeve = tuple(int(v) for v in np.random.default_rng(spec.seed + 7).integers(20, 120, 3))
    n = spec.frames
    for i in range(n):
        t = i / spec.fps
        active = next((x for x in spec.interactions if x.t_enter_s <= t < x.t_gone_s), None)
        counts = counts_at(spec, t)
        key = tuple(sorted(counts.items()))
        base = cache.get(key)
        if base is None:
            base = cache[key] = render(spec.layout, counts)
        frame = base.copy()
        if active is not None:
            sprite = _sprite(active)
            tl = _hand_top_left(spec, active, sprite, t)
            if tl is not None:
                sw, sh = sprite.size_wh
                # the forearm joins the wrist: the bottom of the visible hand, not of the sprite
                vx1, _, vx2, vy2 = sprite.visible_xyxy
                draw_arm(frame, (tl[0] + (vx1 + vx2) // 2, tl[1] + vy2 - 4), int(sw * 0.42),
                         sprite.skin_bgr,
                         sleeve)  # type: ignore[arg-type]
                if CARRY_ITEMS and _holds_item(active, t):
                    _draw_held_item(frame, spec, active, (tl[0], tl[1], tl[0] + sw, tl[1] + sh))
                paste(frame, sprite, tl)
        yield t, _apply_lighting(frame, spec.lighting, t, i / max(1, n - 1), rng)


def iter_idle_frames(seed: int, duration_s: float, fps: float = 5.0,
                     size_wh: tuple[int, int] = (320, 240), flicker: bool | float = False,
                     exposure_ramp: float = 0.0, noise_sigma: float = 2.0, *,
                     lighting: Lighting | None = None) -> Iterator[tuple[float, Image]]:
    """A stocked shelf with nobody at it, for as long as asked: only light and noise change.

    The scene is drawn once; each frame is a gain (exposure ramp over the whole duration times
    flicker) plus Gaussian noise, so ten minutes cost seconds. `lighting` overrides the three
    lighting arguments.
    """
    if duration_s <= 0 or fps <= 0:
        raise UserError(f"duration_s, fps: expected > 0 (got {duration_s}, {fps})")
    light = lighting or make_lighting(flicker, exposure_ramp, noise_sigma)
    spec = plan(seed, fps=fps, size_wh=size_wh, kinds=(), lighting=light)
    base = render(spec.layout, spec.start_counts)
    rng = np.random.default_rng(seed + 99)
    n = int(round(duration_s * fps))
    for i in range(n):
        t = i / fps
        yield t, _apply_lighting(base, light, t, i / max(1, n - 1), rng, fast_noise=True)


def idle_spec(seed: int, size_wh: tuple[int, int] = (320, 240), fps: float = 5.0) -> ClipSpec:
    """The layout and stock that iter_idle_frames(seed, ..., size_wh) shows (for zones / configs)."""
    return plan(seed, fps=fps, size_wh=size_wh, kinds=())


def _plan_kw(kw: dict[str, Any]) -> dict[str, Any]:
    """plan()'s keywords from compose()-style ones (flicker / exposure_ramp / noise_sigma)."""
    kw = dict(kw)
    light = {k: kw.pop(k) for k in ("flicker", "exposure_ramp", "noise_sigma") if k in kw}
    if light:
        if kw.get("lighting") is not None:
            raise TypeError("give either lighting= or flicker / exposure_ramp / noise_sigma")
        kw["lighting"] = make_lighting(**light)
    return kw


def write_labels(spec: ClipSpec, video: Path) -> Path:
    """`<video stem>.labels.json` beside the video, in the project's label format."""
    path = video.with_name(video.stem + ".labels.json")
    data = {"video": video.name, "events": list(spec.labels)}  # the fixed format, nothing more
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


def compose(seed: int, out_path: Path, *, duration_s: float | None = None, fps: float = 15.0,
            size_wh: tuple[int, int] = (640, 480), interactions: int | None = None,
            kinds: tuple[str, ...] | None = None, flicker: bool | float = False,
            exposure_ramp: float = 0.0, noise_sigma: float = 2.0,
            lighting: Lighting | None = None) -> ClipSpec:
    """Write the clip (mp4v) and its labels beside it; return the spec (with `video` set).

    Everything comes from `numpy.random.default_rng(seed)`: the same seed and arguments give
    the same frames, bit for bit. `lighting` overrides flicker / exposure_ramp / noise_sigma.
    """
    out_path = Path(out_path)
    light = lighting or make_lighting(flicker, exposure_ramp, noise_sigma)
    spec = plan(seed, fps=fps, size_wh=size_wh, kinds=kinds, interactions=interactions,
                duration_s=duration_s, lighting=light)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out_path), cv2.VideoWriter.fourcc(*"mp4v"), spec.fps, spec.size_wh)
    if not writer.isOpened():
        raise UserError(f"{out_path}: cannot open a video writer (mp4v)")
    try:
        for _, frame in iter_frames(spec):
            writer.write(frame)
    finally:
        writer.release()
    write_labels(spec, out_path)
    log.info("composed %s: seed %d, %d frames, %d interactions", out_path, seed, spec.frames,
             len(spec.interactions))
    return dataclasses.replace(spec, video=out_path)


def _default_header(spec: ClipSpec) -> str:
    return (
        "# Embedded default: replays the bundled recording and publishes to an MQTT broker started"
        " inside\n# the process on loopback; every event is also printed as one JSON line.\n"
        "# Zones: one per product facing, written by `python -m smartshelf.synth --seed "
        f"{spec.seed}\n# --interactions {len(spec.interactions)} --out recordings/demo.mp4 "
        "--config configs/default.yaml --embedded-default`.\n")


def config_text(spec: ClipSpec, video: str, *, demo: bool = False, node: str = "demo-node",
                camera: str = "demo-shelf", outbox: str = "../state/outbox.sqlite") -> str:
    """A smartshelf config for the clip: one camera, a zone per facing.

    `demo=True` gives the embedded default's shape (in-process broker, events on stdout);
    otherwise MQTT is off and nothing is printed (tests and benches read the events directly).
    """
    lines = [f"node: {node}", "cameras:", f"  - name: {camera}",
             f"    source: {video}   # relative paths resolve against this file's folder",
             "    zones:"]
    for f in spec.zones:
        poly = ", ".join(f"[{x}, {y}]" for x, y in f.polygon)
        lines += [f"      - name: {f.name}", f"        polygon: [{poly}]",
                  f'        sku: "{f.sku}"', f"        capacity: {f.capacity}"]
    if demo:
        lines += ["mqtt:", "  embedded: true", "  port: 18830", "output:", "  stdout: true"]
    else:
        lines += ["mqtt:", "  enabled: false", "output:", "  stdout: false"]
    lines += ["outbox:", f"  path: {outbox}"]
    return (_default_header(spec) if demo else "") + "\n".join(lines) + "\n"


def write_config(spec: ClipSpec, path: Path, video: Path | None = None) -> Path:
    """Write a smartshelf config for a composed clip (MQTT off, no stdout); return its path.

    The video defaults to where compose() wrote the clip; it is named relative to the config's
    folder where it can be, and the outbox goes beside the config.
    """
    video = video if video is not None else spec.video
    if video is None:
        raise UserError("write_config: this spec was never written; pass video= (or use compose())")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    source = os.path.relpath(Path(video).resolve(), path.parent.resolve())
    path.write_text(config_text(spec, source, outbox=f"{path.stem}.outbox.sqlite"), encoding="utf-8")
    return path
