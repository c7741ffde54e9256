"""The host's half of the protocol: handshake, heartbeats, supervision and commands.

`HostSession` does no I/O and reads no clock. The link thread feeds it the bytes it read
and the time, writes what `take_output` returns, and calls `tick` at least every 50 ms.
Everything the MCU reports goes to the `emit` callable as an event.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from firmware_bridge import events as ev
from firmware_bridge.channel import ReliableChannel, Verdict
from firmware_bridge.codes import (
    ALL_CAPS,
    PROTO_MAJOR,
    PROTO_MINOR,
    RELIABLE_TYPES,
    MsgType,
    Reject,
)
from firmware_bridge.frames import Counters, Frame, FrameDecoder, encode_frame
from firmware_bridge.messages import (
    GetStats,
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

log = logging.getLogger(__name__)

FROM_MCU = frozenset(
    {MsgType.WELCOME, MsgType.HEARTBEAT, MsgType.ACK, MsgType.PING, MsgType.PONG}
    | {MsgType.REJECT, MsgType.STATS, MsgType.OUTPUT_STATE, MsgType.INPUTS, MsgType.SOS_LATCHED}
)


@dataclass(frozen=True)
class LinkConfig:
    """Timing of the host side; the defaults suit a post, tests shorten them."""

    heartbeat_s: float = 1.0
    missed_heartbeats: int = 3
    watchdog_s: float = 60.0
    retransmit_s: float = 0.25
    max_retries: int = 5
    caps: int = ALL_CAPS


class HostSession:
    """Protocol state of the host for one open port."""

    def __init__(
        self, config: LinkConfig, *, emit: Callable[[ev.McuEvent], None], seed: int | None = None
    ) -> None:
        self.config = config
        self.counters = Counters()
        self.status = ev.LinkStatus()
        self._emit = emit
        self._random = random.Random(seed)
        self._decoder = FrameDecoder(self.counters)
        self._channel = ReliableChannel(
            self.counters, retransmit_s=config.retransmit_s, max_retries=config.max_retries
        )
        self._out = bytearray()
        self._up = False
        self._nonce = 0
        self._watchdog_ms = round(config.watchdog_s * 1000)
        self._last_rx = self._next_hello = self._next_heartbeat = 0.0
        self._desired: dict[int, tuple[SetOutput, float]] = {}
        self._pings: dict[int, float] = {}
        self._ping_token = 0

    @property
    def up(self) -> bool:
        """Whether the handshake succeeded and heartbeats are arriving."""
        return self._up

    def open(self, now: float) -> None:
        """The port was (re)opened: flush the peer's receiver and start the handshake."""
        self._out = bytearray(b"\x00")
        self._start_handshake(now)
        self.status = replace(self.status, port_open=True)

    def close(self, reason: str, now: float) -> None:
        """The port is gone."""
        self._go_down(reason, now)
        self.status = replace(self.status, port_open=False)

    def take_output(self) -> bytes:
        """Bytes to write to the port now."""
        data, self._out = bytes(self._out), bytearray()
        return data

    def receive(self, data: bytes, now: float) -> None:
        """Bytes read from the port."""
        for frame in self._decoder.feed(data):
            self._last_rx = now
            self._on_frame(frame, now)
        self._publish()

    def tick(self, now: float) -> None:
        """Run the timers: supervision, handshake retries, heartbeats, retransmission."""
        if (
            self._up
            and now - self._last_rx > self.config.heartbeat_s * self.config.missed_heartbeats
        ):
            self._go_down(f"no frame from the MCU for {now - self._last_rx:.1f} s", now)
        if not self._up and now >= self._next_hello:
            self._send_hello(now)
        if self._up and now >= self._next_heartbeat:
            self._next_heartbeat = now + self.config.heartbeat_s
            self._send(Heartbeat(round(now * 1000) & 0xFFFFFFFF))
        if self._up:
            self._poll_channel(now)
        self._publish()

    # Commands (called on the link thread) ------------------------------------------------

    def set_output(self, output: int, mode: int, duration_s: int, now: float) -> None:
        """Want `output` in `mode`; sent now if the link is up, else after the handshake."""
        message = SetOutput(output, mode, duration_s)
        problem = message.check()
        if problem is not None or not 0 <= duration_s <= 0xFFFF:
            self._emit(ev.CommandFailed("set_output", problem or f"duration_s {duration_s}"))
            return
        self._desired[output] = (message, now)
        if self._up:
            self._channel.send(message)

    def set_watchdog(self, seconds: float) -> None:
        """Arm (seconds > 0) or disarm (0) the Pi watchdog; also used by every later HELLO."""
        message = SetWatchdog(round(seconds * 1000))
        problem = message.check()
        if problem is not None:
            self._emit(ev.CommandFailed("set_watchdog", problem))
            return
        self._watchdog_ms = message.watchdog_ms
        if self._up:
            self._channel.send(message)

    def shutdown(self, delay_s: int, min_off_s: int) -> None:
        """Ask the MCU to cut the Pi's power after `delay_s` (the Pi halts meanwhile)."""
        if not self._up:
            self._emit(ev.CommandFailed("shutdown", "link down"))
        elif not (0 <= delay_s <= 0xFFFF and 0 <= min_off_s <= 0xFFFF):
            self._emit(ev.CommandFailed("shutdown", f"delay {delay_s} / off {min_off_s} s"))
        else:
            self._channel.send(Shutdown(delay_s, min_off_s))

    def ping(self, now: float) -> int:
        """Send a PING; a `PongReceived` with the same token follows."""
        if not self._up:
            self._emit(ev.CommandFailed("ping", "link down"))
            return 0
        self._ping_token = (self._ping_token + 1) & 0xFFFFFFFF
        self._pings = {t: s for t, s in self._pings.items() if now - s < 10.0}
        self._pings[self._ping_token] = now
        self._send(Ping(self._ping_token))
        return self._ping_token

    def request_stats(self) -> None:
        """Ask for the MCU's counters; a `StatsReported` follows."""
        if self._up:
            self._send(GetStats())
        else:
            self._emit(ev.CommandFailed("request_stats", "link down"))

    # Internals ---------------------------------------------------------------------------

    def _start_handshake(self, now: float) -> None:
        self._nonce = self._random.randrange(1, 0x10000)
        self._next_hello = now

    def _send_hello(self, now: float) -> None:
        hb_ms = round(self.config.heartbeat_s * 1000)
        caps, nonce, wd = self.config.caps, self._nonce, self._watchdog_ms
        self._send(Hello(PROTO_MAJOR, PROTO_MINOR, caps, nonce, hb_ms, wd))
        self._next_hello = now + self.config.heartbeat_s

    def _send(self, message: Message) -> None:
        self._out += encode_frame(self._channel.frame(message))

    def _write(self, frame: Frame) -> None:
        self._out += encode_frame(frame)

    def _poll_channel(self, now: float) -> None:
        frame, given_up = self._channel.poll(now)
        if given_up is not None:
            self._emit(ev.CommandFailed(given_up.TYPE.name.lower(), "no acknowledgement"))
        if frame is not None:
            self._write(frame)

    def _go_down(self, reason: str, now: float) -> None:
        for message in self._channel.clear():
            # Outputs and the watchdog timeout are sent again after the next handshake.
            if not isinstance(message, SetOutput | SetWatchdog):
                self._emit(ev.CommandFailed(message.TYPE.name.lower(), "link down"))
        if self._up:
            self._up = False
            self._emit(ev.LinkDown(reason))
            self.status = replace(self.status, up=False, last_down_reason=reason)
        self._start_handshake(now)

    def _on_frame(self, frame: Frame, now: float) -> None:
        if not self._up and frame.type != MsgType.WELCOME:
            return
        done = self._channel.on_ack(frame)
        if done is not None:
            log.debug("MCU acknowledged %s", done)
        message = self._check(frame)
        if message is not None:
            self._dispatch(message, now)

    def _check(self, frame: Frame) -> Message | None:
        known = frame.type in FROM_MCU
        if known and frame.reliable != (frame.type in RELIABLE_TYPES):
            self.counters.count("bad_payload")
            return None
        if frame.reliable:
            verdict = self._channel.accept(frame.seq)
            self._write(self._channel.acknowledge())
            if verdict is Verdict.DUPLICATE:
                return None
        try:
            if not known:
                raise MessageError("bad_type", Reject.UNKNOWN_TYPE, f"type {frame.type:#04x}")
            return decode_message(frame.type, frame.payload)
        except MessageError as error:
            self.counters.count(error.counter)
            log.debug("dropped a frame from the MCU: %s", error)
            if frame.reliable:
                self._send(Rejected(frame.type, frame.seq, int(error.reason)))
            return None

    def _dispatch(self, message: Message, now: float) -> None:
        if isinstance(message, Welcome):
            self._on_welcome(message, now)
        elif isinstance(message, Inputs):
            self._on_inputs(message)
        elif isinstance(message, OutputState):
            self.status = replace(self.status, outputs=message)
            self._emit(ev.OutputsReported(message))
        elif isinstance(message, SosLatched):
            self._emit(ev.LatchedSos(message.presses, message.age_ms / 1000))
        else:
            self._on_reply(message, now)

    def _on_reply(self, message: Message, now: float) -> None:
        if isinstance(message, Ping):
            self._send(Pong(message.token))
        elif isinstance(message, Pong) and message.token in self._pings:
            self._emit(ev.PongReceived(message.token, now - self._pings.pop(message.token)))
        elif isinstance(message, Stats):
            self._emit(ev.StatsReported(asdict(message)))
        elif isinstance(message, Rejected):
            known = message.type in MsgType._value2member_map_
            name = MsgType(message.type).name.lower() if known else f"type {message.type:#04x}"
            self._emit(ev.CommandFailed(name, f"rejected by the MCU (reason {message.reason})"))

    def _on_welcome(self, welcome: Welcome, now: float) -> None:
        if welcome.nonce != self._nonce:
            if self._up:
                self._go_down("the MCU restarted its session", now)
            self._next_hello = now
            return
        if self._up:
            return
        if welcome.status != 0 or welcome.proto_major != PROTO_MAJOR:
            reason = f"refused: MCU protocol {welcome.proto_major}, status {welcome.status}"
            if self.status.last_down_reason != reason:
                self._emit(ev.LinkDown(reason))
            self.status = replace(self.status, last_down_reason=reason)
            return
        self._link_up(welcome, now)

    def _link_up(self, welcome: Welcome, now: float) -> None:
        self._up = True
        self._last_rx = self._next_heartbeat = now
        self._channel.reset_receiver()
        self._channel.clear()
        firmware = ev.FirmwareInfo.from_welcome(welcome)
        self.status = replace(self.status, up=True, firmware=firmware)
        self._emit(ev.LinkUp(firmware))
        self._resend_outputs(now)
        self._poll_channel(now)

    def _resend_outputs(self, now: float) -> None:
        for output, (message, set_at) in list(self._desired.items()):
            left = message.duration_s - int(now - set_at) if message.duration_s else 0
            if message.duration_s and left <= 0:
                del self._desired[output]
                continue
            self._channel.send(replace(message, duration_s=left))

    def _on_inputs(self, message: Inputs) -> None:
        known = self.status.inputs
        current = ev.inputs_by_name(message)
        for name, value in current.items():
            if known.get(name) != value or name not in known:
                self._emit(ev.InputChanged(name, value))
        self.status = replace(self.status, inputs=current | {"presses": message.presses})

    def _publish(self) -> None:
        self.status = replace(self.status, counters=self.counters.as_dict())
