"""Reliable messages in one direction pair: sequence numbers, acknowledgement, retransmission.

Stop and wait (PROTOCOL.md §4.2): one reliable frame in flight, resent every
`retransmit_s` at most `max_retries` times, then given up. The receiving half accepts
numbers 1..127 ahead of the last one and counts the rest as duplicates or replays. The
channel does no I/O and reads no clock: callers pass `now` and write what it returns.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

from firmware_bridge.frames import FLAG_ACK, FLAG_REL, Counters, Frame
from firmware_bridge.messages import Ack, Message

RETRANSMIT_S = 0.25
MAX_RETRIES = 5


class Verdict(Enum):
    """What to do with a received reliable frame."""

    NEW = "new"
    DUPLICATE = "duplicate"


@dataclass
class _InFlight:
    message: Message
    seq: int
    sent_at: float
    tries: int = 1


class ReliableChannel:
    """Sequence numbers and retransmission for one end of a session."""

    def __init__(
        self,
        counters: Counters,
        *,
        retransmit_s: float = RETRANSMIT_S,
        max_retries: int = MAX_RETRIES,
        max_queue: int = 32,
    ) -> None:
        self.counters = counters
        self.retransmit_s = retransmit_s
        self.max_retries = max_retries
        self.max_queue = max_queue
        self._queue: deque[Message] = deque()
        self._in_flight: _InFlight | None = None
        self._next_seq = 0
        self._last_accepted: int | None = None

    def reset_receiver(self) -> None:
        """Forget the peer's sequence numbers (a new session)."""
        self._last_accepted = None

    def clear(self) -> list[Message]:
        """Drop everything queued or in flight and return it."""
        dropped = [self._in_flight.message] if self._in_flight else []
        dropped += self._queue
        self._queue.clear()
        self._in_flight = None
        return dropped

    def send(self, message: Message) -> bool:
        """Queue a reliable message; False when the queue is full."""
        if len(self._queue) >= self.max_queue:
            self.counters.give_ups += 1
            return False
        self._queue.append(message)
        return True

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing waiting for an acknowledgement."""
        return self._in_flight is None and not self._queue

    def frame(self, message: Message, *, seq: int = 0, reliable: bool = False) -> Frame:
        """A frame for `message` that also acknowledges the peer's last frame."""
        flags = FLAG_REL if reliable else 0
        ack = 0
        if self._last_accepted is not None:
            flags |= FLAG_ACK
            ack = self._last_accepted
        return Frame(type=message.TYPE, payload=message.pack(), flags=flags, seq=seq, ack=ack)

    def acknowledge(self) -> Frame:
        """An ACK frame for the last accepted number."""
        return self.frame(Ack())

    def on_ack(self, frame: Frame) -> Message | None:
        """The in-flight message if `frame` acknowledges it (it is then done)."""
        if self._in_flight is None or frame.acks != self._in_flight.seq:
            return None
        done, self._in_flight = self._in_flight.message, None
        return done

    def accept(self, seq: int) -> Verdict:
        """Whether a reliable frame numbered `seq` is new or a duplicate/replay."""
        if self._last_accepted is not None:
            distance = (seq - self._last_accepted) & 0xFF
            if not 1 <= distance <= 127:
                self.counters.duplicates += 1
                return Verdict.DUPLICATE
        self._last_accepted = seq
        return Verdict.NEW

    def poll(self, now: float) -> tuple[Frame | None, Message | None]:
        """A frame to (re)send now, if any, and a message given up on, if any."""
        given_up = self._expire(now)
        if self._in_flight is None and self._queue:
            fresh = self._in_flight = _InFlight(self._queue.popleft(), self._next_seq, now)
            self._next_seq = (self._next_seq + 1) & 0xFF
            return self._frame_of(fresh), given_up
        flight = self._in_flight
        if flight and now - flight.sent_at >= self.retransmit_s:
            flight.sent_at = now
            flight.tries += 1
            self.counters.retransmits += 1
            return self._frame_of(flight), given_up
        return None, given_up

    def _expire(self, now: float) -> Message | None:
        flight = self._in_flight
        if flight is None or flight.tries <= self.max_retries:
            return None
        if now - flight.sent_at < self.retransmit_s:
            return None
        self._in_flight = None
        self.counters.give_ups += 1
        return flight.message

    def _frame_of(self, flight: _InFlight) -> Frame:
        return self.frame(flight.message, seq=flight.seq, reliable=True)
