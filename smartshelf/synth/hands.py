"""Real hands for composed footage: cut out of HaGRID photos (CC BY-SA 4.0) with a soft mask.

The source images live in ../shared/data/hands/hagrid (read-only, beside the repo). Each entry
below names a file, its sha256 and the hand's box in it; the boxes were found once with
palm_detection_full and checked by eye. The composer needs no model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from smartshelf.errors import UserError


@dataclass(frozen=True)
class HandSource:
    path: str  # relative to the hagrid folder
    sha256: str
    box_xyxy: tuple[int, int, int, int]  # the hand (fingers up), in source pixels


HANDS: tuple[HandSource, ...] = (
    HandSource("four/105f8f8e-ccd6-45a0-b22a-e314930bc13e.jpg",
               "511dd009c251379922866d52f5a7316dc50e7a708d32a5decd20f4098ae32822",
               (200, 96, 283, 179)),
    HandSource("four/07fdea90-1102-4419-a3af-b394cb29531b.jpg",
               "83eed78a00a4a88b6485507078df1a4f63f06a2b73677ecb2ec63a29ea33d556",
               (234, 191, 313, 270)),
)


@dataclass(frozen=True, eq=False)
class HandSprite:
    """A hand image with its alpha mask; `wrist_xy` is where the arm attaches (sprite pixels)."""

    image_bgr: npt.NDArray[np.uint8]
    alpha: npt.NDArray[np.float32]
    skin_bgr: tuple[int, int, int]
    source: str

    @property
    def size_wh(self) -> tuple[int, int]:
        return self.image_bgr.shape[1], self.image_bgr.shape[0]

    @cached_property
    def visible_xyxy(self) -> tuple[int, int, int, int]:
        """The box of the hand itself (alpha > 0.5), sprite pixels."""
        ys, xs = np.nonzero(self.alpha > 0.5)
        if len(xs) == 0:
            return 0, 0, self.size_wh[0], self.size_wh[1]
        return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def default_hagrid_dir() -> Path:
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "hands" / "hagrid"


def _cut_out(crop: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Foreground (hand) mask by GrabCut, seeded with an ellipse and a sure-hand palm core.

    OpenCV's RNG is seeded first, so the same crop always gives the same mask.
    """
    ch, cw = crop.shape[:2]
    mask = np.full((ch, cw), cv2.GC_BGD, np.uint8)
    cv2.ellipse(mask, (cw // 2, ch // 2), (int(cw * 0.45), int(ch * 0.48)), 0, 0, 360,
                int(cv2.GC_PR_FGD), -1)
    cv2.ellipse(mask, (cw // 2, int(ch * 0.62)), (int(cw * 0.12), int(ch * 0.12)), 0, 0, 360,
                int(cv2.GC_FGD), -1)
    cv2.setRNGSeed(0)
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    cv2.grabCut(crop, mask, None, bgd, fgd, 6, cv2.GC_INIT_WITH_MASK)  # type: ignore[call-overload]
    return ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.float32)


@lru_cache(maxsize=16)
def _cut_source(src: HandSource, hagrid_dir: Path) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """The hand crop (2x) and its GrabCut mask: the costly part, done once per source image."""
    path = hagrid_dir / src.path
    try:
        data = path.read_bytes()
    except OSError:
        raise UserError(f"{path}: HaGRID hand image not found (../shared/data/hands/hagrid)") from None
    if hashlib.sha256(data).hexdigest() != src.sha256:
        raise UserError(f"{path}: sha256 differs from the pinned one: not the expected image")
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        raise UserError(f"{path}: not a decodable image")
    img = np.asarray(decoded, dtype=np.uint8)
    x1, y1, x2, y2 = src.box_xyxy
    m = int(0.15 * (x2 - x1))
    h, w = img.shape[:2]
    crop = img[max(0, y1 - m):min(h, y2 + m), max(0, x1 - m):min(w, x2 + m)]
    crop = np.asarray(cv2.resize(crop, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC), np.uint8)
    crop.setflags(write=False)
    fg = _cut_out(crop)
    fg.setflags(write=False)
    return crop, fg


def load_sprite(src: HandSource, hagrid_dir: Path, height_px: int) -> HandSprite:
    """The hand of `src` scaled to `height_px` (crop plus a 15 % margin), with a soft alpha."""
    crop, fg = _cut_source(src, hagrid_dir)
    skin_px = crop[fg > 0.5]
    skin_bgr = tuple(int(v) for v in np.median(skin_px, axis=0)) if len(skin_px) > 20 else (120, 150, 200)
    scale = height_px / crop.shape[0]
    size = (max(8, round(crop.shape[1] * scale)), height_px)
    small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    alpha = cv2.GaussianBlur(cv2.resize(fg, size, interpolation=cv2.INTER_AREA), (0, 0), 1.0)
    image = np.asarray(small, np.uint8)
    soft = np.asarray(alpha, np.float32)
    image.setflags(write=False)  # sprites are shared between clips (cached)
    soft.setflags(write=False)
    return HandSprite(image, soft, skin_bgr, src.path)  # type: ignore[arg-type]


def paste(frame: npt.NDArray[np.uint8], sprite: HandSprite, top_left: tuple[int, int]) -> None:
    """Alpha-blend the sprite into the frame in place (clipped at the frame edges)."""
    x, y = top_left
    sw, sh = sprite.size_wh
    fh, fw = frame.shape[:2]
    x1, y1, x2, y2 = max(0, x), max(0, y), min(fw, x + sw), min(fh, y + sh)
    if x2 <= x1 or y2 <= y1:
        return
    a = sprite.alpha[y1 - y:y2 - y, x1 - x:x2 - x, None]
    src = sprite.image_bgr[y1 - y:y2 - y, x1 - x:x2 - x].astype(np.float32)
    dst = frame[y1:y2, x1:x2].astype(np.float32)
    frame[y1:y2, x1:x2] = np.clip(src * a + dst * (1.0 - a), 0, 255).astype(np.uint8)


def draw_arm(frame: npt.NDArray[np.uint8], wrist_xy: tuple[int, int], width_px: int,
             skin_bgr: tuple[int, int, int], sleeve_bgr: tuple[int, int, int]) -> None:
    """A tapered forearm from the wrist down out of the frame, with a sleeve on its lower part."""
    fh = frame.shape[0]
    wx, wy = wrist_xy
    bottom = fh + 10
    spread = int(width_px * 0.35)
    forearm = np.array([[wx - width_px // 2, wy], [wx + width_px // 2, wy],
                        [wx + width_px // 2 + spread, bottom], [wx - width_px // 2 - spread, bottom]],
                       np.int32)
    cv2.fillConvexPoly(frame, forearm, skin_bgr, cv2.LINE_AA)
    cuff = wy + int((bottom - wy) * 0.45)
    if cuff < fh:
        sleeve = np.array([[wx - width_px // 2 - spread // 2 - 4, cuff],
                           [wx + width_px // 2 + spread // 2 + 4, cuff],
                           [wx + width_px // 2 + spread + 8, bottom],
                           [wx - width_px // 2 - spread - 8, bottom]], np.int32)
        cv2.fillConvexPoly(frame, sleeve, sleeve_bgr, cv2.LINE_AA)
