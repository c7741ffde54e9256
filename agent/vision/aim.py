"""Aiming: what a technician on a ladder needs to point and focus a camera (`camera aim`).

Camera threads of the vision child feed an `AimMeter` with a few counters per frame; the
picture itself (sharpness, brightness) is measured only when a reading is asked for (about
once a second while `edge-agent camera aim` runs), on the latest frame, so aiming costs the
pipeline next to nothing.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from agent.errors import HardwareError
from agent.vision.camera import Frame
from agent.vision.faces import USABLE_FACE_PX, Face
from agent.vision.image import Box, Image

PER_MIN_WINDOW_S = 60.0  # detections per minute are counted over the last minute
FPS_WINDOW_S = 5.0  # frame rates over the last few seconds: they follow the technician's hands
# Sharpness is the Laplacian variance of a grey copy at most this wide: comparable across
# 720p streams and picamera2's lores, and the averaging damps sensor noise a little.
WORK_WIDTH = 640
# Measured here at WORK_WIDTH: in-focus photos and the sample clip 220-1500; the same with
# a Gaussian blur of sigma 1.5 about 24, sigma 3 under 7. Flat scenes read low even in focus.
SHARP_AT = 100.0
SOFT_AT = 30.0
# Brightness: mean grey level, and the share of pixels clipped at either end.
DARK_MEAN, BRIGHT_MEAN = 50.0, 205.0
DARK_LEVEL, BRIGHT_LEVEL = 8, 247
CLIPPED_DARK, CLIPPED_BRIGHT = 0.30, 0.05
# A plate this narrow is read poorly by the OCR (its training crops are 100+ px wide).
PLATE_MIN_PX = 100.0
STALE_S = 5.0  # the latest frame is this old: the camera has stopped delivering
NO_PLATES = "plate detection off (vision.plates)"


@dataclass
class _Camera:
    """One camera's recent history: frame times, detector runs, the latest frame."""

    latest: Frame | None = None
    latest_at: float = 0.0
    first_at: float | None = None
    frames: deque[float] = field(default_factory=deque)
    runs: deque[tuple[float, int, float, float]] = field(default_factory=deque)
    # (when, faces found, widest face px, widest plate px or 0)


class AimMeter:
    """Per-camera frame rate, detections per minute and the latest frame, for readings."""

    def __init__(
        self, *, plate_detector: bool = False, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.plate_detector = plate_detector
        self._clock = clock
        self._lock = threading.Lock()
        self._cameras: dict[str, _Camera] = {}

    def frame(self, camera: str, frame: Frame) -> None:
        """A frame the camera delivered (whether or not the detectors run on it)."""
        now = self._clock()
        with self._lock:
            state = self._cameras.setdefault(camera, _Camera(first_at=now))
            state.latest, state.latest_at = frame, now
            state.frames.append(now)
            _forget(state.frames, now - FPS_WINDOW_S)

    def detected(self, camera: str, faces: Sequence[Face], plates: Sequence[Box] = ()) -> None:
        """The detectors ran on the camera's latest frame and found these: faces in its
        pixels, plates in the full-resolution frame's (where the OCR reads them)."""
        now = self._clock()
        widest_face = max((f.box[2] - f.box[0] for f in faces), default=0.0)
        widest_plate = max((b[2] - b[0] for b in plates), default=0.0)
        with self._lock:
            state = self._cameras.setdefault(camera, _Camera(first_at=now))
            state.runs.append((now, len(faces), widest_face, widest_plate))
            while state.runs and state.runs[0][0] < now - PER_MIN_WINDOW_S:
                state.runs.popleft()

    def readings(self, camera: str | None = None) -> list[dict[str, Any]]:
        """A reading of `camera`, or of every camera; HardwareError when there is none."""
        with self._lock:
            now = self._clock()
            found = {n: _copy(s) for n, s in self._cameras.items() if camera in (None, n)}
        if not found:
            which = f"camera {camera!r}" if camera else "any camera"
            raise HardwareError(f"no frame from {which} yet")
        return [self._reading(name, state, now) for name, state in sorted(found.items())]

    def _reading(self, name: str, state: _Camera, now: float) -> dict[str, Any]:
        minute_span = min(PER_MIN_WINDOW_S, max(1.0, now - (state.first_at or now)))
        runs = [run for run in state.runs if run[0] >= now - PER_MIN_WINDOW_S]
        faces = sum(run[1] for run in runs)
        plates = sum(1 for run in runs if run[3] > 0)
        widest_face = max((run[2] for run in runs), default=0.0)
        widest_plate = max((run[3] for run in runs), default=0.0)
        reading: dict[str, Any] = {
            "camera": name,
            "fps": _rate(state.frames, now),
            "detect_fps": _rate((run[0] for run in runs), now),
            "window_s": round(minute_span, 1),
            "frame_age_s": round(now - state.latest_at, 1) if state.latest else None,
            "faces": {
                "per_min": round(faces * 60.0 / minute_span, 1),
                "widest_px": round(widest_face, 1) if widest_face else None,
            },
            "plates": self._plates(plates * 60.0 / minute_span, widest_plate),
        }
        if state.latest is not None:
            reading.update(measure(state.latest.image))
        reading["detections_per_min"] = round(
            reading["faces"]["per_min"] + (reading["plates"]["per_min"] or 0.0), 1
        )
        reading["advice"] = advice(reading)
        return reading

    def _plates(self, per_min: float, widest: float) -> dict[str, Any]:
        if not self.plate_detector:
            return {"detector": False, "per_min": None, "widest_px": None, "note": NO_PLATES}
        return {
            "detector": True,
            "per_min": round(per_min, 1),
            "widest_px": round(widest, 1) if widest else None,
            "note": "",
        }


def measure(image: Image) -> dict[str, Any]:
    """Sharpness and brightness of one detection frame, each with a plain-words verdict."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    height, width = grey.shape[:2]
    if width > WORK_WIDTH:
        size = (WORK_WIDTH, max(1, round(height * WORK_WIDTH / width)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    mean = float(np.mean(grey))
    dark = float(np.count_nonzero(grey <= DARK_LEVEL)) / grey.size
    bright = float(np.count_nonzero(grey >= BRIGHT_LEVEL)) / grey.size
    return {
        "size": [width, height],
        "sharpness": {"value": round(sharpness, 1), "verdict": _focus(sharpness)},
        "brightness": {
            "mean": round(mean, 1),
            "dark": round(dark, 3),
            "bright": round(bright, 3),
            "verdict": _exposure(mean, dark, bright),
        },
    }


def _focus(sharpness: float) -> str:
    if sharpness >= SHARP_AT:
        return "sharp"
    return "soft" if sharpness >= SOFT_AT else "blurred"


def _exposure(mean: float, dark: float, bright: float) -> str:
    if mean < DARK_MEAN:
        return "too dark"
    if mean > BRIGHT_MEAN:
        return "too bright"
    if bright > CLIPPED_BRIGHT:
        return "highlights clipped"
    return "shadows clipped" if dark > CLIPPED_DARK else "ok"


def advice(reading: dict[str, Any]) -> list[str]:
    """Short advice for the technician, most important first."""
    age = reading.get("frame_age_s")
    if age is None:
        return ["no frame yet"]
    if age > STALE_S:
        return [f"no new frame for {age:g} s: check the camera"]
    tips = []
    exposure = reading["brightness"]["verdict"]
    if exposure in ("too dark", "shadows clipped"):
        tips.append("too dark: open the iris or add IR")
    elif exposure in ("too bright", "highlights clipped"):
        tips.append("too bright: close the iris or turn away from the sun and headlights")
    # A dark frame reads blurred whatever the focus: fix the light first.
    if reading["sharpness"]["verdict"] == "blurred" and exposure != "too dark":
        tips.append("out of focus: turn the focus ring until sharpness peaks")
    elif reading["sharpness"]["verdict"] == "soft" and exposure != "too dark":
        tips.append("a little soft: check the focus, clean the lens")
    plate_px = reading["plates"]["widest_px"]
    if plate_px is not None and plate_px < PLATE_MIN_PX:
        tips.append(f"plates under {PLATE_MIN_PX:.0f} px wide: zoom in or move closer")
    face_px = reading["faces"]["widest_px"]
    if face_px is not None and face_px < USABLE_FACE_PX:
        tips.append(f"faces under {USABLE_FACE_PX:.0f} px wide: zoom in for usable face crops")
    return tips


def _rate(times: Iterable[float], now: float) -> float:
    """Events per second over the last `FPS_WINDOW_S` (0 until two have been seen)."""
    recent = [t for t in times if t >= now - FPS_WINDOW_S]
    if len(recent) < 2 or now <= recent[0]:
        return 0.0
    return round((len(recent) - 1) / (now - recent[0]), 1)


def _forget(times: deque[float], before: float) -> None:
    while times and times[0] < before:
        times.popleft()


def _copy(state: _Camera) -> _Camera:
    """A snapshot of the state to read outside the lock (frames are never modified)."""
    return _Camera(
        state.latest, state.latest_at, state.first_at, deque(state.frames), deque(state.runs)
    )
