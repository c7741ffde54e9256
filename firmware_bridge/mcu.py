"""The MCU's behaviour in Python: the twin of the C core (`firmware/core/mcu.c`).

`SimulatedMcu` does no I/O and reads no clock, like `HostSession` on the other side: feed it
bytes and the time, write what `take_output` returns. It speaks PROTOCOL.md on its own
reading, so running the host against it and against the C firmware checks the spec twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware_bridge.channel import ReliableChannel, Verdict
from firmware_bridge.codes import (
    ALL_CAPS,
    INPUT_BUTTON,
    INPUT_DOOR,
    INPUT_MAINS,
    INPUT_TAMPER,
    PROTO_MAJOR,
    PROTO_MINOR,
    RELIABLE_TYPES,
    MsgType,
    Output,
    Reject,
)
from firmware_bridge.frames import Counters, Frame, FrameDecoder, encode_frame
from firmware_bridge.messages import (
    Heartbeat,
    Hello,
    Inputs,
    Message,
    MessageError,
    OutputState,
    Ping,
    Pong,
    Rejected,
    SetOutput,
    SetWatchdog,
    Shutdown,
    SosLatched,
    Stats,
    Welcome,
    decode_message,
)
from firmware_bridge.watchdog import PiWatchdog

FROM_HOST = frozenset(
    {MsgType.HELLO, MsgType.HEARTBEAT, MsgType.ACK, MsgType.PING, MsgType.PONG, MsgType.REJECT}
    | {MsgType.GET_STATS, MsgType.SET_OUTPUT, MsgType.SET_WATCHDOG, MsgType.SHUTDOWN}
)
SWITCHES = {"tamper": INPUT_TAMPER, "door": INPUT_DOOR, "button": INPUT_BUTTON}
SWITCHES["mains"] = INPUT_MAINS
INPUT_NAMES = (*SWITCHES, "battery", "temp", "faults")
MISSED_HEARTBEATS = 3
UNSOLICITED_WELCOME_S = 0.5
SIREN_MAX_S = 900
FW_VERSION = (1, 0, 0)


@dataclass
class _Latch:
    presses: int = 0
    acked: int = 0
    upto: int = 0
    first_unacked: float = 0.0

    @property
    def unacked(self) -> int:
        return (self.presses - self.acked) & 0xFFFF

    def known(self, upto: int) -> None:
        if (upto - self.acked) & 0xFFFF <= self.unacked:
            self.acked = upto


class SimulatedMcu:
    """Session, inputs, outputs, SOS latch and Pi watchdog of an SOS-post MCU."""

    def __init__(
        self, *, now: float, power_off_s: float = 5.0, boot_grace_s: float = 180.0
    ) -> None:
        self.counters = Counters()
        self.notices: list[str] = []  # what the C host build prints, line for line
        self.watchdog = PiWatchdog(power_off_s=power_off_s, boot_grace_s=boot_grace_s)
        self.in_session = False
        self.modes = [0] * len(Output)
        self.output_flags = 0
        self.bits = INPUT_MAINS
        self.battery_mv, self.temperature_dc, self.faults = 13200, 250, 0
        self.latch = _Latch()
        self._decoder = FrameDecoder(self.counters)
        self._channel = ReliableChannel(self.counters, max_queue=8)
        self._out = bytearray()
        self._started = now
        self._heartbeat_s = 1.0
        self._last_rx = self._next_heartbeat = 0.0
        self._last_unsolicited = now
        self._off_at: dict[int, float] = {}
        self._reported = (self.battery_mv, self.temperature_dc)
        self._send(self._welcome(0, 0, now))

    @property
    def pi_powered(self) -> bool:
        """Whether the MCU is powering the Pi."""
        return self.watchdog.pi_powered

    def take_output(self) -> bytes:
        """Bytes for the UART."""
        data, self._out = bytes(self._out), bytearray()
        return data

    def receive(self, data: bytes, now: float) -> None:
        """Bytes from the UART."""
        for frame in self._decoder.feed(data):
            self._on_frame(frame, now)

    def tick(self, now: float) -> None:
        """Run the timers: supervision, heartbeats, retransmission, outputs, watchdog."""
        if self.in_session and now - self._last_rx > MISSED_HEARTBEATS * self._heartbeat_s:
            self.in_session = False
            self._channel.clear()
            self.notices.append("link down")
        if self.in_session and now >= self._next_heartbeat:
            self._next_heartbeat = now + self._heartbeat_s
            self._send(Heartbeat(self._uptime_ms(now)))
        if self.in_session:
            frame, _ = self._channel.poll(now)
            if frame is not None:
                self._out += encode_frame(frame)
        self._expire_outputs(now)
        self._watchdog_tick(now)

    def _watchdog_tick(self, now: float) -> None:
        powered, fires = self.watchdog.pi_powered, self.watchdog.fires
        self.watchdog.tick(now, mains=bool(self.bits & INPUT_MAINS))
        if self.watchdog.fires != fires:
            self.notices.append("watchdog fired")
        if self.watchdog.pi_powered != powered:
            self.notices.append(f"pi_power {int(self.watchdog.pi_powered)}")

    def set_input(self, name: str, value: float, now: float) -> None:
        """tamper, door, button, mains (0/1), battery (V), temp (°C) or faults (bits)."""
        if name in SWITCHES:
            self._set_switch(SWITCHES[name], bool(value), now)
        elif name == "battery":
            self.battery_mv = max(0, min(0xFFFF, round(value * 1000)))
            if abs(self.battery_mv - self._reported[0]) >= 100:
                self._queue_inputs(now)
        elif name == "temp":
            self.temperature_dc = max(-0x8000, min(0x7FFF, round(value * 10)))
            if abs(self.temperature_dc - self._reported[1]) >= 10:
                self._queue_inputs(now)
        elif name == "faults" and int(value) != self.faults:
            self.faults = int(value) & 0xFFFF
            self._queue_inputs(now)
        elif name != "faults":
            raise ValueError(f"unknown MCU input {name!r}")

    # Frames ------------------------------------------------------------------------------

    def _on_frame(self, frame: Frame, now: float) -> None:
        self.watchdog.feed(now)
        self._last_rx = now
        if not self.in_session and frame.type != MsgType.HELLO:
            if now - self._last_unsolicited >= UNSOLICITED_WELCOME_S:
                self._last_unsolicited = now
                self._send(self._welcome(0, 0, now))
            return
        if self.in_session:
            done = self._channel.on_ack(frame)
            if isinstance(done, Inputs):
                self.latch.known(done.presses)
            elif isinstance(done, SosLatched):
                self.latch.known(self.latch.upto)
        message = self._check(frame)
        if message is not None:
            self._dispatch(message, frame, now)

    def _check(self, frame: Frame) -> Message | None:
        known = frame.type in FROM_HOST
        if known and frame.reliable != (frame.type in RELIABLE_TYPES):
            self.counters.count("bad_payload")
            return None
        if frame.reliable:
            verdict = self._channel.accept(frame.seq)
            self._out += encode_frame(self._channel.acknowledge())
            if verdict is Verdict.DUPLICATE:
                return None
        try:
            if not known:
                raise MessageError("bad_type", Reject.UNKNOWN_TYPE, f"type {frame.type:#04x}")
            return decode_message(frame.type, frame.payload)
        except MessageError as error:
            self._refuse(frame, error)
            return None

    def _refuse(self, frame: Frame, error: MessageError) -> None:
        self.counters.count(error.counter)
        if frame.type == MsgType.HELLO and error.reason is Reject.BAD_VALUE:
            status = 1 if frame.payload[0] != PROTO_MAJOR else 2
            nonce = int.from_bytes(frame.payload[4:6], "little")
            self._send(self._welcome(nonce, status, self._last_rx))
        elif frame.reliable:
            self._send(Rejected(frame.type, frame.seq, int(error.reason)))

    def _dispatch(self, message: Message, frame: Frame, now: float) -> None:
        if isinstance(message, Hello):
            self._on_hello(message, now)
        elif isinstance(message, Ping):
            self._send(Pong(message.token))
        elif message.TYPE == MsgType.GET_STATS:
            fires = self.watchdog.fires
            self._send(Stats(**(self.counters.as_dict() | {"watchdog_fires": fires})))
        elif isinstance(message, SetOutput):
            self._set_output(message, now)
        elif isinstance(message, SetWatchdog):
            self.watchdog.configure(message.watchdog_ms / 1000, now)
        elif isinstance(message, Shutdown):
            self.watchdog.shutdown(message.delay_s, message.min_off_s, now)
            self.notices.append("shutdown pending")

    def _on_hello(self, hello: Hello, now: float) -> None:
        if hello.proto_major != PROTO_MAJOR:
            self._send(self._welcome(hello.nonce, 1, now))
            return
        self.watchdog.configure(hello.watchdog_ms / 1000, now)
        self._channel.reset_receiver()
        self._channel.clear()
        if not self.in_session:
            self.notices.append("link up")
        self.in_session = True
        self._heartbeat_s = hello.heartbeat_ms / 1000
        self._next_heartbeat = now + self._heartbeat_s
        self._send(self._welcome(hello.nonce, 0, now))
        self._queue_latch(now)
        self._queue_outputs()
        self._queue_inputs(now)

    # Reports -----------------------------------------------------------------------------

    def _send(self, message: Message) -> None:
        self._out += encode_frame(self._channel.frame(message))

    def _uptime_ms(self, now: float) -> int:
        return round((now - self._started) * 1000) & 0xFFFFFFFF

    def _welcome(self, nonce: int, status: int, now: float) -> Welcome:
        major, minor, patch = FW_VERSION
        return Welcome(
            proto_major=PROTO_MAJOR,
            proto_minor=PROTO_MINOR,
            caps=ALL_CAPS,
            nonce=nonce,
            fw_major=major,
            fw_minor=minor,
            fw_patch=patch,
            reset_cause=0,
            pi_power_cause=self.watchdog.cause,
            status=status,
            watchdog_fires=self.watchdog.fires,
            uptime_ms=self._uptime_ms(now),
        )

    def _queue_inputs(self, now: float) -> None:
        if not self.in_session:
            return
        self._reported = (self.battery_mv, self.temperature_dc)
        presses, uptime = self.latch.presses, self._uptime_ms(now)
        args = (self.bits, 0, self.battery_mv, self.temperature_dc, self.faults, presses, uptime)
        self._channel.send(Inputs(*args))

    def _outputs_changed(self) -> None:
        strobe, siren, registered, acknowledged, relay = self.modes
        self.notices.append(
            f"out strobe={strobe} siren={siren} registered={registered}"
            f" acknowledged={acknowledged} relay={relay}"
        )
        self._queue_outputs()

    def _queue_outputs(self) -> None:
        if self.in_session:
            strobe, siren, registered, acknowledged, relay = self.modes
            state = OutputState(strobe, siren, registered, acknowledged, relay, self.output_flags)
            self._channel.send(state)

    def _queue_latch(self, now: float) -> None:
        if self.latch.unacked:
            self.latch.upto = self.latch.presses
            age_ms = round((now - self.latch.first_unacked) * 1000)
            self._channel.send(SosLatched(self.latch.unacked, age_ms))

    # Inputs and outputs ------------------------------------------------------------------

    def _set_switch(self, bit: int, on: bool, now: float) -> None:
        bits = self.bits | bit if on else self.bits & ~bit
        if bits == self.bits:
            return
        self.bits = bits
        if bit == INPUT_BUTTON and on:
            self._on_press(now)
        self._queue_inputs(now)

    def _on_press(self, now: float) -> None:
        if not self.latch.unacked:
            self.latch.first_unacked = now
        self.latch.presses = (self.latch.presses + 1) & 0xFFFF
        if not self.in_session:
            # Nobody else can light it for the caller: show at once the alarm was taken.
            self.modes[Output.REGISTERED - 1] = 1
            self._off_at.pop(Output.REGISTERED, None)
            self.output_flags |= 1
            self._outputs_changed()

    def _set_output(self, message: SetOutput, now: float) -> None:
        duration = message.duration_s
        if message.output == Output.SIREN and message.mode:
            duration = min(duration or SIREN_MAX_S, SIREN_MAX_S)
        self.modes[message.output - 1] = message.mode
        self._off_at.pop(message.output, None)
        if message.mode and duration:
            self._off_at[message.output] = now + duration
        if message.output == Output.REGISTERED:
            self.output_flags &= ~1
        self._outputs_changed()

    def _expire_outputs(self, now: float) -> None:
        expired = [output for output, at in self._off_at.items() if now >= at]
        for output in expired:
            self.modes[output - 1] = 0
            del self._off_at[output]
        if expired:
            self._outputs_changed()
