"""Faces: BlazeFace finds faces in public-domain photos and none elsewhere, decoded as MediaPipe."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.vision import models
from agent.vision.faces import (
    FULL_RANGE,
    SHORT_RANGE,
    BlazeFaceSpec,
    FaceDetector,
    anchors,
    decode,
    weighted_nms,
)
from agent.vision.image import blur_boxes
from agent.vision.runtime import Model
from tests.vision_fixtures import models_dir, photo  # noqa: F401 (fixture)

pytest.importorskip("ai_edge_litert")

# Labelled by eye, forehead to chin (the same boxes as /work/shared/data/faces/labels.jsonl).
ASTRONAUT_FACE = (165.0, 55.0, 277.0, 175.0)
PHOTOGRAPHER_FACE = (175.0, 100.0, 255.0, 195.0)
SPECS = [SHORT_RANGE, FULL_RANGE]
# MediaPipe's SsdAnchorsCalculator options in face_detection_{short,full}_range.pbtxt.
MEDIAPIPE_ANCHORS = {
    SHORT_RANGE.model: {"strides": [8, 16, 16, 16], "interpolated_scale_aspect_ratio": 1.0},
    FULL_RANGE.model: {"strides": [4], "interpolated_scale_aspect_ratio": 0.0},
}


@pytest.fixture(scope="module", params=SPECS, ids=lambda s: s.model)
def detector(request: pytest.FixtureRequest, models_dir: Path) -> FaceDetector:  # noqa: F811
    spec: BlazeFaceSpec = request.param
    entry = models.find(models.load_manifest(), spec.model)
    return FaceDetector(Model(models.require(entry, models_dir), name=spec.model), spec)


def box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# --- a straightforward reference decoding, one anchor at a time --------------------------


def reference_anchors(
    size: int, strides: list[int], interpolated_scale_aspect_ratio: float
) -> list:
    """MediaPipe's SsdAnchorsCalculator loop, with fixed anchor size and aspect ratio 1."""
    result, layer = [], 0
    while layer < len(strides):
        per_cell, last = 0, layer
        while last < len(strides) and strides[last] == strides[layer]:
            per_cell += 1 + (interpolated_scale_aspect_ratio > 0)
            last += 1
        cells = math.ceil(size / strides[layer])
        for y in range(cells):
            for x in range(cells):
                result += [((x + 0.5) / cells, (y + 0.5) / cells)] * per_cell
        layer = last
    return result


def reference_decode(regressors, logits, anchor_list, size: int, min_score: float) -> list:
    """TensorsToDetectionsCalculator with reversed output order and sigmoid scores."""
    found = []
    for raw, logit, (ax, ay) in zip(
        regressors.reshape(len(anchor_list), 16), logits.reshape(-1), anchor_list, strict=True
    ):
        score = 1 / (1 + math.exp(-max(-100.0, min(100.0, float(logit)))))
        if score < min_score:
            continue
        cx, cy = raw[0] / size + ax, raw[1] / size + ay
        w, h = raw[2] / size, raw[3] / size
        points = [(raw[4 + 2 * k] / size + ax, raw[5 + 2 * k] / size + ay) for k in range(6)]
        found.append(
            {
                "box": [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2],
                "points": points,
                "score": score,
            }
        )
    return found


def reference_nms(found: list, threshold: float = 0.3) -> list:
    """NonMaxSuppressionCalculator, WEIGHTED: clusters averaged by score, keeping the best score."""
    remaining = sorted(found, key=lambda d: -d["score"])
    merged = []
    while remaining:
        top = remaining[0]
        cluster = [d for d in remaining if box_iou(top["box"], d["box"]) > threshold]
        remaining = [d for d in remaining if box_iou(top["box"], d["box"]) <= threshold]
        total = sum(d["score"] for d in cluster)
        box = [sum(d["box"][i] * d["score"] for d in cluster) / total for i in range(4)]
        points = [
            tuple(sum(d["points"][k][j] * d["score"] for d in cluster) / total for j in range(2))
            for k in range(6)
        ]
        merged.append({"box": box, "points": points, "score": top["score"]})
    return merged


def assert_matches_reference(
    spec: BlazeFaceSpec, regressors: np.ndarray, logits: np.ndarray, min_score: float
) -> int:
    options = MEDIAPIPE_ANCHORS[spec.model]
    expected = reference_nms(
        reference_decode(
            regressors, logits, reference_anchors(spec.size, **options), spec.size, min_score
        )
    )
    ours = weighted_nms(decode(regressors, logits, anchors(spec), spec.size, min_score))
    assert len(ours.scores) == len(expected)
    for i, want in enumerate(expected):
        np.testing.assert_allclose(ours.boxes[i], want["box"], atol=1e-5)
        np.testing.assert_allclose(ours.keypoints[i], want["points"], atol=1e-5)
        assert ours.scores[i] == pytest.approx(want["score"], abs=1e-6)
    return len(expected)


# --- tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.model)
def test_anchors_follow_mediapipe_ssd_anchor_layout(spec: BlazeFaceSpec) -> None:
    expected = reference_anchors(spec.size, **MEDIAPIPE_ANCHORS[spec.model])
    np.testing.assert_allclose(anchors(spec), expected, atol=1e-7)


@pytest.mark.parametrize("image", ["astronaut", "camera", "coffee"])
def test_decoding_matches_reference_on_real_model_outputs(
    detector: FaceDetector, image: str
) -> None:
    tensor, _ = detector.preprocess(photo(image))
    outputs = detector.model.run(tensor)
    regressors, logits = sorted(outputs, key=lambda o: -o.shape[-1])
    # A low floor keeps many overlapping candidates, so the merging is exercised too.
    assert_matches_reference(detector.spec, regressors, logits, min_score=0.05)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.model)
def test_decoding_matches_reference_on_random_outputs(spec: BlazeFaceSpec) -> None:
    rng = np.random.default_rng(7)
    count = len(anchors(spec))
    regressors = rng.normal(0, spec.size / 8, (1, count, 16)).astype(np.float32)
    regressors[..., 2:4] = np.abs(regressors[..., 2:4]) + 2  # widths and heights are positive
    logits = rng.normal(-3, 2.5, (1, count, 1)).astype(np.float32)
    assert assert_matches_reference(spec, regressors, logits, min_score=0.5) > 5


def test_decoding_keeps_exactly_the_reference_anchors_at_the_floor_and_past_the_clip() -> None:
    spec, rng = SHORT_RANGE, np.random.default_rng(11)
    centres = anchors(spec)
    regressors = rng.normal(0, 4, (1, len(centres), 16)).astype(np.float32)
    # Logits on both sides of logit(0.5) = 0 by one float32 step, and far below the clip.
    logits = rng.choice(
        np.array([-300.0, -100.0, -1e-7, 0.0, 1e-7, 3.0], dtype=np.float32), (1, len(centres), 1)
    )
    for min_score in (0.5, 0.6, 1e-50, 0.0, 1.0):
        expected = reference_decode(regressors, logits, list(map(tuple, centres)), 128, min_score)
        ours = decode(regressors, logits, centres, spec.size, min_score)
        assert len(ours.scores) == len(expected), min_score
        np.testing.assert_allclose(ours.scores, [d["score"] for d in expected], atol=1e-6)
        boxes = np.reshape([d["box"] for d in expected], (-1, 4))
        np.testing.assert_allclose(ours.boxes, boxes, atol=1e-5)


def test_input_written_in_place_is_the_preprocessed_input(detector: FaceDetector) -> None:
    frame = np.full((720, 1280, 3), 90, dtype=np.uint8)
    frame[150:662, 600:1112] = photo("astronaut")
    for image in (frame, photo("camera")):
        tensor, _ = detector.preprocess(image)
        expected = detector.model.run(tensor)
        detector.prepare(image)
        detector.model.invoke()
        for ours, want in zip(detector.model.get_outputs(), expected, strict=True):
            np.testing.assert_array_equal(ours, want)


def test_finds_the_astronauts_face(detector: FaceDetector) -> None:
    faces = detector.detect(photo("astronaut"))
    assert len(faces) == 1
    assert box_iou(faces[0].box, ASTRONAUT_FACE) > 0.5
    assert faces[0].score > 0.8


def test_finds_the_photographers_face_in_three_quarter_profile(detector: FaceDetector) -> None:
    (face,) = detector.detect(photo("camera"))
    # A turned face's box slides towards the nose, so its centre is what is checked.
    x0, y0, x1, y1 = PHOTOGRAPHER_FACE
    assert x0 < (face.box[0] + face.box[2]) / 2 < x1
    assert y0 < (face.box[1] + face.box[3]) / 2 < y1


@pytest.mark.parametrize("image", ["chelsea", "coffee", "rocket"])
def test_finds_no_face_in_photos_without_people(detector: FaceDetector, image: str) -> None:
    assert detector.detect(photo(image)) == []


def test_small_face_in_an_hd_frame_is_found_where_it_is(models_dir: Path) -> None:  # noqa: F811
    entry = models.find(models.load_manifest(), FULL_RANGE.model)
    detector = FaceDetector(Model(models.require(entry, models_dir)), FULL_RANGE)
    frame = np.full((720, 1280, 3), 90, dtype=np.uint8)
    frame[150:662, 600:1112] = photo("astronaut")
    (face,) = detector.detect(frame)
    shifted = (
        600 + ASTRONAUT_FACE[0],
        150 + ASTRONAUT_FACE[1],
        600 + ASTRONAUT_FACE[2],
        150 + ASTRONAUT_FACE[3],
    )
    assert box_iou(face.box, shifted) > 0.5
    # Keypoints land inside the face: eyes above the mouth.
    right_eye, left_eye, _, mouth = face.keypoints[:4]
    assert right_eye[1] < mouth[1] and left_eye[1] < mouth[1]
    assert shifted[0] < right_eye[0] < shifted[2]


def test_frontal_face_scores_higher_quality_than_a_turned_one(detector: FaceDetector) -> None:
    (frontal,) = detector.detect(photo("astronaut"))
    (turned,) = detector.detect(photo("camera"))
    assert frontal.quality.frontal > 0.85
    assert turned.quality.frontal < frontal.quality.frontal - 0.3
    assert 0 < turned.quality.overall < frontal.quality.overall <= 1


def test_blurred_face_scores_lower_sharpness(detector: FaceDetector) -> None:
    image = photo("astronaut")
    (sharp,) = detector.detect(image)
    blurred = detector.detect(cv2.GaussianBlur(image, (0, 0), 4))
    assert blurred and blurred[0].quality.sharpness < sharp.quality.sharpness / 2


def test_face_blurred_for_storage_is_no_longer_detected(detector: FaceDetector) -> None:
    image = photo("astronaut")
    faces = detector.detect(image)
    assert detector.detect(blur_boxes(image, [f.box for f in faces])) == []


def test_face_event_data_names_keypoints_and_quality(detector: FaceDetector) -> None:
    (face,) = detector.detect(photo("astronaut"))
    data = face.as_dict()
    assert set(data) == {"box", "score", "keypoints", "quality"}
    assert set(data["keypoints"]) == {
        "right_eye",
        "left_eye",
        "nose_tip",
        "mouth",
        "right_ear",
        "left_ear",
    }
    assert set(data["quality"]) == {"size", "sharpness", "frontal", "overall"}


def test_a_model_that_is_not_blazeface_is_refused(tmp_path: Path) -> None:
    from tests.vision_fixtures import requantise_model  # noqa: PLC0415

    path = tmp_path / "other.tflite"
    path.write_bytes(requantise_model(in_scale=1.0, in_zero=0, out_scale=1.0, out_zero=0))
    with pytest.raises(ValueError, match="not a BlazeFace model"):
        FaceDetector(Model(path), SHORT_RANGE)


def test_a_blazeface_model_with_another_variants_spec_is_refused(models_dir: Path) -> None:  # noqa: F811
    entry = models.find(models.load_manifest(), FULL_RANGE.model)
    with pytest.raises(ValueError, match=r"not blazeface-short: inputs \[\(\(1, 192, 192, 3\)"):
        FaceDetector(Model(models.require(entry, models_dir)), SHORT_RANGE)
