"""A procedurally drawn front view of a shelf unit: boards, a plain back, printed goods.

Everything comes from one `numpy.random.Generator`, so a seed gives the same shelf every time.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Facing:
    """One zone: a row of `capacity` slots holding items of one product."""

    name: str
    sku: str
    slots_xyxy: tuple[tuple[int, int, int, int], ...]
    colour_bgr: tuple[int, int, int]
    accent_bgr: tuple[int, int, int]
    shape: str  # box | can | bottle
    label: str

    @property
    def capacity(self) -> int:
        return len(self.slots_xyxy)

    @property
    def polygon(self) -> tuple[tuple[int, int], ...]:
        x1 = self.slots_xyxy[0][0] - 4
        y1 = min(s[1] for s in self.slots_xyxy) - 6
        x2 = self.slots_xyxy[-1][2] + 4
        y2 = max(s[3] for s in self.slots_xyxy) + 2
        return ((x1, y1), (x2, y1), (x2, y2), (x1, y2))


@dataclass(frozen=True)
class Layout:
    size_wh: tuple[int, int]
    back_bgr: tuple[int, int, int]
    board_bgr: tuple[int, int, int]
    boards_y: tuple[int, ...]  # top edge of each shelf board
    facings: tuple[Facing, ...]
    texture_seed: int


_SHAPES = ("box", "can", "bottle")
_LETTERS = "ABCDEFGHKLMNPRSTUVWXYZ"


def make_layout(rng: np.random.Generator, size_wh: tuple[int, int] = (640, 480),
                rows: int = 3, cols: int = 3) -> Layout:
    w, h = size_wh
    top, bottom = int(h * 0.06), int(h * 0.86)
    row_h = (bottom - top) // rows
    boards = tuple(top + row_h * (r + 1) - 10 for r in range(rows))
    margin = int(w * 0.06)
    col_w = (w - 2 * margin) // cols
    facings = []
    for r in range(rows):
        for c in range(cols):
            capacity = int(rng.integers(3, 6))
            item_h = int(row_h * rng.uniform(0.55, 0.75))
            gap = 6
            item_w = (col_w - 16 - gap * (capacity - 1)) // capacity
            x0 = margin + c * col_w + 8
            y2 = boards[r]
            slots = tuple((x0 + i * (item_w + gap), y2 - item_h, x0 + i * (item_w + gap) + item_w, y2)
                          for i in range(capacity))
            colour = tuple(int(v) for v in rng.integers(30, 230, 3))
            accent = tuple(int(255 - v) for v in colour)
            label = "".join(rng.choice(list(_LETTERS), 3))
            facings.append(Facing(
                name=f"{'ABCDEFGH'[r]}{c + 1}", sku=f"sku-{label.lower()}-{r}{c}", slots_xyxy=slots,
                colour_bgr=colour, accent_bgr=accent,  # type: ignore[arg-type]
                shape=_SHAPES[int(rng.integers(0, 3))], label=label))
    back = tuple(int(v) for v in rng.integers(150, 205, 3))
    board = tuple(int(v) for v in rng.integers(60, 120, 3))
    return Layout(size_wh, back, board, boards, tuple(facings),  # type: ignore[arg-type]
                  int(rng.integers(0, 2**31)))


def draw_item(img: Image, f: Facing, xyxy: tuple[int, int, int, int], variant: int) -> None:
    """One item of facing `f` in the box `xyxy` (in place), shaded like the solid it is."""
    x1, y1, x2, y2 = xyxy
    fh, fw = img.shape[:2]
    if x1 < 0 or y1 < 0 or x2 + 1 > fw or y2 + 1 > fh:
        return  # only whole items are drawn (a held item is always inside the picture)
    before = img[y1:y2 + 1, x1:x2 + 1].copy()
    _draw_item(img, f, xyxy, variant)
    patch = img[y1:y2 + 1, x1:x2 + 1]
    drawn = np.any(patch != before, axis=2)
    u = np.linspace(-1.0, 1.0, patch.shape[1], dtype=np.float32)
    if f.shape == "box":  # a flat front lit from the upper left
        across = 1.06 - 0.12 * (u + 1.0) / 2.0
        down = np.linspace(1.04, 0.94, patch.shape[0], dtype=np.float32)
    else:  # a cylinder: darker towards its edges, a soft highlight left of the middle
        across = 0.84 + 0.18 * np.cos(u * np.pi / 2.0) + 0.10 * np.exp(-(((u + 0.35) / 0.18) ** 2))
        down = np.ones(patch.shape[0], np.float32)
    gain = down[:, None] * across[None, :]
    shaded = np.clip(patch.astype(np.float32) * gain[:, :, None], 0, 255).astype(np.uint8)
    patch[drawn] = shaded[drawn]


def _draw_item(img: Image, f: Facing, xyxy: tuple[int, int, int, int], variant: int) -> None:
    x1, y1, x2, y2 = xyxy
    w, h = x2 - x1, y2 - y1
    shade = 0.85 + 0.05 * (variant % 3)
    base = tuple(int(v * shade) for v in f.colour_bgr)
    if f.shape == "bottle":
        neck = max(4, w // 3)
        cx = (x1 + x2) // 2
        cv2.rectangle(img, (cx - neck // 2, y1), (cx + neck // 2, y1 + h // 4), base, -1)
        cv2.rectangle(img, (x1, y1 + h // 4), (x2, y2), base, -1)
        body_top = y1 + h // 4
    elif f.shape == "can":
        cv2.rectangle(img, (x1, y1 + 4), (x2, y2 - 4), base, -1)
        cv2.ellipse(img, ((x1 + x2) // 2, y1 + 4), (w // 2, 4), 0, 0, 360, base, -1)
        cv2.ellipse(img, ((x1 + x2) // 2, y2 - 4), (w // 2, 4), 0, 0, 360, base, -1)
        body_top = y1 + 4
    else:
        cv2.rectangle(img, (x1, y1), (x2, y2), base, -1)
        body_top = y1
    # printed label band, stripes and lettering: goods have texture, the shelf back has none
    band_y1 = body_top + (y2 - body_top) // 3
    band_y2 = band_y1 + max(8, (y2 - body_top) // 3)
    cv2.rectangle(img, (x1 + 2, band_y1), (x2 - 2, band_y2), f.accent_bgr, -1)
    for k in range(3):
        yy = band_y2 + 4 + 5 * k
        if yy < y2 - 2:
            cv2.line(img, (x1 + 3, yy), (x2 - 3, yy), f.accent_bgr, 1)
    scale = max(0.3, min(0.5, w / 60.0))
    cv2.putText(img, f.label[: max(1, w // 12)], (x1 + 3, band_y2 - 3), cv2.FONT_HERSHEY_SIMPLEX,
                scale, base, 1, cv2.LINE_AA)
    cv2.rectangle(img, (x1, body_top), (x2, y2), tuple(int(v * 0.5) for v in base), 1)


def render(layout: Layout, counts: dict[str, int]) -> Image:
    """The shelf with `counts[zone]` items in each facing (filled from the left)."""
    w, h = layout.size_wh
    img = np.empty((h, w, 3), np.uint8)
    img[:] = layout.back_bgr
    # a soft vertical light gradient on the back panel
    ramp = np.linspace(1.06, 0.92, h, dtype=np.float32)[:, None, None]
    img = np.clip(img.astype(np.float32) * ramp, 0, 255).astype(np.uint8)
    for y in layout.boards_y:
        cv2.rectangle(img, (0, y), (w, y + 12), layout.board_bgr, -1)
        cv2.line(img, (0, y), (w, y), tuple(min(255, v + 50) for v in layout.board_bgr), 2)
    cv2.rectangle(img, (0, 0), (14, h), layout.board_bgr, -1)
    cv2.rectangle(img, (w - 14, 0), (w, h), layout.board_bgr, -1)
    for f in layout.facings:
        for i, slot in enumerate(f.slots_xyxy[: counts[f.name]]):
            draw_item(img, f, slot, i)
    return img
