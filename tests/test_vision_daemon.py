"""Vision in the daemon: face events reach the control room, snapshots, and SOS never waits.

A real `edge-agent run` with a folder camera of a public-domain photo written at test time,
a real mosquitto, and an independent subscriber.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from agent.cli import main
from tests.broker import Broker, Received, Subscriber
from tests.daemon import Daemon, write_config
from tests.vision_fixtures import models_dir, photo  # noqa: F401 (fixture)

pytest.importorskip("ai_edge_litert")
pytestmark = pytest.mark.slow

PREFIX = "ssz/v1/lab/pole-test"


def events(messages: list[Received], kind: str) -> list[dict[str, Any]]:
    found = [json.loads(m.payload) for m in messages if m.topic == f"{PREFIX}/event/{kind}"]
    return found


def vision_config(models: Path, stills: Path, **vision: Any) -> str:
    options = {"faces": "counts", "face_event_s": 0.5, "hang_s": 3.0, **vision}
    lines = "\n".join(f"{key} = {json.dumps(value)}" for key, value in options.items())
    return f"""
[vision]
enabled = true
models_dir = "{models}"
{lines}

[[cameras]]
name = "door"
source = "{stills}"
loop = true
max_fps = 10
"""


@pytest.fixture
def stills(tmp_path: Path) -> Path:
    folder = tmp_path / "stills"
    folder.mkdir()
    cv2.imwrite(str(folder / "astronaut.png"), photo("astronaut"))
    return folder


@pytest.fixture
def start(
    tmp_path: Path,
    broker: Broker,
    stills: Path,
    models_dir: Path,  # noqa: F811
) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def make(models: Path = models_dir, **vision: Any) -> Daemon:
        extra = vision_config(models, stills, **vision)
        daemon = Daemon(write_config(tmp_path / "agent", port=broker.port, extra=extra))
        started.append(daemon.start(timeout=30))
        return daemon

    yield make
    for daemon in started:
        daemon.__exit__()


def wait_for(condition: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return result


def vision_of(daemon: Daemon) -> dict[str, Any]:
    status: dict[str, Any] = daemon.call("status")
    return dict(status["vision"])


def camera_ok(daemon: Daemon) -> bool:
    return bool(vision_of(daemon)["components"].get("camera/door", {}).get("state") == "ok")


def press_and_time_alarm(daemon: Daemon, room: Subscriber) -> float:
    """Press the button; seconds until the control room has the alarm's `new` event."""
    before = len(events(room.received(), "sos"))
    pressed = time.monotonic()
    daemon.call("sim_press", {"hold": 0.2})
    room.wait_for(lambda ms: len(events(ms, "sos")) > before, timeout=10)
    return time.monotonic() - pressed


def test_faces_reach_the_control_room_and_selftest_passes_for_vision(
    broker: Broker, start: Callable[..., Daemon]
) -> None:
    with Subscriber(broker, [f"{PREFIX}/#"]) as room:
        daemon = start()
        messages = room.wait_for(lambda ms: bool(events(ms, "face")), timeout=60)
        (face_event, *_) = events(messages, "face")
        assert face_event["priority"] == 2 and face_event["phase"] == "info"
        data = face_event["data"]
        assert data["camera"] == "door" and data["count"] == 1
        assert data["frame_ts"].endswith("Z")
        (face,) = data["faces"]
        assert face["score"] > 0.6 and 0 < face["quality"]["overall"] <= 1
        assert "box" not in face  # "counts": no location leaves the device
        checks = daemon.call("selftest")["checks"]
        for name in ("vision", "models", "camera/door"):
            assert checks[name]["ok"], (name, checks[name])
        assert "sha256 ok" in checks["models"]["detail"]
        assert vision_of(daemon)["up"]


def test_camera_snapshot_through_the_daemon_blurs_faces(
    start: Callable[..., Daemon], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon = start(faces="none")
    wait_for(lambda: camera_ok(daemon))
    target = tmp_path / "still.jpg"
    argv = ["camera", "snapshot", str(target), "--camera", "door"]
    assert wait_for(lambda: main([*argv, "--config", str(daemon.config_path)]) == 0)
    assert "512x512 from camera door, 1 face(s)" in capsys.readouterr().out
    image = cv2.imdecode(np.frombuffer(target.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (512, 512, 3)
    face = image[55:175, 165:277].astype(np.int16)
    original = photo("astronaut")[55:175, 165:277].astype(np.int16)
    assert np.abs(face - original).mean() > 10  # pixelated, not the photo's face
    argv = ["camera", "snapshot", str(target), "--camera", "gate", "--config"]
    assert main([*argv, str(daemon.config_path)]) == 1
    assert "no camera 'gate'" in capsys.readouterr().err


def test_faces_none_sends_no_face_events(broker: Broker, start: Callable[..., Daemon]) -> None:
    with Subscriber(broker, [f"{PREFIX}/#"]) as room:
        daemon = start(faces="none")
        wait_for(lambda: camera_ok(daemon))
        time.sleep(3.0)  # ~30 frames with a face at 10 fps, each turned into an event or not
        daemon.call("sim_events", {"kind": "marker", "priority": 2})  # sent after them
        room.wait_for(lambda ms: bool(events(ms, "marker")), timeout=15)
        assert events(room.received(), "face") == []


def test_crops_mode_sends_boxes_and_each_face_as_media(
    broker: Broker, start: Callable[..., Daemon]
) -> None:
    with Subscriber(broker, [f"{PREFIX}/#"]) as room:
        start(faces="crops")
        messages = room.wait_for(lambda ms: bool(events(ms, "face")), timeout=60)
        (event, *_) = events(messages, "face")
        (face,) = event["data"]["faces"]
        assert event["data"]["frame_size"] == [512, 512]
        x0, y0, x1, y1 = face["box"]
        assert 140 < x0 < x1 < 300 and 30 < y0 < y1 < 200
        assert face["crop"] == "face-0.jpg" and event["media"] == ["face-0.jpg"]
        topic = f"{PREFIX}/media/{event['id']}/face-0.jpg"
        room.wait_for(lambda ms: bool(room.received(topic)), timeout=20)
        (crop, *_) = room.received(topic)
        assert cv2.imdecode(np.frombuffer(crop.payload, np.uint8), cv2.IMREAD_COLOR) is not None


def test_sos_snapshot_arrives_as_media_of_the_alarm(
    broker: Broker, start: Callable[..., Daemon]
) -> None:
    with Subscriber(broker, [f"{PREFIX}/#"]) as room:
        daemon = start(faces="none")
        wait_for(lambda: camera_ok(daemon))
        daemon.call("sim_press", {"hold": 0.2})
        messages = room.wait_for(
            lambda ms: any("snapshot.jpg" in e["media"] for e in events(ms, "sos")), timeout=30
        )
        (new, *_) = events(messages, "sos")
        assert new["phase"] == "new" and new["media"] == []  # the alarm did not wait
        (update,) = [e for e in events(messages, "sos") if e["media"]]
        assert update["data"]["alarm"] == new["id"] and update["data"]["snapshot"] is True
        topic = f"{PREFIX}/media/{update['id']}/snapshot.jpg"
        room.wait_for(lambda ms: bool(room.received(topic)), timeout=20)
        (still, *_) = room.received(topic)
        image = cv2.imdecode(np.frombuffer(still.payload, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (512, 512, 3)


def test_a_killed_or_hung_vision_process_is_restarted_and_reported_while_sos_alarms_keep_flowing(
    broker: Broker, start: Callable[..., Daemon]
) -> None:
    with Subscriber(broker, [f"{PREFIX}/#"]) as room:
        daemon = start()
        room.wait_for(lambda ms: bool(events(ms, "face")), timeout=60)
        first = vision_of(daemon)["pid"]

        os.kill(first, signal.SIGKILL)
        assert press_and_time_alarm(daemon, room) < 5.0
        reported = room.wait_for(lambda ms: bool(events(ms, "vision")), timeout=30)
        (fault,) = events(reported, "vision")
        assert fault["priority"] == 1 and "exited with code -9" in fault["data"]["error"]
        second = wait_for(lambda: (v := vision_of(daemon))["up"] and v["pid"] != first and v["pid"])
        daemon.call("sos_reset", {"by": "test"})

        os.kill(second, signal.SIGSTOP)  # hung: alive, silent
        try:
            assert press_and_time_alarm(daemon, room) < 5.0
            wait_for(lambda: vision_of(daemon)["restarts"] >= 2)
        finally:
            with_pid_gone(second)
        assert "no heartbeat" in vision_of(daemon)["error"]
        count = len(events(room.received(), "face"))
        room.wait_for(lambda ms: len(events(ms, "face")) > count, timeout=60)
        assert vision_of(daemon)["pid"] not in (first, second)


def with_pid_gone(pid: int) -> None:
    """The supervisor kills a hung child; make sure a stopped one never outlives the test."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture(params=["missing", "corrupt"])
def broken_models(
    request: pytest.FixtureRequest,
    models_dir: Path,  # noqa: F811
    tmp_path: Path,
) -> tuple[Path, str]:
    """A models directory whose face model is missing or corrupt, and the error expected."""
    broken = tmp_path / "models"
    shutil.copytree(models_dir, broken)
    model = broken / "blazeface" / "face_detection_full_range.tflite"
    if request.param == "missing":
        model.unlink()
        return broken, "is missing"
    model.write_bytes(model.read_bytes()[:-100] + bytes(100))
    return broken, "does not match the manifest"


def test_missing_or_corrupt_model_is_a_clear_failure_and_sos_still_works(
    broker: Broker,
    start: Callable[..., Daemon],
    broken_models: tuple[Path, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    broken, expected = broken_models
    with Subscriber(broker, [f"{PREFIX}/#"]) as room:
        daemon = start(models=broken)
        vision = wait_for(lambda: (v := vision_of(daemon))["condition"] == "failed" and v)
        assert expected in vision["last_down_reason"]
        checks = daemon.call("selftest")["checks"]
        assert not checks["models"]["ok"] and expected in checks["models"]["detail"]
        assert main(["selftest", "--config", str(daemon.config_path)]) == 1
        out = capsys.readouterr().out
        assert "FAIL models" in out and "selftest FAILED" in out
        assert press_and_time_alarm(daemon, room) < 5.0
        assert daemon.process is not None and daemon.process.poll() is None
