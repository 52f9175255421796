"""Build the configured hand detector; every model problem surfaces here as a ModelError."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from smartshelf.config import HandDetectorConfig
from smartshelf.detectors.base import HandDetector
from smartshelf.errors import ModelError
from smartshelf.models import PALM_FULL, PINNED_SHA256, sha256_file


def hand_model_path(cfg: HandDetectorConfig, models_dir: Path, resolve: Callable[[str], Path]) -> Path:
    """The model file/folder the config points at (default: the palm full model in models_dir)."""
    if cfg.model is None:
        return Path(models_dir) / PALM_FULL
    return resolve(cfg.model)


def build_hand_detector(cfg: HandDetectorConfig, models_dir: Path,
                        resolve: Callable[[str], Path]) -> HandDetector:
    """A ready detector for `cfg` (palm or tf_od), loaded and shape-checked.

    `resolve` turns a config path into an absolute one (Config.resolve). The bundled palm model
    is also checked against its pinned sha256, so a stale or tampered copy is caught at start.
    """
    path = hand_model_path(cfg, models_dir, resolve)
    if cfg.type == "palm":
        from smartshelf.detectors.palm import PalmDetector

        if not path.exists():
            raise ModelError(str(path), "not found: run `smartshelf models fetch` (expected the "
                                        f"palm detector, {PALM_FULL} or palm_detection_lite.tflite)")
        pinned = PINNED_SHA256.get(path.name)
        if cfg.model is None and pinned is not None and path.is_file() and sha256_file(path) != pinned:
            raise ModelError(str(path), f"sha256 does not match the pinned {pinned}: run "
                                        "`smartshelf models fetch`")
        return PalmDetector(cfg, path)
    if cfg.type == "tf_od":
        from smartshelf.detectors.tf_od import TfOdDetector

        if not path.exists():
            raise ModelError(str(path), "not found (expected a TF OD API SavedModel folder or .tflite)")
        labels = resolve(cfg.labels) if cfg.labels else None
        return TfOdDetector(path, cfg.score_threshold, cfg.classes, labels, cfg.threads)
    raise ModelError(str(path), f"unknown hand detector type {cfg.type!r} (expected palm or tf_od)")
