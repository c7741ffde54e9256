"""The host link against a real MCU program over pseudo-terminals.

Every test runs twice: against the C firmware's host build and against the Python
simulator, which implement PROTOCOL.md independently and share one command-line interface.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from firmware_bridge import (
    CommandFailed,
    InputChanged,
    LatchedSos,
    LinkConfig,
    LinkDown,
    LinkUp,
    McuLink,
    Output,
    OutputsReported,
    PongReceived,
    StatsReported,
)
from firmware_bridge.codes import ALL_CAPS
from firmware_bridge.nullmodem import NullModem
from tests import mcu_fixtures as mf

FAST = LinkConfig(heartbeat_s=0.2, missed_heartbeats=3, watchdog_s=60.0)


@pytest.fixture(scope="session")
def host_build() -> Path:
    return mf.build_firmware()


@pytest.fixture(params=["c", "python"])
def mcu_command(request: pytest.FixtureRequest) -> list[str]:
    return mf.mcu_command(request)


@pytest.fixture
def cable(tmp_path: Path) -> Iterator[NullModem]:
    with NullModem(tmp_path) as modem:
        yield modem


@pytest.fixture
def start_mcu(mcu_command: list[str], cable: NullModem) -> Iterator[Callable[[], mf.McuProcess]]:
    started: list[mf.McuProcess] = []

    def start() -> mf.McuProcess:
        options = ("--power-off-ms", "300", "--boot-grace-ms", "3000")
        started.append(mf.McuProcess(mcu_command, cable.mcu_path, *options))
        return started[-1]

    yield start
    for process in started:
        process.close()


@pytest.fixture
def mcu(start_mcu: Callable[[], mf.McuProcess]) -> mf.McuProcess:
    return start_mcu()


@pytest.fixture
def start_link(cable: NullModem) -> Iterator[Callable[..., tuple[McuLink, mf.Events]]]:
    links: list[McuLink] = []

    def start(config: LinkConfig = FAST) -> tuple[McuLink, mf.Events]:
        links.append(McuLink(cable.host_path, config=config))
        links[-1].start()
        return links[-1], mf.Events(links[-1].events)

    yield start
    for link in links:
        link.stop()


@pytest.fixture
def linked(
    mcu: mf.McuProcess, start_link: Callable[..., tuple[McuLink, mf.Events]]
) -> tuple[McuLink, mf.Events]:
    link, events = start_link()
    events.wait_for(LinkUp)
    mcu.wait_for("link up")
    return link, events


def test_handshake_reports_versions_and_capabilities(
    mcu: mf.McuProcess, start_link: Callable[..., tuple[McuLink, mf.Events]]
) -> None:
    link, events = start_link()
    up = events.wait_for(LinkUp)
    assert (up.firmware.protocol, up.firmware.firmware) == ("1.0", "1.0.0")
    assert up.firmware.caps == ALL_CAPS
    assert up.firmware.reset_cause == "power_on"
    mcu.wait_for("link up")
    assert link.status().up


INPUT_CHANGES = [
    ("tamper 1", "tamper", True),
    ("door 1", "door", True),
    ("mains 0", "mains", False),
    ("battery 11.2", "battery_v", 11.2),
    ("temp 41.5", "temperature_c", 41.5),
    ("faults 4", "faults", 4),
    ("button 1", "button", True),
    ("button 0", "button", False),
    ("door 0", "door", False),
]


def test_each_input_change_arrives(mcu: mf.McuProcess, linked: tuple[McuLink, mf.Events]) -> None:
    link, events = linked
    for line, name, value in INPUT_CHANGES:
        mcu.send(line)
        events.wait_for(InputChanged, lambda e, n=name, v=value: (e.name, e.value) == (n, v))
    assert link.status().inputs["battery_v"] == 11.2


OUTPUT_MODES = [(Output.STROBE, m) for m in (1, 2, 3, 4, 0)] + [
    (Output.SIREN, 2),
    (Output.REGISTERED, 2),
    (Output.ACKNOWLEDGED, 1),
    (Output.RELAY, 1),
    (Output.SIREN, 0),
]


def test_outputs_follow_commands(mcu: mf.McuProcess, linked: tuple[McuLink, mf.Events]) -> None:
    link, events = linked
    expected = dict.fromkeys(("strobe", "siren", "registered", "acknowledged", "relay"), 0)
    for output, mode in OUTPUT_MODES:
        mark = mcu.mark()
        link.set_output(output, mode)
        expected[output.name.lower()] = mode
        line = "out " + " ".join(f"{k}={v}" for k, v in expected.items())
        mcu.wait_for(line, after=mark)
        reported = events.wait_for(
            OutputsReported, lambda e, o=output, m=mode: getattr(e.outputs, o.name.lower()) == m
        )
        assert reported.outputs.flags == 0


def test_siren_turns_itself_off_after_its_duration(
    mcu: mf.McuProcess, linked: tuple[McuLink, mf.Events]
) -> None:
    link, events = linked
    link.set_output(Output.SIREN, 1, duration_s=1)
    events.wait_for(OutputsReported, lambda e: e.outputs.siren == 1)
    events.wait_for(OutputsReported, lambda e: e.outputs.siren == 0)
    mcu.wait_for("out strobe=0 siren=0")


def test_watchdog_power_cycles_the_pi_when_heartbeats_stop(
    mcu: mf.McuProcess, start_link: Callable[..., tuple[McuLink, mf.Events]]
) -> None:
    link, events = start_link(LinkConfig(heartbeat_s=0.2, watchdog_s=1.0))
    events.wait_for(LinkUp)
    mark = mcu.wait_for("link up")
    link.stop()
    fired = mcu.wait_for("watchdog fired", after=mark)
    off = mcu.wait_for("pi_power 0", after=fired)
    mcu.wait_for("pi_power 1", after=off)
    _, again = start_link(LinkConfig(heartbeat_s=0.2, watchdog_s=1.0))
    up = again.wait_for(LinkUp)
    assert (up.firmware.pi_power_cause, up.firmware.watchdog_fires) == ("watchdog", 1)


def test_press_while_the_link_is_down_is_reported_when_it_returns(
    mcu: mf.McuProcess, cable: NullModem, linked: tuple[McuLink, mf.Events]
) -> None:
    _, events = linked
    mark = mcu.mark()
    cable.unplug()
    events.wait_for(LinkDown)
    mcu.wait_for("link down", after=mark)
    mcu.send("button 1", "button 0")
    mcu.wait_for("out strobe=0 siren=0 registered=1", after=mark)
    cable.plug()
    latched = events.wait_for(LatchedSos)
    assert latched.presses == 1
    assert 0 <= latched.age_s < mf.WAIT_S
    events.wait_for(OutputsReported, lambda e: e.outputs.registered == 1 and e.outputs.flags == 1)


def test_pulled_cable_is_reported_and_recovered_with_outputs_restored(
    mcu: mf.McuProcess, cable: NullModem, linked: tuple[McuLink, mf.Events]
) -> None:
    link, events = linked
    link.set_output(Output.STROBE, 3)
    events.wait_for(OutputsReported, lambda e: e.outputs.strobe == 3)
    cable.unplug()
    assert "port" in events.wait_for(LinkDown).reason
    cable.plug()
    events.wait_for(LinkUp)
    events.wait_for(OutputsReported, lambda e: e.outputs.strobe == 3)
    assert link.status().reconnects >= 1


def test_restarted_mcu_gets_the_wanted_outputs_again(
    mcu: mf.McuProcess,
    start_mcu: Callable[[], mf.McuProcess],
    linked: tuple[McuLink, mf.Events],
) -> None:
    link, events = linked
    link.set_output(Output.RELAY, 1)
    events.wait_for(OutputsReported, lambda e: e.outputs.relay == 1)
    mcu.close()
    events.wait_for(LinkDown)
    fresh = start_mcu()
    events.wait_for(LinkUp)
    fresh.wait_for("out strobe=0 siren=0 registered=0 acknowledged=0 relay=1")


def test_shutdown_cuts_the_pi_until_mains_returns(
    mcu: mf.McuProcess, linked: tuple[McuLink, mf.Events]
) -> None:
    link, events = linked
    mark = mcu.mark()
    mcu.send("mains 0")
    events.wait_for(InputChanged, lambda e: e.name == "mains")
    link.request_shutdown(delay_s=0, min_off_s=0)
    off = mcu.wait_for("pi_power 0", after=mark)
    mcu.send("mains 1")
    mcu.wait_for("pi_power 1", after=off)


def test_ping_and_stats_are_answered(mcu: mf.McuProcess, linked: tuple[McuLink, mf.Events]) -> None:
    link, events = linked
    link.ping()
    assert events.wait_for(PongReceived).rtt_s >= 0
    link.request_stats()
    stats = events.wait_for(StatsReported).counters
    assert stats["frames_ok"] > 0
    assert stats["bad_crc"] == 0


def test_invalid_command_fails_without_reaching_the_wire(
    mcu: mf.McuProcess, linked: tuple[McuLink, mf.Events]
) -> None:
    link, events = linked
    link.set_output(Output.RELAY, 7)
    assert events.wait_for(CommandFailed).command == "set_output"
    assert mcu.stats()["bad_payload"] == 0
