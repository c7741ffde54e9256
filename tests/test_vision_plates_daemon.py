"""Plates through a real daemon: a file camera plays the sample clip, the room gets `plate` events.

A real `edge-agent run` with the committed plate models, a real mosquitto, and the control
room of tests/remote_room.py. The clip (tests/sample_clip.py) is a car with a rendered Thai
plate crossing a road once. The camera's file appears only after the room has set the
hotlist, so the car never passes before the daemon knows what to watch for (the camera
retries a missing file with backoff).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.vision import models
from tests import sample_clip
from tests.broker import Broker, Received
from tests.remote_room import PREFIX, Room, running
from tests.test_asyncapi import check
from tests.vision_fixtures import models_dir  # noqa: F401 (fixture)

pytest.importorskip("ai_edge_litert")
pytestmark = pytest.mark.slow

PLATE_MODELS = ("plate-detector", "plate-ocr")


@pytest.fixture
def clip(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """The rendered clip, and the path the camera will find it at once it is moved there."""
    if not {e.name for e in models.load_manifest()} >= set(PLATE_MODELS):
        pytest.skip("the plate models are not in models/manifest.toml")
    fonts = pytest.importorskip("models.plates.fonts")
    if not fonts.fonts_available():
        pytest.skip("Thai fonts missing (apt install fonts-thai-tlwg fonts-noto-core)")
    rendered = tmp_path / "rendered.avi"
    sample_clip.write(rendered)
    yield rendered, tmp_path / "road.avi"


def config(models: Path, source: Path) -> str:
    return f"""
[vision]
enabled = true
models_dir = "{models}"
faces = "none"
plates = true

[[cameras]]
name = "road"
source = "{source}"
max_fps = 10
"""


def plate_events(messages: list[Received]) -> list[dict[str, Any]]:
    topic = f"{PREFIX}/event/plate"
    return [json.loads(m.payload) for m in messages if m.topic == topic]


def pass_the_car(room: Room, clip: tuple[Path, Path]) -> list[dict[str, Any]]:
    """Put the clip where the camera looks; the plate events until the track has ended."""
    os.replace(*clip)
    messages = room.wait_for(
        lambda ms: any(e["phase"] == "end" for e in plate_events(ms)), timeout=90
    )
    return plate_events(messages)


def test_a_plate_crossing_the_clip_is_one_consolidated_plate_event(
    tmp_path: Path,
    broker: Broker,
    clip: tuple[Path, Path],
    models_dir: Path,  # noqa: F811
) -> None:
    with running(tmp_path / "agent", broker, extra=config(models_dir, clip[1])) as (daemon, room):
        events = pass_the_car(room, clip)
        new = [e for e in events if e["phase"] == "new"]
        assert len(new) == 1, events
        (event,) = new
        expected = sample_clip.ClipSpec()
        assert event["priority"] == 2 and event["data"]["hotlist"] is None
        data = event["data"]
        assert data["registration"] == expected.registration
        assert (data["series"], data["consonants"], data["number"]) == ("1", "กข", "1234")
        assert data["camera"] == "road" and data["frames"] >= 2
        assert len(data["char_confidences"]) == len(expected.registration)
        assert {e["data"]["track_id"] for e in events} == {data["track_id"]}
        assert events[-1]["data"]["registration"] == expected.registration
        for payload in events:
            check("event", payload)
        assert event["media"] == ["plate.jpg"]
        crop = f"{PREFIX}/media/{event['id']}/plate.jpg"
        messages = room.wait_for(lambda ms: any(m.topic == crop for m in ms), timeout=15)
        (jpeg,) = [m.payload for m in messages if m.topic == crop]
        assert jpeg[:2] == b"\xff\xd8"
        # The aiming aid counts the plate and gives its width in the full frame (161 px).
        (aim,) = daemon.call("camera_aim", {"camera": "road"})["cameras"]
        plates = aim["plates"]
        assert plates["detector"] and plates["per_min"] > 0 and plates["note"] == ""
        assert 140 < plates["widest_px"] < 180 and not any("plates" in t for t in aim["advice"])


def test_a_plate_on_the_hotlist_is_raised_to_priority_1(
    tmp_path: Path,
    broker: Broker,
    clip: tuple[Path, Path],
    models_dir: Path,  # noqa: F811
) -> None:
    with running(tmp_path / "agent", broker, extra=config(models_dir, clip[1])) as (daemon, room):
        entry = {"plate": "1กข1234", "province": "กรุงเทพมหานคร", "reason": "stolen"}
        assert room.command("hotlist_set", entries=[entry])["ok"] is True
        events = pass_the_car(room, clip)
        (new,) = [e for e in events if e["phase"] == "new"]
        assert new["priority"] == 1
        assert new["data"]["hotlist"]["plate"] == "1กข1234"
        assert new["data"]["hotlist"]["reason"] == "stolen"
        models_check = daemon.call("selftest")["checks"]["models"]
        assert (
            models_check["ok"] and "plate-detector, plate-ocr: sha256 ok" in models_check["detail"]
        )
