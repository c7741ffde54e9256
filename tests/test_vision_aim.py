"""`edge-agent camera aim`: focus, light, sizes and rates a technician can aim a camera by.

The meter is driven with real images and a fake clock; the command end to end through a
real daemon whose folder cameras show a sharp photo, the same photo blurred, and a black
frame, all written at test time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from agent.cli import main
from agent.cli_vision import aim_text
from agent.errors import HardwareError
from agent.vision.aim import NO_PLATES, AimMeter
from agent.vision.camera import Frame
from agent.vision.faces import Face, Quality
from tests.broker import Broker
from tests.daemon import Daemon, write_config
from tests.vision_fixtures import models_dir, photo  # noqa: F401 (fixture)

TOO_DARK = "too dark: open the iris or add IR"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def frame(image: np.ndarray, seq: int = 1) -> Frame:
    return Frame(image=np.ascontiguousarray(image, dtype=np.uint8), ts=0.0, seq=seq)


def face(width: float) -> Face:
    keypoints = ((0.0, 0.0),) * 6
    return Face((10.0, 10.0, 10.0 + width, 10.0 + width), 0.9, keypoints, Quality(1, 1, 1))


def reading_of(image: np.ndarray, **meter: Any) -> dict[str, Any]:
    aim = AimMeter(**meter)
    aim.frame("door", frame(image))
    (reading,) = aim.readings("door")
    return reading


def test_a_black_frame_says_too_dark_and_blames_the_light_not_the_focus() -> None:
    reading = reading_of(np.zeros((480, 640, 3)))
    assert reading["brightness"] == {"mean": 0.0, "dark": 1.0, "bright": 0.0, "verdict": "too dark"}
    assert reading["advice"] == [TOO_DARK]
    assert "too dark" in aim_text([reading]) and TOO_DARK in aim_text([reading])


def test_a_blurred_frame_reads_less_sharp_and_is_called_out_of_focus() -> None:
    sharp = reading_of(photo("astronaut"))
    blurred = reading_of(cv2.GaussianBlur(photo("astronaut"), (0, 0), 3))
    assert sharp["sharpness"]["verdict"] == "sharp" and sharp["advice"] == []
    assert blurred["sharpness"]["value"] < sharp["sharpness"]["value"] / 10
    assert blurred["sharpness"]["verdict"] == "blurred"
    assert any(tip.startswith("out of focus") for tip in blurred["advice"])
    assert blurred["brightness"]["verdict"] == "ok"


def test_a_white_frame_says_too_bright() -> None:
    reading = reading_of(np.full((100, 100, 3), 255))
    assert reading["brightness"]["verdict"] == "too bright"
    assert reading["brightness"]["bright"] == 1.0
    assert reading["advice"][0].startswith("too bright")


def test_rates_count_frames_detector_runs_and_faces_over_their_windows() -> None:
    clock = Clock()
    aim = AimMeter(clock=clock)
    image = photo("astronaut")
    for seq in range(100):  # 10 s at 10 fps, the detector on every other frame
        aim.frame("door", frame(image, seq))
        if seq % 2 == 0:
            aim.detected("door", [face(120.0)] if seq % 4 == 0 else [])
        clock.now += 0.1
    (reading,) = aim.readings()
    assert reading["fps"] == pytest.approx(10, abs=0.3)
    assert reading["detect_fps"] == pytest.approx(5, abs=0.3)
    assert reading["window_s"] == pytest.approx(10)
    assert reading["faces"] == {"per_min": 150.0, "widest_px": 120.0}  # 25 faces in 10 s
    assert reading["detections_per_min"] == 150.0
    clock.now += 120  # a minute later nothing is left of them
    (reading,) = aim.readings()
    assert reading["faces"] == {"per_min": 0.0, "widest_px": None}
    assert reading["fps"] == 0.0 and reading["advice"] == [
        "no new frame for 120.1 s: check the camera"
    ]


def test_plate_width_is_not_invented_without_a_plate_detector() -> None:
    reading = reading_of(photo("astronaut"))
    assert reading["plates"] == {
        "detector": False, "per_min": None, "widest_px": None, "note": NO_PLATES
    }  # fmt: skip
    assert "plate width plate detection off (vision.plates)" in aim_text([reading])
    assert not any("plates" in tip for tip in reading["advice"])


def test_narrow_plates_and_small_faces_get_size_advice_when_they_are_seen() -> None:
    aim = AimMeter(plate_detector=True)
    aim.frame("gate", frame(photo("astronaut")))
    aim.detected("gate", [face(40.0)], plates=[(0.0, 0.0, 85.0, 30.0)])
    (reading,) = aim.readings("gate")
    assert reading["plates"]["widest_px"] == 85.0 and reading["plates"]["detector"]
    assert "plates under 100 px wide: zoom in or move closer" in reading["advice"]
    assert any(tip.startswith("faces under 80 px") for tip in reading["advice"])


def test_no_reading_before_the_first_frame() -> None:
    aim = AimMeter()
    with pytest.raises(HardwareError, match="no frame from camera 'door' yet"):
        aim.readings("door")
    aim.frame("gate", frame(np.zeros((8, 8, 3))))
    with pytest.raises(HardwareError, match="camera 'door'"):
        aim.readings("door")


# --- through the daemon ---------------------------------------------------------------------

CAMERAS = ("blurred", "dark", "sharp")


@pytest.fixture
def daemon(tmp_path: Path, broker: Broker, models_dir: Path) -> Iterator[Daemon]:  # noqa: F811
    pytest.importorskip("ai_edge_litert")
    astronaut = photo("astronaut")
    images = {
        "sharp": astronaut,
        "blurred": cv2.GaussianBlur(astronaut, (0, 0), 3),
        "dark": np.zeros_like(astronaut),
    }
    tables = []
    for name, image in images.items():
        folder = tmp_path / name
        folder.mkdir()
        cv2.imwrite(str(folder / f"{name}.png"), image)
        tables.append(
            f'[[cameras]]\nname = "{name}"\nsource = "{folder}"\nloop = true\nmax_fps = 10\n'
        )
    extra = f'[vision]\nenabled = true\nmodels_dir = "{models_dir}"\n\n' + "\n".join(tables)
    with Daemon(write_config(tmp_path / "agent", port=broker.port, extra=extra)) as running:
        yield running


def aim(daemon: Daemon, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["camera", "aim", "--once", *args, "--config", str(daemon.config_path)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def wait_for_readings(daemon: Daemon, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """Every camera's reading once the sharp camera has seen its face."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        code, out = aim(daemon, capsys, "--json")
        readings = {r["camera"]: r for r in json.loads(out)} if code == 0 else {}
        if tuple(sorted(readings)) == CAMERAS and readings["sharp"]["faces"]["per_min"] > 0:
            return readings
        time.sleep(0.5)
    pytest.fail(f"no reading of every camera with a face: {out}")


@pytest.mark.slow
def test_camera_aim_reads_focus_light_and_rates_through_the_daemon(
    daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    readings = wait_for_readings(daemon, capsys)
    sharp, blurred, dark = readings["sharp"], readings["blurred"], readings["dark"]
    assert sharp["size"] == [512, 512] and 0 < sharp["fps"] <= 12
    assert sharp["sharpness"]["value"] > 10 * blurred["sharpness"]["value"]
    assert sharp["sharpness"]["verdict"] == "sharp" and sharp["advice"] == []
    assert sharp["faces"]["widest_px"] > 80
    assert any(tip.startswith("out of focus") for tip in blurred["advice"])
    assert dark["advice"] == [TOO_DARK] and dark["faces"]["per_min"] == 0
    assert sharp["plates"]["note"] == "plate detection off (vision.plates)"

    code, out = aim(daemon, capsys, "--camera", "dark")
    assert code == 0 and out.startswith("camera dark  512x512") and TOO_DARK in out
    assert "sharp" not in out.split("\n", 1)[0]
    code, out = aim(daemon, capsys, "--camera", "gate")
    assert code == 1 and "no camera 'gate'" in out
