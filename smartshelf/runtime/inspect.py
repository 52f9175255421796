"""The tools a user reaches for when an event is missed: `detect` and `calibrate`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from smartshelf.config import CameraConfig, Config, HandDetectorConfig
from smartshelf.detectors.occupancy import FloatArray, fill_estimate
from smartshelf.detectors.shelf import ReferenceShelfDetector, calibration_path, load_calibration
from smartshelf.errors import UserError
from smartshelf.types import Frame

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def _frames(path: Path) -> Iterator[tuple[str, Frame]]:
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise UserError(f"{path}: not a readable image")
        yield str(path), Frame("detect", 0, 0.0, np.asarray(image, np.uint8))
        return
    from smartshelf.sources import frames, open_source

    source = open_source(CameraConfig("detect", str(path.resolve())), mode="replay")
    try:
        for frame in frames(source, timeout_s=5.0):
            yield str(path), frame
    finally:
        source.close()


def detect_paths(paths: list[Path], cfg: Config | None, *, hands_only: bool,
                 models_dir: Path) -> Iterator[dict[str, Any]]:
    """One JSON-ready record per image or video frame: hands and, with zones, occupancy."""
    from smartshelf.detectors.factory import build_hand_detector

    hand_cfg = cfg.detectors.hands if cfg else HandDetectorConfig()
    resolve = cfg.resolve if cfg else (lambda p: Path(p).resolve())
    detector = build_hand_detector(hand_cfg, models_dir, resolve)
    camera = cfg.cameras[0] if cfg else None
    for path in paths:
        shelf = None
        if camera is not None and cfg is not None and not hands_only:
            shelf = ReferenceShelfDetector(camera, cfg.detectors.shelf)
        for name, frame in _frames(path):
            hands = detector.detect(frame.image_bgr)
            record: dict[str, Any] = {"path": name}
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                record.update(frame=frame.index, ts_s=round(frame.ts_s, 3))
            record["hands"] = [
                {"xyxy": [round(float(v), 1) for v in box], "score": round(float(s), 3)}
                for box, s in zip(hands.xyxy, hands.score, strict=True)
            ]
            if shelf is not None and camera is not None and cfg is not None:
                record["zones"] = zone_fills(shelf, frame, camera, cfg)
            yield record


def zone_fills(shelf: ReferenceShelfDetector, frame: Frame, camera: CameraConfig,
               cfg: Config) -> dict[str, dict[str, float]]:
    base = cfg.resolve(camera.calibration_dir) if camera.calibration_dir else None
    samplers = shelf.samplers(frame.size_wh)
    return {
        z: {"fill": round(fill_estimate(p, samplers[z], load_calibration(base, camera.name, z)), 3)}
        for z, p in shelf.measure(frame).patches.items()
    }


def calibrate(cfg: Config, camera_name: str | None, zone: str, kind: str,
              video: Path | None) -> Path:
    """Store the zone's settled appearance (median of the first second) as its empty/full snapshot."""
    camera = cfg.camera(camera_name) if camera_name else cfg.cameras[0]
    if zone not in {z.name for z in camera.zones}:
        raise UserError(f"{cfg.path}: camera {camera.name!r} has no zone {zone!r}")
    calibration_dir = camera.calibration_dir
    if calibration_dir is None:
        raise UserError(f"{cfg.path}: cameras[{camera.name}].calibration_dir: set a folder to store "
                        "calibration snapshots in")
    if video is not None:
        camera = dataclasses.replace(camera, source=str(video.resolve()))
    from smartshelf.sources import frames, is_file, open_source

    shelf = ReferenceShelfDetector(camera, cfg.detectors.shelf)
    patches: list[FloatArray] = []
    source = open_source(camera, mode="replay" if is_file(camera.source) else "live")
    try:
        for frame in frames(source, timeout_s=5.0):
            patches.append(shelf.measure(frame).patches[zone])
            if len(patches) == 15:
                break
    finally:
        source.close()
    if not patches:
        raise UserError(f"camera {camera.name!r} gave no frame to calibrate from")
    out = calibration_path(cfg.resolve(calibration_dir), camera.name, zone, kind)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, np.median(np.stack(patches), axis=0).astype(np.float32))
    return out
