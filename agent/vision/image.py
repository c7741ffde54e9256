"""Image operations the detectors share: fitting into model inputs, sharpness, blurring."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

Image = NDArray[np.uint8]
Box = tuple[float, float, float, float]
PRESHRINK_FROM = 4  # `shrink`: a bilinear pre-shrink from this factor up


@dataclass(frozen=True)
class Letterbox:
    """How an image was scaled and padded into a square model input, to map points back."""

    scale: float
    pad_x: int
    pad_y: int
    size: int

    def to_image(self, points: NDArray[np.float32]) -> NDArray[np.float32]:
        """Map normalised model-input coordinates `(..., 2)` to image pixels."""
        pixels = points * np.float32(self.size)
        offset = np.array([self.pad_x, self.pad_y], dtype=np.float32)
        return ((pixels - offset) / np.float32(self.scale)).astype(np.float32)


def fit(image: Image, size: int) -> tuple[Image, Letterbox]:
    """`image` scaled to fit a `size`x`size` square, and where it sits centred in the square."""
    height, width = image.shape[:2]
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    box = Letterbox(scale=scale, pad_x=(size - new_w) // 2, pad_y=(size - new_h) // 2, size=size)
    return shrink(image, (new_w, new_h)), box


def shrink(image: Image, size: tuple[int, int]) -> Image:
    """`image` resized to `size` (width, height), averaging when it shrinks.

    INTER_AREA averages, which keeps small faces from aliasing away, but at a fractional
    factor it costs 6 ms on a 1280x720 frame here (1.5 ms after a whole-number pre-shrink).
    From `PRESHRINK_FROM` times the target and more, a bilinear pass to twice the target
    comes first, then INTER_AREA's exact-2x fast path: each output pixel averages four
    bilinear samples spread over its footprint. 1280x720 to 192x108 then costs a third of
    the whole-number way. Faces found in 720p frames at the models' size limits
    (`benchmarks/bench_vision_models.py --detection-check`): full range 88 of 168, against
    86 with the whole-number pre-shrink and 93 with INTER_AREA alone; short range 86 of 120
    against 91 and 91; bilinear alone (what MediaPipe feeds BlazeFace) 82 and 75. Fine
    stripes alias more than with INTER_AREA. Smaller shrinks are left exact: at 3x a changed
    intermediate image moved a photo of a cat over BlazeFace-short's score floor.
    """
    height, width = image.shape[:2]
    if min(width / size[0], height / size[1]) >= PRESHRINK_FROM:
        double = (2 * size[0], 2 * size[1])
        image = np.asarray(cv2.resize(image, double, interpolation=cv2.INTER_LINEAR), np.uint8)
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def rgb(image: Image) -> Image:
    """A BGR image as RGB (OpenCV's swap converts 4x faster here than numpy's reversed view)."""
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), dtype=np.uint8)


def crop(image: Image, box: Box, margin: float = 0.0) -> Image:
    """The pixels inside `box` grown by `margin` of its size, clipped to the image."""
    x0, y0, x1, y1 = _grow(box, margin)
    height, width = image.shape[:2]
    left, top = max(0, int(x0)), max(0, int(y0))
    right, bottom = min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1)))
    return image[top:bottom, left:right]


def sharpness(image: Image, side: int = 64) -> float:
    """Variance of the Laplacian on a `side`-pixel grey copy (scale-independent focus measure).

    A grey crop of at least twice `side` is first taken bilinearly to twice `side`, then
    halved by INTER_AREA's exact-2x path, as in `shrink`: INTER_AREA at a fractional factor
    cost 0.1-0.25 ms on a 228-pixel face crop, more than the rest of a face's
    post-processing, and a bilinear resize of the colour crop 0.08 ms. The Laplacian of
    8-bit pixels is exact in float32.
    """
    if image.size == 0:
        return 0.0
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    if min(grey.shape[:2]) >= 2 * side:
        grey = cv2.resize(grey, (2 * side, 2 * side), interpolation=cv2.INTER_LINEAR)
    small = cv2.resize(grey, (side, side), interpolation=cv2.INTER_AREA)
    _, deviation = cv2.meanStdDev(cv2.Laplacian(small, cv2.CV_32F))
    return float(deviation[0, 0]) ** 2


def blur_boxes(image: Image, boxes: Iterable[Box], margin: float = 0.25) -> Image:
    """A copy of `image` with every box pixelated beyond recognition (for stored snapshots)."""
    result = image.copy()
    height, width = image.shape[:2]
    for box in boxes:
        x0, y0, x1, y1 = _grow(box, margin)
        left, top = max(0, int(x0)), max(0, int(y0))
        right, bottom = min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1)))
        if right <= left or bottom <= top:
            continue
        region = result[top:bottom, left:right]
        # 4x4 blocks over the box grown by a quarter: with 6x6 blocks or a tighter margin
        # BlazeFace still found a face in the mosaic. A Gaussian blur can be partly inverted.
        tiny = cv2.resize(region, (4, 4), interpolation=cv2.INTER_AREA)
        result[top:bottom, left:right] = cv2.resize(
            tiny, (right - left, bottom - top), interpolation=cv2.INTER_NEAREST
        )
    return result


def _grow(box: Box, margin: float) -> Box:
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    return x0 - dx, y0 - dy, x1 + dx, y1 + dy
