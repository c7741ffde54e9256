"""`make demo`'s vision part runs: the control room gets face events, crops and the snapshot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import demo_vision
from tests.broker import Broker
from tests.demo_room import PREFIX

pytestmark = pytest.mark.slow


def test_the_demo_shows_faces_their_crops_and_the_sos_snapshot(
    tmp_path: Path, broker: Broker
) -> None:
    setup = demo_vision.prepare(tmp_path)
    if setup is None:
        pytest.skip("the demo skips its vision part here (packages, fonts or network)")
    received = demo_vision.with_vision(tmp_path, broker, setup)
    topics = [message.topic for message in received]
    faces = [json.loads(m.payload) for m in received if m.topic == f"{PREFIX}/event/face"]
    assert faces and faces[0]["data"]["count"] == 1
    assert f"{PREFIX}/media/{faces[0]['id']}/face-0.jpg" in topics
    assert any(topic.endswith("/snapshot.jpg") for topic in topics)
    assert (f"{PREFIX}/event/plate" in topics) == setup.plates
