"""OCR training samples: a plate on a car, seen at an angle, cut out as a detector would."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from models.plates import alphabet, degrade, layout

#: Model input of the OCR network: grey, height x width.
OCR_SIZE = (64, 128)
#: The share of crops cut tight to the plate (``loose_crop``).
TIGHT_SHARE = 0.25


@dataclass(frozen=True)
class Sample:
    """One OCR sample: a grey crop, what the plate says, how wide it was captured (px) and
    the occasional degradations it went through (names from ``degrade.EFFECTS``)."""

    image: np.ndarray
    spec: layout.PlateSpec
    width: int = 0
    effects: tuple[str, ...] = ()


def mounted(plate: np.ndarray, rng: np.random.Generator) -> tuple[Image.Image, np.ndarray]:
    """The plate in a frame on a car body; returns the image and the plate corners in it."""
    h, w, _ = plate.shape
    mx, my = round(w * rng.uniform(0.25, 0.6)), round(h * rng.uniform(0.35, 0.8))
    body = tuple(int(c) for c in rng.uniform(0, 255, 3))
    canvas = Image.new("RGB", (w + 2 * mx, h + 2 * my), body)
    draw = ImageDraw.Draw(canvas)
    if rng.random() < 0.6:  # a plate frame, often dark or chrome
        pad = round(h * rng.uniform(0.03, 0.15))
        frame = tuple(int(c) for c in rng.choice([rng.uniform(0, 60, 3), rng.uniform(150, 230, 3)]))
        draw.rounded_rectangle((mx - pad, my - pad, mx + w + pad, my + h + pad), h * 0.1, frame)
    for _ in range(rng.integers(0, 3)):  # body lines: bumper, grille bars
        y = rng.uniform(0, canvas.height)
        shade = tuple(int(c) for c in rng.uniform(0, 255, 3))
        draw.line((0, y, canvas.width, y + rng.normal(0, 5)), shade, int(rng.integers(1, 8)))
    canvas.paste(Image.fromarray(plate.astype(np.uint8)), (mx, my))
    corners = np.array([[mx, my], [mx + w, my], [mx + w, my + h], [mx, my + h]], np.float64)
    return canvas, corners


def loose_crop(quad: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float, float]:
    """A detector-like box around a plate quad: loose by 0-15 %, off-centre by a few %.

    A quarter are tight instead, cut at the plate's edge or up to 5 % inside it, where the
    registration fills the crop from side to side: a tight detector box, or a close-up
    photo of the plate alone, which leaves no margin to add.
    """
    x0, y0 = quad.min(axis=0)
    x1, y1 = quad.max(axis=0)
    w, h = x1 - x0, y1 - y0
    tight = rng.random() < TIGHT_SHARE
    pad = rng.uniform(-0.05, 0.03, 4) if tight else rng.uniform(-0.03, 0.15, 4)
    pad *= [w, h, w, h]
    shift = rng.normal(0, 0.03, 2) * [w, h]
    return (
        x0 - pad[0] + shift[0],
        y0 - pad[1] + shift[1],
        x1 + pad[2] + shift[0],
        y1 + pad[3] + shift[1],
    )


def ocr_sample(rng: np.random.Generator, spec: layout.PlateSpec | None = None) -> Sample:
    """A random plate rendered, mounted, warped, cropped, degraded and resized to OCR_SIZE."""
    spec = spec or layout.random_spec(rng)
    effects: list[str] = []
    plate = degrade.lighting(layout.render_plate(spec, rng, rng.uniform(0.8, 1.2)), rng, effects)
    car, corners = mounted(plate, rng)
    quad = degrade.random_quad(*(corners[2] - corners[0]), rng)
    quad += np.array(car.size) / 2 - quad.mean(axis=0) + rng.normal(0, 2, 2)
    frontal = rng.random() < 0.05
    x0, y0, x1, y1 = (round(v) for v in loose_crop(corners if frontal else quad, rng))
    if frontal:
        crop = car.crop((x0, y0, x1, y1))
    else:  # warp straight into the crop: a fraction of the whole car's pixels
        crop = degrade.warp(car, corners, quad - (x0, y0), (x1 - x0, y1 - y0))
    width = int(np.clip(rng.lognormal(np.log(100), 0.45), 44, 200))
    shot = degrade.capture(crop, width, rng, effects).convert("L")
    image = np.asarray(shot.resize(OCR_SIZE[::-1], Image.Resampling.BILINEAR))
    return Sample(image, spec, width, tuple(effects))


def ocr_batch(seed: int, count: int) -> tuple[np.ndarray, list[str], np.ndarray]:
    """``count`` samples from ``seed``: images (N, H, W) uint8, registrations, province ids."""
    rng = np.random.default_rng(seed)
    samples = [ocr_sample(rng) for _ in range(count)]
    images = np.stack([s.image for s in samples])
    provinces = np.array([s.spec.province for s in samples], np.int32)
    return images, [s.spec.registration for s in samples], provinces


def label_matrix(registrations: list[str], length: int = 8) -> np.ndarray:
    """Registrations as CTC label indices padded with -1 to ``length``."""
    out = np.full((len(registrations), length), -1, np.int32)
    for i, text in enumerate(registrations):
        codes = alphabet.encode(text)
        out[i, : len(codes)] = codes
    return out
