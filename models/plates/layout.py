"""Plate layouts and colours: what a clean, frontal Thai plate looks like.

Sizes follow the real plates: cars 34 x 15 cm with the registration over the
province line, motorcycles 17.2 x 12.2 cm in three lines (series digit and
consonants, province, number).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from models.plates import alphabet, fonts

#: style -> (weight, background RGB, text RGB)
STYLES: dict[str, tuple[float, tuple[int, int, int], tuple[int, int, int]]] = {
    "private": (0.40, (238, 238, 232), (20, 20, 20)),
    "pickup": (0.10, (238, 238, 232), (10, 105, 50)),
    "taxi": (0.08, (240, 200, 30), (20, 20, 20)),
    "public": (0.04, (240, 200, 30), (10, 100, 45)),
    "commercial": (0.05, (20, 120, 60), (240, 240, 240)),
    "red": (0.06, (200, 30, 35), (15, 15, 15)),
    "blue": (0.03, (30, 70, 160), (240, 240, 240)),
    "graphic": (0.12, (230, 230, 225), (15, 15, 15)),
    "motorcycle": (0.12, (238, 238, 232), (20, 20, 20)),
    "bus": (0.0, (240, 200, 30), (140, 35, 25)),
}
BANGKOK_SHARE = 0.3
DOUBLED_SHARE = 0.15
#: Buses and trucks: ``NN-NNNN`` (the hyphen is printed, the OCR reads six digits).
TRUCK_SHARE = 0.06
#: Their styles: yellow with dark red text ("bus") or black ("taxi") as issued, some in a
#: car plate's colours.
TRUCK_STYLES = {"bus": 0.55, "taxi": 0.25, "private": 0.1, "pickup": 0.1}
#: The share of them drawn as issued: "THAILAND" and a small class number over a taller,
#: condensed number, the province smaller under it. The rest in a car plate's layout.
TRUCK_HEADER_SHARE = 0.7
#: Older single-consonant car plates print a hyphen before the number (``ก-1234``).
HYPHEN_SHARE = 0.4
#: Stroke width over digit height of a registration (``fonts.weight``), before condensing
#: (0.7-1.05) thins its upright strokes. The cleanest real close-ups, thresholded, measure
#: 0.10-0.17; the faces alone range from 0.07 (Sawasdee) to 0.23 (Noto Sans Thai Bold).
REGISTRATION_WEIGHT = (0.12, 0.19)


@dataclass(frozen=True)
class PlateSpec:
    """What one plate says and how it looks."""

    registration: str
    province: int
    style: str


def random_registration(rng: np.random.Generator, *, motorcycle: bool = False) -> str:
    """A registration drawn as issued, with doubled consonants oversampled."""
    if not motorcycle and rng.random() < TRUCK_SHARE:
        return f"{rng.integers(10, 100)}-{rng.integers(0, 10000):04d}"
    letters = alphabet.ISSUED_CONSONANTS
    series = str(rng.integers(1, 10)) if rng.random() < 0.45 else ""
    count = 2 if series else int(rng.choice([1, 2, 3], p=[0.12, 0.78, 0.10]))
    chosen = [letters[i] for i in rng.integers(0, len(letters), count)]
    if count >= 2 and rng.random() < DOUBLED_SHARE:
        chosen[1] = chosen[0]
    n_digits = int(rng.choice([1, 2, 3, 4], p=[0.1, 0.15, 0.25, 0.5]))
    if motorcycle:
        n_digits = min(n_digits, 3)
    number = str(rng.integers(10 ** (n_digits - 1), 10**n_digits))
    return series + "".join(chosen) + number


def _pick(weights: dict[str, float], rng: np.random.Generator) -> str:
    names = list(weights)
    p = np.array([weights[n] for n in names])
    return names[rng.choice(len(names), p=p / p.sum())]


def is_truck(registration: str) -> bool:
    """Whether ``registration`` is a bus or truck's ``NN-NNNN`` (it has no consonant)."""
    return not alphabet.split_registration(registration)[1]


def random_spec(rng: np.random.Generator) -> PlateSpec:
    """A random plate: style by weight, Bangkok as often as on the road; buses and trucks
    in their own colours (``TRUCK_STYLES``)."""
    style = _pick({name: weight for name, (weight, _, _) in STYLES.items()}, rng)
    n = len(alphabet.PROVINCES)
    province = 0 if rng.random() < BANGKOK_SHARE else int(rng.integers(n))
    registration = random_registration(rng, motorcycle=style == "motorcycle")
    if is_truck(registration):
        style = _pick(TRUCK_STYLES, rng)
    return PlateSpec(registration, province, style)


def _scaled(g: fonts.Glyph, scale: float, condense: float) -> tuple[np.ndarray, float]:
    h, w = g.mask.shape
    size = (max(1, round(w * scale * condense)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(g.mask).resize(size, Image.BILINEAR)), g.top * scale


def line_mask(text: str, height: float, rng: np.random.Generator) -> np.ndarray:
    """Ink of a registration fragment; digits ``height`` px tall, baseline at 1.35 x height.

    Every face is brought to one stroke weight drawn from ``REGISTRATION_WEIGHT``: real
    registrations are never as light as the lightest faces nor as heavy as the heaviest.
    """
    letter_face, digit_face = fonts.pick_registration_font(rng), fonts.pick_digit_font(rng)
    condense = rng.uniform(0.7, 1.05)
    tracking = rng.uniform(0.0, 0.18) * height
    target = rng.uniform(*REGISTRATION_WEIGHT)
    pieces, width = [], 0.0
    for ch in text:
        if ch == " ":
            width += height * rng.uniform(0.25, 0.6)
            continue
        digit = ch.isdigit() or ch == "-"
        if digit:
            face, kind = digit_face, "digit"
        else:
            face, kind = fonts.registration_face(ch, letter_face, rng), "letter"
        cap = fonts.cap_height(face, kind)
        steps = int(np.clip(round((target - fonts.weight(face, kind)) * cap / 2), -1, 2))
        g = fonts.weighted_glyph(face, ch, steps)
        mask, top = _scaled(g, height / (cap + 2 * steps), condense)
        pieces.append((round(width), mask, top))
        width += mask.shape[1] + tracking
    baseline = round(1.35 * height)
    canvas = np.zeros((round(1.8 * height) + 2, round(width) + 2), np.uint8)
    for x, mask, top in pieces:
        y = max(0, baseline + round(top))
        region = canvas[y : y + mask.shape[0], x : x + mask.shape[1]]
        np.maximum(region, mask[: region.shape[0], : region.shape[1]], out=region)
    return canvas


def province_mask(province: int, height: float, rng: np.random.Generator) -> np.ndarray:
    """Ink of a province name whose full height (with marks) is ``height`` px.

    Its strokes are 1-2 px at this size, where a 3 px minimum or maximum filter would leave
    a fifth of the ink or double it. Like the registration's, its weight is changed at the
    reference size instead (``fonts.weighted_glyph``), where the same filter thickens the
    strokes by a third to a half: a quarter are drawn bolder, since real province lines,
    small and blurred, look bolder than the regular faces. Thinning them leaves hairlines.
    """
    name = alphabet.PROVINCES[province]
    g = fonts.weighted_glyph(fonts.pick_letter_font(rng), name, int(rng.random() < 0.25))
    mask, _ = _scaled(g, height / g.mask.shape[0], rng.uniform(0.8, 1.05))
    return mask


def _paste(
    plate: np.ndarray, mask: np.ndarray, centre: tuple[float, float], max_w: float, fg
) -> None:
    """Blend ``fg`` through ``mask`` centred at ``centre``, shrunk to ``max_w`` if wider."""
    cx, cy = centre
    if mask.shape[1] > max_w:
        size = (round(max_w), mask.shape[0])
        mask = np.asarray(Image.fromarray(mask).resize(size, Image.BILINEAR))
    h, w = mask.shape
    y0, x0 = max(0, round(cy - h / 2)), max(0, round(cx - w / 2))
    region = plate[y0 : y0 + h, x0 : x0 + w]
    alpha = mask[: region.shape[0], : region.shape[1], None] / 255.0
    region[:] = region * (1 - alpha) + np.asarray(fg, np.float32) * alpha


def _truck_lines(plate: np.ndarray, spec: PlateSpec, rng: np.random.Generator, fg) -> None:
    """A bus or truck plate's lines as issued: a Latin "THAILAND" header, often with the
    vehicle's two-digit class at its right, a number half the plate high, the province
    under it."""
    h, w, _ = plate.shape
    face = fonts.pick_digit_font(rng)
    head_h, bold = rng.uniform(0.09, 0.13) * h, int(rng.integers(0, 2))
    header = fonts.weighted_glyph(face, "THAILAND", bold)
    mask, _ = _scaled(header, head_h / header.mask.shape[0], rng.uniform(1.0, 1.4))
    _paste(plate, mask, (w / 2, 0.14 * h), 0.5 * w, fg)
    if rng.random() < 0.7:
        code = fonts.weighted_glyph(face, f"{rng.integers(1, 100):02d}", bold)
        mask, _ = _scaled(code, head_h / code.mask.shape[0], 1.0)
        _paste(plate, mask, (rng.uniform(0.84, 0.9) * w, 0.14 * h), 0.12 * w, fg)
    text = spec.registration.replace("-", " - " if rng.random() < 0.3 else "-")
    digit_h = rng.uniform(0.44, 0.52) * h
    _paste(plate, line_mask(text, digit_h, rng), (w / 2, 0.54 * h), 0.9 * w, fg)
    prov_h = rng.uniform(0.12, 0.16) * h
    _paste(plate, province_mask(spec.province, prov_h, rng), (w / 2, 0.87 * h), 0.7 * w, fg)


def _background(style: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    base = np.asarray(STYLES[style][1], np.float32) + rng.normal(0, 8, 3)
    plate = np.broadcast_to(base, (h, w, 3)).copy()
    if style == "graphic":
        t = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
        colours = rng.uniform(80, 255, (2, 3)).astype(np.float32)
        plate = plate * 0.3 + (colours[0] * (1 - t) + colours[1] * t) * 0.7
        plate = np.broadcast_to(plate, (h, w, 3)).copy()
        for _ in range(rng.integers(1, 4)):
            cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.1, 0.5) * h
            yy, xx = np.ogrid[:h, :w]
            blob = ((xx - cx) ** 2 + (yy - cy) ** 2 < r * r)[..., None]
            plate = np.where(blob, plate * 0.6 + rng.uniform(100, 255, 3) * 0.4, plate)
    return plate.astype(np.float32)


def _border(plate: np.ndarray, fg, rng: np.random.Generator) -> np.ndarray:
    h, w, _ = plate.shape
    image = Image.fromarray(plate.clip(0, 255).astype(np.uint8))
    inset, width = rng.uniform(0.02, 0.06) * h, max(1, round(rng.uniform(0.01, 0.03) * h))
    box = (inset, inset, w - 1 - inset, h - 1 - inset)
    ImageDraw.Draw(image).rounded_rectangle(box, radius=h * 0.06, outline=fg, width=width)
    return np.asarray(image, np.float32)


def render_plate(spec: PlateSpec, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """A clean frontal plate as float32 RGB; a car plate is ~230 px wide at scale 1."""
    moto = spec.style == "motorcycle"
    w, h = (
        (round(200 * scale), round(142 * scale))
        if moto
        else (round(230 * scale), round(101 * scale))
    )
    fg = tuple(
        int(c) for c in np.clip(np.asarray(STYLES[spec.style][2]) + rng.normal(0, 10, 3), 0, 255)
    )
    plate = _border(_background(spec.style, w, h, rng), fg, rng)
    if moto:
        series, letters, number = alphabet.split_registration(spec.registration)
        _paste(plate, line_mask(series + letters, 0.24 * h, rng), (w / 2, 0.24 * h), 0.8 * w, fg)
        _paste(plate, province_mask(spec.province, 0.15 * h, rng), (w / 2, 0.48 * h), 0.85 * w, fg)
        _paste(plate, line_mask(number, 0.3 * h, rng), (w / 2, 0.74 * h), 0.85 * w, fg)
    elif is_truck(spec.registration) and rng.random() < TRUCK_HEADER_SHARE:
        _truck_lines(plate, spec, rng, fg)
    else:
        series, letters, number = alphabet.split_registration(spec.registration)
        text = f"{series}{letters} {number}"
        if "-" in spec.registration:
            text = spec.registration.replace("-", " - " if rng.random() < 0.5 else "-")
        elif len(letters) == 1 and not series and rng.random() < HYPHEN_SHARE:
            text = f"{letters}-{number}"
        digit_h = rng.uniform(0.38, 0.46) * h
        _paste(plate, line_mask(text, digit_h, rng), (w / 2, 0.40 * h), 0.9 * w, fg)
        prov_h = rng.uniform(0.17, 0.23) * h
        _paste(plate, province_mask(spec.province, prov_h, rng), (w / 2, 0.80 * h), 0.86 * w, fg)
    return plate
