"""The SOS alarm: from a debounced press to the control room's acknowledgement and reset.

Modelled on lift remote alarms (EN 81-28) and personal emergency signalling (DIN VDE V
0825-11): the alarm is re-sent until a person acknowledges it, and it survives power cuts.
One thread owns the alarm; button edges, commands and timers reach it through one queue.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import asdict, replace
from typing import Any

from agent.alarm import LATCH_KEY, Alarm, Indicators, Presses, Store, Timing, alarm_event
from agent.errors import CommandError
from agent.events import PRIORITY_SOS, Event, Media, utc_timestamp

log = logging.getLogger(__name__)

# A caller pressing again is worth telling the control room, but not once per bounce.
PRESS_UPDATE_MIN_S = 5.0
REPLY_TIMEOUT_S = 5.0
# A snapshot that arrives this soon after the alarm ended is still sent: a technician's
# reset or a short test must not swallow the picture of who pressed.
ATTACH_AFTER_END_S = 60.0


class Sos:
    """Owns the alarm: debounces the button, raises, re-sends, acknowledges and ends it."""

    def __init__(
        self,
        *,
        store: Store,
        indicators: Indicators,
        timing: Timing,
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._indicators = indicators
        self._timing = timing
        self._stop = stop
        self._clock = clock
        self._inbox: queue.Queue[tuple[str, Any, Future[dict[str, Any]] | None]] = queue.Queue()
        self._alarm: Alarm | None = None
        self._presses = Presses(lambda: max(self._timing.debounce_s, self._timing.min_hold_s))
        self._last_sent = 0.0
        self._raised_mono = 0.0
        self._ended: tuple[Alarm, float] | None = None  # the last alarm ended, and when
        self._thread = threading.Thread(target=self._run, name="sos")

    # --- inputs: every one only enqueues ------------------------------------------------

    def edge(self, pressed: bool, at: float) -> None:
        """A button edge from the GPIO callback thread."""
        self._inbox.put(("edge", (pressed, at), None))

    def raise_from(
        self, source: str, *, presses: int = 1, details: dict[str, Any] | None = None
    ) -> None:
        """Presses another device saw (the MCU's latch): handled like a debounced press."""
        self._inbox.put(("press", (source, presses, details or {}), None))

    def ack(self, alarm_id: str, by: str) -> dict[str, Any]:
        """The control room acknowledges the alarm `alarm_id`."""
        return self._call("ack", {"id": alarm_id, "by": by})

    def reset(self, alarm_id: str | None, by: str, source: str) -> dict[str, Any]:
        """End the alarm (control room or technician on site)."""
        return self._call("reset", {"id": alarm_id, "by": by, "source": source})

    def test(self, by: str) -> dict[str, Any]:
        """Start a technician's test alarm: the same cycle, flagged `test`."""
        return self._call("test", {"by": by})

    def attach(self, alarm_id: str, media: Sequence[Media]) -> None:
        """Camera media for the alarm `alarm_id`, sent with an SOS event. Never blocks."""
        names = [item.name for item in media]
        if len(set(names)) != len(names):  # here, not in the alarm thread, which must not fail
            raise ValueError(f"media names must be unique, got {names}")
        self._inbox.put(("attach", (alarm_id, tuple(media)), None))

    def state(self) -> dict[str, Any]:
        """The alarm as plain data for status and telemetry."""
        alarm = self._alarm
        return {"active": False} if alarm is None else {"active": True, **asdict(alarm)}

    def retime(self, timing: Timing) -> None:
        """New alarm timing from a configuration change, used from the next turn (<= 1 s)."""
        self._timing = timing  # one reference swap: the alarm thread reads it whole

    def _call(self, kind: str, args: dict[str, Any]) -> dict[str, Any]:
        reply: Future[dict[str, Any]] = Future()
        self._inbox.put((kind, args, reply))
        return reply.result(timeout=REPLY_TIMEOUT_S)

    # --- the owning thread ---------------------------------------------------------------

    def start(self) -> None:
        """Resume a latched alarm, then start the thread."""
        self._resume()
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread after the stop event is set."""
        self._inbox.put(("wake", None, None))
        self._thread.join(timeout)

    def alive(self) -> bool:
        """Whether the alarm thread is running."""
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._turn()
        except Exception:  # the daemon sees the thread gone and restarts the process
            log.exception("the alarm thread failed")

    def _turn(self) -> None:
        # Everything already queued is handled before the timers, so a release edge that
        # waited in the queue is seen before the press it ends is judged.
        try:
            item = self._inbox.get(timeout=self._wait())
            while True:
                self._handle(*item)
                item = self._inbox.get_nowait()
        except queue.Empty:
            pass
        self._tick()

    def _wait(self) -> float:
        deadlines = [self._presses.deadline(), self._resend_deadline(), self._test_deadline()]
        due = min((d for d in deadlines if d is not None), default=self._clock() + 1.0)
        return min(max(due - self._clock(), 0.0), 1.0)

    def _handle(self, kind: str, args: Any, reply: Future[dict[str, Any]] | None) -> None:
        try:
            result = self._dispatch(kind, args)
        except CommandError as exc:
            if reply is not None:
                reply.set_exception(exc)
            return
        if reply is not None:
            reply.set_result(result)

    def _dispatch(self, kind: str, args: Any) -> dict[str, Any]:
        if kind == "edge":
            self._on_edge(*args)
        elif kind == "press":
            self._on_press(*args)
        elif kind == "ack":
            return self._acknowledge(args["id"], args["by"])
        elif kind == "reset":
            return self._end(args["id"], args["by"], args["source"])
        elif kind == "test":
            return self._start_test(args["by"])
        elif kind == "attach":
            self._attach(*args)
        return {}

    # --- presses ---------------------------------------------------------------------------

    def _on_edge(self, pressed: bool, at: float) -> None:
        if self._presses.edge(pressed, at):
            self._on_press()

    def _tick(self) -> None:
        now = self._clock()
        if self._presses.due(now):
            self._on_press()
        deadline = self._resend_deadline()
        if deadline is not None and now >= deadline:
            self._send_update({"resend": True})
        deadline = self._test_deadline()
        if deadline is not None and now >= deadline:
            self._end(None, "agent", "test_timeout")

    def _on_press(
        self, source: str = "button", presses: int = 1, details: dict[str, Any] | None = None
    ) -> None:
        alarm = self._alarm
        if alarm is not None and alarm.test:
            # A real emergency must never be absorbed by a technician's test.
            self._end(None, "agent", "superseded_by_press")
            alarm = None
        if alarm is None:
            self._raise(test=False, source=source, presses=presses, details=details)
            return
        self._alarm = replace(alarm, presses=alarm.presses + presses)
        # The count is carried by the next update if this one is rate-limited.
        if self._clock() - self._last_sent >= PRESS_UPDATE_MIN_S:
            self._send_update({"pressed_again": True})

    # --- the alarm's lifecycle ---------------------------------------------------------------

    def _raise(
        self, *, test: bool, source: str, presses: int = 1, details: dict[str, Any] | None = None
    ) -> Alarm:
        event = Event(
            kind="sos",
            priority=PRIORITY_SOS,
            phase="new",
            test=test,
            data={"source": source, "presses": presses, "acked": False, **(details or {})},
        )
        alarm = Alarm(id=event.id, test=test, source=source, raised_at=event.ts, presses=presses)
        self._store.add(event, state={LATCH_KEY: asdict(alarm)})
        self._alarm = alarm
        self._raised_mono = self._last_sent = self._clock()
        self._indicators.show(registered=True, acknowledged=False)
        log.warning("SOS alarm %s raised (source %s%s)", alarm.id, source, ", test" if test else "")
        return alarm

    def _send_update(self, extra: dict[str, Any], media: Sequence[Media] = ()) -> None:
        alarm = self._alarm
        assert alarm is not None
        alarm = replace(alarm, updates=alarm.updates + 1)
        event = alarm_event(alarm, "update", extra)
        self._store.add(event, state={LATCH_KEY: asdict(alarm)}, media=media)
        self._alarm = alarm
        self._last_sent = self._clock()

    def _resend_deadline(self) -> float | None:
        alarm = self._alarm
        if alarm is None or alarm.acked:
            return None
        return self._last_sent + self._timing.resend_s

    def _test_deadline(self) -> float | None:
        if self._alarm is None or not self._alarm.test:
            return None
        return self._raised_mono + self._timing.test_timeout_s

    def _acknowledge(self, alarm_id: str, by: str) -> dict[str, Any]:
        alarm = self._active(alarm_id)
        if alarm.acked:
            return {"alarm": alarm.id, "acked": True, "already": True}
        self._alarm = replace(alarm, acked=True, acked_by=by, acked_at=utc_timestamp())
        self._send_update({})
        self._indicators.show(registered=True, acknowledged=True)
        log.warning("SOS alarm %s acknowledged by %s", alarm.id, by)
        return {"alarm": alarm.id, "acked": True}

    def _end(self, alarm_id: str | None, by: str, source: str) -> dict[str, Any]:
        alarm = self._active(alarm_id)
        duration = round(self._clock() - self._raised_mono, 3)
        extra = {"ended_by": by, "reason": source, "duration_s": duration}
        self._store.add(alarm_event(alarm, "end", extra), state={LATCH_KEY: None})
        self._alarm, self._ended = None, (alarm, self._clock())
        self._indicators.show(registered=False, acknowledged=False)
        log.warning("SOS alarm %s ended by %s (%s)", alarm.id, by, source)
        return {"alarm": alarm.id, "ended": True}

    def _attach(self, alarm_id: str, media: tuple[Media, ...]) -> None:
        """An `update` with `data.snapshot` while the alarm is active; an `info` shortly after."""
        if self._alarm is not None and self._alarm.id == alarm_id:
            self._send_update({"snapshot": True}, media)
            return
        alarm, ended_at = self._ended or (None, 0.0)
        recent = self._clock() - ended_at <= ATTACH_AFTER_END_S
        if alarm is not None and alarm.id == alarm_id and recent:
            self._store.add(alarm_event(alarm, "info", {"snapshot": True}), media=media)
            return
        log.warning(
            "dropped %d media for alarm %s: not active nor just ended", len(media), alarm_id
        )

    def _start_test(self, by: str) -> dict[str, Any]:
        if self._alarm is not None:
            raise CommandError(f"an alarm is active ({self._alarm.id}); end it before a test")
        alarm = self._raise(test=True, source="test")
        log.info("test alarm started by %s", by)
        return {"alarm": alarm.id, "test": True}

    def _active(self, alarm_id: str | None) -> Alarm:
        alarm = self._alarm
        if alarm is None:
            raise CommandError("no alarm is active")
        if alarm_id is not None and alarm_id != alarm.id:
            raise CommandError(f"id {alarm_id!r} is not the active alarm (active: {alarm.id})")
        return alarm

    def _resume(self) -> None:
        latched = self._store.get_state(LATCH_KEY)
        if not latched:
            return
        self._alarm = Alarm(**latched)
        self._raised_mono = self._clock()
        self._send_update({"resumed": True})
        self._indicators.show(registered=True, acknowledged=self._alarm.acked)
        log.warning("SOS alarm %s resumed after restart", self._alarm.id)
