"""The LiteRT layer: each model loaded once, inputs quantised and outputs dequantised.

This is the only module that imports the inference runtime, and only when a model is
loaded, so `import agent.vision` works without it. `ai-edge-litert` is preferred (wheels for
CPython 3.11-3.14 on aarch64, 3-19x faster here); `tflite_runtime` (stopped at 2.14, needs
numpy < 2) is a fallback for images that already carry it.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agent.errors import ModelError

log = logging.getLogger(__name__)

_RUNTIMES = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter")

FloatArray = NDArray[np.float32]


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor as the model declares it."""

    name: str
    index: int
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    scale: float
    zero_point: int

    @property
    def quantised(self) -> bool:
        """Whether values cross this tensor as integers with a scale and zero point."""
        return self.scale != 0.0 and np.issubdtype(self.dtype, np.integer)

    @classmethod
    def from_details(cls, details: dict[str, Any]) -> TensorSpec:
        """Build from one entry of the interpreter's `get_input_details()`."""
        scale, zero_point = details["quantization"]
        return cls(
            name=str(details["name"]),
            index=int(details["index"]),
            shape=tuple(int(n) for n in details["shape"]),
            dtype=np.dtype(details["dtype"]),
            scale=float(scale),
            zero_point=int(zero_point),
        )


def quantise(values: NDArray[Any], spec: TensorSpec) -> NDArray[Any]:
    """Real values to what the tensor takes: `round(x / scale) + zero_point`, clipped."""
    if not spec.quantised:
        return np.asarray(values, dtype=spec.dtype)
    info = np.iinfo(spec.dtype)
    scaled = np.round(np.asarray(values, dtype=np.float32) / spec.scale) + spec.zero_point
    clipped: NDArray[Any] = np.clip(scaled, info.min, info.max).astype(spec.dtype)
    return clipped


def dequantise(values: NDArray[Any], spec: TensorSpec) -> FloatArray:
    """What the tensor holds to real values: `(q - zero_point) * scale`."""
    if not spec.quantised:
        return np.asarray(values, dtype=np.float32)
    shifted = values.astype(np.float32) - np.float32(spec.zero_point)
    return shifted * np.float32(spec.scale)


def load_interpreter_class() -> Any:
    """The runtime's `Interpreter` class: LiteRT, else tflite_runtime, else a ModelError."""
    for module in _RUNTIMES:
        try:
            return importlib.import_module(module).Interpreter
        except ImportError:
            continue
    raise ModelError(
        "no inference runtime: install ai-edge-litert (pip install 'edge-agent[vision]')"
    )


class Model:
    """A model loaded once: run it with real-valued inputs, get real-valued outputs."""

    def __init__(
        self,
        path: Path | str,
        *,
        name: str | None = None,
        num_threads: int = 1,
        interpreter_class: Any = None,
    ) -> None:
        self.path = Path(path)
        self.name = name or self.path.stem
        self.num_threads = num_threads
        self._interpreter = _open(self.path, num_threads, interpreter_class)
        self.inputs = tuple(
            TensorSpec.from_details(d) for d in self._interpreter.get_input_details()
        )
        self.outputs = tuple(
            TensorSpec.from_details(d) for d in self._interpreter.get_output_details()
        )
        log.info("model %s loaded from %s (%d threads)", self.name, self.path, num_threads)

    def run(self, *values: NDArray[Any]) -> list[FloatArray]:
        """Quantise the inputs, invoke, and return the dequantised outputs."""
        self.set_inputs(*values)
        self.invoke()
        return self.get_outputs()

    def set_inputs(self, *values: NDArray[Any]) -> None:
        """Quantise each input with its tensor's own parameters and copy it in."""
        if len(values) != len(self.inputs):
            raise ValueError(f"{self.name} takes {len(self.inputs)} inputs, got {len(values)}")
        for spec, value in zip(self.inputs, values, strict=True):
            if tuple(value.shape) != spec.shape:
                raise ValueError(
                    f"{self.name} input {spec.name}: shape {spec.shape}, got {value.shape}"
                )
            self._interpreter.set_tensor(spec.index, quantise(value, spec))

    def fill_input(self, fill: Callable[[NDArray[Any]], None], index: int = 0) -> None:
        """Let `fill` write input `index` where the model reads it, in the tensor's own dtype.

        No intermediate array and no copy (`set_inputs` costs both); nothing is quantised, so
        `fill` writes what the tensor holds. The view must not outlive `fill`: the runtime
        refuses to invoke while one is alive.
        """
        fill(self._interpreter.tensor(self.inputs[index].index)())

    def invoke(self) -> None:
        """Run the model on the inputs already set (the bare invoke benchmarks compare to)."""
        self._interpreter.invoke()

    def get_outputs(self) -> list[FloatArray]:
        """Every output, dequantised with its tensor's own parameters."""
        return [dequantise(self._interpreter.get_tensor(s.index), s) for s in self.outputs]

    def warm_up(self, runs: int = 2) -> float:
        """Invoke on zeros so the first real frame is not slow; returns the last run's ms."""
        zeros = [np.zeros(s.shape, dtype=np.float32) for s in self.inputs]
        elapsed = 0.0
        for _ in range(runs):
            started = time.perf_counter()
            self.run(*zeros)
            elapsed = (time.perf_counter() - started) * 1000
        return elapsed


def _open(path: Path, num_threads: int, interpreter_class: Any) -> Any:
    """Load and allocate the interpreter, turning every way a file can be bad into ModelError."""
    if not path.is_file():
        raise ModelError(f"model file {path} is missing (run `edge-agent models fetch`)")
    if not os.access(path, os.R_OK):
        raise ModelError(f"model file {path} is not readable")
    factory = interpreter_class or load_interpreter_class()
    try:
        interpreter = factory(model_path=str(path), num_threads=num_threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        # The runtime reports a truncated or foreign file as ValueError with its own wording.
        raise ModelError(f"model file {path} cannot be loaded: {_first_line(exc)}") from exc
    return interpreter


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
