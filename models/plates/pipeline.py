"""Run the int8 plate models with LiteRT: detect plates in a frame, read each crop.

Evaluation-side twin of what the agent will run; numpy, Pillow and
``ai-edge-litert`` only (no TensorFlow), so it runs in the agent's ``.venv``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

from agent.vision import plate_text

DET_SIZE, DET_STRIDE = 256, 4
OCR_H, OCR_W = 64, 128
CROP_PAD = 0.08


@dataclass(frozen=True)
class Detection:
    """A plate box (x0, y0, x1, y1) in frame pixels and its score."""

    box: tuple[float, float, float, float]
    score: float


@dataclass(frozen=True)
class Reading:
    """What the OCR model read on one crop."""

    registration: plate_text.PlateText
    greedy: plate_text.PlateText
    province: str
    province_confidence: float


@dataclass
class Timing:
    """Accumulated milliseconds: model invoke versus pre- and post-processing."""

    invoke_ms: list[float] = field(default_factory=list)
    other_ms: list[float] = field(default_factory=list)


class TFLiteModel:
    """One interpreter with uint8 input and dequantised outputs, keyed by last dimension."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.outputs = self.interpreter.get_output_details()
        self.timing = Timing()

    def __call__(self, image: np.ndarray) -> dict[int, np.ndarray]:
        """Outputs for one uint8 image (H, W), keyed by their last dimension."""
        self.interpreter.set_tensor(self.input["index"], image[None, :, :, None])
        began = time.perf_counter()
        self.interpreter.invoke()
        self.timing.invoke_ms.append((time.perf_counter() - began) * 1000)
        result = {}
        for out in self.outputs:
            scale, zero = out["quantization"]
            raw = self.interpreter.get_tensor(out["index"])[0].astype(np.float32)
            result[int(out["shape"][-1])] = (raw - zero) * scale
        return result


def letterbox(grey: np.ndarray, size: int = DET_SIZE) -> tuple[np.ndarray, float]:
    """Fit a grey frame into size x size (aspect kept, black border); returns it and the scale."""
    h, w = grey.shape
    scale = size / max(h, w)
    resized = Image.fromarray(grey).resize((max(1, round(w * scale)), max(1, round(h * scale))))
    out = np.zeros((size, size), np.uint8)
    out[: resized.height, : resized.width] = np.asarray(resized)
    return out, scale


def peaks(heat: np.ndarray, box: np.ndarray, threshold: float, top: int = 10) -> list[Detection]:
    """Local maxima of the heatmap (3 x 3) above ``threshold`` as boxes in input pixels."""
    padded = np.pad(heat, 1, constant_values=0)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3))
    is_peak = (heat >= windows.max(axis=(2, 3))) & (heat >= threshold)
    found = []
    for i, j in zip(*np.nonzero(is_peak), strict=True):
        dx, dy, lw, lh = box[i, j]
        cx, cy = (j + dx) * DET_STRIDE, (i + dy) * DET_STRIDE
        w, h = np.exp(lw) * DET_STRIDE, np.exp(lh) * DET_STRIDE
        found.append(Detection((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), float(heat[i, j])))
    return sorted(found, key=lambda d: -d.score)[:top]


class PlateReader:
    """The detector and the OCR model together."""

    def __init__(self, detector: Path, ocr: Path, threads: int = 1, threshold: float = 0.3) -> None:
        self.detector = TFLiteModel(detector, threads)
        self.ocr = TFLiteModel(ocr, threads)
        self.threshold = threshold

    def detect(self, grey: np.ndarray) -> list[Detection]:
        """Plates in a grey frame of any size, boxes in frame pixels."""
        square, scale = letterbox(grey)
        out = self.detector(square)
        found = peaks(out[1][..., 0], out[4], self.threshold)
        return [Detection(tuple(v / scale for v in d.box), d.score) for d in found]  # type: ignore[arg-type]

    def read(
        self, grey: np.ndarray, box: tuple[float, float, float, float] | None = None
    ) -> Reading:
        """Read the plate in ``box`` of a grey frame (the whole image when None)."""
        crop = grey if box is None else crop_plate(grey, box)
        image = np.asarray(Image.fromarray(crop).resize((OCR_W, OCR_H), Image.Resampling.BILINEAR))
        out = self.ocr(image)
        probs = plate_text.softmax(out[len(plate_text.OCR_CLASSES) + 1])
        name, confidence = plate_text.province(out[len(plate_text.PROVINCES)])
        return Reading(plate_text.constrained(probs), plate_text.greedy(probs), name, confidence)


def crop_plate(grey: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The box with a small margin, clipped to the frame (detector-like loose crop)."""
    x0, y0, x1, y1 = box
    px, py = (x1 - x0) * CROP_PAD, (y1 - y0) * CROP_PAD
    h, w = grey.shape
    xa, ya = int(max(0, x0 - px)), int(max(0, y0 - py))
    xb, yb = int(min(w, x1 + px)), int(min(h, y1 + py))
    return grey[ya : max(yb, ya + 2), xa : max(xb, xa + 2)]
