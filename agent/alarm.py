"""The alarm as data: its latched state, its timing, its events, and how a press is told.

The alarm thread (`agent.sos`) owns and moves an `Alarm`; this module only describes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from agent.events import PRIORITY_SOS, Event, Media

LATCH_KEY = "sos.alarm"


class Store(Protocol):
    """The outbox as the alarm sees it."""

    def add(
        self, event: Event, *, state: dict[str, Any] | None = None, media: Sequence[Media] = ()
    ) -> object: ...

    def get_state(self, key: str) -> Any: ...


class Indicators(Protocol):
    """Whatever shows the caller that the alarm is registered and acknowledged."""

    def show(self, *, registered: bool, acknowledged: bool) -> None: ...


class AllIndicators:
    """Several sets of indicators shown together: the GPIO lamps and the MCU's outputs."""

    def __init__(self, *sets: Indicators) -> None:
        self._sets = sets

    def show(self, *, registered: bool, acknowledged: bool) -> None:
        """Show the same state on every set."""
        for indicators in self._sets:
            indicators.show(registered=registered, acknowledged=acknowledged)


@dataclass(frozen=True)
class Timing:
    """Alarm timing from `[sos]`."""

    resend_s: float
    debounce_s: float
    min_hold_s: float
    test_timeout_s: float


@dataclass(frozen=True)
class Alarm:
    """The latched state of the active alarm; its id is the id of its `new` event."""

    id: str
    test: bool
    source: str
    raised_at: str
    presses: int = 1
    acked: bool = False
    acked_by: str | None = None
    acked_at: str | None = None
    updates: int = 0


def alarm_event(alarm: Alarm, phase: str, extra: dict[str, Any]) -> Event:
    """An `sos` event about `alarm` (update or end): every one names its alarm."""
    data = {
        "alarm": alarm.id,
        "source": alarm.source,
        "presses": alarm.presses,
        "acked": alarm.acked,
        "raised_at": alarm.raised_at,
        **extra,
    }
    if alarm.acked:
        data.update(acked_by=alarm.acked_by, acked_at=alarm.acked_at)
    return Event(kind="sos", priority=PRIORITY_SOS, phase=phase, test=alarm.test, data=data)


class Presses:
    """Tells presses from bounces by the times of the button's edges.

    gpiozero's mock pins ignore `bounce_time` and lgpio's debounce differs between kernels,
    so the agent debounces itself. A press is judged by its edges' own times, never by the
    pin's level when the alarm thread gets to it: under load the release may be handled long
    after it happened, and a press held long enough must still count.
    """

    def __init__(self, hold_s: Callable[[], float]) -> None:
        self._hold_s = hold_s
        self._started: float | None = None

    def edge(self, pressed: bool, at: float) -> bool:
        """Take one edge; True when a release ends a press held long enough."""
        if pressed:
            self._started = at
            return False
        started, self._started = self._started, None
        return started is not None and at - started >= self._hold_s()

    def deadline(self) -> float | None:
        """When the press being held becomes a press, if one is being held."""
        return None if self._started is None else self._started + self._hold_s()

    def due(self, now: float) -> bool:
        """True once a press has been held long enough with no release seen.

        If a release is still on its way from a delayed GPIO thread, raising the alarm is
        the safe side of the doubt.
        """
        deadline = self.deadline()
        if deadline is None or now < deadline:
            return False
        self._started = None
        return True
