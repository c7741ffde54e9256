"""The link's thread and port ownership, against the in-process simulator on a null modem."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_bridge import (
    InputChanged,
    LinkConfig,
    LinkDown,
    LinkUp,
    McuLink,
    Output,
    OutputsReported,
)
from firmware_bridge.nullmodem import NullModem
from firmware_bridge.simulator import McuSimulator
from tests import mcu_fixtures as mf

FAST = LinkConfig(heartbeat_s=0.2, watchdog_s=0)


@pytest.fixture
def cable(tmp_path: Path) -> Iterator[NullModem]:
    with NullModem(tmp_path) as modem:
        yield modem


@pytest.fixture
def simulator(cable: NullModem) -> Iterator[McuSimulator]:
    with McuSimulator(cable.mcu_path, power_off_s=0.3) as sim:
        yield sim


def thread_names() -> set[str]:
    return {thread.name for thread in threading.enumerate()}


def test_link_talks_to_the_in_process_simulator(simulator: McuSimulator, cable: NullModem) -> None:
    with McuLink(cable.host_path, config=FAST) as link:
        events = mf.Events(link.events)
        events.wait_for(LinkUp)
        simulator.set_input("tamper", 1)
        events.wait_for(InputChanged, lambda e: e.name == "tamper" and e.value is True)
        link.set_output(Output.ACKNOWLEDGED, 2)
        events.wait_for(OutputsReported, lambda e: e.outputs.acknowledged == 2)
        assert simulator.read(lambda mcu: mcu.modes[Output.ACKNOWLEDGED - 1]) == 2
    assert "mcu-link" not in thread_names()


def test_stop_joins_the_thread_and_reports_the_link_down(
    simulator: McuSimulator, cable: NullModem
) -> None:
    link = McuLink(cable.host_path, config=FAST)
    link.start()
    events = mf.Events(link.events)
    events.wait_for(LinkUp)
    link.stop()
    assert "mcu-link" not in thread_names()
    assert events.wait_for(LinkDown).reason == "link stopped"
    assert not link.status().port_open


def test_a_missing_port_is_retried_until_it_appears(tmp_path: Path) -> None:
    link = McuLink(str(tmp_path / "ttyNothing"), config=FAST)
    link.start()
    try:
        time.sleep(0.3)  # a few failed opens; nothing to wait for but the back-off
        assert not link.status().port_open
        assert link.events.empty()
        with NullModem(tmp_path, name="ttyNothing") as cable, McuSimulator(cable.mcu_path):
            mf.Events(link.events).wait_for(LinkUp)
    finally:
        link.stop()


def test_commands_from_other_threads_are_queued(simulator: McuSimulator, cable: NullModem) -> None:
    with McuLink(cable.host_path, config=FAST) as link:
        events = mf.Events(link.events)
        events.wait_for(LinkUp)
        senders = [
            threading.Thread(target=link.set_output, args=(output, 1))
            for output in (Output.STROBE, Output.SIREN, Output.RELAY)
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        for name in ("strobe", "siren", "relay"):
            events.wait_for(OutputsReported, lambda e, n=name: getattr(e.outputs, n) == 1)


def test_a_full_event_queue_drops_instead_of_blocking(
    simulator: McuSimulator, cable: NullModem
) -> None:
    small: queue.Queue[object] = queue.Queue(maxsize=1)
    with McuLink(cable.host_path, config=FAST, events=small) as link:  # type: ignore[arg-type]
        deadline = time.monotonic() + mf.WAIT_S
        while not link.status().up and time.monotonic() < deadline:
            time.sleep(0.05)
        assert link.status().up
    assert small.qsize() == 1
