"""Loading .tflite models: LiteRT (ai-edge-litert) when importable, else tf.lite.

Every check (file present, not truncated, tensor shapes and types as the caller expects) happens
at construction, so a model problem is a ModelError at start-up, never a crash mid-stream.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from smartshelf.errors import ModelError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TensorSpec:
    """An expected tensor: shape with None for "any size", and dtype."""

    shape: tuple[int | None, ...]
    dtype: type

    def matches(self, shape: Sequence[int], dtype: Any) -> bool:
        if len(shape) != len(self.shape) or np.dtype(dtype) != np.dtype(self.dtype):
            return False
        return all(want is None or want == got for want, got in zip(self.shape, shape, strict=True))

    def describe(self) -> str:
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"[{dims}] {np.dtype(self.dtype).name}"


def _describe(details: Sequence[dict[str, Any]]) -> str:
    return ", ".join(f"{list(int(x) for x in d['shape'])} {np.dtype(d['dtype']).name}" for d in details)


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - depends on the installed runtime
        import tensorflow as tf  # heavy, only when LiteRT is absent

        return tf.lite.Interpreter
    return Interpreter


def match_outputs(details: Sequence[dict[str, Any]], wanted: Sequence[TensorSpec]) -> list[int] | None:
    """Index of the model output that serves each wanted spec (first unused match), or None."""
    used: set[int] = set()
    order = []
    for spec in wanted:
        hit = next((i for i, d in enumerate(details)
                    if i not in used and spec.matches(list(d["shape"]), d["dtype"])), None)
        if hit is None:
            return None
        used.add(hit)
        order.append(hit)
    return order


class TfLiteModel:
    """A loaded, shape-checked .tflite model; `run(x)` returns outputs in the order asked for."""

    def __init__(self, path: Path, *, threads: int = 2, inputs: Sequence[TensorSpec] | None = None,
                 outputs: Sequence[TensorSpec] | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(str(self.path), "file not found (run `smartshelf models fetch` for the "
                                             "bundled palm models)")
        if threads < 1:
            raise ModelError(str(self.path), f"threads must be >= 1, got {threads}")
        try:
            interp = _interpreter_class()(model_path=str(self.path), num_threads=threads)
            interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(str(self.path), f"cannot load it as a TFLite model (truncated or not "
                                             f"a .tflite file?): {first}") from None
        self._interp = interp
        self.input_details = interp.get_input_details()
        self.output_details = interp.get_output_details()
        if inputs is not None:
            if len(self.input_details) != len(inputs) or not all(
                    s.matches(list(d["shape"]), d["dtype"]) for s, d in zip(inputs, self.input_details,
                                                                          strict=True)):
                want = ", ".join(s.describe() for s in inputs)
                raise ModelError(str(self.path),
                                 f"expected input {want}, got {_describe(self.input_details)}")
        self._order = list(range(len(self.output_details)))
        if outputs is not None:
            order = match_outputs(self.output_details, outputs)
            if order is None:
                want = ", ".join(s.describe() for s in outputs)
                raise ModelError(str(self.path),
                                 f"expected outputs {want}, got {_describe(self.output_details)}")
            self._order = order
        log.debug("loaded %s with %d thread(s)", self.path, threads)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(x) for x in self.input_details[0]["shape"])

    def run(self, *arrays: npt.NDArray[Any]) -> list[npt.NDArray[Any]]:
        for d, arr in zip(self.input_details, arrays, strict=True):
            self._interp.set_tensor(d["index"], arr)
        self._interp.invoke()
        return [self._interp.get_tensor(self.output_details[i]["index"]) for i in self._order]
