"""Motion gating and frame pacing: detectors run when something moves, and no faster than asked."""

from __future__ import annotations

import numpy as np
import pytest

from agent.errors import ConfigError
from agent.vision.motion import MotionConfig, MotionGate
from agent.vision.pacing import FramePacer
from agent.vision.regions import Regions
from tests.sample_clip import ClipSpec, background, car_origin, draw_car

SIZE = (640, 360)  # width, height of the detection stream


def scene(seed: int = 0, noise: float = 3.0) -> np.ndarray:
    """A static textured scene with sensor noise that differs per `seed`."""
    rng = np.random.default_rng(seed)
    base = np.full((SIZE[1], SIZE[0], 3), 90, np.float64)
    base[: SIZE[1] // 3] = (200, 170, 140)
    base[:, ::40] = 150
    return np.clip(base + rng.normal(0, noise, base.shape), 0, 255).astype(np.uint8)


def with_box(image: np.ndarray, x: int, y: int = 200, side: int = 60) -> np.ndarray:
    """`image` with a dark square (a vehicle) at `x`, `y`."""
    moved = image.copy()
    moved[y : y + side, x : x + side] = (20, 20, 160)
    return moved


def decisions(gate: MotionGate, frames: list[np.ndarray], t0: float = 0.0, dt: float = 0.2):
    return [gate.check(frame, t0 + i * dt) for i, frame in enumerate(frames)]


def test_a_static_scene_is_skipped_after_the_first_frame():
    gate = MotionGate(MotionConfig(hold_frames=0, force_every_s=60.0))
    results = decisions(gate, [scene(seed) for seed in range(20)])
    assert [d.reason for d in results] == ["forced"] + ["idle"] * 19
    assert max(d.changed for d in results) < gate.config.threshold


def test_detection_resumes_on_movement_and_holds_for_k_frames_after():
    gate = MotionGate(MotionConfig(hold_frames=3, force_every_s=60.0))
    still = [scene(seed) for seed in range(4)]
    moving = [with_box(scene(10 + i), 40 + 50 * i) for i in range(3)]
    parked = [with_box(scene(20 + i), 140) for i in range(6)]
    reasons = [d.reason for d in decisions(gate, still + moving + parked)]
    assert reasons == (
        ["forced", "idle", "idle", "idle"]
        + ["motion"] * 3
        + ["motion"]  # the car's last move is still a change from the background
        + ["hold"] * 3
        + ["idle"] * 2
    )


def test_a_parked_car_is_still_read_every_m_seconds():
    gate = MotionGate(MotionConfig(hold_frames=0, force_every_s=5.0))
    frames = [scene(seed) for seed in range(60)]  # 12 s at 5 fps
    ran = [round(i * 0.2, 1) for i, d in enumerate(decisions(gate, frames)) if d.run]
    assert ran == [0.0, 5.0, 10.0]


def test_movement_outside_the_region_of_interest_is_ignored():
    left_half = Regions.from_config(include=[[[0, 0], [0.5, 0], [0.5, 1], [0, 1]]])
    gate = MotionGate(MotionConfig(hold_frames=0, force_every_s=60.0), roi=left_half)
    outside = [with_box(scene(i), 420 + 40 * i) for i in range(5)]
    inside = [with_box(scene(10 + i), 40 + 40 * i) for i in range(3)]
    reasons = [d.reason for d in decisions(gate, [scene(99), *outside, *inside])]
    assert reasons == ["forced"] + ["idle"] * 5 + ["motion"] * 3


def test_the_car_crossing_the_sample_clip_is_seen_as_motion():
    spec = ClipSpec(width=SIZE[0] * 2, height=SIZE[1] * 2)
    road = background(spec)
    plate = np.zeros((71, 161, 3), np.uint8)
    gate = MotionGate(MotionConfig(hold_frames=0, force_every_s=60.0))
    gate.check(road, 0.0)
    results = []
    for index in range(5, 30, 5):
        frame = road.copy()
        draw_car(frame, car_origin(spec, index), plate)
        results.append(gate.check(frame, index / spec.fps))
    assert all(d.reason == "motion" for d in results)


def test_a_new_frame_size_restarts_the_background():
    gate = MotionGate(MotionConfig(hold_frames=0, force_every_s=60.0))
    gate.check(scene(0), 0.0)
    small = scene(1)[::2, ::2]
    assert gate.check(small, 0.2).reason == "idle"


@pytest.mark.parametrize(
    ("field", "value"),
    [("threshold", 0.0), ("pixel_delta", 0), ("learning_rate", 1.5), ("force_every_s", 0.0)],
)
def test_bad_motion_settings_are_rejected_by_name(field: str, value: float):
    with pytest.raises(ConfigError, match=f"motion.{field}"):
        MotionConfig(**{field: value})


def kept(pacer: FramePacer, stamps: list[float]) -> list[float]:
    return [ts for ts in stamps if pacer.take(ts)]


def test_halving_the_frame_rate_keeps_every_other_frame_despite_jitter():
    jitter = [0.0, 0.001, -0.001, 0.0005]
    stamps = [i / 10 + jitter[i % 4] for i in range(20)]
    pacer = FramePacer(5.0)
    assert kept(pacer, stamps) == stamps[::2]
    assert (pacer.kept, pacer.dropped) == (10, 10)


def test_an_uneven_source_is_paced_to_the_limit_on_average():
    stamps = [i / 7 for i in range(70)]  # 10 s at 7 fps
    assert len(kept(FramePacer(5.0), stamps)) == pytest.approx(50, abs=1)


def test_a_slower_source_loses_nothing_and_zero_means_unlimited():
    assert len(kept(FramePacer(5.0), [i / 2 for i in range(10)])) == 10
    assert len(kept(FramePacer(0.0), [i / 100 for i in range(100)])) == 100


def test_the_pacer_recovers_when_the_clock_goes_back():
    pacer = FramePacer(5.0)
    assert kept(pacer, [100.0, 100.2, 50.0, 50.1, 50.2]) == [100.0, 100.2, 50.0, 50.2]


def test_a_negative_rate_is_rejected():
    with pytest.raises(ValueError, match="max_fps"):
        FramePacer(-1.0)
