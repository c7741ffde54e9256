"""Stills: each camera's best recent frame, kept for snapshots and rendered as JPEG.

The pick is the frame with the sharpest, most frontal face seen in the last `BEST_FOR_S`
seconds, else the latest frame the detectors ran on (so faces can always be blurred: a
frame the detectors skipped is never offered).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from agent.errors import HardwareError
from agent.vision.camera import Frame
from agent.vision.faces import Face
from agent.vision.image import Box, Image, blur_boxes, crop

# A frame with a good face stays the pick this long: an SOS snapshot taken a few seconds
# after the caller stepped back from the button still shows their face.
BEST_FOR_S = 10.0
JPEG_QUALITY = 85
# Crops keep a quarter of the face's size around it: hair line, chin and ears.
CROP_MARGIN = 0.25


@dataclass(frozen=True)
class Still:
    """A frame, the faces found in it (detection-image pixels), and how good a pick it is."""

    camera: str
    frame: Frame
    faces: tuple[Face, ...]

    @property
    def score(self) -> float:
        """The best face's sharpness times frontality (0 without faces)."""
        return max((f.quality.sharpness * f.quality.frontal for f in self.faces), default=0.0)


class Stills:
    """The latest and best detected frame per camera; fed by camera threads, read by requests."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._best: dict[str, tuple[float, Still]] = {}

    def offer(self, camera: str, frame: Frame, faces: Sequence[Face]) -> None:
        """A frame the detectors ran on, with every face found (also outside the regions)."""
        still, now = Still(camera, frame, tuple(faces)), self._clock()
        with self._lock:
            kept = self._best.get(camera)
            if kept is None or now - kept[0] > BEST_FOR_S or still.score >= kept[1].score:
                self._best[camera] = (now, still)

    def pick(self, camera: str | None = None) -> Still:
        """The best recent still of `camera`, or of any camera; HardwareError when none."""
        with self._lock:
            stills = [s for _, s in self._best.values() if camera in (None, s.camera)]
        if not stills:
            which = f"camera {camera!r}" if camera else "any camera"
            raise HardwareError(f"no frame from {which} yet")
        return max(stills, key=lambda s: s.score)


def render(still: Still, *, blur: bool) -> bytes:
    """The still at full resolution as JPEG, faces pixelated when `blur`."""
    image = still.frame.full
    if blur:
        image = blur_boxes(image, scaled_boxes(still.frame, still.faces))
    return jpeg(image, still.camera)


def face_crops(camera: str, frame: Frame, faces: Sequence[Face]) -> list[bytes]:
    """Each face cut from the full-resolution image, with a margin, as JPEG."""
    image = frame.full
    return [jpeg(crop(image, box, CROP_MARGIN), camera) for box in scaled_boxes(frame, faces)]


def jpeg(image: Image, camera: str) -> bytes:
    """An image as JPEG bytes."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise HardwareError(f"camera {camera}: cannot encode a JPEG")
    return bytes(np.asarray(encoded).tobytes())


def scaled_boxes(frame: Frame, faces: Sequence[Face]) -> list[Box]:
    """The faces' boxes in the full-resolution image (picamera2 detects on its lores stream)."""
    detect_h, detect_w = frame.image.shape[:2]
    full_h, full_w = frame.full.shape[:2]
    sx, sy = full_w / detect_w, full_h / detect_h
    return [(f.box[0] * sx, f.box[1] * sy, f.box[2] * sx, f.box[3] * sy) for f in faces]
