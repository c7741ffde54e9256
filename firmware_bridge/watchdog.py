"""The watchdog on the Pi as the MCU runs it (PROTOCOL.md §6); twin of `core/watchdog.c`."""

from __future__ import annotations

from enum import Enum


class WatchdogState(Enum):
    """Where the watchdog is in its cycle."""

    DISARMED = "disarmed"
    ARMED = "armed"
    OFF = "off"
    BOOTING = "booting"
    SHUTDOWN_PENDING = "shutdown_pending"
    HALTED = "halted"


class PiWatchdog:
    """Power-cycles the Pi when the host falls silent; powers it down on request."""

    def __init__(self, *, power_off_s: float, boot_grace_s: float) -> None:
        self.state = WatchdogState.DISARMED
        self.pi_powered = True
        self.cause = 0  # PROTOCOL.md pi_power_cause: 0 never, 1 watchdog, 2 shutdown
        self.fires = 0
        self.timeout_s = 0.0
        self._power_off_s = power_off_s
        self._boot_grace_s = boot_grace_s
        self._min_off_s = 0.0
        self._last_feed = self._deadline = 0.0

    def configure(self, timeout_s: float, now: float) -> None:
        """Arm with `timeout_s` (0 disarms); ignored while the Pi is off."""
        if self.state in (WatchdogState.OFF, WatchdogState.HALTED):
            return
        self.timeout_s = timeout_s
        self._last_feed = now
        self.state = WatchdogState.ARMED if timeout_s else WatchdogState.DISARMED

    def feed(self, now: float) -> None:
        """A valid frame from the host arrived."""
        self._last_feed = now
        if self.state is WatchdogState.BOOTING:
            self.state = WatchdogState.ARMED

    def shutdown(self, delay_s: float, min_off_s: float, now: float) -> None:
        """Cut the power after `delay_s`; restore it with mains after `min_off_s`."""
        self.state = WatchdogState.SHUTDOWN_PENDING
        self._deadline = now + delay_s
        self._min_off_s = min_off_s

    def tick(self, now: float, *, mains: bool) -> None:
        """Advance the timers and switch the Pi's power."""
        state = self.state
        if state is WatchdogState.ARMED and now - self._last_feed >= self.timeout_s:
            self._fire(now)
        elif state in (WatchdogState.OFF, WatchdogState.HALTED) and now >= self._deadline:
            if state is WatchdogState.OFF or mains:
                self._boot(now)
        elif state is WatchdogState.BOOTING and now >= self._deadline:
            self._fire(now)
        elif state is WatchdogState.SHUTDOWN_PENDING and now >= self._deadline:
            self.cause, self.state, self.pi_powered = 2, WatchdogState.HALTED, False
            self._deadline = now + self._min_off_s

    def _fire(self, now: float) -> None:
        self.fires += 1
        self.cause, self.state, self.pi_powered = 1, WatchdogState.OFF, False
        self._deadline = now + self._power_off_s

    def _boot(self, now: float) -> None:
        self.pi_powered = True
        self.state = WatchdogState.BOOTING if self.timeout_s else WatchdogState.DISARMED
        self._deadline = now + self._boot_grace_s
