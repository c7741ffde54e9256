"""Faces: BlazeFace with our own anchors, decoding and weighted non-maximum suppression.

The anchor layout and box coding follow MediaPipe's `face_detection_*_range.pbtxt`
graphs (SsdAnchorsCalculator with fixed anchor size; TensorsToDetectionsCalculator with
reversed output order; NonMaxSuppressionCalculator, WEIGHTED, IoU 0.3). The wheel the
models come from has its own decoder, but it breaks on numpy 2, so we decode here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.vision.image import Box, Image, Letterbox, crop, fit, rgb, sharpness
from agent.vision.runtime import FloatArray, Model

log = logging.getLogger(__name__)

KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear")
NMS_IOU = 0.3
# A face narrower than this many pixels is too small to identify from the crop.
USABLE_FACE_PX = 80.0
# Laplacian variance (64x64 grey crop) at which sharpness scores 0.5: in-focus faces
# measured 300-900 here, motion-blurred ones under 60.
SHARPNESS_HALF = 100.0


@dataclass(frozen=True)
class BlazeFaceSpec:
    """One BlazeFace variant: its manifest name, input side, anchor layers, score floor."""

    model: str
    size: int
    layers: tuple[tuple[int, int], ...]  # (stride, anchors per cell)
    min_score: float


SHORT_RANGE = BlazeFaceSpec("blazeface-short", 128, ((8, 2), (16, 6)), 0.5)
FULL_RANGE = BlazeFaceSpec("blazeface-full", 192, ((4, 1),), 0.6)
SPECS = {spec.model: spec for spec in (SHORT_RANGE, FULL_RANGE)}


@dataclass(frozen=True)
class Detections:
    """Decoded detections in normalised model-input coordinates."""

    boxes: FloatArray  # (n, 4) x0, y0, x1, y1
    keypoints: FloatArray  # (n, 6, 2) x, y
    scores: FloatArray  # (n,)


@dataclass(frozen=True)
class Quality:
    """How usable a face crop is, each part and the overall score in [0, 1]."""

    size: float
    sharpness: float
    frontal: float

    @property
    def overall(self) -> float:
        """Geometric mean: any one part near zero makes the crop useless."""
        return float((self.size * self.sharpness * self.frontal) ** (1 / 3))

    def as_dict(self) -> dict[str, float]:
        """Rounded values for an event payload."""
        parts = {"size": self.size, "sharpness": self.sharpness, "frontal": self.frontal}
        return {k: round(v, 3) for k, v in {**parts, "overall": self.overall}.items()}


@dataclass(frozen=True)
class Face:
    """One face in image pixels."""

    box: Box
    score: float
    keypoints: tuple[tuple[float, float], ...]
    quality: Quality

    def as_dict(self) -> dict[str, Any]:
        """The face as it appears in an event's `data.faces`."""
        return {
            "box": [round(v, 1) for v in self.box],
            "score": round(self.score, 3),
            "keypoints": {
                k: [round(x, 1), round(y, 1)]
                for k, (x, y) in zip(KEYPOINTS, self.keypoints, strict=True)
            },
            "quality": self.quality.as_dict(),
        }


def anchors(spec: BlazeFaceSpec) -> FloatArray:
    """Anchor centres `(n, 2)`, normalised, in the order the model emits its boxes."""
    parts = []
    for stride, per_cell in spec.layers:
        cells = math.ceil(spec.size / stride)
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        centres = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 2)
        parts.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(parts).astype(np.float32)


def decode(
    regressors: FloatArray,
    logits: FloatArray,
    anchor_centres: FloatArray,
    size: int,
    min_score: float,
) -> Detections:
    """Boxes, keypoints and scores of every anchor whose score reaches `min_score`."""
    flat = logits.reshape(-1)
    # Only logits that can reach the floor go on to the sigmoid and the box decoding: on a
    # frame without faces that is none of the 896 or 2304 anchors.
    candidates = np.flatnonzero(flat >= _logit_floor(min_score))
    if not candidates.size:  # right after an invoke, the rest costs 0.2 ms even when empty
        return _none()
    # MediaPipe clips logits to +-100 before the sigmoid (score_clipping_thresh); exp(100)
    # overflows float32, so the sigmoid runs in float64.
    clipped = np.clip(flat[candidates].astype(np.float64), -100.0, 100.0)
    scores = 1.0 / (1.0 + np.exp(-clipped))
    passed = scores >= min_score
    keep = candidates[passed]
    raw = regressors.reshape(len(anchor_centres), -1)[keep] / np.float32(size)
    centres = anchor_centres[keep]
    middle = raw[:, 0:2] + centres
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([middle - half, middle + half], axis=1)
    keypoints = raw[:, 4:16].reshape(-1, 6, 2) + centres[:, None, :]
    return Detections(
        boxes.astype(np.float32, copy=False),
        keypoints.astype(np.float32, copy=False),
        scores[passed].astype(np.float32),
    )


def _none() -> Detections:
    """No detections, shaped as `decode` shapes them."""
    return Detections(
        np.empty((0, 4), np.float32), np.empty((0, 6, 2), np.float32), np.empty(0, np.float32)
    )


def _logit_floor(min_score: float) -> float:
    """A logit just below the lowest whose sigmoid reaches `min_score`; -inf for no shortcut.

    The sigmoid is monotonic, so this only saves work: the exact float64 test still decides.
    The margin covers rounding; below -100 every logit passes, clipped to -100.
    """
    if not 0.0 < min_score < 1.0:
        return -math.inf
    floor = math.log(min_score / (1.0 - min_score)) - 1e-3
    return floor if floor > -100.0 else -math.inf


def weighted_nms(found: Detections, iou_threshold: float = NMS_IOU) -> Detections:
    """Merge overlapping detections into their score-weighted mean; each keeps its best score."""
    if not found.scores.size:
        return found
    order = np.argsort(-found.scores, kind="stable")
    # Boxes and keypoints side by side, so each cluster is averaged in one pass.
    values = np.concatenate([found.boxes, found.keypoints.reshape(-1, 12)], axis=1)
    merged, scores = [], []
    while order.size:
        overlap = iou(found.boxes[order[0]], found.boxes[order])
        overlap[0] = 1.0  # a degenerate box has IoU 0 with itself but still leads its cluster
        cluster, order = order[overlap > iou_threshold], order[overlap <= iou_threshold]
        weights = found.scores[cluster][:, None]
        merged.append((values[cluster] * weights).sum(axis=0) / weights.sum())
        scores.append(found.scores[cluster[0]])
    means = np.array(merged, dtype=np.float32)
    return Detections(
        means[:, :4], means[:, 4:].reshape(-1, 6, 2), np.array(scores, dtype=np.float32)
    )


def iou(box: FloatArray, boxes: FloatArray) -> FloatArray:
    """Intersection over union of one box `(4,)` with each of `boxes` `(n, 4)`."""
    # Corners and sides as (n, 2) pairs: half as many numpy calls as one coordinate at a time.
    sides = np.maximum(np.minimum(box[2:], boxes[:, 2:]) - np.maximum(box[:2], boxes[:, :2]), 0)
    inter = sides[:, 0] * sides[:, 1]
    extents = boxes[:, 2:] - boxes[:, :2]
    union = float((box[2] - box[0]) * (box[3] - box[1])) + extents[:, 0] * extents[:, 1] - inter
    result = np.zeros(len(boxes), np.float32)
    np.divide(inter, union, out=result, where=union > 0)
    return result


def frontal(keypoints: Sequence[tuple[float, float]]) -> float:
    """1 when the nose is midway between the ears (facing the camera), 0 in full profile."""
    nose_x, right_x, left_x = keypoints[2][0], keypoints[4][0], keypoints[5][0]
    to_right, to_left = abs(nose_x - right_x), abs(nose_x - left_x)
    total = to_right + to_left
    return 0.0 if total <= 0 else 1.0 - abs(to_right - to_left) / total


def assess(image: Image, box: Box, keypoints: Sequence[tuple[float, float]]) -> Quality:
    """Size, sharpness and frontal pose of one face in `image`."""
    size = min(1.0, (box[2] - box[0]) / USABLE_FACE_PX)
    focus = sharpness(crop(image, box))
    return Quality(
        size=size, sharpness=focus / (focus + SHARPNESS_HALF), frontal=frontal(keypoints)
    )


class FaceDetector:
    """BlazeFace on BGR images: letterbox, invoke, decode, merge, map back, assess."""

    def __init__(
        self,
        model: Model,
        spec: BlazeFaceSpec,
        *,
        min_score: float | None = None,
        iou_threshold: float = NMS_IOU,
    ) -> None:
        self.model = model
        self.spec = spec
        self.min_score = spec.min_score if min_score is None else min_score
        self.iou_threshold = iou_threshold
        self.anchor_centres = anchors(spec)
        self._regressors, self._logits = _output_order(model)
        _check_input(model, spec)

    def detect(self, image: Image) -> list[Face]:
        """Every face in a BGR image, best first."""
        box = self.prepare(image)
        self.model.invoke()
        return self.postprocess(image, self.model.get_outputs(), box)

    def prepare(self, image: Image) -> Letterbox:
        """Letterbox `image` straight into the model's input tensor (what `preprocess` returns)."""
        resized, box = fit(image, self.spec.size)
        self.model.fill_input(lambda tensor: _write_input(tensor[0], resized, box))
        return box

    def preprocess(self, image: Image) -> tuple[FloatArray, Letterbox]:
        """The model input: letterboxed, RGB, scaled to [-1, 1], with a batch axis."""
        resized, box = fit(image, self.spec.size)
        tensor = np.empty((1, self.spec.size, self.spec.size, 3), dtype=np.float32)
        _write_input(tensor[0], resized, box)
        return tensor, box

    def postprocess(
        self, image: Image, outputs: Sequence[FloatArray], box: Letterbox
    ) -> list[Face]:
        """Decode, merge and map the model outputs to faces in `image`."""
        found = decode(
            outputs[self._regressors],
            outputs[self._logits],
            self.anchor_centres,
            self.spec.size,
            self.min_score,
        )
        if not found.scores.size:
            return []
        merged = weighted_nms(found, self.iou_threshold)
        boxes = box.to_image(merged.boxes.reshape(-1, 2, 2)).reshape(-1, 4)
        points = box.to_image(merged.keypoints)
        return [_face(image, b, p, s) for b, p, s in zip(boxes, points, merged.scores, strict=True)]


def _write_input(target: FloatArray, resized: Image, box: Letterbox) -> None:
    """`resized` (BGR) into a `(size, size, 3)` input: centred, RGB in [-1, 1], black around.

    Only the image's own pixels are converted, as `x / 127.5 - 1` in float32 like MediaPipe;
    the border is its value, -1, filled.
    """
    height, width = resized.shape[:2]
    target.fill(-1.0)
    region = target[box.pad_y : box.pad_y + height, box.pad_x : box.pad_x + width]
    np.divide(rgb(resized), np.float32(127.5), out=region, casting="unsafe")
    region -= np.float32(1.0)


def _face(image: Image, box: FloatArray, points: FloatArray, score: np.float32) -> Face:
    x0, y0, x1, y1 = box.tolist()
    pixel_box: Box = (x0, y0, x1, y1)
    keypoints = tuple((x, y) for x, y in points.tolist())
    return Face(pixel_box, float(score), keypoints, assess(image, pixel_box, keypoints))


def _output_order(model: Model) -> tuple[int, int]:
    """Which output holds the 16 box values and which the score, by shape not by name."""
    widths = [spec.shape[-1] for spec in model.outputs]
    if sorted(widths) != [1, 16]:
        raise ValueError(f"{model.name} is not a BlazeFace model: output widths {widths}")
    return widths.index(16), widths.index(1)


def _check_input(model: Model, spec: BlazeFaceSpec) -> None:
    """One float32 RGB square of the spec's size: `prepare` writes real values in place."""
    shapes = [(tensor.shape, tensor.dtype.name) for tensor in model.inputs]
    if shapes != [((1, spec.size, spec.size, 3), "float32")]:
        raise ValueError(f"{model.name} is not {spec.model}: inputs {shapes}")
