"""Real JPEG bytes for media tests, encoded by OpenCV from a synthetic frame."""

from __future__ import annotations

import cv2
import numpy as np


def jpeg(width: int = 64, height: int = 48, *, seed: int = 0) -> bytes:
    """A small noisy JPEG; a different `seed` gives different bytes."""
    frame = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return bytes(encoded.tobytes())
