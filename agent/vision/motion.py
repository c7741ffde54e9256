"""Motion gating: run the detectors only when something moves in the region of interest.

A running-average background of a small, blurred grey copy of the detection stream; a
pixel whose grey level is more than `pixel_delta` away from the background has changed.
Detection runs while the changed fraction of the region is at least `threshold`, for
`hold_frames` frames after that (a car that slows down is still read), and at least every
`force_every_s` seconds regardless, because a parked car fades into the background.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from agent.errors import ConfigError
from agent.vision.image import Image

Reason = Literal["motion", "hold", "forced", "idle"]
# Working width: about 1/8 of 1280 px keeps a car's outline and costs well under a millisecond.
WORK_WIDTH = 160


class MaskSource(Protocol):
    """Something that can draw a region of interest at a given frame size (`Regions`)."""

    def mask(self, size: tuple[int, int]) -> NDArray[np.bool_]:
        """A boolean mask `(height, width)` for a frame of `size` = (width, height)."""
        ...


@dataclass(frozen=True)
class MotionConfig:
    """How much change counts as motion and how long detection keeps running after it."""

    threshold: float = 0.005
    pixel_delta: int = 25
    learning_rate: float = 0.05
    hold_frames: int = 10
    force_every_s: float = 30.0

    def __post_init__(self) -> None:
        checks = {
            "threshold": 0.0 < self.threshold <= 1.0,
            "pixel_delta": 0 < self.pixel_delta < 255,
            "learning_rate": 0.0 < self.learning_rate <= 1.0,
            "hold_frames": self.hold_frames >= 0,
            "force_every_s": self.force_every_s > 0.0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"motion.{name}: out of range (got {getattr(self, name)!r})")


@dataclass(frozen=True)
class Decision:
    """Whether to run the detectors on this frame, why, and the changed fraction seen."""

    run: bool
    reason: Reason
    changed: float


class MotionGate:
    """Decides per frame whether the detectors should run."""

    def __init__(
        self, config: MotionConfig | None = None, *, roi: MaskSource | None = None
    ) -> None:
        self.config = config or MotionConfig()
        self._roi = roi
        self._background: NDArray[np.float32] | None = None
        self._mask: NDArray[np.bool_] | None = None
        self._hold = 0
        self._last_run: float | None = None

    def check(self, image: Image, ts: float) -> Decision:
        """Compare `image` (taken at `ts`) with the background and decide."""
        grey = _small_grey(image)
        changed = self._changed(grey)
        if changed >= self.config.threshold:
            self._hold = self.config.hold_frames
            return self._ran(ts, "motion", changed)
        if self._hold > 0:
            self._hold -= 1
            return self._ran(ts, "hold", changed)
        if self._last_run is None or ts - self._last_run >= self.config.force_every_s:
            return self._ran(ts, "forced", changed)
        return Decision(False, "idle", changed)

    def _ran(self, ts: float, reason: Reason, changed: float) -> Decision:
        self._last_run = ts
        return Decision(True, reason, changed)

    def _changed(self, grey: NDArray[np.uint8]) -> float:
        """Fraction of the region that differs from the background; then learn the frame."""
        if self._background is None or self._background.shape != grey.shape:
            self._background = grey.astype(np.float32)
            self._mask = self._region(grey.shape)
            return 0.0
        delta = cv2.absdiff(grey, cv2.convertScaleAbs(self._background))
        moved = delta > self.config.pixel_delta
        cv2.accumulateWeighted(grey, self._background, self.config.learning_rate)
        if self._mask is None:
            return float(moved.mean())
        area = int(self._mask.sum())
        return float((moved & self._mask).sum() / area) if area else 0.0

    def _region(self, shape: tuple[int, ...]) -> NDArray[np.bool_] | None:
        if self._roi is None:
            return None
        return self._roi.mask((shape[1], shape[0]))


def _small_grey(image: Image) -> NDArray[np.uint8]:
    """A blurred grey copy `WORK_WIDTH` wide: cheap, and blind to sensor noise."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    height, width = grey.shape[:2]
    size = (WORK_WIDTH, max(1, round(height * WORK_WIDTH / width)))
    small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return np.asarray(cv2.GaussianBlur(small, (5, 5), 0), dtype=np.uint8)
