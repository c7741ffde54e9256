"""Media through the publisher to a real mosquitto: topic, properties, order, size limits."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import jsonschema
import pytest

from agent.alarm import Timing
from agent.events import PRIORITY_DETECTION, PRIORITY_FAULT, PRIORITY_SOS, Event, Media
from agent.outbox import Stored
from agent.sos import Sos
from tests.broker import Broker, Received, Subscriber, wait_until
from tests.snapshots import jpeg
from tests.test_asyncapi import SPEC
from tests.test_publisher import PREFIX, Rig, connected

EVERYTHING = [f"{PREFIX}/event/#", f"{PREFIX}/media/#"]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path / "outbox.db")
    yield rig
    rig.close()


def alarm(rig: Rig, *media: Media) -> Stored:
    return rig.outbox.add(Event(kind="sos", priority=PRIORITY_SOS, phase="new"), media=media)


def ids(messages: list[Received]) -> list[str]:
    """Event ids and media paths (`{event id}/{name}`) in arrival order."""
    return [
        m.topic.split("/media/", 1)[1] if "/media/" in m.topic else json.loads(m.payload)["id"]
        for m in messages
    ]


def user_properties(message: Received) -> dict[str, str]:
    return dict(getattr(message.properties, "UserProperty", []))


def test_media_is_published_with_content_type_and_sha256(broker: Broker, rig: Rig) -> None:
    picture = jpeg(320, 240)
    with Subscriber(broker, EVERYTHING) as watcher:
        stored = alarm(rig, Media("snapshot.jpg", picture))
        rig.publisher(broker.port)
        event, media = watcher.wait_for(lambda m: len(m) == 2)

    assert event.topic == f"{PREFIX}/event/sos"
    assert json.loads(event.payload)["media"] == ["snapshot.jpg"]
    assert (media.topic, media.payload, media.retain) == (
        f"{PREFIX}/media/{stored.id}/snapshot.jpg",
        picture,
        False,
    )
    assert media.properties.ContentType == "image/jpeg"
    assert user_properties(media)["sha256"] == hashlib.sha256(media.payload).hexdigest()
    wait_until(lambda: not rig.pending_ids(), 10, "event and media marked delivered")
    headers = SPEC["components"]["messages"]["media"]["headers"]
    jsonschema.validate(user_properties(media), headers)
    assert SPEC["components"]["messages"]["media"]["contentType"] == "image/jpeg"


def test_media_goes_after_its_event_and_before_lower_priorities_after_outage(
    make_broker: Callable[..., Broker], rig: Rig
) -> None:
    broker = make_broker(persistent=True)
    with Subscriber(broker, EVERYTHING, session=True) as watcher:
        publisher = rig.publisher(broker.port)
        wait_until(connected(publisher), 10, "connection")
        broker.stop()
        plates = rig.add("plate", PRIORITY_DETECTION, 200)
        (before,) = rig.add("tamper", PRIORITY_FAULT)
        sos = alarm(rig, Media("snapshot.jpg", jpeg(seed=1)))
        (after,) = rig.add("tamper", PRIORITY_FAULT)

        broker.start()

        order = ids(watcher.wait_for(lambda m: len(m) == 204, timeout=30))
    # The snapshot ranks as priority 1 with its alarm's seq: among the faults by seq.
    assert order[:4] == [sos.id, before.id, f"{sos.id}/snapshot.jpg", after.id]
    assert order[4:] == [p.id for p in plates]


def test_media_over_the_broker_packet_limit_is_dropped_and_reported(
    make_broker: Callable[..., Broker], rig: Rig
) -> None:
    broker = make_broker(max_packet_size=20_000)
    big, small = jpeg(640, 480, seed=2), jpeg(64, 48, seed=3)
    assert len(big) > 20_000 > len(small)
    with Subscriber(broker, EVERYTHING) as watcher:
        stored = alarm(rig, Media("full.jpg", big), Media("thumb.jpg", small))
        publisher = rig.publisher(broker.port)
        messages = watcher.wait_for(lambda m: len(m) == 3)
        wait_until(lambda: not rig.pending_ids(), 10, "every row settled")

    assert ids(messages)[:2] == [stored.id, f"{stored.id}/thumb.jpg"]
    report = json.loads(messages[2].payload)
    assert messages[2].topic == f"{PREFIX}/event/outbox"
    assert report["data"]["dropped"] == "media"
    assert (report["data"]["event"], report["data"]["name"]) == (stored.id, "full.jpg")
    assert "maximum" in report["data"]["reason"]
    assert publisher.link()["connects"] == 1  # the broker never had to cut the connection
    assert not any(m.topic.endswith("/full.jpg") for m in watcher.received())


def test_event_over_the_broker_packet_limit_is_held_not_dropped(
    make_broker: Callable[..., Broker], rig: Rig
) -> None:
    broker = make_broker(max_packet_size=2_000)
    with Subscriber(broker, EVERYTHING) as watcher:
        huge = rig.outbox.add(Event(kind="plate", priority=2, data={"x": "x" * 5_000}))
        (small,) = rig.add("plate", PRIORITY_DETECTION)
        publisher = rig.publisher(broker.port)
        watcher.wait_for(lambda m: len(m) == 1)
        wait_until(lambda: publisher.link()["sent"] == 1, 10, "the small event sent")

    assert rig.pending_ids() == {huge.id}
    assert ids(watcher.received()) == [small.id]
    assert publisher.link()["connects"] == 1


class Lamps:
    """Indicators nobody looks at: this test watches the broker."""

    def show(self, *, registered: bool, acknowledged: bool) -> None:
        """Show nothing."""


def test_sos_snapshot_reaches_the_control_room_after_the_alarm(broker: Broker, rig: Rig) -> None:
    stop = threading.Event()
    timing = Timing(resend_s=30, debounce_s=0.05, min_hold_s=0, test_timeout_s=60)
    sos = Sos(store=rig.outbox, indicators=Lamps(), timing=timing, stop=stop)
    sos.start()
    picture = jpeg(seed=9)
    try:
        with Subscriber(broker, EVERYTHING) as watcher:
            rig.publisher(broker.port)
            sos.raise_from("mcu")
            wait_until(lambda: bool(sos.state()["active"]), 10, "the alarm")

            sos.attach(sos.state()["id"], [Media("snapshot.jpg", picture)])

            new, update, media = watcher.wait_for(lambda m: len(m) == 3)
    finally:
        stop.set()
        sos.join(5)
    snapshot = json.loads(update.payload)
    assert (json.loads(new.payload)["phase"], snapshot["phase"]) == ("new", "update")
    assert (snapshot["data"]["snapshot"], snapshot["media"]) == (True, ["snapshot.jpg"])
    assert media.topic == f"{PREFIX}/media/{snapshot['id']}/snapshot.jpg"
    assert media.payload == picture
