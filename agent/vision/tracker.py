"""Plate tracker: follows each vehicle across frames and consolidates its readings.

Readings are associated with tracks by overlap with, or distance to, where each track is
predicted to be (constant velocity), greedily by score; an agreeing registration breaks
ties where two vehicles cross. Each track votes on its registration part by part (series
digit, consonants, number: `ReadingVotes`), so a reading that lost or gained a character
still votes on the parts it got right. A track emits `new` once `min_readings` readings
agree with its consolidated registration, `update` when the registration or province
changes, and `end` once it has been lost for longer than the gap. A track counts only
once one of its readings was detected at `min_score` or more: text-like clutter the
detector finds now and then (a sign, a shop's lettering) reads as a plate in two frames
as readily as a plate does, but no frame makes it look like one. Pure and deterministic:
time comes in with every frame.

A confirmed track whose plate stood still for its last `STILL_S` (a parked car, or a
sign read as a plate) is parked rather than ended when it is lost: for `park_s` after it
was last read, a reading of a registration it has read, at its place, takes it up again,
with no second `new`. Where the detectors run only while something moves, a parked car
is read again each time traffic passes it; without this each pass would be a new plate
event for it. A parked track that nothing takes up ends `park_s` after its last reading
(its `last_ts` says when that was).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.errors import ConfigError
from agent.vision.hotlist import DEFAULT_MAX_DISTANCE, distance
from agent.vision.readings import Box, Reading, ReadingVotes

Phase = Literal["new", "update", "end"]
# Added to a pairing's score when the reading says what the track already reads.
TEXT_AGREEMENT_BONUS = 0.5
# Weight of the newest velocity estimate against the running one.
VELOCITY_SMOOTHING = 0.5
# A track stands still while each reading's box overlaps, at least this much, the box
# where it stopped; one that stood still for its last STILL_S seconds is parked when lost.
STILL_IOU = 0.5
STILL_S = 1.0


@dataclass(frozen=True)
class TrackerConfig:
    """How readings are associated and when a track counts, changes and ends."""

    min_readings: int = 2
    min_iou: float = 0.1
    max_centre_distance: float = 1.5  # in widths of the predicted box
    max_gap_s: float = 1.5
    max_gap_frames: int = 10
    park_s: float = 120.0  # 0: a plate that stood still ends like any other
    min_score: float = 0.45  # a track counts once a reading of it was detected at this score

    def __post_init__(self) -> None:
        checks = {
            "min_readings": self.min_readings >= 1,
            "min_iou": 0.0 <= self.min_iou <= 1.0,
            "max_centre_distance": self.max_centre_distance >= 0.0,
            "max_gap_s": self.max_gap_s > 0.0,
            "max_gap_frames": self.max_gap_frames >= 1,
            "park_s": self.park_s >= 0.0,
            "min_score": 0.0 <= self.min_score <= 1.0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"tracker.{name}: out of range (got {getattr(self, name)!r})")


@dataclass(frozen=True)
class TrackEvent:
    """One vehicle's consolidated plate at a phase of its pass."""

    phase: Phase
    track_id: int
    registration: str
    province: str | None
    province_confidence: float
    confidence: float
    char_confidences: tuple[float, ...]
    box: Box
    frames: int
    first_ts: float
    last_ts: float
    best: Reading

    def as_dict(self) -> dict[str, Any]:
        """The plate as it appears in an event's `data` (DESIGN §3.3)."""
        return {
            "track_id": self.track_id,
            "registration": self.registration,
            "province": self.province,
            "province_confidence": round(self.province_confidence, 3),
            "confidence": round(self.confidence, 3),
            "char_confidences": [round(c, 3) for c in self.char_confidences],
            "box": [round(v, 1) for v in self.box],
            "frames": self.frames,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
        }


@dataclass
class _Track:
    """A vehicle being followed: its votes, where it was, how fast it moves."""

    box: Box
    first_ts: float
    last_ts: float
    best: Reading
    votes: ReadingVotes = field(default_factory=ReadingVotes)
    velocity: tuple[float, float] = (0.0, 0.0)
    missed: int = 0
    track_id: int = 0  # assigned when the track first emits `new`
    reported: tuple[str, str | None] | None = None
    registration: str = ""  # the consolidated registration after the latest reading
    anchor: Box = field(init=False)  # where the plate stopped (STILL_IOU)
    still_since: float = field(init=False)
    top_score: float = field(init=False)  # the best detection score of its readings
    parked: bool = False  # lost while it stood still: only its own registration takes it up

    def __post_init__(self) -> None:
        self.anchor, self.still_since = self.box, self.first_ts
        self.top_score = self.best.detection_score

    @property
    def still(self) -> bool:
        """Whether the plate stood still for its last `STILL_S` seconds."""
        return self.last_ts - self.still_since >= STILL_S

    def says(self, text: str) -> bool:
        """Whether `text` was read in the track before, or is its registration as the
        hotlist would match it (misread by one character, or two the OCR confuses)."""
        if self.votes.support(text) > 0:
            return True
        return distance(text, self.registration, DEFAULT_MAX_DISTANCE) <= DEFAULT_MAX_DISTANCE

    def predicted(self, ts: float) -> Box:
        """Where the box should be at `ts`, moving at the track's velocity."""
        dt = ts - self.last_ts
        dx, dy = self.velocity[0] * dt, self.velocity[1] * dt
        x0, y0, x1, y1 = self.box
        return x0 + dx, y0 + dy, x1 + dx, y1 + dy

    def add(self, reading: Reading) -> None:
        """Take a reading: vote, move, keep it if it is the best crop so far."""
        dt = reading.ts - self.last_ts
        if dt > 0:
            (cx, cy), (px, py) = _centre(reading.box), _centre(self.box)
            vx, vy = (cx - px) / dt, (cy - py) / dt
            a = VELOCITY_SMOOTHING if self.votes.count > 1 else 1.0
            self.velocity = (
                a * vx + (1 - a) * self.velocity[0],
                a * vy + (1 - a) * self.velocity[1],
            )
        self.votes.add(reading)
        self.registration = self.votes.consolidated()[0]
        if iou(reading.box, self.anchor) < STILL_IOU:
            self.anchor, self.still_since = reading.box, reading.ts
        self.box, self.last_ts, self.missed = reading.box, reading.ts, 0
        self.top_score = max(self.top_score, reading.detection_score)
        if reading.quality > self.best.quality:
            self.best = reading


class PlateTracker:
    """Turns per-frame plate readings into one `new`/`update`/`end` event stream per vehicle."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._tracks: list[_Track] = []
        self._next_id = 1

    @property
    def active(self) -> int:
        """How many tracks are being followed (confirmed or not), parked ones aside."""
        return sum(not t.parked for t in self._tracks)

    @property
    def parked(self) -> int:
        """How many tracks are parked: lost where they stood still, not yet ended."""
        return sum(t.parked for t in self._tracks)

    def step(self, readings: Sequence[Reading], ts: float) -> list[TrackEvent]:
        """Feed one frame's readings (maybe none) taken at `ts`; the events they cause."""
        events = self._expire(ts)  # a track lost too long cannot take this frame's readings
        pairs = self._associate(readings, ts)
        for track in self._tracks:
            if not track.parked:
                track.missed += 1
        for index, reading in enumerate(readings):
            track = pairs.get(index) or self._start(reading)
            track.parked = False
            track.add(reading)
            events.extend(self._changes(track))
        return events + self._expire(ts)

    def flush(self) -> list[TrackEvent]:
        """End every track (the camera stopped); the `end` events of confirmed ones."""
        ended = [self._event(t, "end") for t in self._tracks if t.track_id]
        self._tracks = []
        return ended

    def _start(self, reading: Reading) -> _Track:
        track = _Track(reading.box, reading.ts, reading.ts, reading)
        self._tracks.append(track)
        return track

    def _associate(self, readings: Sequence[Reading], ts: float) -> dict[int, _Track]:
        """Greedy assignment of readings to tracks, best-scoring pairs first."""
        scored = []
        for t, track in enumerate(self._tracks):
            predicted = track.predicted(ts)
            for r, reading in enumerate(readings):
                score = self._score(track, predicted, reading)
                if score is not None:
                    scored.append((-score, t, r))
        pairs: dict[int, _Track] = {}
        taken: set[int] = set()
        for _, t, r in sorted(scored):
            if t not in taken and r not in pairs:
                taken.add(t)
                pairs[r] = self._tracks[t]
        return pairs

    def _score(self, track: _Track, predicted: Box, reading: Reading) -> float | None:
        """How well `reading` continues `track`; None when it is out of reach."""
        if track.parked and not track.says(reading.text):
            return None
        overlap = iou(predicted, reading.box)
        reach = self.config.max_centre_distance * max(predicted[2] - predicted[0], 1.0)
        apart = math.dist(_centre(predicted), _centre(reading.box))
        if overlap < self.config.min_iou and apart > reach:
            return None
        # (A parked track takes only readings that say its plate: `says`.)
        agrees = track.parked or reading.text == track.registration
        closeness = max(0.0, 1.0 - apart / reach) if reach > 0 else 0.0
        return overlap + closeness + (TEXT_AGREEMENT_BONUS if agrees else 0.0)

    def _changes(self, track: _Track) -> list[TrackEvent]:
        """`new` when a track is confirmed, `update` when its consolidated plate changes."""
        registration, _ = track.votes.consolidated()
        province, _ = track.votes.province()
        if track.votes.support(registration) < self.config.min_readings:
            return []
        if track.top_score < self.config.min_score:  # not yet seen clearly as a plate
            return []
        if not track.track_id:
            track.track_id, self._next_id = self._next_id, self._next_id + 1
            track.reported = (registration, province)
            return [self._event(track, "new")]
        if track.reported != (registration, province):
            track.reported = (registration, province)
            return [self._event(track, "update")]
        return []

    def _expire(self, ts: float) -> list[TrackEvent]:
        """Drop tracks lost for longer than the gap, parking the confirmed ones that stood
        still, and parked ones `park_s` after their last reading; `end` for confirmed ones."""
        config, lost = self.config, []
        for track in self._tracks:
            if track.parked:
                if ts - track.last_ts > config.park_s:
                    lost.append(track)
            elif ts - track.last_ts > config.max_gap_s or track.missed > config.max_gap_frames:
                if track.track_id and track.still and ts - track.last_ts <= config.park_s:
                    track.parked, track.velocity, track.missed = True, (0.0, 0.0), 0
                else:
                    lost.append(track)
        self._tracks = [t for t in self._tracks if t not in lost]
        return [self._event(t, "end") for t in lost if t.track_id]

    def _event(self, track: _Track, phase: Phase) -> TrackEvent:
        registration, confidences = track.votes.consolidated()
        province, province_confidence = track.votes.province()
        return TrackEvent(
            phase=phase,
            track_id=track.track_id,
            registration=registration,
            province=province,
            province_confidence=province_confidence,
            confidence=min(confidences, default=0.0),
            char_confidences=confidences,
            box=track.box,
            frames=track.votes.count,
            first_ts=track.first_ts,
            last_ts=track.last_ts,
            best=track.best,
        )


def intersection(a: Box, b: Box) -> float:
    """The area two boxes share."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, w) * max(0.0, h)


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when either is empty)."""
    inter = intersection(a, b)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _centre(box: Box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
