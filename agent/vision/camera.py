"""Cameras: one small interface in front of picamera2, video files, image folders and RTSP.

Every backend hands out `Frame`s; `Reconnecting` wraps any of them so that a camera that
disappears (unplugged, IP camera rebooting, file not there yet) is reopened with backoff and
reported as health instead of ending the vision process.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from agent.errors import HardwareError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
# OpenCV's FFmpeg backend waits 30 s by default on a dead IP camera; keep reconnects prompt.
STREAM_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class Frame:
    """One captured image (BGR uint8), when it was taken, and its number on this camera.

    `image` is what detectors run on (picamera2's low-resolution stream); `main`, when
    present, is the full-resolution image of the same instant, for crops and snapshots.
    """

    image: NDArray[np.uint8]
    ts: float
    seq: int
    main: NDArray[np.uint8] | None = None

    @property
    def full(self) -> NDArray[np.uint8]:
        """The highest-resolution image of this instant."""
        return self.image if self.main is None else self.main


class Camera(Protocol):
    """What every backend provides."""

    name: str

    def open(self) -> None:
        """Start capturing; raises HardwareError when the source cannot be opened."""

    def read(self) -> Frame | None:
        """The next frame; None at the end of a finite source; HardwareError when lost."""

    def close(self) -> None:
        """Stop capturing and release the device; safe to call twice."""


class OpenCVCamera:
    """A video file, an RTSP/HTTP stream or a V4L2 device through OpenCV's VideoCapture."""

    def __init__(self, name: str, source: str, *, loop: bool = False) -> None:
        self.name = name
        self.source = source
        self.loop = loop
        self._capture: Any = None
        self._seq = 0

    @property
    def is_stream(self) -> bool:
        """Whether the source is a network stream (ends only when lost)."""
        return self.source.startswith(STREAM_SCHEMES)

    @property
    def fps(self) -> float:
        """The frame rate the open source says it has; 0 where it says none."""
        rate = 0.0 if self._capture is None else float(self._capture.get(cv2.CAP_PROP_FPS))
        return rate if math.isfinite(rate) and rate > 0 else 0.0

    def open(self) -> None:
        """Open the capture; raises HardwareError when OpenCV cannot."""
        self.close()
        if self.is_stream:
            timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS]
            timeouts += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS]
            capture = cv2.VideoCapture(self.source, cv2.CAP_FFMPEG, timeouts)
        elif self.source.startswith("/dev/video"):
            capture = cv2.VideoCapture(self.source, cv2.CAP_V4L2)
        else:
            capture = cv2.VideoCapture(self.source)
        if not capture.isOpened():
            capture.release()
            raise HardwareError(f"camera {self.name}: cannot open {_masked(self.source)}")
        self._capture = capture

    def read(self) -> Frame | None:
        """The next frame, rewinding a looping file at its end."""
        if self._capture is None:
            raise HardwareError(f"camera {self.name} is not open")
        ok, image = self._capture.read()
        if not ok and self.loop and not self.is_stream:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._capture.read()
        if not ok:
            if self.is_stream or self.source.startswith("/dev/video"):
                raise HardwareError(f"camera {self.name}: no frame from {_masked(self.source)}")
            return None
        self._seq += 1
        return Frame(image=image, ts=time.time(), seq=self._seq)

    def close(self) -> None:
        """Release the capture."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class ImageFolderCamera:
    """Every image in a folder, in name order, as frames (demos, tests, replaying stills)."""

    def __init__(self, name: str, folder: Path | str, *, loop: bool = False) -> None:
        self.name = name
        self.folder = Path(folder)
        self.loop = loop
        self._files: list[Path] = []
        self._next = 0
        self._seq = 0

    def open(self) -> None:
        """List the folder's images; raises HardwareError when there are none."""
        try:
            files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        except OSError as exc:
            raise HardwareError(f"camera {self.name}: cannot list {self.folder}: {exc}") from exc
        if not files:
            raise HardwareError(f"camera {self.name}: no images in {self.folder}")
        self._files, self._next = files, 0

    def read(self) -> Frame | None:
        """The next image; an unreadable file is a HardwareError naming it."""
        if self._next >= len(self._files):
            if not (self.loop and self._files):
                return None
            self._next = 0
        path = self._files[self._next]
        self._next += 1
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise HardwareError(f"camera {self.name}: cannot read image {path}")
        self._seq += 1
        return Frame(image=np.asarray(image, dtype=np.uint8), ts=time.time(), seq=self._seq)

    def close(self) -> None:
        """Forget the listing."""
        self._files = []


def open_camera(name: str, source: str, *, loop: bool = False, **options: Any) -> Camera:
    """The backend for a `[[cameras]]` source: `picamera2[:N]`, a URL, a folder or a file."""
    if source == "picamera2" or source.startswith("picamera2:"):
        from agent.vision.camera_picamera2 import Picamera2Camera  # noqa: PLC0415 (Pi only)

        index = int(source.partition(":")[2] or 0)
        return Picamera2Camera(name, index=index, **options)
    if options:
        raise ValueError(f"camera {name}: options {sorted(options)} apply to picamera2 only")
    if not source.startswith(STREAM_SCHEMES) and Path(source).is_dir():
        return ImageFolderCamera(name, source, loop=loop)
    return OpenCVCamera(name, source, loop=loop)


def _masked(source: str) -> str:
    """An RTSP URL without its password (`rtsp://user:pass@host` carries credentials)."""
    scheme, sep, rest = source.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return source
    credentials, _, host = rest.partition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


@dataclass(frozen=True)
class Backoff:
    """Delays between reconnection attempts: doubling from `first_s` up to `max_s`."""

    first_s: float = 1.0
    max_s: float = 60.0

    def delay(self, failures: int) -> float:
        """The wait after `failures` consecutive failures (1-based)."""
        return float(min(self.max_s, self.first_s * 2 ** max(0, failures - 1)))


class Reconnecting:
    """Frames from a camera, reopening it with backoff whenever it fails; reports health."""

    def __init__(
        self,
        camera: Camera,
        *,
        stop: threading.Event,
        backoff: Backoff = Backoff(),
        on_health: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.camera = camera
        self.stop = stop
        self.backoff = backoff
        self.on_health = on_health
        self.state = "starting"
        self.failures = 0
        self.reconnects = 0
        self.frames_read = 0
        self.last_error = ""
        self._opened = False

    def health(self) -> dict[str, Any]:
        """The camera's component health, for status and telemetry."""
        return {
            "name": self.camera.name,
            "state": self.state,
            "frames": self.frames_read,
            "failures": self.failures,
            "reconnects": self.reconnects,
            "error": self.last_error,
        }

    def frames(self) -> Iterator[Frame]:
        """Every frame until `stop` is set or a finite source ends."""
        try:
            while not self.stop.is_set():
                frame = self._next()
                if frame is None:
                    if self._opened:  # a file or folder ran out: a normal end
                        self._set_state("ended")
                        return
                    continue
                yield frame
        finally:
            self.camera.close()

    def _next(self) -> Frame | None:
        try:
            if not self._opened:
                self.camera.open()
                self._opened = True
                if self.failures:
                    self.reconnects += 1
                self.failures = 0
                self._set_state("ok")
            frame = self.camera.read()
        except HardwareError as exc:
            self._failed(exc)
            return None
        if frame is not None:
            self.frames_read += 1
        return frame

    def _failed(self, exc: HardwareError) -> None:
        self.camera.close()
        self._opened = False
        self.failures += 1
        self.last_error = str(exc)
        delay = self.backoff.delay(self.failures)
        level = logging.WARNING if self.failures == 1 else logging.DEBUG
        log.log(level, "%s; retrying in %.1f s (failure %d)", exc, delay, self.failures)
        self._set_state("reconnecting")
        self.stop.wait(delay)

    def _set_state(self, state: str) -> None:
        self.state = state
        if self.on_health is not None:
            self.on_health(self.health())
