"""Host session against the simulated MCU in one process, on a simulated clock.

No threads and no ports: bytes are pumped between `HostSession` and `SimulatedMcu` every
10 simulated milliseconds, so retransmission, supervision and the watchdog are checked
exactly, without waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import events as ev
from firmware_bridge.codes import MsgType, Output
from firmware_bridge.frames import Frame, FrameDecoder, encode_frame
from firmware_bridge.mcu import SimulatedMcu
from firmware_bridge.messages import Hello, Welcome
from firmware_bridge.session import HostSession, LinkConfig

CONFIG = LinkConfig(heartbeat_s=0.2, missed_heartbeats=3, watchdog_s=1.0)
Filter = Callable[[bytes], bytes]
E = TypeVar("E")


def keep(data: bytes) -> bytes:
    return data


def without(*types: int, times: int = 1_000_000) -> Filter:
    """A line that loses frames of these types (the first `times` of them)."""
    left = [times]
    decoder = FrameDecoder()

    def drop(data: bytes) -> bytes:
        kept = b""
        for frame in decoder.feed(data):
            if frame.type in types and left[0] > 0:
                left[0] -= 1
            else:
                kept += encode_frame(frame)
        return kept

    return drop


class Rig:
    """A host session and a simulated MCU joined by a line the test can break."""

    def __init__(self, config: LinkConfig = CONFIG) -> None:
        self.now = 0.0
        self.events: list[ev.McuEvent] = []
        self.host = HostSession(config, emit=self.events.append, seed=1)
        self.mcu = SimulatedMcu(now=0.0, power_off_s=1.0, boot_grace_s=5.0)
        self.to_mcu: Filter = keep
        self.to_host: Filter = keep
        self.host_running = True
        self.host.open(0.0)

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds / 0.01)):
            self.now += 0.01
            if self.host_running:
                self.host.tick(self.now)
                self.mcu.receive(self.to_mcu(self.host.take_output()), self.now)
            self.mcu.tick(self.now)
            back = self.to_host(self.mcu.take_output())
            if self.host_running:
                self.host.receive(back, self.now)

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]


def up_rig(config: LinkConfig = CONFIG) -> Rig:
    rig = Rig(config)
    rig.run(0.5)
    assert rig.host.up and rig.mcu.in_session
    return rig


def test_link_comes_up_and_reports_every_input() -> None:
    rig = up_rig()
    names = {e.name for e in rig.of(ev.InputChanged)}
    assert names == {"tamper", "door", "button", "mains", "battery_v", "temperature_c", "faults"}
    assert rig.host.status.firmware is not None


def test_piggybacked_ack_covers_a_lost_ack_frame() -> None:
    rig = up_rig()
    rig.to_host = without(MsgType.ACK, times=1)
    rig.host.set_output(Output.SIREN, 1, 0, rig.now)
    rig.run(1.0)
    assert rig.mcu.modes[Output.SIREN - 1] == 1
    assert rig.host.counters.retransmits == 0


def test_lost_acks_are_repaired_by_retransmission_and_acted_on_once() -> None:
    rig = up_rig()
    rig.to_host = lambda data: b""
    rig.host.set_output(Output.SIREN, 1, 0, rig.now)
    rig.run(0.3)
    rig.to_host = keep
    rig.run(1.0)
    assert rig.mcu.modes[Output.SIREN - 1] == 1
    assert rig.host.counters.retransmits >= 1
    assert rig.mcu.counters.duplicates == 1
    assert len([e for e in rig.of(ev.OutputsReported) if e.outputs.siren == 1]) == 1


def test_retransmission_is_bounded_then_the_command_fails() -> None:
    rig = up_rig()
    rig.to_mcu = without(MsgType.SET_OUTPUT)
    rig.host.set_output(Output.RELAY, 1, 0, rig.now)
    rig.run(3.0)
    assert rig.of(ev.CommandFailed) == [ev.CommandFailed("set_output", "no acknowledgement")]
    assert (rig.host.counters.retransmits, rig.host.counters.give_ups) == (5, 1)
    assert rig.host.up


def test_missed_heartbeats_take_the_link_down_and_it_comes_back() -> None:
    rig = up_rig()
    rig.to_host = lambda data: b""
    rig.run(1.0)
    assert not rig.host.up
    assert "no frame from the MCU" in rig.of(ev.LinkDown)[0].reason
    rig.to_host = keep
    rig.run(1.0)
    assert rig.host.up and len(rig.of(ev.LinkUp)) == 2


def test_watchdog_is_fed_by_heartbeats_and_fires_when_they_stop() -> None:
    rig = up_rig()
    rig.run(5.0)
    assert rig.mcu.watchdog.fires == 0
    rig.host_running = False
    rig.run(1.5)
    assert (rig.mcu.watchdog.fires, rig.mcu.pi_powered) == (1, False)
    rig.run(1.0)
    assert rig.mcu.pi_powered
    assert rig.mcu.notices[-3:] == ["watchdog fired", "pi_power 0", "pi_power 1"]


def test_press_while_down_is_reported_once_and_lights_registered() -> None:
    rig = up_rig(LinkConfig(heartbeat_s=0.2, watchdog_s=0))
    rig.host_running = False
    rig.run(1.0)
    rig.mcu.set_input("button", 1, rig.now)
    rig.mcu.set_input("button", 0, rig.now)
    assert rig.mcu.modes[Output.REGISTERED - 1] == 1
    rig.run(0.5)
    rig.host_running = True
    rig.run(2.0)
    assert [(e.presses, round(e.age_s, 1)) for e in rig.of(ev.LatchedSos)] == [(1, 0.5)]
    rig.host.close("test", rig.now)
    rig.host.open(rig.now)
    rig.run(1.0)
    assert rig.host.up and len(rig.of(ev.LatchedSos)) == 1


def test_press_while_up_is_an_input_not_a_latch() -> None:
    rig = up_rig()
    rig.mcu.set_input("button", 1, rig.now)
    rig.run(0.5)
    rig.host.close("test", rig.now)
    rig.host.open(rig.now)
    rig.run(1.0)
    assert ev.InputChanged("button", True) in rig.events
    assert rig.of(ev.LatchedSos) == []


def test_mcu_restart_is_detected_and_wanted_outputs_restored() -> None:
    rig = up_rig()
    rig.host.set_output(Output.STROBE, 4, 0, rig.now)
    rig.run(0.5)
    rig.mcu = SimulatedMcu(now=rig.now)
    rig.run(1.0)
    assert ev.LinkDown("the MCU restarted its session") in rig.events
    assert rig.host.up and rig.mcu.modes[Output.STROBE - 1] == 4


def test_commands_while_down_wait_or_fail() -> None:
    rig = Rig()
    rig.host.set_output(Output.ACKNOWLEDGED, 1, 0, 0.0)
    rig.host.shutdown(10, 10)
    assert rig.of(ev.CommandFailed) == [ev.CommandFailed("shutdown", "link down")]
    rig.run(0.5)
    assert rig.mcu.modes[Output.ACKNOWLEDGED - 1] == 1


def test_shutdown_cuts_power_until_mains_returns() -> None:
    rig = up_rig()
    rig.mcu.set_input("mains", 0, rig.now)
    rig.host.shutdown(1, 2)
    rig.run(1.5)
    assert not rig.mcu.pi_powered
    rig.host_running = False
    rig.run(3.0)
    assert not rig.mcu.pi_powered
    rig.mcu.set_input("mains", 1, rig.now)
    rig.run(0.1)
    assert rig.mcu.pi_powered and rig.mcu.watchdog.cause == 2


def test_incompatible_mcu_is_refused() -> None:
    rig = Rig()
    rig.host.tick(0.0)
    hello = next(f for f in FrameDecoder().feed(rig.host.take_output()) if f.type == MsgType.HELLO)
    nonce = Hello(*Hello.FORMAT.unpack(hello.payload)).nonce
    welcome = Welcome(2, 0, 0, nonce, 9, 0, 0, 0, 0, 1, 0, 0)
    rig.host.receive(encode_frame(Frame(MsgType.WELCOME, welcome.pack())), 0.1)
    assert not rig.host.up
    assert rig.of(ev.LinkDown) == [ev.LinkDown("refused: MCU protocol 2, status 1")]


def test_replayed_report_from_the_mcu_is_dropped() -> None:
    rig = up_rig()
    captured: list[bytes] = []
    decoder = FrameDecoder()

    def tap(data: bytes) -> bytes:
        captured.extend(encode_frame(f) for f in decoder.feed(data) if f.type == MsgType.INPUTS)
        return data

    rig.to_host = tap
    rig.mcu.set_input("door", 1, rig.now)
    rig.run(0.5)
    before = len(rig.events)
    rig.host.receive(captured[0], rig.now)
    assert rig.host.counters.duplicates == 1
    assert len(rig.events) == before


any_frames = st.builds(
    Frame,
    type=st.sampled_from([*MsgType, 0x00, 0x7F, 0xFF]),
    payload=st.binary(max_size=64),
    flags=st.integers(0, 3),
    seq=st.integers(0, 255),
    ack=st.integers(0, 255),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(any_frames.map(encode_frame), st.binary(max_size=100)), max_size=20))
def test_both_sides_survive_any_frames_and_keep_the_link(noise: list[bytes]) -> None:
    rig = up_rig(LinkConfig(heartbeat_s=0.2, watchdog_s=0))
    for chunk in noise:
        rig.host.receive(chunk, rig.now)
        rig.mcu.receive(chunk, rig.now)
    rig.run(2.0)
    rig.host.ping(rig.now)
    rig.run(0.1)
    assert rig.of(ev.PongReceived)
