"""The SOS alarm driven through gpiozero's MockFactory pins, stored in a real outbox."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent import sos as sos_module
from agent.alarm import Timing
from agent.errors import CommandError
from agent.events import Media
from agent.gpio import Pins
from agent.outbox import Outbox
from agent.sos import Sos
from tests.snapshots import jpeg

BUTTON, YELLOW, GREEN = 17, 22, 27


@dataclass
class Post:
    """An SOS post on the bench: outbox, pins and the alarm thread."""

    outbox: Outbox
    pins: Pins
    sos: Sos
    stop: threading.Event

    def press(self, hold: float = 0.1) -> None:
        pin = self.pins.factory.pin(BUTTON)
        pin.drive_low()
        time.sleep(hold)
        pin.drive_high()

    def sos_events(self) -> list[dict[str, Any]]:
        return list(reversed(self.outbox.recent(kind="sos", limit=1000)))

    def led(self, number: int) -> bool:
        return bool(self.pins.factory.pin(number).state)

    def shut(self) -> None:
        self.stop.set()
        self.sos.join(5)
        self.pins.close()
        self.outbox.close()


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def open_post(directory: Path, *, start: bool = True, **timing: float) -> Post:
    outbox = Outbox.open(
        directory / "outbox.db",
        device="pole-test",
        site="lab",
        max_bytes=10_000_000,
        retention_s=3600,
    )
    stop = threading.Event()
    box: dict[str, Sos] = {}
    pins = Pins(
        factory_name="mock",
        button_pin=BUTTON,
        registered_pin=YELLOW,
        acknowledged_pin=GREEN,
        on_edge=lambda p, t: box["sos"].edge(p, t),
    )
    settings = {"resend_s": 30.0, "debounce_s": 0.05, "min_hold_s": 0.0, "test_timeout_s": 60.0}
    sos = Sos(
        store=outbox,
        indicators=pins,
        stop=stop,
        timing=Timing(**{**settings, **timing}),
    )
    box["sos"] = sos
    if start:
        sos.start()
    return Post(outbox, pins, sos, stop)


@pytest.fixture
def post(tmp_path: Path) -> Iterator[Post]:
    bench = open_post(tmp_path)
    yield bench
    bench.shut()


def test_press_raises_alarm_and_lights_registered_indicator(post: Post) -> None:
    post.press()
    wait_for(lambda: len(post.sos_events()) == 1)
    (event,) = post.sos_events()
    assert (event["phase"], event["priority"], event["test"]) == ("new", 0, False)
    assert post.led(YELLOW) and not post.led(GREEN)
    assert post.sos.state()["id"] == event["id"]


def test_bounces_shorter_than_debounce_raise_nothing(post: Post) -> None:
    pin = post.pins.factory.pin(BUTTON)
    for _ in range(20):
        pin.drive_low()
        time.sleep(0.002)
        pin.drive_high()
        time.sleep(0.002)
    time.sleep(0.3)
    assert post.sos_events() == []
    assert not post.led(YELLOW)


def test_minimum_hold_rejects_a_brief_touch(tmp_path: Path) -> None:
    bench = open_post(tmp_path, min_hold_s=0.5)
    try:
        bench.press(hold=0.15)
        time.sleep(0.6)
        assert bench.sos_events() == []
        bench.press(hold=0.7)
        wait_for(lambda: len(bench.sos_events()) == 1)
    finally:
        bench.shut()


def test_unacknowledged_alarm_is_resent_as_update(tmp_path: Path) -> None:
    bench = open_post(tmp_path, resend_s=0.3)
    try:
        bench.press()
        wait_for(lambda: len(bench.sos_events()) >= 3)
        new, first, second = bench.sos_events()[:3]
        assert [first["phase"], second["phase"]] == ["update", "update"]
        assert first["data"]["alarm"] == second["data"]["alarm"] == new["id"]
        assert first["data"]["resend"] is True
    finally:
        bench.shut()


def test_full_cycle_ack_then_reset(post: Post) -> None:
    post.press()
    wait_for(lambda: post.sos.state()["active"])
    alarm = post.sos.state()["id"]
    assert post.sos.ack(alarm, "operator-7") == {"alarm": alarm, "acked": True}
    assert post.led(GREEN) and post.led(YELLOW)
    post.sos.reset(alarm, "operator-7", "control_room")
    assert not post.led(GREEN) and not post.led(YELLOW)
    phases = [(e["phase"], e["data"].get("acked")) for e in post.sos_events()]
    assert phases == [("new", False), ("update", True), ("end", True)]
    end = post.sos_events()[-1]["data"]
    assert (end["ended_by"], end["reason"], end["acked_by"]) == (
        "operator-7",
        "control_room",
        "operator-7",
    )
    assert post.sos.state() == {"active": False}


def test_acknowledged_alarm_is_not_resent(tmp_path: Path) -> None:
    bench = open_post(tmp_path, resend_s=0.2)
    try:
        bench.press()
        wait_for(lambda: bench.sos.state()["active"])
        bench.sos.ack(bench.sos.state()["id"], "op")
        count = len(bench.sos_events())
        time.sleep(0.6)
        assert len(bench.sos_events()) == count
    finally:
        bench.shut()


def test_presses_while_active_are_counted_not_new_alarms(post: Post) -> None:
    post.press()
    wait_for(lambda: post.sos.state()["active"])
    for _ in range(3):
        post.press()
    wait_for(lambda: post.sos.state()["presses"] == 4)
    assert [e["phase"] for e in post.sos_events()].count("new") == 1


def test_ack_with_wrong_or_no_alarm_is_rejected_and_changes_nothing(post: Post) -> None:
    with pytest.raises(CommandError, match="no alarm is active"):
        post.sos.ack("0193-none", "op")
    post.press()
    wait_for(lambda: post.sos.state()["active"])
    with pytest.raises(CommandError, match="is not the active alarm"):
        post.sos.ack("0193-other", "op")
    assert post.sos.state()["acked"] is False
    assert not post.led(GREEN)


def test_alarm_is_latched_across_restart(tmp_path: Path) -> None:
    first = open_post(tmp_path)
    first.press()
    wait_for(lambda: first.sos.state()["active"])
    alarm = first.sos.state()["id"]
    first.shut()
    second = open_post(tmp_path)
    try:
        assert second.sos.state()["id"] == alarm
        assert second.led(YELLOW)
        resumed = second.sos_events()[-1]
        assert (resumed["phase"], resumed["data"]["resumed"]) == ("update", True)
        second.sos.reset(alarm, "tech", "technician")
    finally:
        second.shut()
    third = open_post(tmp_path)
    try:
        assert third.sos.state() == {"active": False}
    finally:
        third.shut()


def test_technician_test_is_flagged_and_ends_by_itself(tmp_path: Path) -> None:
    bench = open_post(tmp_path, test_timeout_s=0.3)
    try:
        bench.sos.test("tech")
        wait_for(lambda: not bench.sos.state()["active"])
        events = bench.sos_events()
        assert [e["phase"] for e in events] == ["new", "end"]
        assert all(e["test"] for e in events)
        assert events[-1]["data"]["reason"] == "test_timeout"
    finally:
        bench.shut()


def test_real_press_during_test_raises_a_real_alarm(post: Post) -> None:
    post.sos.test("tech")
    with pytest.raises(CommandError, match="an alarm is active"):
        post.sos.test("tech")
    post.press()
    wait_for(lambda: post.sos.state().get("test") is False)
    events = post.sos_events()
    assert [(e["phase"], e["test"]) for e in events] == [
        ("new", True),
        ("end", True),
        ("new", False),
    ]
    assert events[1]["data"]["reason"] == "superseded_by_press"


# --- camera snapshots ------------------------------------------------------------------------


def snapshots(post: Post) -> list[dict[str, Any]]:
    return [e for e in post.sos_events() if e["data"].get("snapshot")]


def test_snapshot_of_an_active_alarm_goes_out_as_an_update_with_media(post: Post) -> None:
    post.press()
    wait_for(lambda: post.sos.state()["active"])
    alarm = post.sos.state()["id"]
    picture = jpeg(seed=7)

    post.sos.attach(alarm, [Media("snapshot.jpg", picture)])

    wait_for(lambda: len(snapshots(post)) == 1)
    (update,) = snapshots(post)
    assert (update["phase"], update["data"]["alarm"], update["media"]) == (
        "update",
        alarm,
        ["snapshot.jpg"],
    )
    media = [row for row in post.outbox.pending(10) if row.media is not None]
    assert [(row.id, row.payload) for row in media] == [(f"{update['id']}/snapshot.jpg", picture)]
    assert post.sos.state()["active"]  # the alarm carries on as before


def test_snapshot_just_after_the_end_is_sent_and_others_are_dropped(
    post: Post, monkeypatch: pytest.MonkeyPatch
) -> None:
    post.press()
    wait_for(lambda: post.sos.state()["active"])
    alarm = post.sos.state()["id"]
    post.sos.reset(alarm, "tech", "technician")

    post.sos.attach("0193-unknown", [Media("snapshot.jpg", jpeg())])
    post.sos.attach(alarm, [Media("snapshot.jpg", jpeg())])

    wait_for(lambda: len(snapshots(post)) == 1)
    (info,) = snapshots(post)
    assert (info["phase"], info["data"]["alarm"], info["media"]) == (
        "info",
        alarm,
        ["snapshot.jpg"],
    )
    monkeypatch.setattr(sos_module, "ATTACH_AFTER_END_S", 0.0)
    post.sos.attach(alarm, [Media("late.jpg", jpeg())])
    post.press()  # a new alarm: proof that the thread got past the late snapshot
    wait_for(lambda: post.sos.state()["active"])
    assert len(snapshots(post)) == 1


def test_attach_rejects_repeated_names_at_once(post: Post) -> None:
    with pytest.raises(ValueError, match="unique"):
        post.sos.attach("any", [Media("a.jpg", b"1"), Media("a.jpg", b"2")])


@pytest.mark.parametrize(("held", "raised"), [(0.1, True), (0.01, False)])
def test_press_is_judged_by_its_edges_even_when_the_thread_runs_late(
    tmp_path: Path, held: float, raised: bool
) -> None:
    # Both edges wait in the queue before the alarm thread runs, as under heavy load: the
    # pin is long released by then, so only the edges' own times can tell a press.
    bench = open_post(tmp_path, start=False)
    try:
        now = time.monotonic()
        bench.sos.edge(True, now)
        bench.sos.edge(False, now + held)
        bench.sos.start()
        time.sleep(0.3)
        assert [e["phase"] for e in bench.sos_events()] == (["new"] if raised else [])
    finally:
        bench.shut()
