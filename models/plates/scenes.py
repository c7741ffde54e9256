"""Detector training scenes: plates composited with perspective into plate-free photographs.

Backgrounds are scikit-image's bundled sample photographs (public domain or
CC0, see their docstrings in ``skimage.data``; none shows a licence plate),
found on disk without importing scikit-image, or procedural textures when it
is absent.  Text-like clutter (signs, words, stripes) teaches the detector
that text alone is not a plate.
"""

from __future__ import annotations

import functools
import importlib.util
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from models.plates import alphabet, degrade, fonts, layout, render

SCENE_SIZE = 256
CLOSE_SHARE = 0.15
#: A pole camera's frame for evaluation (not training): 1280 x 720, one to four plates 30-240
#: px wide, as a camera over a street sees cars from a few metres to a few tens of metres.
WIDE_FRAME = (1280, 720)
WIDE_PLATES = (30.0, 240.0)
#: Frames of a car coming towards the camera (``approach``): two seconds at 10 fps.
APPROACH_FRAMES = 20
#: Two cars passing each other across the frame (``crossing``): three seconds at 10 fps, and
#: the plate widths in each lane (far, near) in a 1280 px frame.
CROSSING_FRAMES = 30
CROSSING_LANES = ((60.0, 110.0), (100.0, 180.0))
#: Frame pixels per detector input pixel in a tiled pass (agent.vision.plates): 1.5 for the Pi
#: camera's 640 px detection stream at scale 1.66, 3 for a 1280 px frame at that scale.
TILE_FACTORS = (1.5, 3.0)
#: scikit-image photographs without vehicles or plates (public domain / CC0).
PHOTOS = (
    "astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png",
    "color.png", "grass.png", "gravel.png", "hubble_deep_field.jpg", "rocket.jpg",
    "page.png", "text.png", "moon.png", "horse.png", "clock_motion.png",
)  # fmt: skip
#: A car body's soft edge hides what lies under it from this alpha on.
HIDING = 128
CLUTTER_CHARS = string.ascii_uppercase + string.digits + alphabet.ISSUED_CONSONANTS


@dataclass(frozen=True)
class Scene:
    """A grey scene, its plate boxes (x0, y0, x1, y1) in pixels and what each plate says."""

    image: np.ndarray
    boxes: np.ndarray
    plates: tuple[layout.PlateSpec, ...] = ()


@functools.cache
def photos() -> tuple[np.ndarray, ...]:
    """The bundled background photographs as RGB arrays (empty without scikit-image)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        return ()
    folder = Path(spec.origin).parent / "data"
    found = [folder / name for name in PHOTOS if (folder / name).exists()]
    return tuple(np.asarray(Image.open(p).convert("RGB")) for p in found)


def background(
    rng: np.random.Generator, size: tuple[int, int] = (SCENE_SIZE, SCENE_SIZE)
) -> Image.Image:
    """A random crop of a photograph, or a procedural texture, of ``size`` (width, height)."""
    pool = photos()
    shape = (size[1], size[0], 3)
    if not pool or rng.random() < 0.15:
        t = np.linspace(0, 1, size[1], dtype=np.float32)[:, None, None]
        a, b = rng.uniform(0, 255, (2, 3))
        image = a * (1 - t) + b * t + rng.normal(0, rng.uniform(2, 25), shape)
        return Image.fromarray(np.broadcast_to(image, shape).clip(0, 255).astype(np.uint8))
    photo = pool[rng.integers(len(pool))]
    h, w, _ = photo.shape
    side = int(rng.uniform(0.3, 1.0) * min(h, w))  # the crop's width; its height keeps the aspect
    tall = max(1, round(side * size[1] / size[0]))
    y, x = rng.integers(0, h - tall + 1), rng.integers(0, w - side + 1)
    crop = Image.fromarray(photo[y : y + tall, x : x + side]).resize(size)
    if rng.random() < 0.5:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return crop


def clutter(scene: Image.Image, rng: np.random.Generator, most: int = 6) -> None:
    """Draw up to ``most`` signs, words and stripes that look like text but are not plates."""
    draw = ImageDraw.Draw(scene)
    for _ in range(rng.integers(0, most + 1)):
        x, y = rng.uniform(-20, scene.size)
        colour = tuple(int(c) for c in rng.uniform(0, 255, 3))
        kind = rng.random()
        if kind < 0.6:
            text = "".join(rng.choice(list(CLUTTER_CHARS), rng.integers(2, 10)))
            face = fonts.font(fonts.pick_letter_font(rng), int(rng.integers(8, 40)))
            if rng.random() < 0.5:
                x0, y0, x1, y1 = draw.textbbox((x, y), text, font=face)
                fill = tuple(int(c) for c in rng.uniform(0, 255, 3))
                draw.rectangle((x0 - 3, y0 - 3, x1 + 3, y1 + 3), fill)
            draw.text((x, y), text, font=face, fill=colour)
        elif kind < 0.75:
            w, h = rng.uniform(10, 120), rng.uniform(5, 60)
            draw.rectangle((x, y, x + w, y + h), outline=colour, width=int(rng.integers(1, 4)))
        elif kind < 0.85:  # a car-body patch like the one around a plate, without one
            w, h = rng.uniform(15, 150), rng.uniform(10, 90)
            draw.ellipse((x, y, x + w, y + h), colour)
        else:
            for i in range(rng.integers(3, 8)):
                draw.line((x, y + 4 * i, x + rng.uniform(20, 80), y + 4 * i), colour, 2)


def place_plate(
    scene: Image.Image,
    rng: np.random.Generator,
    *,
    close: bool = False,
    widths: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, layout.PlateSpec]:
    """Composite one mounted plate into ``scene``; return its box, where the pasted car
    body covers the scene (a boolean mask of the scene's shape) and what the plate says.

    A plate is 14-150 px wide, as a pole camera sees cars in its 256 px
    detection frame; ``close`` makes it 120-245 px wide and whole in the frame
    (a photo of one car's rear, letterboxed). ``widths`` sets another range, for
    plates anywhere in a larger frame.
    """
    spec = layout.random_spec(rng)
    scale = rng.uniform(0.8, 1.2) if close else rng.uniform(0.4, 0.8)
    plate = degrade.lighting(layout.render_plate(spec, rng, scale), rng)
    car, corners = render.mounted(plate, rng)
    low, high = widths or ((120, 245) if close else (14, 150))
    width = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    k = width / (corners[1, 0] - corners[0, 0])
    quad = degrade.random_quad(width, (corners[2, 1] - corners[1, 1]) * k, rng)
    size = scene.size
    if close:
        half = quad.max(axis=0)
        quad += rng.uniform(half, np.maximum(half + 1, np.asarray(size) - half))
    else:
        quad += rng.uniform(0, size)
    box, mask = paste_car(scene, car, corners, quad, rng.uniform(0.55, 1.0))
    return box, mask, spec


def paste_car(
    scene: Image.Image, car: Image.Image, corners: np.ndarray, quad: np.ndarray, grow: float
) -> tuple[np.ndarray, np.ndarray]:
    """Paste the car body around a mounted plate (``render.mounted``: the plate's
    ``corners`` in ``car``) into ``scene`` with the plate on ``quad``; only part of the body
    comes along, a soft ellipse ``grow`` plate sizes about the plate. The plate's box, and
    where the body covers the scene (a boolean mask of its shape)."""
    size = scene.size
    patch = degrade.warp(car, corners, quad, size)
    alpha = Image.new("L", car.size)
    (cx, cy), (pw, ph) = corners.mean(axis=0), corners[2] - corners[0]
    ImageDraw.Draw(alpha).ellipse(
        (cx - pw * grow, cy - ph * grow * 1.6, cx + pw * grow, cy + ph * grow * 1.6), 255
    )
    mask = degrade.warp(alpha, corners, quad, size)
    scene.paste(patch, (0, 0), mask)
    box = np.concatenate([quad.min(axis=0), quad.max(axis=0)])
    return box, np.asarray(mask) >= HIDING


def place_plates(
    scene: Image.Image,
    rng: np.random.Generator,
    count: int,
    *,
    close: bool = False,
    widths: tuple[float, float] | None = None,
) -> tuple[np.ndarray, tuple[layout.PlateSpec, ...]]:
    """Composite ``count`` plates (``place_plate``); return the boxes (N, 4) of those that
    show, at least 60 % in the frame (``visible``) and at most 40 % of the box under a later
    plate's car body, and what they say. Plates are placed independently, so a later one
    may hide an earlier one, and a hidden plate is not a plate to be found."""
    placed = [place_plate(scene, rng, close=close, widths=widths) for _ in range(count)]
    return shown_plates(placed, scene.size)


def shown_plates(
    placed: list[tuple[np.ndarray, np.ndarray, layout.PlateSpec]], size: tuple[int, int]
) -> tuple[np.ndarray, tuple[layout.PlateSpec, ...]]:
    """Of plates pasted in this order (box, car body mask, spec), the boxes (N, 4) of those
    that show in a frame of ``size``, at least 60 % in it (``visible``) and at most 40 % of
    the box under a later plate's car body, and what they say."""
    kept, specs = [], []
    for i, (box, _, spec) in enumerate(placed):
        shown = visible(box, size)
        if shown is None:
            continue
        x0, y0 = np.floor(shown[:2]).astype(int)
        x1, y1 = np.ceil(shown[2:]).astype(int)
        later = [mask[y0:y1, x0:x1] for _, mask, _ in placed[i + 1 :]]
        if not later or np.logical_or.reduce(later).mean() <= 0.4:
            kept.append(shown)
            specs.append(spec)
    return np.array(kept, np.float32).reshape(-1, 4), tuple(specs)


def visible(box: np.ndarray, size: tuple[int, int] = (SCENE_SIZE, SCENE_SIZE)) -> np.ndarray | None:
    """The box clipped to a frame of ``size`` (width, height), or None when under 60 % shows."""
    clipped = box.clip(0, np.tile(size, 2))
    area = np.prod(box[2:] - box[:2])
    shown = np.prod(np.maximum(clipped[2:] - clipped[:2], 0))
    return clipped if shown >= 0.6 * area else None


def scene(rng: np.random.Generator) -> Scene:
    """A random scene with zero to three plates, or a close-up of one (CLOSE_SHARE)."""
    image = background(rng)
    clutter(image, rng)
    close = rng.random() < CLOSE_SHARE
    count = 1 if close else int(rng.choice([0, 1, 2, 3], p=[0.1, 0.6, 0.2, 0.1]))
    kept, plates = place_plates(image, rng, count, close=close)
    grey = degrade.capture(image, SCENE_SIZE, rng).convert("L")
    return Scene(np.asarray(grey), kept, plates)


def wide_scene(rng: np.random.Generator, size: tuple[int, int] = WIDE_FRAME) -> Scene:
    """A pole camera's frame of ``size`` with one to four plates (``WIDE_PLATES``, scaled)."""
    image = background(rng, size)
    clutter(image, rng, most=24)
    k = size[0] / WIDE_FRAME[0]
    widths = (WIDE_PLATES[0] * k, WIDE_PLATES[1] * k)
    count = int(rng.integers(1, 5))
    kept, plates = place_plates(image, rng, count, widths=widths)
    grey = degrade.capture(image, size[0], rng).convert("L")
    return Scene(np.asarray(grey), kept, plates)


def approach(
    rng: np.random.Generator, size: tuple[int, int] = WIDE_FRAME, frames: int = APPROACH_FRAMES
) -> list[Scene]:
    """A car coming towards a pole camera, one frame of ``size`` per step: its plate grows
    from about the narrowest of ``WIDE_PLATES`` to near the widest while it moves down the
    frame, over a fixed background with clutter. Every frame is captured with the clip's
    own conditions (the same blur, infrared, gamma, noise and JPEG quality: one camera, one
    moment). A frame where under 60 % of the plate shows has no box."""
    image = background(rng, size)
    clutter(image, rng, most=24)
    spec = layout.random_spec(rng)
    plate = degrade.lighting(layout.render_plate(spec, rng, rng.uniform(0.4, 0.8)), rng)
    car, corners = render.mounted(plate, rng)
    k = size[0] / WIDE_FRAME[0]
    first = WIDE_PLATES[0] * k * rng.uniform(1.0, 1.5)
    last = WIDE_PLATES[1] * k * rng.uniform(0.6, 1.0)
    unit = degrade.random_quad(
        1.0, float(corners[2, 1] - corners[1, 1]) / float(corners[1, 0] - corners[0, 0]), rng
    )
    start = np.array([rng.uniform(0.2, 0.8) * size[0], rng.uniform(0.25, 0.45) * size[1]])
    end = np.array([rng.uniform(0.3, 0.7) * size[0], rng.uniform(0.75, 0.95) * size[1]])
    grow, condition = rng.uniform(0.55, 1.0), int(rng.integers(2**31))
    clip = []
    for t in np.linspace(0.0, 1.0, frames):
        width = first * (last / first) ** t  # nearer, faster
        frame = image.copy()
        box, _ = paste_car(frame, car, corners, unit * width + start + (end - start) * t, grow)
        shown = visible(box, size)
        grey = degrade.capture(frame, size[0], np.random.default_rng(condition)).convert("L")
        boxes = np.array([] if shown is None else [shown], np.float32).reshape(-1, 4)
        clip.append(Scene(np.asarray(grey), boxes, () if shown is None else (spec,)))
    return clip


def crossing(
    rng: np.random.Generator, size: tuple[int, int] = WIDE_FRAME, frames: int = CROSSING_FRAMES
) -> list[Scene]:
    """Two cars passing each other across a pole camera's frame, one per lane, one frame of
    ``size`` per step: in the far lane a plate ``CROSSING_LANES[0]`` px wide (scaled with the
    frame) going left to right, in the near lane one ``CROSSING_LANES[1]`` px wide going
    right to left and in front, over a fixed background with clutter, every frame captured
    with the clip's own conditions (as ``approach``). A plate under 60 % in the frame or more
    than 40 % behind the near car's body has no box in that frame (``shown_plates``)."""
    image = background(rng, size)
    clutter(image, rng, most=24)
    k = size[0] / WIDE_FRAME[0]
    lanes = []
    for (low, high), rows, ends in zip(
        CROSSING_LANES, ((0.4, 0.55), (0.7, 0.85)), ((0.05, 0.8), (0.8, 0.05)), strict=True
    ):
        spec = layout.random_spec(rng)
        plate = degrade.lighting(layout.render_plate(spec, rng, rng.uniform(0.4, 0.8)), rng)
        car, corners = render.mounted(plate, rng)
        aspect = float(corners[2, 1] - corners[1, 1]) / float(corners[1, 0] - corners[0, 0])
        quad = degrade.random_quad(1.0, aspect, rng) * rng.uniform(low, high) * k
        row = rng.uniform(*rows) * size[1]
        lanes.append((spec, car, corners, quad, row, ends, rng.uniform(0.55, 1.0)))
    condition = int(rng.integers(2**31))
    clip = []
    for t in np.linspace(0.0, 1.0, frames):
        frame = image.copy()
        placed = []
        for spec, car, corners, quad, row, (start, end), grow in lanes:
            where = np.array([(start + (end - start) * t) * size[0], row])
            box, mask = paste_car(frame, car, corners, quad + where, grow)
            placed.append((box, mask, spec))
        boxes, plates = shown_plates(placed, size)
        grey = degrade.capture(frame, size[0], np.random.default_rng(condition)).convert("L")
        clip.append(Scene(np.asarray(grey), boxes, plates))
    return clip


def tile_scene(rng: np.random.Generator) -> Scene:
    """One tile of a tiled detector pass: a square of a pole camera's frame, made with the
    frame's plates (``WIDE_PLATES``) and clutter (at least as dense as ``wide_scene``'s) at its
    own resolution, captured there, then shrunk to the detector's input by a factor drawn from
    ``TILE_FACTORS``. Its plates come out 10-160 px wide and its clutter small: a distant
    car's plate among signs, which the 256 px scenes hold too rarely."""
    factor = rng.uniform(*TILE_FACTORS)
    side = round(SCENE_SIZE * factor)
    image = background(rng, (side, side))
    clutter(image, rng, most=max(6, round(24 * side * side / (WIDE_FRAME[0] * WIDE_FRAME[1]))))
    count = int(rng.choice([0, 1, 2, 3], p=[0.1, 0.5, 0.25, 0.15]))
    kept, plates = place_plates(image, rng, count, widths=WIDE_PLATES)
    grey = degrade.capture(image, side, rng).convert("L")
    shrunk = grey.resize((SCENE_SIZE, SCENE_SIZE), Image.Resampling.BILINEAR)
    return Scene(np.asarray(shrunk), kept * (SCENE_SIZE / side), plates)


def scene_batch(seed: int, count: int, tiles: float = 0.0) -> tuple[np.ndarray, list[np.ndarray]]:
    """``count`` scenes from ``seed``: images (N, S, S) uint8 and per-image boxes.

    A share ``tiles`` of them are ``tile_scene``s; at 0 the scenes are those of earlier
    versions, pixel for pixel.
    """
    rng = np.random.default_rng(seed)
    scenes = [
        tile_scene(rng) if tiles and rng.random() < tiles else scene(rng) for _ in range(count)
    ]
    return np.stack([s.image for s in scenes]), [s.boxes for s in scenes]
