"""A synthetic sample clip: a car with a rendered Thai plate crossing a 1280x720 road scene.

No real plates: the plate is drawn by the project's own generator (`models.plates.layout`,
Pillow and Debian's Thai fonts, no TensorFlow) and the car is a few rectangles. A face, when
wanted, is pasted into the scene: `drawn_face()` draws one (no real person's face in the
project's sample media) that BlazeFace finds with both of its models. The plate's box in
every frame is known exactly (`plate_box`), which is what tests of the tracker and of the
plate models compare against.

    python -m tests.sample_clip sample.avi
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from agent.vision.image import Box

Image = NDArray[np.uint8]


@dataclass(frozen=True)
class ClipSpec:
    """What the clip shows: frame size and rate, length, and the plate."""

    width: int = 1280
    height: int = 720
    fps: float = 10.0
    seconds: float = 4.0
    registration: str = "1กข1234"
    province: str = "กรุงเทพมหานคร"
    seed: int = 7

    @property
    def frames(self) -> int:
        """Number of frames in the clip."""
        return round(self.fps * self.seconds)


#: A seed whose plate the committed OCR reads unsure at first (a character under 0.8) and
#: right once zoomed, for the tests of its extra views: it reads the default seed's plate
#: sure from every view.
UNSURE_SEED = 82

CAR_SIZE = (420, 260)  # width, height in pixels
PLATE_SIZE = (161, 71)  # a car plate at scale 0.7 (230 x 101 at scale 1)
PLATE_OFFSET = ((CAR_SIZE[0] - PLATE_SIZE[0]) // 2, 165)  # inside the car box
# Top right: a 512x512 photo over sky and wall; the car passes in front of its lower half,
# below the face, so the plate is never hidden.
FACE_ORIGIN = (740, 0)


def car_origin(spec: ClipSpec, index: int) -> tuple[int, int]:
    """Top-left corner of the car in frame `index`: left to right, drifting towards the camera."""
    t = index / max(1, spec.frames - 1)
    x = round(-CAR_SIZE[0] * 0.6 + t * (spec.width + CAR_SIZE[0] * 0.2))
    y = round(spec.height * 0.42 + t * 40)
    return x, y


def plate_box(spec: ClipSpec, index: int) -> Box | None:
    """The plate's box in frame `index`, clipped to the frame; None when out of view."""
    x, y = car_origin(spec, index)
    x0, y0 = x + PLATE_OFFSET[0], y + PLATE_OFFSET[1]
    x1, y1 = x0 + PLATE_SIZE[0], y0 + PLATE_SIZE[1]
    box = (max(0, x0), max(0, y0), min(spec.width, x1), min(spec.height, y1))
    if box[2] - box[0] < PLATE_SIZE[0] * 0.5:
        return None
    return float(box[0]), float(box[1]), float(box[2]), float(box[3])


def plate_image(spec: ClipSpec) -> Image:
    """The plate, rendered once by the project's plate generator, as BGR."""
    from models.plates import alphabet, layout  # noqa: PLC0415 (Pillow and fonts only here)

    rng = np.random.default_rng(spec.seed)
    plate_spec = layout.PlateSpec(
        spec.registration, alphabet.PROVINCES.index(spec.province), "private"
    )
    rgb = layout.render_plate(plate_spec, rng, scale=PLATE_SIZE[0] / 230).clip(0, 255)
    rgb = cv2.resize(rgb.astype(np.uint8), PLATE_SIZE, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb[..., ::-1])


def background(spec: ClipSpec) -> Image:
    """Sky, a wall, a road with lane marks and a kerb."""
    image = np.zeros((spec.height, spec.width, 3), np.uint8)
    horizon = round(spec.height * 0.35)
    image[:horizon] = (200, 170, 140)
    cv2.rectangle(image, (0, horizon - 120), (spec.width, horizon), (120, 130, 150), -1)
    image[horizon:] = (80, 80, 80)
    cv2.rectangle(image, (0, horizon), (spec.width, horizon + 12), (170, 170, 170), -1)
    for x in range(0, spec.width, 160):
        cv2.rectangle(image, (x, spec.height - 60), (x + 80, spec.height - 50), (230, 230, 230), -1)
    noise = np.random.default_rng(spec.seed).normal(0, 4, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def draw_car(frame: Image, origin: tuple[int, int], plate: Image) -> None:
    """A boxy car seen from the front-quarter, with its plate, pasted where it fits."""
    car = np.zeros((CAR_SIZE[1], CAR_SIZE[0], 3), np.uint8)
    car[:] = (40, 40, 150)
    cv2.rectangle(car, (50, 10), (370, 110), (90, 60, 40), -1)  # windscreen
    cv2.rectangle(car, (10, 130), (80, 160), (200, 230, 240), -1)  # headlights
    cv2.rectangle(car, (340, 130), (410, 160), (200, 230, 240), -1)
    x, y = PLATE_OFFSET
    car[y : y + PLATE_SIZE[1], x : x + PLATE_SIZE[0]] = plate
    _paste(frame, car, origin)


def _paste(frame: Image, patch: Image, origin: tuple[int, int]) -> None:
    x, y = origin
    h, w = patch.shape[:2]
    fx0, fy0 = max(0, x), max(0, y)
    fx1, fy1 = min(frame.shape[1], x + w), min(frame.shape[0], y + h)
    if fx1 > fx0 and fy1 > fy0:
        frame[fy0:fy1, fx0:fx1] = patch[fy0 - y : fy1 - y, fx0 - x : fx1 - x]


def frame(spec: ClipSpec, index: int) -> tuple[Image, Box | None]:
    """Frame `index` of the clip alone, as `frames` draws it, and the plate's box in it."""
    image = background(spec)
    draw_car(image, car_origin(spec, index), plate_image(spec))
    return image, plate_box(spec, index)


def frames(spec: ClipSpec, face: Image | None = None) -> Iterator[tuple[Image, Box | None]]:
    """Every frame of the clip with the plate's box in it; `face` pasted at FACE_ORIGIN."""
    scene, plate = background(spec), plate_image(spec)
    if face is not None:
        _paste(scene, face, FACE_ORIGIN)
    for index in range(spec.frames):
        frame = scene.copy()
        draw_car(frame, car_origin(spec, index), plate)
        yield frame, plate_box(spec, index)


def write(path: Path, spec: ClipSpec | None = None, face: Image | None = None) -> list[Box | None]:
    """Write the clip as MJPG AVI, `face` pasted in if given; the plate box of every frame."""
    spec = spec or ClipSpec()
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*"MJPG"), spec.fps, (spec.width, spec.height)
    )
    if not writer.isOpened():
        raise OSError(f"cannot write {path}")
    boxes = []
    try:
        for frame, box in frames(spec, face):
            writer.write(frame)
            boxes.append(box)
    finally:
        writer.release()
    return boxes


def main() -> None:
    """Write the sample clip to the path given on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="where to write the .avi")
    parser.add_argument("--seconds", type=float, default=ClipSpec.seconds)
    args = parser.parse_args()
    boxes = write(args.path, ClipSpec(seconds=args.seconds))
    print(f"{args.path}: {len(boxes)} frames, plate visible in {sum(b is not None for b in boxes)}")


if __name__ == "__main__":
    main()


def drawn_face(size: int = 400) -> Image:
    """A face drawn with a few shapes, frontal, that both BlazeFace models detect (BGR)."""
    image = np.full((size, size, 3), (200, 210, 215), np.uint8)
    c, s = size // 2, size / 100  # centre, and one hundredth of the size
    cv2.ellipse(image, (c, c + 10), (round(28 * s), round(36 * s)), 0, 0, 360, (150, 180, 225), -1)
    cv2.ellipse(
        image, (c, c - round(25 * s)), (round(30 * s), round(16 * s)), 0, 180, 360, (40, 40, 50), -1
    )
    for side in (-1, 1):
        eye = (c + side * round(11 * s), c - round(4 * s))
        cv2.ellipse(image, eye, (round(5 * s), round(2.8 * s)), 0, 0, 360, (255, 255, 255), -1)
        cv2.circle(image, eye, round(2.2 * s), (60, 40, 30), -1)
        brow = (
            (eye[0] - round(6 * s), eye[1] - round(6 * s)),
            (eye[0] + round(6 * s), eye[1] - round(7 * s)),
        )
        cv2.line(image, brow[0], brow[1], (40, 40, 50), 4)
    nose = np.array(
        [(c, c), (c - round(3 * s), c + round(9 * s)), (c + round(3 * s), c + round(9 * s))]
    )
    cv2.polylines(image, [nose], False, (110, 140, 190), 3)
    cv2.ellipse(
        image, (c, c + round(17 * s)), (round(9 * s), round(3.5 * s)), 0, 0, 180, (80, 80, 170), -1
    )
    return cv2.GaussianBlur(image, (5, 5), 0)
