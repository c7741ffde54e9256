"""Cameras: real media files, an image folder, a real network stream, reconnection and health."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import pytest

from agent.errors import HardwareError
from agent.vision.camera import (
    Backoff,
    Frame,
    ImageFolderCamera,
    OpenCVCamera,
    Reconnecting,
    open_camera,
)
from agent.vision.camera_picamera2 import Picamera2Camera
from tests.vision_fixtures import MjpegServer, write_video

FAST = Backoff(first_s=0.01, max_s=0.05)


@pytest.fixture
def mjpeg() -> Iterator[MjpegServer]:
    server = MjpegServer(count=8)
    yield server
    server.close()


def levels(frames: list[Frame]) -> list[int]:
    """Each frame's grey level divided by 20: the number written into it."""
    return [round(float(f.image.mean()) / 20) for f in frames]


def read_all(camera: Any) -> list[Frame]:
    stop = threading.Event()
    return list(Reconnecting(camera, stop=stop, backoff=FAST).frames())


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_video_file_yields_every_frame_in_order_then_ends(tmp_path: Path) -> None:
    camera = open_camera("door", str(write_video(tmp_path / "clip.avi", 10)))
    frames = read_all(camera)
    assert levels(frames) == list(range(10))
    assert [f.seq for f in frames] == list(range(1, 11))
    assert frames[0].image.shape == (120, 160, 3) and frames[0].image.dtype == np.uint8
    assert frames[0].ts <= frames[-1].ts <= time.time()


def test_looping_video_file_starts_again_at_its_end(tmp_path: Path) -> None:
    camera = OpenCVCamera("demo", str(write_video(tmp_path / "clip.avi", 4)), loop=True)
    camera.open()
    frames = [camera.read() for _ in range(10)]
    camera.close()
    assert levels([f for f in frames if f is not None]) == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]


def test_image_folder_yields_images_in_name_order(tmp_path: Path) -> None:
    for i in (2, 0, 1):
        cv2.imwrite(str(tmp_path / f"still-{i}.png"), np.full((48, 64, 3), 20 * i, dtype=np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    camera = open_camera("stills", str(tmp_path))
    assert isinstance(camera, ImageFolderCamera)
    assert levels(read_all(camera)) == [0, 1, 2]


def test_empty_image_folder_cannot_be_opened(tmp_path: Path) -> None:
    with pytest.raises(HardwareError, match="no images in"):
        ImageFolderCamera("stills", tmp_path).open()


def test_unreadable_image_is_an_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    camera = ImageFolderCamera("stills", tmp_path)
    camera.open()
    with pytest.raises(HardwareError, match=r"broken\.jpg"):
        camera.read()


def test_network_stream_delivers_frames(mjpeg: MjpegServer) -> None:
    camera = open_camera("gate", mjpeg.url)
    camera.open()
    frames = [camera.read() for _ in range(8)]
    camera.close()
    assert levels([f for f in frames if f is not None]) == list(range(8))


def test_network_stream_that_hangs_up_is_reconnected_and_reported(mjpeg: MjpegServer) -> None:
    stop = threading.Event()
    reports: list[dict[str, Any]] = []
    source = Reconnecting(
        open_camera("gate", mjpeg.url), stop=stop, backoff=FAST, on_health=reports.append
    )
    frames = []
    for frame in source.frames():
        frames.append(frame)
        if len(frames) == 20:  # 8 per connection: the server hung up twice
            stop.set()
    assert levels(frames)[:10] == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1]
    assert source.reconnects >= 2
    assert "reconnecting" in [r["state"] for r in reports]
    assert source.health()["state"] == "ok"


def test_dead_rtsp_camera_fails_fast_without_showing_its_password() -> None:
    camera = open_camera("pole", f"rtsp://admin:secret@127.0.0.1:{closed_port()}/stream1")
    started = time.monotonic()
    with pytest.raises(HardwareError) as failure:
        camera.open()
    assert time.monotonic() - started < 5
    assert "admin:***@127.0.0.1" in str(failure.value)
    assert "secret" not in str(failure.value)


def test_camera_that_appears_later_is_picked_up_with_backoff(tmp_path: Path) -> None:
    path = tmp_path / "late.avi"
    stop = threading.Event()
    source = Reconnecting(OpenCVCamera("late", str(path)), stop=stop, backoff=FAST)
    frames: list[Frame] = []
    reader = threading.Thread(target=lambda: frames.extend(source.frames()))
    reader.start()
    deadline = time.monotonic() + 5
    while source.failures < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert source.health()["state"] == "reconnecting"
    assert "cannot open" in source.health()["error"]
    write_video(tmp_path / "staging.avi", 5).rename(path)
    reader.join(timeout=10)
    assert not reader.is_alive()
    assert levels(frames) == [0, 1, 2, 3, 4]
    assert (source.health()["state"], source.reconnects, source.failures) == ("ended", 1, 0)


def test_stop_ends_a_camera_that_keeps_failing(tmp_path: Path) -> None:
    stop = threading.Event()
    source = Reconnecting(
        OpenCVCamera("gone", str(tmp_path / "absent.avi")), stop=stop, backoff=Backoff(10, 10)
    )
    reader = threading.Thread(target=lambda: list(source.frames()))
    reader.start()
    time.sleep(0.1)
    stop.set()
    reader.join(timeout=2)
    assert not reader.is_alive()


def test_backoff_doubles_up_to_its_maximum() -> None:
    assert [Backoff(1, 10).delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


# --- picamera2, behind a fake that produces the buffers picamera2 gives ----------------------


class FakeRequest:
    def __init__(self, main: np.ndarray) -> None:
        self.main = main
        self.released = False

    def make_array(self, stream: str) -> np.ndarray:
        if stream == "main":
            return self.main
        small = cv2.resize(self.main, (64, 48), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(small, cv2.COLOR_BGR2YUV_I420)

    def release(self) -> None:
        self.released = True


class FakePicamera2:
    """Picamera2 as the backend uses it: configure, start, capture_request, stop, close."""

    instances: ClassVar[list[FakePicamera2]] = []

    def __init__(self, camera_num: int = 0) -> None:
        self.camera_num = camera_num
        self.config: dict[str, Any] = {}
        self.requests: list[FakeRequest] = []
        self.started = self.closed = False
        FakePicamera2.instances.append(self)

    def create_video_configuration(self, **streams: Any) -> dict[str, Any]:
        return streams

    def configure(self, config: dict[str, Any]) -> None:
        self.config = config

    def start(self) -> None:
        self.started = True

    def capture_request(self) -> FakeRequest:
        main = np.zeros(
            (self.config["main"]["size"][1], self.config["main"]["size"][0], 3), np.uint8
        )
        main[:, : main.shape[1] // 2] = (255, 0, 0)  # left half blue (BGR)
        self.requests.append(FakeRequest(main))
        return self.requests[-1]

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True


class FakeModule:
    Picamera2 = FakePicamera2


def test_picamera2_detects_on_lores_and_keeps_main_for_crops() -> None:
    camera = Picamera2Camera(
        "csi", index=1, main_size=(320, 240), lores_size=(64, 48), module=FakeModule
    )
    camera.open()
    frame = camera.read()
    camera.close()
    fake = FakePicamera2.instances[-1]
    assert fake.camera_num == 1 and fake.config["lores"]["format"] == "YUV420"
    assert (
        frame.image.shape == (48, 64, 3)
        and frame.main is not None
        and frame.main.shape == (240, 320, 3)
    )
    blue, green, red = frame.image[24, 10]
    assert blue > 200 and green < 60 and red < 60  # YUV420 converted back to BGR
    assert fake.requests[-1].released and fake.closed


def test_picamera2_off_the_pi_is_a_clear_hardware_error() -> None:
    camera = open_camera("csi", "picamera2:0")
    with pytest.raises(HardwareError, match=r"picamera2 is not available.*apt install"):
        camera.open()
