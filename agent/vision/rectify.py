"""Plate crops for the OCR: cut from the full-resolution frame, deskewed, stretched to its input.

The detector gives axis-aligned boxes only (no corners), so rectification is a rotation:
the skew is the dominant direction of the near-horizontal edges inside the box (plate
border, character tops and baselines), found with the doubled-angle average of the
gradients, which is cheap and needs no thresholds. Vertical strokes are left out because
their doubled angle would cancel the horizontal ones. The OCR was trained on plates
rotated by up to about 5 degrees (notes/plates-ocr.md), so only larger skews are undone.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from agent.vision.image import Box, Image

MIN_SKEW_DEG = 3.0  # below this the OCR reads as well unrotated (trained with ±5°)
MAX_SKEW_DEG = 25.0  # beyond this the estimate is more likely the car's lines than the plate's
HORIZONTAL = 2.0  # an edge counts as horizontal when |gy| > HORIZONTAL * |gx| (within ~27°)


def grey(image: Image) -> Image:
    """A grey copy of a BGR image (grey images pass through)."""
    if image.ndim == 2:
        return image
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)


def skew_angle(image: Image, rounds: int = 3) -> float:
    """The plate's tilt in degrees, positive when its lines fall to the right (0 when flat)."""
    g = grey(image).astype(np.float32)
    gradient = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) + 1j * cv2.Sobel(g, cv2.CV_32F, 0, 1)
    doubled = gradient**2  # doubled angle: opposite gradients agree
    angle = 0.0
    # A fixed window around "horizontal" cuts the spread of gradients unevenly and pulls
    # the estimate towards 0 (10.5° for a 12° plate): centre it on the last estimate.
    for _ in range(rounds):
        turned = gradient * np.exp(-1j * math.radians(angle))
        keep = np.abs(turned.imag) > HORIZONTAL * np.abs(turned.real)
        total = complex(doubled[keep].sum()) if keep.any() else 0j
        if abs(total) < 1e-6:
            return 0.0
        # The gradient of a line at angle a points at a + 90°: its doubled angle is 2a + 180°.
        angle = math.degrees(math.atan2(-total.imag, -total.real) / 2)
    return angle


def plate_size(box: Box, angle: float) -> tuple[float, float]:
    """Width and height of a plate tilted by `angle` whose bounding box is `box`."""
    bw, bh = box[2] - box[0], box[3] - box[1]
    c, s = math.cos(math.radians(abs(angle))), math.sin(math.radians(abs(angle)))
    det = c * c - s * s
    w, h = (bw * c - bh * s) / det, (bh * c - bw * s) / det
    # A loose detector box makes the inversion unstable: never shrink below 70 %.
    return max(w, 0.7 * bw), max(h, 0.7 * bh)


def plate_crop(
    image: Image, box: Box, size: tuple[int, int], *, margin: float, deskew: bool = True
) -> tuple[Image, float]:
    """The plate in `box` grown by `margin`, deskewed, as grey `size` (w, h); and the angle."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    angle = skew_angle(_cut(image, box, 0.0)[0]) if deskew else 0.0
    if not MIN_SKEW_DEG <= abs(angle) <= MAX_SKEW_DEG:
        return _resize(grey(_cut(image, box, margin)[0]), size), 0.0
    # Cut generously, so that rotating brings in pixels rather than black corners.
    region, (left, top) = _cut(image, box, 0.5)
    rotation = cv2.getRotationMatrix2D((cx - left, cy - top), angle, 1.0)
    height, width = region.shape[:2]
    turned = cv2.warpAffine(grey(region), rotation, (width, height), flags=cv2.INTER_LINEAR)
    w, h = plate_size(box, angle)
    inner = (cx - left - w / 2, cy - top - h / 2, cx - left + w / 2, cy - top + h / 2)
    return _resize(_cut(np.asarray(turned, dtype=np.uint8), inner, margin)[0], size), angle


def _cut(image: Image, box: Box, margin: float) -> tuple[Image, tuple[int, int]]:
    """The pixels in `box` grown by `margin` of its size, clipped; and the cut's top left."""
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    height, width = image.shape[:2]
    left, top = max(0, int(x0 - dx)), max(0, int(y0 - dy))
    right = min(width, max(left + 2, math.ceil(x1 + dx)))
    bottom = min(height, max(top + 2, math.ceil(y1 + dy)))
    return image[top:bottom, left:right], (left, top)


def _resize(image: Image, size: tuple[int, int]) -> Image:
    shrinking = image.shape[1] > size[0]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(image, size, interpolation=interpolation), dtype=np.uint8)
