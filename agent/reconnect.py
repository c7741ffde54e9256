"""The broker reconnect schedule: when the publisher next tries the broker, and how long a
connection attempt may take. Exponential backoff with jitter, reset after a stable link."""

from __future__ import annotations

import random
import time

# Backoff starts afresh only after a connection this long: a broker that accepts and drops
# at once (a second device with the same client id) must not be hammered at the minimum.
STABLE_S = 10.0


class Reconnect:
    """The next connect attempt (or CONNACK deadline) and the backoff delay before it."""

    def __init__(self, *, min_s: float, max_s: float, connect_timeout_s: float) -> None:
        self._min_s, self._max_s = min_s, max_s
        self._connect_timeout_s = connect_timeout_s
        self._deadline = 0.0  # next connect attempt, or the CONNACK deadline while connecting
        self._delay = min_s
        self._up_since = 0.0

    def due(self) -> bool:
        """Whether the deadline has passed: time to connect, or to give up on the CONNACK."""
        return time.monotonic() >= self._deadline

    def remaining(self) -> float:
        """Seconds until the deadline (negative once it has passed)."""
        return self._deadline - time.monotonic()

    def connecting(self) -> None:
        """A connection attempt has started: the CONNACK is due within the timeout."""
        self._deadline = time.monotonic() + self._connect_timeout_s

    def connected(self) -> None:
        """The broker accepted the connection."""
        self._up_since = time.monotonic()

    def lost(self) -> None:
        """A connection that was up has gone; a stable one resets the backoff."""
        if time.monotonic() - self._up_since >= STABLE_S:
            self._delay = self._min_s

    def later(self) -> None:
        """Schedule the next attempt after the current delay, and double the delay."""
        # Jitter keeps a fleet that lost the same broker from reconnecting in lockstep.
        self._deadline = time.monotonic() + self._delay * random.uniform(0.5, 1.0)
        self._delay = min(self._delay * 2, self._max_s)
