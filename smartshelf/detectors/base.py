"""The detector seams: small protocols the pipeline calls."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from smartshelf.types import Detections


class HandDetector(Protocol):
    """Finds hands in one BGR image; boxes in that image's pixels."""

    def detect(self, image_bgr: npt.NDArray[np.uint8]) -> Detections: ...

    def model_digests(self) -> dict[str, str]:
        """Model name -> sha256 of each model file used (carried on events)."""
        ...


class BoxDetector(Protocol):
    """Any object detector (TF OD API models): boxes, scores and class ids."""

    def detect(self, image_bgr: npt.NDArray[np.uint8]) -> Detections: ...

    def model_digests(self) -> dict[str, str]: ...
