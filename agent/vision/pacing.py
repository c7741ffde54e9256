"""Pacing: a per-camera frame-rate limit that drops surplus frames before any work is done."""

from __future__ import annotations

# A frame up to this fraction of the interval early still takes its slot (capture jitter:
# halving 10 fps must keep every other frame even when one arrives at 0.199 s).
JITTER = 0.05


class FramePacer:
    """Keeps at most `max_fps` frames a second on a fixed schedule; 0 keeps every frame."""

    def __init__(self, max_fps: float) -> None:
        if max_fps < 0:
            raise ValueError(f"max_fps: must be >= 0 (got {max_fps!r})")
        self.interval = 1.0 / max_fps if max_fps > 0 else 0.0
        self.kept = 0
        self.dropped = 0
        self._next: float | None = None

    def take(self, ts: float) -> bool:
        """Whether the frame taken at `ts` should be processed."""
        due = self._next
        if due is not None and due - self.interval <= ts < due - JITTER * self.interval:
            self.dropped += 1
            return False
        # Keep to the schedule so the rate is exact; resynchronise after a gap, or when the
        # clock went back (earlier than the last frame kept).
        on_time = due is not None and due - self.interval <= ts <= due + self.interval
        self._next = (due if on_time and due is not None else ts) + self.interval
        self.kept += 1
        return True
