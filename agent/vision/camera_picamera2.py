"""The Raspberry Pi camera through picamera2: a low-resolution stream to detect on, main to crop.

picamera2 comes from Raspberry Pi OS apt and imports libcamera at module top, so it cannot be
imported off a Pi: it is imported here only, and only when the camera is opened.
"""

from __future__ import annotations

import importlib
import logging
import time
from typing import Any

import cv2
import numpy as np

from agent.errors import HardwareError
from agent.vision.camera import Frame

log = logging.getLogger(__name__)

# The lores stream must be YUV420 on a Pi 4 (its ISP cannot output RGB at the second
# resolution); its width is a multiple of 64 so rows carry no padding.
DEFAULT_MAIN = (1920, 1080)
DEFAULT_LORES = (640, 384)


class Picamera2Camera:
    """A CSI camera: `Frame.image` from the lores stream (BGR), `Frame.main` full size."""

    def __init__(
        self,
        name: str,
        *,
        index: int = 0,
        main_size: tuple[int, int] = DEFAULT_MAIN,
        lores_size: tuple[int, int] = DEFAULT_LORES,
        keep_main: bool = True,
        module: Any = None,
    ) -> None:
        self.name = name
        self.index = index
        self.main_size = main_size
        self.lores_size = lores_size
        self.keep_main = keep_main
        self._module = module
        self._camera: Any = None
        self._seq = 0

    def open(self) -> None:
        """Configure main (RGB888, i.e. BGR in memory) and lores (YUV420) streams and start."""
        self.close()
        module = self._module or _import_picamera2()
        try:
            camera = module.Picamera2(camera_num=self.index)
            config = camera.create_video_configuration(
                main={"size": self.main_size, "format": "RGB888"},
                lores={"size": self.lores_size, "format": "YUV420"},
            )
            camera.configure(config)
            camera.start()
        except (RuntimeError, IndexError, OSError) as exc:
            raise HardwareError(f"camera {self.name}: picamera2 {self.index}: {exc}") from exc
        self._camera = camera

    def read(self) -> Frame:
        """Both streams of one request, so the crop matches what was detected."""
        if self._camera is None:
            raise HardwareError(f"camera {self.name} is not open")
        try:
            request = self._camera.capture_request()
        except (RuntimeError, OSError, TimeoutError) as exc:
            raise HardwareError(f"camera {self.name}: capture failed: {exc}") from exc
        try:
            lores = request.make_array("lores")
            main = request.make_array("main") if self.keep_main else None
        finally:
            request.release()
        self._seq += 1
        image = cv2.cvtColor(lores, cv2.COLOR_YUV2BGR_I420)[:, : self.lores_size[0]]
        return Frame(
            image=np.ascontiguousarray(image),
            ts=time.time(),
            seq=self._seq,
            main=None if main is None else np.asarray(main, dtype=np.uint8),
        )

    def close(self) -> None:
        """Stop and release the camera so another process (or a reopen) can take it."""
        if self._camera is None:
            return
        camera, self._camera = self._camera, None
        try:
            camera.stop()
        finally:
            camera.close()


def _import_picamera2() -> Any:
    try:
        return importlib.import_module("picamera2")
    except ImportError as exc:
        raise HardwareError(
            "picamera2 is not available: on Raspberry Pi OS `apt install python3-picamera2`"
            " and create the venv with --system-site-packages"
        ) from exc
