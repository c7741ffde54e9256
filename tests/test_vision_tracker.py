"""Plate tracker: one consolidated event stream per vehicle pass, from noisy per-frame readings."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import cv2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.errors import ConfigError
from agent.vision.readings import Box, Reading, split
from agent.vision.tracker import PlateTracker, TrackerConfig, TrackEvent
from tests.sample_clip import ClipSpec, plate_box, write

BANGKOK = "กรุงเทพมหานคร"
FPS = 10.0


def reading(
    box: Box,
    text: str,
    ts: float,
    *,
    conf: float = 0.9,
    province: str | None = BANGKOK,
    sharpness: float = 200.0,
    score: float = 0.9,
) -> Reading:
    """A reading with every character at `conf`, detected at `score`."""
    return Reading(box, text, (conf,) * len(text), province, 0.8, score, sharpness, ts)


def run(
    tracker: PlateTracker, frames: Iterable[tuple[float, Sequence[Reading]]]
) -> list[TrackEvent]:
    """Every event of a sequence of (ts, readings) frames, then of the tracks that remain."""
    return run_open(tracker, frames) + tracker.flush()


def run_open(
    tracker: PlateTracker, frames: Iterable[tuple[float, Sequence[Reading]]]
) -> list[TrackEvent]:
    """Every event of a sequence of (ts, readings) frames, the tracks left open."""
    return [event for ts, readings in frames for event in tracker.step(readings, ts)]


def moving(text: str, start: Box, velocity: tuple[float, float], count: int, t0: float = 0.0):
    """Frames of one plate moving at `velocity` px/s, read as `text` in each."""
    for i in range(count):
        ts = t0 + i / FPS
        dx, dy = velocity[0] * i / FPS, velocity[1] * i / FPS
        box = (start[0] + dx, start[1] + dy, start[2] + dx, start[3] + dy)
        yield ts, [reading(box, text, ts)]


def phases(events: list[TrackEvent]) -> list[tuple[str, int, str]]:
    return [(e.phase, e.track_id, e.registration) for e in events]


def test_a_plate_crossing_the_sample_clip_gives_one_new_and_one_end():
    spec = ClipSpec()
    frames = []
    for index in range(spec.frames):
        ts, box = index / spec.fps, plate_box(spec, index)
        frames.append((ts, [] if box is None else [reading(box, spec.registration, ts)]))
    events = run(PlateTracker(), frames)
    assert phases(events) == [("new", 1, spec.registration), ("end", 1, spec.registration)]
    visible = sum(plate_box(spec, i) is not None for i in range(spec.frames))
    assert events[-1].frames == visible
    assert events[-1].province == BANGKOK


def test_a_single_misread_mid_pass_does_not_change_the_registration():
    frames = list(moving("1กข1234", (0, 400, 160, 470), (300, 0), 12))
    ts, [good] = frames[6]
    frames[6] = (ts, [reading(good.box, "1ทข1234", ts, conf=0.95)])  # the typeface's ก hook
    events = run(PlateTracker(), frames)
    assert phases(events) == [("new", 1, "1กข1234"), ("end", 1, "1กข1234")]
    assert events[-1].char_confidences[1] < events[-1].char_confidences[0]


def test_a_single_reading_creates_no_event():
    events = run(PlateTracker(), [(0.0, [reading((0, 0, 100, 40), "กข12", 0.0)])])
    assert events == []


def test_disagreeing_readings_are_not_confirmed_until_two_agree():
    texts = ["กข12", "กข13", "กข12"]
    frames = [
        (i / FPS, [reading((10.0 * i, 0, 100 + 10.0 * i, 40), t, i / FPS)])
        for i, t in enumerate(texts)
    ]
    tracker = PlateTracker()
    assert tracker.step(frames[0][1], frames[0][0]) == []
    assert tracker.step(frames[1][1], frames[1][0]) == []
    assert phases(tracker.step(frames[2][1], frames[2][0])) == [("new", 1, "กข12")]


def test_text_like_clutter_is_not_reported_until_a_frame_shows_it_clearly_as_a_plate():
    box = (300.0, 200.0, 400.0, 240.0)
    faint = [(i / FPS, [reading(box, "กข12", i / FPS, score=0.35)]) for i in range(20)]
    assert run(PlateTracker(), faint) == []
    assert len(run(PlateTracker(TrackerConfig(min_score=0.0)), faint)) == 2  # new, end
    # One clear detection confirms the track, with the votes of the faint frames before it.
    tracker, ts = PlateTracker(), len(faint) / FPS
    assert run_open(tracker, faint) == []
    (new,) = tracker.step([reading(box, "กข12", ts, score=TrackerConfig().min_score)], ts)
    assert (new.phase, new.registration, new.frames) == ("new", "กข12", len(faint) + 1)


def test_an_update_is_sent_when_the_consolidated_registration_changes_and_not_otherwise():
    texts = ["1ทข1234"] * 2 + ["1กข1234"] * 5
    frames = [
        (i / FPS, [reading((20.0 * i, 300, 160 + 20.0 * i, 370), t, i / FPS)])
        for i, t in enumerate(texts)
    ]
    events = run(PlateTracker(), frames)
    assert phases(events) == [
        ("new", 1, "1ทข1234"),
        ("update", 1, "1กข1234"),
        ("end", 1, "1กข1234"),
    ]


def test_two_vehicles_crossing_produce_two_tracks():
    # One drives right, the other left, on nearly the same line: their boxes overlap mid-way.
    right = list(moving("1กข1234", (0, 400, 160, 470), (600, 0), 20))
    left = list(moving("2ดต567", (1120, 410, 1280, 480), (-600, 0), 20))
    frames = [(ts, a + b) for (ts, a), (_, b) in zip(right, left, strict=True)]
    events = run(PlateTracker(), frames)
    assert sorted(phases(events)) == [
        ("end", 1, "1กข1234"),
        ("end", 2, "2ดต567"),
        ("new", 1, "1กข1234"),
        ("new", 2, "2ดต567"),
    ]
    assert all(e.frames == 20 for e in events if e.phase == "end")


def test_a_lost_track_ends_after_the_gap_and_not_before():
    tracker = PlateTracker(TrackerConfig(max_gap_s=1.0, max_gap_frames=100))
    for ts, readings in moving("กข12", (0, 0, 100, 40), (100, 0), 3):
        tracker.step(readings, ts)
    last = 0.2
    assert tracker.step([], last + 0.5) == []
    assert tracker.step([], last + 1.0) == []
    ended = tracker.step([], last + 1.05)
    assert phases(ended) == [("end", 1, "กข12")]
    assert ended[0].last_ts == pytest.approx(last)
    assert tracker.active == 0


def test_a_track_also_ends_after_too_many_frames_without_it():
    tracker = PlateTracker(TrackerConfig(max_gap_s=60.0, max_gap_frames=3))
    for ts, readings in moving("กข12", (0, 0, 100, 40), (100, 0), 3):
        tracker.step(readings, ts)
    assert [tracker.step([], 0.3 + i * 0.01) for i in range(3)] == [[], [], []]
    assert phases(tracker.step([], 0.34)) == [("end", 1, "กข12")]


def test_a_plate_seen_again_after_the_gap_is_a_new_track():
    # Still for 0.2 s only (under STILL_S): a car that slowed, not one that stopped.
    first = list(moving("กข12", (0, 0, 100, 40), (0, 0), 3))
    again = list(moving("กข12", (0, 0, 100, 40), (0, 0), 3, t0=5.0))
    events = run(PlateTracker(), first + again)
    assert phases(events) == [
        ("new", 1, "กข12"),
        ("end", 1, "กข12"),
        ("new", 2, "กข12"),
        ("end", 2, "กข12"),
    ]


PARKED: Box = (400, 300, 520, 340)


def bursts(text: str, starts: Sequence[float], *, box: Box = PARKED, seconds: float = 2.0):
    """A parked plate read while traffic passes it: `seconds` of frames from each start,
    then frames in which the detectors did not run (motion gating) until the next."""
    for start in starts:
        count = round(seconds * FPS)
        yield from moving(text, box, (0, 0), count, t0=start)
        yield from ((start + seconds + i, []) for i in range(1, 5))


def test_a_parked_plate_read_each_time_traffic_passes_is_one_event():
    tracker = PlateTracker()
    events = run_open(tracker, bursts("1กข1234", [0.0, 20.0, 45.0]))
    assert phases(events) == [("new", 1, "1กข1234")]
    assert tracker.parked == 1 and tracker.active == 0
    last = 46.9  # the last frame of the last burst
    assert tracker.step([], last + 120.0) == []
    (end,) = tracker.step([], last + 120.5)
    assert (end.phase, end.track_id, end.frames) == ("end", 1, 60)
    assert end.first_ts == 0.0 and end.last_ts == pytest.approx(last)
    assert tracker.parked == 0


def test_a_parked_plate_read_once_in_a_while_stays_one_track():
    # Motion gating still runs the detectors every 30 s (motion_force_every_s): one frame.
    tracker = PlateTracker()
    frames = list(bursts("กข12", [0.0])) + [
        (30.0 * k, [reading(PARKED, "กข12", 30.0 * k)]) for k in range(1, 21)
    ]
    events = run(tracker, frames)
    assert phases(events) == [("new", 1, "กข12"), ("end", 1, "กข12")]
    assert events[-1].last_ts == 600.0 and events[-1].frames == 40


def test_a_parked_plate_is_taken_up_by_its_own_registration_only():
    tracker = PlateTracker()
    frames = list(bursts("กข12", [0.0]))
    frames += list(moving("ทต56", PARKED, (0, 0), 3, t0=10.0))  # another car stops there
    frames += [(20.0, [reading(PARKED, "ฮฮ99", 20.0)])]  # something else, read there once
    frames += [(20.1, [reading(PARKED, "กข17", 20.1)])]  # the plate, one character misread
    frames += list(moving("กข12", PARKED, (0, 0), 3, t0=20.2))
    events = run(tracker, frames)
    assert phases(events) == [
        ("new", 1, "กข12"),
        ("new", 2, "ทต56"),
        ("end", 2, "ทต56"),
        ("end", 1, "กข12"),
    ]
    assert events[-1].frames == 24  # the first burst's 20, the misread and the last 3


def test_a_plate_that_moved_before_it_was_lost_ends_after_the_gap():
    # A car that stood at a light, then drove off and out of sight.
    frames = list(moving("กข12", PARKED, (0, 0), 20)) + list(
        moving("กข12", PARKED, (200, 0), 10, t0=2.0)
    )
    tracker = PlateTracker()
    assert phases(run_open(tracker, frames)) == [("new", 1, "กข12")]
    assert phases(tracker.step([], 2.9 + 1.6)) == [("end", 1, "กข12")]
    assert tracker.parked == 0


def test_parking_can_be_turned_off():
    events = run(PlateTracker(TrackerConfig(park_s=0.0)), bursts("กข12", [0.0, 20.0]))
    assert phases(events) == [
        ("new", 1, "กข12"),
        ("end", 1, "กข12"),
        ("new", 2, "กข12"),
        ("end", 2, "กข12"),
    ]


def test_a_collapsed_doubled_consonant_is_outvoted_and_still_votes_on_the_number():
    texts = ["กก1234", "ก1234", "กก1284", "กก1234", "ก1284"]
    frames = [
        (i / FPS, [reading((10.0 * i, 0, 100 + 10.0 * i, 40), t, i / FPS)])
        for i, t in enumerate(texts)
    ]
    events = run(PlateTracker(), frames)
    assert events[-1].registration == "กก1234"
    assert len(events[-1].char_confidences) == len("กก1234")


def test_the_best_reading_is_the_sharpest_largest_crop():
    frames = []
    for i, (width, sharp) in enumerate([(60, 50.0), (160, 400.0), (100, 30.0)]):
        ts = i / FPS
        frames.append((ts, [reading((0, 0, width, 40), "กข12", ts, sharpness=sharp)]))
    events = run(PlateTracker(TrackerConfig(min_iou=0.0)), frames)
    assert events[-1].best.sharpness == 400.0


def test_the_province_is_voted_by_confidence():
    frames = []
    for i, (province, conf) in enumerate(
        [(BANGKOK, 0.9), ("นนทบุรี", 0.3), (None, 0.0), (BANGKOK, 0.8)]
    ):
        ts = i / FPS
        r = Reading((0, 0, 100, 40), "กข12", (0.9,) * 4, province, conf, 0.9, 200.0, ts)
        frames.append((ts, [r]))
    events = run(PlateTracker(), frames)
    assert events[-1].province == BANGKOK
    assert events[-1].province_confidence == pytest.approx((0.9 + 0.8) / 3)


def test_event_data_is_json_ready():
    events = run(PlateTracker(), moving("กข12", (0, 0, 100, 40), (0, 0), 2))
    data = events[0].as_dict()
    assert data["registration"] == "กข12" and data["track_id"] == 1 and data["frames"] == 2
    assert data["box"] == [0.0, 0.0, 100.0, 40.0]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("min_readings", 0),
        ("min_iou", 1.5),
        ("max_gap_s", 0.0),
        ("max_gap_frames", 0),
        ("park_s", -1.0),
        ("min_score", 1.5),
    ],
)
def test_bad_tracker_settings_are_rejected_by_name(field: str, value: float):
    with pytest.raises(ConfigError, match=f"tracker.{field}"):
        TrackerConfig(**{field: value})


def test_a_reading_needs_one_confidence_per_character():
    with pytest.raises(ValueError, match="char_confidences"):
        Reading((0, 0, 1, 1), "กข12", (0.9,), None, 0.0, 1.0, 1.0, 0.0)


def test_registrations_split_into_series_consonants_and_number():
    assert split("1กข1234") == ("1", "กข", "1234")
    assert split("กข12") == ("", "กข", "12")
    assert split("12") == ("", "", "12")
    assert split("70-1234") == ("", "", "70-1234")


def test_a_bus_plate_is_voted_whole_with_its_hyphen():
    frames = list(moving("70-1234", (0, 400, 160, 470), (300, 0), 12))
    ts, [good] = frames[5]
    frames[5] = (ts, [reading(good.box, "10-1234", ts, conf=0.95)])  # 7 read as 1
    events = run(PlateTracker(), frames)
    assert phases(events) == [("new", 1, "70-1234"), ("end", 1, "70-1234")]
    assert events[-1].char_confidences[0] < events[-1].char_confidences[2]


PLATES = ["1กข1234", "1ทข1234", "กข12", "กก999", "ก1"]


@st.composite
def scenes(draw: st.DrawFn) -> list[tuple[float, list[Reading]]]:
    """Random frames: up to three plates at random places, some frames empty, time jumps."""
    frames, ts = [], 0.0
    for _ in range(draw(st.integers(0, 40))):
        ts += draw(st.sampled_from([0.1, 0.1, 0.2, 2.0]))
        count = draw(st.integers(0, 3))
        readings = []
        for _ in range(count):
            x = draw(st.integers(0, 10)) * 100.0
            text = draw(st.sampled_from(PLATES))
            readings.append(reading((x, 300, x + 120, 350), text, ts))
        frames.append((ts, readings))
    return frames


@settings(max_examples=150, deadline=None)
@given(scenes(), st.integers(1, 3))
def test_every_track_says_new_first_then_changes_only_then_end_once(frames, min_readings):
    events = run(PlateTracker(TrackerConfig(min_readings=min_readings)), frames)
    seen: dict[int, list[TrackEvent]] = {}
    for event in events:
        seen.setdefault(event.track_id, []).append(event)
    assert sorted(seen) == list(range(1, len(seen) + 1))
    for history in seen.values():
        assert history[0].phase == "new"
        assert history[-1].phase == "end"
        assert all(e.phase == "update" for e in history[1:-1])
        for before, after in itertools.pairwise(history[:-1]):
            assert (before.registration, before.province) != (after.registration, after.province)


def test_the_sample_clip_shows_the_plate_where_its_trajectory_says(tmp_path):
    fonts = pytest.importorskip("models.plates.fonts")
    if not fonts.fonts_available():
        pytest.skip("Thai fonts (fonts-thai-tlwg) are not installed")
    spec = ClipSpec(seconds=2.0)
    path = tmp_path / "clip.avi"
    boxes = write(path, spec)
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (got := capture.read())[0]:
        frames.append(got[1])
    capture.release()
    assert len(frames) == len(boxes) == spec.frames
    assert frames[0].shape == (spec.height, spec.width, 3)
    index = spec.frames // 2
    x0, y0, x1, y1 = (round(v) for v in boxes[index])  # type: ignore[misc]
    grey = cv2.cvtColor(frames[index], cv2.COLOR_BGR2GRAY)
    plate, above = grey[y0:y1, x0:x1], grey[y0 - 80 : y1 - 80, x0:x1]
    assert plate.mean() > 150 > above.mean()  # a white plate on a dark red car
    assert plate.std() > 40  # with dark characters on it
