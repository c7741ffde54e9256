"""Camera and weather: geometry and photometric damage applied to rendered plates."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

#: JPEG quality below which `capture` notes the shot as poor (it draws 15-90).
JPEG_POOR = 30
#: The occasional degradations `lighting` and `capture` name when asked.
EFFECTS = ("shadow", "glare", "dirt", "blur", "motion blur", "infrared", "poor jpeg")


def perspective_coeffs(src: np.ndarray, dst: np.ndarray) -> tuple[float, ...]:
    """PIL PERSPECTIVE coefficients that map output points ``dst`` to input points ``src``."""
    rows = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    solution = np.linalg.solve(np.asarray(rows, np.float64), src.reshape(8).astype(np.float64))
    return tuple(float(c) for c in solution)


def random_quad(w: float, h: float, rng: np.random.Generator) -> np.ndarray:
    """Where the corners of a w x h plate land: rotation, yaw/pitch foreshortening, shear."""
    wide = rng.random() < 0.15
    angle = np.deg2rad(rng.normal(0, 8 if wide else 2.5))
    angle = float(np.clip(angle, -np.deg2rad(25), np.deg2rad(25)))
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64) - [w / 2, h / 2]
    corners[:, 0] *= rng.uniform(0.75, 1.0)  # yaw shortens the plate
    corners[:, 1] += corners[:, 0] * rng.normal(0, 0.06)  # shear
    yaw = rng.normal(0, 0.06)
    corners[:, 1] *= 1 + yaw * np.sign(corners[:, 0])  # near side taller
    pitch = rng.normal(0, 0.05)
    corners[:, 0] *= 1 + pitch * np.sign(corners[:, 1])
    c, s = np.cos(angle), np.sin(angle)
    return corners @ np.array([[c, s], [-s, c]]) + rng.normal(0, 0.01 * h, (4, 2))


def warp(
    image: Image.Image, src: np.ndarray, dst: np.ndarray, size: tuple[int, int]
) -> Image.Image:
    """Map the ``src`` quad of ``image`` onto ``dst`` in an output of ``size``."""
    coeffs = perspective_coeffs(src, dst)
    return image.transform(size, Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR)


def lighting(
    plate: np.ndarray, rng: np.random.Generator, effects: list[str] | None = None
) -> np.ndarray:
    """Illumination gradient, cast shadow, glare and dirt on a float RGB plate.

    ``effects``, if given, gets the name of each occasional effect applied.
    """
    noted = effects if effects is not None else []
    h, w, _ = plate.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    gain = 1 + rng.uniform(-0.35, 0.35) * (xx / w - 0.5) + rng.uniform(-0.3, 0.3) * (yy / h - 0.5)
    if rng.random() < 0.25:  # a shadow edge across the plate
        a, b = rng.normal(0, 1, 2)
        edge = a * (xx / w - rng.random()) + b * (yy / h - rng.random()) > 0
        gain = gain * np.where(edge, rng.uniform(0.35, 0.75), 1.0)
        noted.append("shadow")
    out = plate * gain[..., None]
    if rng.random() < 0.2:  # specular glare
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.15, 0.6) * h
        spot = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
        out = out + spot[..., None] * rng.uniform(80, 220)
        noted.append("glare")
    if rng.random() < 0.25:  # dirt: soft dark blotches
        noted.append("dirt")
        for _ in range(rng.integers(3, 15)):
            cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.01, 0.06) * w
            blot = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
            out = out * (1 - rng.uniform(0.2, 0.6) * blot[..., None])
    return out.clip(0, 255)


def motion_blur(image: np.ndarray, length: int, angle: float) -> np.ndarray:
    """Average of ``length`` shifted copies along ``angle`` (radians)."""
    acc = np.zeros_like(image, np.float32)
    for t in np.linspace(-(length - 1) / 2, (length - 1) / 2, length):
        dx, dy = round(t * np.cos(angle)), round(t * np.sin(angle))
        acc += np.roll(image, (dy, dx), axis=(0, 1))
    return acc / length


def capture(
    image: Image.Image, width: int, rng: np.random.Generator, effects: list[str] | None = None
) -> Image.Image:
    """Re-shoot ``image`` at ``width`` px: blur, motion, gamma, noise, IR, JPEG.

    ``effects``, if given, gets the name of each occasional effect applied.
    """
    noted = effects if effects is not None else []
    height = max(8, round(image.height * width / image.width))
    image = image.resize((width, height), Image.Resampling.BILINEAR)
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.3)))
        noted.append("blur")
    arr = np.asarray(image, np.float32)
    if rng.random() < 0.15:
        arr = motion_blur(arr, int(rng.integers(2, 6)), rng.uniform(0, np.pi))
        noted.append("motion blur")
    if rng.random() < 0.12:  # night infrared: grey, retro-reflective plate blooms
        grey = arr @ np.array([0.2, 0.3, 0.5], np.float32)
        arr = np.repeat((grey * rng.uniform(1.0, 1.6))[..., None], 3, axis=2)
        noted.append("infrared")
    arr = 255 * (arr.clip(0, 255) / 255) ** rng.uniform(0.6, 1.6)
    arr = arr * rng.uniform(0.6, 1.2) + rng.uniform(-30, 30)
    arr = arr + rng.normal(0, rng.uniform(0, 10), arr.shape)
    quality = int(rng.integers(15, 91))
    if quality < JPEG_POOR:
        noted.append("poor jpeg")
    return jpeg(Image.fromarray(arr.clip(0, 255).astype(np.uint8)), quality)


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    """Round-trip through JPEG at ``quality``."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert(image.mode)


def vary_batch(x: np.ndarray, rng: np.random.Generator, invert: float) -> np.ndarray:
    """A training batch of crops in 0..1 with contrast and brightness varied, some inverted.

    The renderer draws light text on a dark ground (commercial and blue plates) far less
    often than dark on light, and the OCR reads those plates worst; inverting a share
    ``invert`` of each batch shows it both polarities without rendering more.
    """
    n = len(x)
    per_crop = (n,) + (1,) * (x.ndim - 1)
    mean = x.mean(axis=tuple(range(1, x.ndim)), keepdims=True)
    contrast = rng.uniform(0.6, 1.3, per_crop).astype(np.float32)
    shift = rng.uniform(-0.12, 0.12, per_crop).astype(np.float32)
    out = np.clip((x - mean) * contrast + mean + shift, 0.0, 1.0).astype(np.float32)
    flip = rng.random(n) < invert
    out[flip] = 1.0 - out[flip]
    return out
