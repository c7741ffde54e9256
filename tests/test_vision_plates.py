"""Plates at run time: decoding, rectification, the child's pipeline and the `plate` events.

The parts that need no model run on synthetic arrays, fake models that behave like the
real ones, and images drawn here. The parts that need the plate models use the ones
committed in models/manifest.toml and skip, saying so, until they are there; the daemon
tests are in tests/test_vision_plates_daemon.py.
"""

from __future__ import annotations

import json
import math
from itertools import pairwise
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from agent.config import VisionConfig
from agent.events import PRIORITY_DETECTION, PRIORITY_FAULT
from agent.plate_events import PlateEvents
from agent.sightings import spec_of
from agent.vision import models, plate_text
from agent.vision.camera import Frame
from agent.vision.plate_watch import PlateOptions, PlateWatch
from agent.vision.plates import (
    CONFIRM_SCORE,
    OCR_ZOOMS,
    TILE_OVERLAP_PX,
    Detection,
    PlateDetector,
    PlateReader,
    PlateReading,
    letterbox,
    peaks,
    suppress,
    tile_starts,
    unmirrored,
    zoomed,
)
from agent.vision.readings import split
from agent.vision.rectify import plate_crop, skew_angle
from agent.vision.regions import Regions
from agent.vision.runtime import Model
from agent.vision.tracker import TrackerConfig
from tests import sample_clip
from tests.test_asyncapi import check

NAMES = ("plate-detector", "plate-ocr")


def committed_models() -> tuple[Path, Path]:
    """The committed plate models, verified against the manifest; skips until they exist."""
    entries = {e.name: e for e in models.load_manifest()}
    if not all(name in entries for name in NAMES):
        pytest.skip("the plate models are not in models/manifest.toml")
    folder = models.MANIFEST.parent  # `repo:` models: `file` is relative to models/
    detector, ocr = (models.require(entries[name], folder) for name in NAMES)
    return detector, ocr


def reference_peaks(heat: np.ndarray, box: np.ndarray, stride: int, floor: float) -> list[Any]:
    """Cell by cell, as models/plates/train_detector.py defines the targets."""
    found = []
    rows, cols = heat.shape
    for i in range(rows):
        for j in range(cols):
            window = heat[max(0, i - 1) : i + 2, max(0, j - 1) : j + 2]
            if heat[i, j] < floor or heat[i, j] < window.max() or heat[i, j] < 0:
                continue
            dx, dy, lw, lh = (float(v) for v in box[i, j])
            cx, cy = (j + dx) * stride, (i + dy) * stride
            w, h = math.exp(lw) * stride, math.exp(lh) * stride
            found.append((float(heat[i, j]), (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)))
    return sorted(found, key=lambda f: -f[0])


def assert_same(ours: list[Detection], reference: list[Any]) -> None:
    assert len(ours) == len(reference)
    for detection, (score, box) in zip(ours, reference, strict=True):
        assert detection.score == pytest.approx(score)
        assert detection.box == pytest.approx(box, abs=1e-3)


# --- decoding without a model ------------------------------------------------------------------


def test_peak_decoding_matches_the_cell_by_cell_reference() -> None:
    rng = np.random.default_rng(3)
    heat = (rng.random((64, 64)) ** 40).astype(np.float32)
    heat[10, 20], heat[40, 41] = 0.9, 0.7
    box = rng.normal(0, 1, (64, 64, 4)).astype(np.float32)
    ours = peaks(heat, box, stride=4, min_score=0.3, top=1000)
    assert len(ours) >= 2
    assert_same(ours, reference_peaks(heat, box, 4, 0.3))


def test_the_output_of_a_mirrored_input_turned_back_boxes_each_plate_where_it_is() -> None:
    rng = np.random.default_rng(4)
    heat = np.zeros((8, 16), np.float32)
    heat[2, 3], heat[5, 12] = 0.9, 0.6
    box = rng.uniform(0, 1, (8, 16, 4)).astype(np.float32)
    # What the detector gives for the mirrored input: each plate's centre mirrored.
    mirrored = unmirrored(heat, box)
    twice = unmirrored(*mirrored)  # turning back twice is the identity
    np.testing.assert_array_equal(twice[0], heat)
    np.testing.assert_allclose(twice[1], box, atol=1e-6)
    width = 16 * 4
    found = peaks(heat, box, stride=4, min_score=0.3)
    back = peaks(*mirrored, stride=4, min_score=0.3)
    assert [d.score for d in back] == [d.score for d in found]
    for d, m in zip(found, back, strict=True):
        x0, y0, x1, y1 = d.box
        assert m.box == pytest.approx((width - x1, y0, width - x0, y1), abs=1e-4)


def test_overlapping_peaks_are_one_plate_and_separate_plates_stay() -> None:
    plates = [
        Detection((100, 100, 200, 150), 0.9),
        Detection((105, 102, 205, 152), 0.6),  # the same plate, a second peak
        Detection((400, 100, 500, 150), 0.5),
    ]
    assert suppress(plates) == [plates[0], plates[2]]


def test_a_box_mostly_inside_a_better_one_is_part_of_that_plate() -> None:
    # One half of a near plate, boxed by a tile, overlaps the whole plate's box by an IoU
    # of about 0.3 only; a plate beside it, touching the same box, stays.
    plates = [
        Detection((100, 100, 500, 230), 0.8),
        Detection((40, 100, 220, 230), 0.7),  # IoU 0.26, two thirds of it inside the first
        Detection((480, 110, 620, 170), 0.6),  # a seventh inside
    ]
    assert suppress(plates) == [plates[0], plates[2]]


def test_letterbox_keeps_the_aspect_at_the_top_left_like_training() -> None:
    frame = np.full((720, 1280), 200, np.uint8)
    square, scale = letterbox(frame, 256)
    assert scale == pytest.approx(0.2)
    assert (square[:144] == 200).all() and (square[144:] == 0).all()


def test_letterbox_at_a_smaller_scale_fills_that_fraction_of_the_square() -> None:
    frame = np.full((720, 1280), 200, np.uint8)
    square, scale = letterbox(frame, 256, 0.5)
    assert scale == pytest.approx(0.1) and square.shape == (256, 256)
    assert (square[:72, :128] == 200).all()
    assert (square[72:] == 0).all() and (square[:, 128:] == 0).all()


# --- rectification -------------------------------------------------------------------------------


def drawn_plate(angle: float) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A white plate with a border and text-like bars on grey, tilted by `angle` degrees."""
    plate = np.full((60, 140), 235, np.uint8)
    cv2.rectangle(plate, (2, 2), (137, 57), 20, 3)
    for x in range(14, 126, 16):
        cv2.rectangle(plate, (x, 12), (x + 9, 40), 30, -1)
    canvas = np.full((300, 400), 110, np.uint8)
    canvas[120:180, 130:270] = plate
    turn = cv2.getRotationMatrix2D((200, 150), -angle, 1.0)
    tilted = cv2.warpAffine(canvas, turn, (400, 300), borderValue=110)
    corners = cv2.transform(
        np.array([[[130, 120], [270, 120], [270, 180], [130, 180]]], float), turn
    )
    (x0, y0), (x1, y1) = corners[0].min(axis=0), corners[0].max(axis=0)
    return tilted, (float(x0), float(y0), float(x1), float(y1))


@pytest.mark.parametrize("angle", [-15.0, -8.0, 0.0, 6.0, 12.0])
def test_skew_is_measured_from_the_plate_lines(angle: float) -> None:
    image, box = drawn_plate(angle)
    x0, y0, x1, y1 = (int(v) for v in box)
    assert skew_angle(image[y0:y1, x0:x1]) == pytest.approx(angle, abs=1.5)


def test_a_tilted_plate_is_cut_level_and_stretched_to_the_ocr_input() -> None:
    image, box = drawn_plate(12.0)
    crop, angle = plate_crop(image, box, (128, 64), margin=0.08)
    assert crop.shape == (64, 128) and angle == pytest.approx(12.0, abs=1.5)
    assert abs(skew_angle(crop)) < 2.0
    level, _ = plate_crop(*drawn_plate(0.0), (128, 64), margin=0.08)
    assert np.abs(crop.astype(int) - level.astype(int)).mean() < 25  # close to the level plate


# --- the child's pipeline with models that behave like the real ones ----------------------------


class FakeDetector:
    """Finds the plate wherever the frame's `plates` list says it is."""

    def __init__(self, boxes: dict[int, list[tuple[float, float, float, float]]]) -> None:
        self.boxes = boxes

    def detect(self, image: np.ndarray) -> list[Detection]:
        return [Detection(b, 0.9) for b in self.boxes.get(int(image[0, 0, 0]), [])]

    def refined(self, image: np.ndarray, found: list[Detection]) -> list[Detection]:
        return found  # its boxes are already the plates'


class FakeReader:
    """Reads a fixed registration; the crop is sharper the later the frame."""

    def __init__(self, text: str, confidence: float = 0.9) -> None:
        self.text, self.confidence = text, confidence

    def read(
        self, image: np.ndarray, box: Any, *, score: float, ts: float, floor: float = 0.0
    ) -> PlateReading:
        return PlateReading(
            box=box,
            text=self.text,
            char_confidences=(self.confidence,) * len(self.text),
            province="กรุงเทพมหานคร",
            province_confidence=0.8,
            detection_score=score,
            sharpness=float(image[0, 0, 0]) * 10 + 1,
            ts=ts,
            crop=np.full((20, 40, 3), int(image[0, 0, 0]), np.uint8),
        )


def frame(index: int, ts: float) -> Frame:
    image = np.zeros((72, 128, 3), np.uint8)
    image[0, 0] = index  # tells the fake detector which frame this is
    return Frame(image=image, ts=ts, seq=index, main=np.repeat(np.repeat(image, 10, 0), 10, 1))


def crossing(count: int) -> dict[int, list[tuple[float, float, float, float]]]:
    return {i: [(10.0 + 8 * i, 30.0, 40.0 + 8 * i, 42.0)] for i in range(1, count + 1)}


def run(watch: PlateWatch, frames: range, regions: Regions | None = None) -> list[dict[str, Any]]:
    messages = []
    for i in frames:
        messages += watch.step("gate", frame(i, i * 0.2), regions)
    return messages + watch.flush("gate")


def test_a_crossing_plate_is_one_track_with_its_crop_and_full_resolution_box() -> None:
    watch = PlateWatch(FakeDetector(crossing(8)), FakeReader("1กข1234"))  # type: ignore[arg-type]
    messages = run(watch, range(1, 9))
    assert [m["phase"] for m in messages] == ["new", "end"]
    new, end = (m["plate"] for m in messages)
    assert new["registration"] == "1กข1234" and new["track_id"] == end["track_id"] == 1
    assert (new["series"], new["consonants"], new["number"]) == ("1", "กข", "1234")
    assert new["box"] == [260.0, 300.0, 560.0, 420.0]  # frame 2, in main-stream pixels
    assert new["frame_size"] == [1280, 720] and end["frames"] == 8
    assert messages[0]["jpeg"][:2] == b"\xff\xd8" and messages[1]["jpeg"] is None


def test_unsure_readings_and_plates_outside_the_regions_do_not_count() -> None:
    unsure = PlateWatch(FakeDetector(crossing(6)), FakeReader("กข12", 0.3))  # type: ignore[arg-type]
    assert run(unsure, range(1, 7)) == []
    right_half = Regions(include=(((0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)),))
    outside = PlateWatch(FakeDetector(crossing(3)), FakeReader("กข12"))  # type: ignore[arg-type]
    assert run(outside, range(1, 4), right_half) == []


def test_skipped_frames_end_a_lost_track() -> None:
    watch = PlateWatch(FakeDetector(crossing(3)), FakeReader("กข12"))  # type: ignore[arg-type]
    seen = [m["phase"] for i in range(1, 4) for m in watch.step("gate", frame(i, i * 0.2))]
    assert seen == ["new"]
    assert watch.idle("gate", frame(50, 2.0)) == []  # not lost long enough yet
    (end,) = watch.idle("gate", frame(51, 3.0))  # 2.4 s after the last reading
    assert end["phase"] == "end" and end["plate"]["registration"] == "กข12"


# --- events and the hotlist ----------------------------------------------------------------------


def message(phase: str = "new", registration: str = "1กข1234", jpeg: bytes | None = b"jpg") -> Any:
    series, consonants, number = split(registration)
    plate = {
        "track_id": 3, "registration": registration, "province": "กรุงเทพมหานคร",
        "province_confidence": 0.8, "confidence": 0.7, "char_confidences": [0.9] * 6 + [0.7],
        "box": [1.0, 2.0, 3.0, 4.0], "frames": 5, "first_ts": 1.7e9, "last_ts": 1.7e9 + 2,
        "series": series, "consonants": consonants, "number": number, "frame_size": [1280, 720],
    }  # fmt: skip
    return {"type": "plate", "camera": "gate", "phase": phase, "plate": plate, "jpeg": jpeg}


def test_a_plate_message_becomes_a_priority_2_plate_event_with_its_crop() -> None:
    event, media = PlateEvents(hotlist=lambda: None).event(message())
    assert (event.kind, event.phase, event.priority) == ("plate", "new", PRIORITY_DETECTION)
    data = event.data
    assert data["registration"] == "1กข1234" and data["consonants"] == "กข"
    assert data["camera"] == "gate" and data["first_ts"].endswith("Z")
    assert data["hotlist"] is None and data["crop"] == "plate.jpg"
    assert [(m.name, m.content) for m in media] == [("plate.jpg", b"jpg")]
    end, none = PlateEvents(hotlist=lambda: None).event(message("end", jpeg=None))
    assert end.phase == "end" and none == [] and "crop" not in end.data


def test_a_hotlist_hit_raises_the_plate_to_priority_1_even_when_misread_slightly() -> None:
    stored = {"1กข1234": {"label": "stolen", "priority": 1}, "กท99": {"priority": 3}}
    events = PlateEvents(hotlist=lambda: stored)
    hit, _ = events.event(message(registration="1กท1234"))  # ข/ท: one real substitution
    assert hit.priority == PRIORITY_FAULT
    assert hit.data["hotlist"]["plate"] == "1กข1234" and hit.data["hotlist"]["exact"] is False
    low, _ = events.event(message(registration="กท99"))
    assert low.priority == PRIORITY_DETECTION and low.data["hotlist"]["exact"] is True
    stored.pop("1กข1234")  # the hotlist changed: read again
    assert events.event(message())[0].priority == PRIORITY_DETECTION


def test_plate_events_match_the_asyncapi_document() -> None:
    stored = {"1กข1234": {"province": "กรุงเทพมหานคร", "reason": "stolen"}}
    for phase, hotlist in (("new", stored), ("end", None)):
        event, _ = PlateEvents(hotlist=lambda h=hotlist: h).event(message(phase))
        payload = event.payload(device="pole-1", site="lab", boot=1, seq=7)
        check("event", json.loads(json.dumps(payload)))


def test_a_corrupt_stored_hotlist_is_ignored_not_fatal() -> None:
    event, _ = PlateEvents(hotlist=lambda: {"1กข1234": {"priority": "high"}}).event(message())
    assert event.priority == PRIORITY_DETECTION and event.data["hotlist"] is None


def test_plates_are_off_by_default_and_configured_into_the_child() -> None:
    assert spec_of(VisionConfig(), []).plates is None
    on = VisionConfig(plates=True, plate_detector="det", min_plate_score=0.4)
    assert spec_of(on, []).plates == PlateOptions(detector="det", min_score=0.4)
    level = VisionConfig(plates=True, plate_deskew=True)
    assert spec_of(level, []).plates == PlateOptions(deskew=True)
    whole = VisionConfig(plates=True, plate_scales=[1.0])
    assert spec_of(whole, []).plates == PlateOptions(scales=(1.0,))
    once = VisionConfig(plates=True, plate_ocr_views=1, plate_flip=True)
    assert spec_of(once, []).plates == PlateOptions(views=1, flip=True)
    first_look = VisionConfig(plates=True, plate_refine=False)
    assert spec_of(first_look, []).plates == PlateOptions(refine=False)
    no_look = VisionConfig(plates=True, plate_look_score=0.3)
    assert spec_of(no_look, []).plates == PlateOptions(look_score=0.3)
    unparked = VisionConfig(plates=True, plate_park_s=0)
    assert spec_of(unparked, []).plates == PlateOptions(park_s=0.0)
    assert PlateOptions().park_s == VisionConfig().plate_park_s == TrackerConfig().park_s
    faint = VisionConfig(plates=True, plate_track_score=0.0)
    assert spec_of(faint, []).plates == PlateOptions(track_score=0.0)
    assert PlateOptions().track_score == VisionConfig().plate_track_score
    assert VisionConfig().plate_track_score == TrackerConfig().min_score
    # The config allows as many views as the reader has zooms, and no more.
    assert VisionConfig(plate_ocr_views=len(OCR_ZOOMS)).plate_ocr_views == len(OCR_ZOOMS)
    with pytest.raises(ValueError, match="plate_ocr_views"):
        VisionConfig(plate_ocr_views=len(OCR_ZOOMS) + 1)


# --- the committed models ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plate_models() -> tuple[Model, Model]:
    pytest.importorskip("ai_edge_litert")
    detector, ocr = committed_models()
    return Model(detector), Model(ocr)


def clip_frames() -> list[tuple[np.ndarray, Any]]:
    from models.plates import fonts  # noqa: PLC0415

    if not fonts.fonts_available():
        pytest.skip("Thai fonts missing (apt install fonts-thai-tlwg fonts-noto-core)")
    return list(sample_clip.frames(sample_clip.ClipSpec()))


def test_detector_decoding_matches_the_reference_on_real_model_outputs(
    plate_models: tuple[Model, Model],
) -> None:
    detector = PlateDetector(plate_models[0], min_score=0.1, top=1000)
    image, _ = clip_frames()[20]
    square, _ = letterbox(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), detector.size)
    outputs = detector.model.run(square[None, :, :, None].astype(np.float32) / 255)
    heat = next(o for o in outputs if o.shape[-1] == 1)[0, ..., 0]
    box = next(o for o in outputs if o.shape[-1] == 4)[0]
    ours = peaks(heat, box, stride=detector.stride, min_score=0.1, top=1000)
    assert ours, "no plate found in a frame that shows one"
    assert_same(ours, reference_peaks(heat, box, detector.stride, 0.1))


def test_writing_pixels_into_the_input_tensor_equals_quantising_floats(
    plate_models: tuple[Model, Model],
) -> None:
    detector = PlateDetector(plate_models[0], min_score=0.1, top=1000)
    assert detector._raw_input  # the committed detector takes uint8 with scale 1/255
    image, _ = clip_frames()[20]
    square, scale = letterbox(image, detector.size)
    detector._raw_input = False
    via_floats = detector.detect(image)
    detector._raw_input = True
    in_place = detector.detect(image)
    assert in_place and in_place == via_floats
    assert square.shape == (detector.size, detector.size) and scale == detector.size / 1280


def test_detector_scales_must_be_fractions_of_its_input(
    plate_models: tuple[Model, Model],
) -> None:
    for scales in [(), (0.05,), (1.0, 3.5)]:
        with pytest.raises(ValueError, match="scales must be in"):
            PlateDetector(plate_models[0], scales=scales)


def close_up() -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A 640x480 photo cut from the sample clip, its plate 95 % of the width, and the box."""
    image, box = clip_frames()[20]
    x0, y0, x1, y1 = box
    side = (x1 - x0) / 0.95
    left, top = int((x0 + x1 - side) / 2), int((y0 + y1) / 2 - side * 0.375)
    cut = image[top : int(top + side * 0.75), left : int(left + side)]
    k = 640 / cut.shape[1]
    photo = cv2.resize(cut, (640, 480), interpolation=cv2.INTER_LINEAR)
    return photo, ((x0 - left) * k, (y0 - top) * k, (x1 - left) * k, (y1 - top) * k)


def test_the_half_scale_pass_boxes_a_close_up_and_the_passes_merge(
    plate_models: tuple[Model, Model],
) -> None:
    from agent.vision.plate_eval import iou  # noqa: PLC0415

    photo, truth = close_up()  # the plate is 243 px of the 256 px input at full scale

    def on_plate(scales: tuple[float, ...]) -> list[Detection]:
        found = PlateDetector(plate_models[0], scales=scales).detect(photo)
        return [d for d in found if iou(d.box, truth) > 0.3]

    whole, half, both = on_plate((1.0,)), on_plate((0.5,)), on_plate((1.0, 0.5))
    assert max(iou(d.box, truth) for d in half) > 0.8  # mapped back from a quarter of the input
    assert len(both) == 1  # one box per plate, not one per pass
    assert both[0] == max(whole + half, key=lambda d: d.score)


def test_a_detector_that_also_looks_mirrored_finds_a_frame_and_its_mirror_alike(
    plate_models: tuple[Model, Model],
) -> None:
    from agent.vision.plate_eval import iou  # noqa: PLC0415

    image, truth = clip_frames()[20]
    assert truth is not None
    flipping = PlateDetector(plate_models[0], flip=True, scales=(1.66, 0.5))
    found, mirror = flipping.detect(image), flipping.detect(np.ascontiguousarray(image[:, ::-1]))
    width = image.shape[1]
    # Alike, not equal: the letterbox and the tiles are not mirrored with the frame.
    assert [d.score for d in mirror] == pytest.approx([d.score for d in found], abs=0.02)
    for d, m in zip(found, mirror, strict=True):
        mirrored = (width - d.box[2], d.box[1], width - d.box[0], d.box[3])
        assert m.box == pytest.approx(mirrored, abs=3)
    plain = PlateDetector(plate_models[0], scales=(1.66, 0.5)).detect(image)
    assert iou(found[0].box, truth) > 0.7 and iou(found[0].box, plain[0].box) > 0.8


def test_the_half_scale_pass_leaves_small_plates_to_the_full_scale_one(
    plate_models: tuple[Model, Model],
) -> None:
    image, box = clip_frames()[20]  # the plate is about 30 px wide in the full-scale input
    assert box is not None
    whole = PlateDetector(plate_models[0], scales=(1.0,)).detect(image)
    assert whole and PlateDetector(plate_models[0], scales=(1.0, 0.5)).detect(image) == whole


def test_a_second_look_boxes_the_plate_a_first_box_cut_or_left_loose(
    plate_models: tuple[Model, Model],
) -> None:
    from agent.vision.plate_eval import iou  # noqa: PLC0415

    image, truth = clip_frames()[20]  # the plate is 161 px wide in the 1280 px frame
    x0, y0, x1, y1 = truth
    detector = PlateDetector(plate_models[0], refine=True)
    cut = (x0 + 0.25 * (x1 - x0), y0 + 4, x1, y1)  # starts at the first consonant, as it were
    loose = (x0 - 15, y0 - 8, x1 + 15, y1 + 8)
    for first in (cut, loose):
        again = detector.look_again(image, Detection(first, 0.42))
        assert iou(first, truth) < 0.72 and iou(again.box, truth) > 0.84, (first, again)
        assert again.score == 0.42  # the score is the first pass's
    # Nothing like a plate about a box: it is kept as it was.
    nothing = Detection((0.0, 0.0, 40.0, 20.0), 0.35)
    assert detector.look_again(image, nothing) == nothing
    # At the frame's corner the square is cut by the frame and still boxes within it.
    corner = detector.look_again(image[int(y0) - 10 :, int(x0) + 60 :], Detection(cut, 0.5))
    assert all(v >= 0 for v in corner.box)


def test_a_second_look_is_asked_for_and_boxes_that_come_to_one_plate_are_one(
    plate_models: tuple[Model, Model],
) -> None:
    from agent.vision.plate_eval import iou  # noqa: PLC0415

    image, truth = clip_frames()[20]
    x0, y0, x1, y1 = truth
    halves = [
        Detection((x0, y0, (x0 + x1) / 2 + 10, y1), 0.6),
        Detection(((x0 + x1) / 2 - 10, y0, x1, y1), 0.5),
    ]
    assert PlateDetector(plate_models[0]).refined(image, halves) == halves  # off by default
    one = PlateDetector(plate_models[0], refine=True).refined(image, halves)
    assert len(one) == 1 and one[0].score == 0.6 and iou(one[0].box, truth) > 0.84


@pytest.mark.parametrize("length", [257, 300, 425, 512, 1000, 2000])
def test_tiles_cover_the_axis_and_each_plate_is_whole_in_the_tile_that_keeps_it(
    length: int,
) -> None:
    size, overlap = 256, TILE_OVERLAP_PX
    tiles = tile_starts(length, size, overlap)
    starts = [start for start, _ in tiles]
    assert starts[0] == 0 and starts[-1] + size == length and starts == sorted(starts)
    assert all(b - a <= size - overlap for a, b in pairwise(starts))
    assert len(tiles) == 1 + math.ceil((length - size) / (size - overlap))  # no more than needed
    for centre in np.arange(0.0, length, 0.5):
        keepers = [(s, core) for s, core in tiles if core[0] <= centre < core[1]]
        assert len(keepers) == 1, centre
        start, _ = keepers[0]
        half = min(overlap / 2, centre, length - centre)  # a plate up to `overlap` wide
        assert start <= centre - half and centre + half <= start + size, centre


def test_an_axis_no_longer_than_a_tile_is_one_tile_that_keeps_everything() -> None:
    assert tile_starts(256, 256, 100) == [(0, (-math.inf, math.inf))]
    assert tile_starts(40, 256, 100) == [(0, (-math.inf, math.inf))]


def distant_plate(image: np.ndarray, box: Any, centre_x: float) -> tuple[np.ndarray, Any]:
    """`image` with a copy of itself at 0.3 x pasted along its bottom, the copy's plate (48 px
    wide) centred at `centre_x`; the frame and that plate's box."""
    k = 0.3
    small = cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    x, y = round(centre_x - (box[0] + box[2]) / 2 * k), image.shape[0] - small.shape[0]
    frame = image.copy()
    frame[y:, x : x + small.shape[1]] = small
    return frame, tuple(v * k + o for v, o in zip(box, (x, y, x, y), strict=True))


def test_a_tiled_pass_finds_a_distant_plate_the_whole_frame_pass_misses(
    plate_models: tuple[Model, Model],
) -> None:
    from agent.vision.plate_eval import iou  # noqa: PLC0415

    image, box = clip_frames()[20]
    frame, truth = distant_plate(image, box, 300.0)  # 10 px wide with the frame in the input

    def found(scales: tuple[float, ...]) -> list[float]:
        return [
            iou(d.box, truth) for d in PlateDetector(plate_models[0], scales=scales).detect(frame)
        ]

    assert max(found((1.0, 0.5)), default=0.0) < 0.5
    assert max(found((1.66, 0.5))) > 0.6
    assert (
        max(
            iou(d.box, box)
            for d in PlateDetector(plate_models[0], scales=(1.66, 0.5)).detect(frame)
        )
        > 0.6
    )


def test_a_plate_cut_by_a_tile_edge_is_kept_once_from_the_tile_that_sees_it_whole(
    plate_models: tuple[Model, Model],
) -> None:
    from agent.vision.plate_eval import iou  # noqa: PLC0415

    # The clip's car crosses the frame, so its plate (53 px in the tiled pass) crosses the
    # edges of all three tiles; the tile a plate leaves sees part of it, which without the
    # cores is a second, partial box (IoU 0.2-0.3 in frames 15 and 24).
    detector = PlateDetector(plate_models[0], scales=(1.66, 0.5))
    for index, (frame, box) in enumerate(clip_frames()):
        if box is not None:
            on_plate = [iou(d.box, box) for d in detector.detect(frame) if iou(d.box, box) > 0]
            assert len(on_plate) == 1 and on_plate[0] > 0.6, (index, on_plate)


@pytest.mark.parametrize("left", [452, 457, 467, 522, 527, 532])
def test_a_near_plate_across_tiles_is_boxed_whole_not_by_the_part_a_tile_sees(
    plate_models: tuple[Model, Model], left: int
) -> None:
    from agent.vision.plate_eval import iou  # noqa: PLC0415

    # The clip's frame 4x larger, cut to 1280x720: the plate is half the frame's width and
    # 214 px in the tiled pass, so each tile sees part of it and may box that part with a
    # high score. Such boxes count only where no other pass's box overlaps them.
    image, box = clip_frames()[20]
    top = 413
    frame = cv2.resize(image[top : top + 180, left : left + 320], (1280, 720))
    truth = tuple(4 * (v - o) for v, o in zip(box, (left, top, left, top), strict=True))
    found = PlateDetector(plate_models[0], scales=(1.66, 0.5)).detect(frame)
    on_plate = [iou(d.box, truth) for d in found if iou(d.box, truth) > 0]
    assert len(on_plate) == 1 and on_plate[0] > 0.6, on_plate


def test_on_an_image_smaller_than_its_enlargement_a_tiled_pass_is_the_whole_image_one(
    plate_models: tuple[Model, Model],
) -> None:
    photo, _ = close_up()
    small = cv2.resize(photo, (320, 240), interpolation=cv2.INTER_AREA)  # 1.66 x 256 = 425 px
    whole = PlateDetector(plate_models[0], scales=(1.0, 0.5)).detect(small)
    assert whole and PlateDetector(plate_models[0], scales=(1.66, 0.5)).detect(small) == whole


def test_the_evaluation_splits_pole_camera_recall_by_plate_width_and_the_frame_edge() -> None:
    evaluate = pytest.importorskip("models.plates.evaluate")
    from models.plates import fonts  # noqa: PLC0415

    if not fonts.fonts_available():
        pytest.skip("Thai fonts missing (apt install fonts-thai-tlwg fonts-noto-core)")
    frames = list(evaluate.wide_frames(3))
    runtime = evaluate.runtime_detector(committed_models()[0], 0.3, (1.66, 0.5))
    result = evaluate.runtime_detection(runtime, iter(frames), evaluate.WIDE_BANDS)
    bands = [result[f"recall_{name}"] for name in evaluate.WIDE_BANDS]
    assert sum(b["plates"] for b in bands) == result["plates"] == sum(len(t) for _, t in frames)
    assert sum(b["matched"] for b in bands) == result["matched"]
    edge = [result[f"recall_{name}"] for name in evaluate.EDGE_SPLIT]
    assert [sum(b[k] for b in edge) for k in ("plates", "matched")] == [
        result["plates"],
        result["matched"],
    ]
    assert result["scales"] == [1.66, 0.5] and result["ms_per_frame"] > 0
    # A plate at the frame's edge counts as cut by it, one inside as whole (a blank frame:
    # nothing is found).
    blank = np.zeros((720, 1280), np.uint8)
    truth = [(0.0, 300.0, 60.0, 320.0), (600.0, 300.0, 660.0, 320.0)]
    alone = evaluate.runtime_detection(runtime, iter([(blank, truth)]), {})
    assert alone["plates"] == 2 and alone["detections"] == 0
    for name in evaluate.EDGE_SPLIT:
        assert alone[f"recall_{name}"] == {"plates": 1, "matched": 0}


def test_the_evaluation_reads_pole_camera_frames_end_to_end_as_the_child_does() -> None:
    evaluate = pytest.importorskip("models.plates.evaluate")
    from models.plates import alphabet, layout  # noqa: PLC0415
    from models.plates.scenes import Scene  # noqa: PLC0415

    detector, ocr = committed_models()
    spec = sample_clip.ClipSpec()
    image, box = clip_frames()[20]
    says = layout.PlateSpec(spec.registration, alphabet.PROVINCES.index(spec.province), "private")
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    # The clip's plate, found in the 640 px stream, boxed again and read in the full frame; a
    # second, made-up plate in an empty corner is neither found nor read.
    nowhere = (10.0, 10.0, 90.0, 40.0)
    frame = Scene(grey, np.array([box, nowhere], np.float32), (says, says))
    for refine in (False, True):
        runtime = evaluate.runtime_detector(detector, 0.3, (1.66, 0.5), refine=refine)
        result = evaluate.runtime_reading(runtime, ocr, iter([frame]))
        assert result["plates"] == 2 and result["found"] == 1, result
        assert result["registration_exact"] == result["province_accuracy"] == 0.5, result
        assert result["refine"] is refine and result["stream_width"] == evaluate.STREAM_WIDTH
    # Generated frames: every plate counted once, none read that was not found.
    frames = list(evaluate.wide_scenes(2))
    result = evaluate.runtime_reading(runtime, ocr, iter(frames))
    assert result["plates"] == sum(len(f.boxes) for f in frames)
    for rate in ("registration_exact", "province_accuracy"):
        assert 0 <= result[rate] * result["plates"] <= result["found"] <= result["plates"]


def tracked_evaluation() -> tuple[Any, PlateDetector, Path]:
    """The evaluation module (models.plates.evaluate), the runtime's detector at its default
    settings and the committed OCR's file; skips without the Thai fonts the clips need."""
    evaluate = pytest.importorskip("models.plates.evaluate")
    from models.plates import fonts  # noqa: PLC0415

    if not fonts.fonts_available():
        pytest.skip("Thai fonts missing (apt install fonts-thai-tlwg fonts-noto-core)")
    detector, ocr = committed_models()
    runtime = evaluate.runtime_detector(detector, 0.3, (1.66, 0.5), refine=True, look_score=0.1)
    return evaluate, runtime, ocr


def test_the_evaluation_tracks_a_car_coming_towards_the_camera_and_scores_its_events() -> None:
    from models.plates import layout, scenes  # noqa: PLC0415

    evaluate, runtime, ocr = tracked_evaluation()
    clips = list(evaluate.approaches(2, seed=3))
    for clip in clips:
        assert len(clip) == scenes.APPROACH_FRAMES
        shown = [scene for scene in clip if len(scene.boxes)]
        assert len({scene.plates for scene in shown}) == 1  # one car, one plate
        widths = [float(s.boxes[0, 2] - s.boxes[0, 0]) for s in shown]
        assert widths[-1] > 3 * widths[0]  # it comes nearer
        assert all(s.image.shape == (720, 1280) for s in clip)
    result = evaluate.runtime_tracks(runtime, ocr, iter(clips))
    assert result["clips"] == 2 and result["score_floor"] == 0.1
    assert 0 <= result["province_accuracy"] <= 1 and result["missed"] <= 2
    # The first clip's plate (seed 3) is read right once near enough.
    first = evaluate.runtime_tracks(runtime, ocr, iter(clips[:1]))
    assert first["registration_exact"] == 1.0 and first["missed"] == 0
    assert 1 <= first["mean_frames_to_read"] <= scenes.APPROACH_FRAMES
    assert first["track_score"] == VisionConfig().plate_track_score
    # Reported only once a reading scores the track's floor: at 1, no plate ever is.
    unsure = evaluate.runtime_tracks(
        runtime, ocr, iter(clips[:1]), evaluate.PlateSetup(track_score=1.0)
    )
    assert unsure["missed"] == 1 and unsure["registration_exact"] == 0.0
    # A clip of a plate that says something else is not read right, though tracked.
    other = layout.PlateSpec("0ฮฮ0", 0, "private")
    wrong = [scenes.Scene(s.image, s.boxes, (other,) if s.plates else ()) for s in clips[0]]
    result = evaluate.runtime_tracks(runtime, ocr, iter([wrong]))
    assert result["registration_exact"] == 0.0 and result["missed"] == 0


def test_the_evaluation_tracks_two_cars_passing_each_other_and_scores_their_events() -> None:
    from models.plates import layout, scenes  # noqa: PLC0415

    evaluate, runtime, ocr = tracked_evaluation()
    (clip,) = evaluate.crossings(1, seed=3)
    assert len(clip) == scenes.CROSSING_FRAMES
    assert all(s.image.shape == (720, 1280) for s in clip)
    both = [s for s in clip if len(s.plates) == 2]
    assert len(both) > scenes.CROSSING_FRAMES // 2
    far, near = both[0].plates
    centres = [(s.boxes[:, 0] + s.boxes[:, 2]) / 2 for s in both]
    assert centres[-1][0] > centres[0][0] and centres[-1][1] < centres[0][1]  # they pass
    widths = both[0].boxes[:, 2] - both[0].boxes[:, 0]
    assert widths[0] < widths[1] and both[0].boxes[0, 1] < both[0].boxes[1, 1]  # far, near
    result = evaluate.runtime_crossings(runtime, ocr, iter([clip]))
    assert (result["clips"], result["cars"]) == (1, 2)
    assert result["registration_exact"] == 1.0 and result["tracks_with_two_cars"] == 0
    assert result["extra_tracks_on_cars"] == result["tracks_elsewhere"] == 0
    # Cars labelled with other plates are not read right, though tracked.
    other = {far: layout.PlateSpec("0ฮฮ0", 0, "private"), near: layout.PlateSpec("ฮ0", 0, "taxi")}
    wrong = [scenes.Scene(s.image, s.boxes, tuple(other[p] for p in s.plates)) for s in clip]
    result = evaluate.runtime_crossings(runtime, ocr, iter([wrong]))
    assert result["cars"] == 2 and result["registration_exact"] == 0.0


def test_the_evaluation_counts_the_events_of_a_parked_car_that_traffic_passes() -> None:
    evaluate, runtime, ocr = tracked_evaluation()
    (clip,) = evaluate.approaches(1, seed=3)
    parked = evaluate.runtime_parked(runtime, ocr, iter([clip]), seed=1)
    assert parked["cars"] == 1 and parked["passes"] == evaluate.PARKED_PASSES == 3
    assert parked["new_events_per_car"] == 1.0 and parked["registration_exact"] == 1.0
    assert parked["new_events_misread"] == parked["new_events_elsewhere"] == 0
    assert parked["park_s"] == 120.0
    # Ended after each pass, the same car is a new plate event each time traffic passes.
    unparked = evaluate.runtime_parked(
        runtime, ocr, iter([clip]), evaluate.PlateSetup(park_s=0.0), seed=1
    )
    assert unparked["new_events_per_car"] == 3.0 and unparked["registration_exact"] == 1.0


def test_the_evaluation_takes_a_frame_size_and_names_a_bad_one() -> None:
    import argparse  # noqa: PLC0415

    evaluate = pytest.importorskip("models.plates.evaluate")
    assert evaluate._size("1920x1080") == (1920, 1080)
    for bad in ("1920", "1920x", "x1080", "wide", "1920x1080x3", "200x100", "-1x720"):
        with pytest.raises(argparse.ArgumentTypeError, match=bad.replace("-", "\\-")):
            evaluate._size(bad)


def test_ocr_decoding_matches_the_evaluation_on_real_model_outputs(
    plate_models: tuple[Model, Model],
) -> None:
    pipeline = pytest.importorskip("models.plates.pipeline")
    reader = PlateReader(plate_models[1], views=1)
    reference = pipeline.PlateReader(*committed_models())
    spec = sample_clip.ClipSpec()
    for index in (10, 20, 30):
        image = cv2.cvtColor(clip_frames()[index][0], cv2.COLOR_BGR2GRAY)
        crop = reader.crop(image, sample_clip.plate_box(spec, index))
        out = reference.ocr(crop)
        probs = plate_text.softmax(out[len(plate_text.OCR_CLASSES) + 1])
        ours = reader.ocr(crop)
        assert ours.registration == plate_text.constrained(probs)
        assert ours.province == plate_text.province(out[len(plate_text.PROVINCES)])[0]


def test_zooming_a_crop_keeps_its_size_and_centre_and_repeats_its_edges() -> None:
    crop = np.full((64, 128), 200, np.uint8)
    crop[:, :4] = 10  # a dark left edge
    crop[28:36, 60:68] = 0  # a dark square at the centre
    bigger, smaller = zoomed(crop, 1.5), zoomed(crop, 0.5)
    assert bigger.shape == smaller.shape == crop.shape and zoomed(crop, 1.0) is crop
    assert (bigger[:, :40] == 200).all()  # the left edge cut off
    dark = lambda image: np.argwhere(image[8:56, 40:88] < 100) + np.array([8, 40])  # noqa: E731
    assert np.ptp(dark(bigger)[:, 1]) + 1 == 12 and np.ptp(dark(smaller)[:, 1]) + 1 == 4
    assert dark(bigger).mean(axis=0) == pytest.approx(dark(crop).mean(axis=0), abs=0.6)
    assert (smaller[:, :2] <= 10).all()  # the dark edge repeated, not a black border added


def rendered_crop(registration: str) -> np.ndarray:
    """A clean private plate, rendered by the generator, framed and sized as the OCR input."""
    clip_frames()  # skips without the fonts
    from models.plates import layout  # noqa: PLC0415

    spec = layout.PlateSpec(registration, 0, "private")
    plate = layout.render_plate(spec, np.random.default_rng(0)).clip(0, 255).astype(np.uint8)
    framed = cv2.copyMakeBorder(
        cv2.cvtColor(plate, cv2.COLOR_RGB2GRAY), 8, 8, 18, 18, cv2.BORDER_CONSTANT, value=90
    )
    return np.asarray(cv2.resize(framed, (128, 64), interpolation=cv2.INTER_AREA))


def test_a_sure_read_is_kept_and_an_unsure_one_read_again_zoomed(
    plate_models: tuple[Model, Model],
) -> None:
    reader, once = PlateReader(plate_models[1]), PlateReader(plate_models[1], views=1)
    clear = rendered_crop("2กข345")
    assert reader.ocr(clear) == once.ocr(clear) and reader.invokes == 1
    assert reader.ocr(clear).registration.text == "2กข345" and reader.invokes == 2
    # The sample clip's plate as drawn with this seed: read right, but unsure as cut.
    spec = sample_clip.ClipSpec(seed=sample_clip.UNSURE_SEED)
    image = cv2.cvtColor(sample_clip.frame(spec, 20)[0], cv2.COLOR_BGR2GRAY)
    unsure = reader.crop(image, sample_clip.plate_box(spec, 20))
    views = [once.ocr(zoomed(unsure, factor)) for factor in (1.0, 1.06, 0.94)]
    assert min(views[0].registration.confidences) < 0.8
    read = reader.ocr(unsure)
    assert reader.invokes == 5
    assert read.registration == plate_text.agreed([v.registration for v in views])
    assert read.registration.text == spec.registration
    assert read.registration.mean_confidence > views[0].registration.mean_confidence
    noise = np.random.default_rng(1).integers(0, 256, clear.shape, np.uint8)
    reader.ocr(noise, floor=0.9)  # no read of it could reach the floor: read once
    assert reader.invokes == 6
    with pytest.raises(ValueError, match="views must be 1 to 3"):
        PlateReader(plate_models[1], views=4)


def test_the_pipeline_reads_the_rendered_plate_of_the_sample_clip(
    plate_models: tuple[Model, Model],
) -> None:
    spec = sample_clip.ClipSpec()
    watch = PlateWatch(PlateDetector(plate_models[0]), PlateReader(plate_models[1]))
    events = []
    for index, (image, _) in enumerate(clip_frames()):
        events += watch.step("road", Frame(image=image, ts=index / spec.fps, seq=index))
    events += watch.flush("road")
    assert [e["phase"] for e in events].count("new") == 1, events
    assert events[-1]["plate"]["registration"] == spec.registration


def test_the_pipeline_boxes_plates_again_in_the_full_resolution_frame(
    plate_models: tuple[Model, Model],
) -> None:
    from agent.vision.plate_eval import iou  # noqa: PLC0415

    spec = sample_clip.ClipSpec()
    detector = PlateDetector(plate_models[0], scales=(1.66, 0.5), refine=True)
    watch = PlateWatch(detector, PlateReader(plate_models[1]))
    image, truth = clip_frames()[20]
    stream = cv2.resize(image, (640, 360), interpolation=cv2.INTER_AREA)
    readings = watch.read(Frame(image=stream, ts=0.0, seq=0, main=image))
    assert len(readings) == 1 and readings[0].text == spec.registration
    assert iou(readings[0].box, truth) > 0.84  # in the full frame's pixels
    # The box read is the second look's in the full frame, not the stream's scaled up.
    (first,) = [Detection(tuple(2 * v for v in d.box), d.score) for d in detector.detect(stream)]
    (again,) = detector.refined(image, [first])
    assert readings[0].box == again.box != first.box


def test_a_plate_scored_low_in_the_stream_is_kept_where_the_second_look_confirms_it(
    plate_models: tuple[Model, Model], monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.vision.plate_eval import iou  # noqa: PLC0415

    spec = sample_clip.ClipSpec()
    image, truth = clip_frames()[13]  # 161 px wide in the frame, 40 in a 320 px stream
    stream = cv2.resize(image, (320, 180), interpolation=cv2.INTER_AREA)
    plain = PlateDetector(plate_models[0], scales=(1.66, 0.5), refine=True)
    looking = PlateDetector(plate_models[0], scales=(1.66, 0.5), refine=True, look_score=0.1)
    assert (plain.floor, looking.floor) == (0.3, 0.1)
    # In the stream the plate scores under the floor of 0.3: missed without a look.
    assert PlateWatch(plain, PlateReader(plate_models[1])).read(Frame(stream, 0.0, 0, image)) == []
    (first,) = [
        Detection(tuple(4 * v for v in d.box), d.score)
        for d in looking.detect(stream)
        if iou(tuple(4 * v for v in d.box), truth) > 0.3
    ]
    assert 0.1 <= first.score < 0.3
    (reading,) = PlateWatch(looking, PlateReader(plate_models[1])).read(
        Frame(stream, 0.0, 0, image)
    )
    assert reading.text == spec.registration and iou(reading.box, truth) > 0.84
    assert reading.detection_score >= CONFIRM_SCORE  # the second look's score, not the stream's
    # A low box over nothing is dropped; one that made the floor is kept as before.
    nothing = Detection((0.0, 0.0, 40.0, 20.0), 0.2)
    assert looking.refined(image, [nothing]) == []
    assert looking.refined(image, [Detection(nothing.box, 0.35)]) == [Detection(nothing.box, 0.35)]
    # A confirmed low peak never suppresses a box that made the floor, though it scores more.
    x0, y0, x1, y1 = truth
    (kept,) = looking.refined(image, [Detection(truth, 0.35), Detection((x0 + 6, y0, x1, y1), 0.2)])
    assert kept.score == 0.35
    # A low peak spanning most of the frame is not looked at (no invoke): no plate is.
    invokes: list[None] = []
    monkeypatch.setattr(plate_models[0], "invoke", lambda: invokes.append(None))
    assert looking.refined(image, [Detection((0.0, 0.0, 1280.0, 700.0), 0.2)]) == []
    assert invokes == []
    # Without a second look there is nothing to confirm with: the floor stays min_score.
    assert PlateDetector(plate_models[0], look_score=0.1).floor == 0.3
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="look_score"):
            PlateDetector(plate_models[0], refine=True, look_score=bad)


def test_the_watch_keeps_the_boxes_of_every_plate_it_found_for_the_aim_meter(
    plate_models: tuple[Model, Model],
) -> None:
    detector = PlateDetector(plate_models[0], scales=(1.66, 0.5), refine=True)
    # A reader's floor no read reaches: nothing counts, yet the plate was seen.
    watch = PlateWatch(detector, PlateReader(plate_models[1]), min_confidence=1.0)
    image, truth = clip_frames()[20]
    stream = cv2.resize(image, (640, 360), interpolation=cv2.INTER_AREA)
    assert watch.seen("road") == []
    assert watch.step("road", Frame(image=stream, ts=0.0, seq=0, main=image)) == []
    (box,) = watch.seen("road")
    assert box[2] - box[0] == pytest.approx(truth[2] - truth[0], abs=8)  # full-frame pixels
    assert watch.seen("gate") == []
    watch.step("road", Frame(image=np.zeros_like(stream), ts=0.1, seq=1, main=image * 0))
    assert watch.seen("road") == []


def test_a_parked_car_read_each_time_traffic_passes_is_one_plate_event(
    plate_models: tuple[Model, Model],
) -> None:
    spec = sample_clip.ClipSpec()
    image, _ = clip_frames()[20]  # the car, standing still
    rng = np.random.default_rng(5)

    def traffic(park_s: float) -> list[dict[str, Any]]:
        """Three passes of other traffic, 20 s apart: 1.5 s of frames the detectors run on,
        fresh sensor noise in each, then frames motion gating skips."""
        tracker = TrackerConfig(park_s=park_s)
        watch = PlateWatch(
            PlateDetector(plate_models[0]), PlateReader(plate_models[1]), tracker=tracker
        )
        messages = []
        for start in (0.0, 20.0, 40.0):
            for i in range(15):
                noise = rng.normal(0.0, 4.0, image.shape)
                noisy = np.clip(image + noise, 0, 255).astype(np.uint8)
                messages += watch.step("road", Frame(image=noisy, ts=start + i / 10, seq=i))
            for i in range(1, 5):
                messages += watch.idle("road", Frame(image=image, ts=start + 1.5 + i, seq=i))
        return messages + watch.flush("road")

    parked = traffic(TrackerConfig().park_s)
    assert [m["phase"] for m in parked] == ["new", "end"], parked
    assert parked[0]["plate"]["registration"] == spec.registration
    assert parked[1]["plate"]["frames"] > 30 and parked[1]["plate"]["first_ts"] == 0.0
    unparked = traffic(0.0)
    assert [m["phase"] for m in unparked].count("new") == 3
