"""Thai and Latin faces from Debian packages, and cached glyph masks.

Glyphs are rasterised once per process at a reference size and then scaled,
which is several times faster than asking FreeType for every sample.  Thai
consonants are scaled so that a base consonant (ก) is as tall as the digits
and shares their baseline, as on a real plate (naive rendering puts them at
x-height, which the first experiment found to be the main gap to real crops).
"""

from __future__ import annotations

import functools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

#: Where the Debian packages put their faces; ``PLATE_FONT_ROOT`` names a copy of the same
#: layout (tlwg/, noto/, dejavu/) on a machine without them, such as a GPU trainer.
FONT_ROOT = Path(os.environ.get("PLATE_FONT_ROOT", "/usr/share/fonts/truetype"))
FONT_DIRS = (FONT_ROOT / "tlwg", FONT_ROOT / "noto")
DIGIT_FONT_FILES = tuple(
    str(FONT_ROOT / name)
    for name in (
        "dejavu/DejaVuSans.ttf",
        "dejavu/DejaVuSans-Bold.ttf",
        "dejavu/DejaVuSansCondensed.ttf",
        "dejavu/DejaVuSansCondensed-Bold.ttf",
        "noto/NotoSans-Regular.ttf",
        "noto/NotoSans-Bold.ttf",
    )
)
#: Loopless faces: a third of province names.
LOOPLESS = ("NotoSansThai-Regular.ttf", "NotoSansThai-Bold.ttf")
#: Loopless faces whose ก has the small inward hook at its head that the plate typeface's
#: ก has (Noto Sans Thai's has none; its ท has one). Only their ก is drawn on registrations:
#: at a plate's size their ถ and ภ are the same shape as ก (``registration_face``).
PLATE_LIKE = ("Sawasdee.ttf", "Sawasdee-Bold.ttf")
#: Share of a registration's ก drawn hooked, from a ``PLATE_LIKE`` face.
HOOKED_KO = 0.5
REF_SIZE = 64
_SKIP = ("Oblique", "Italic", "Light", "Mono")


class FontsMissingError(RuntimeError):
    """The Debian Thai font packages are not installed."""


@dataclass(frozen=True)
class Glyph:
    """An ink mask at the reference size and its top offset from the baseline."""

    mask: np.ndarray
    top: int


@functools.cache
def thai_font_files() -> tuple[str, ...]:
    """Upright Thai faces from fonts-thai-tlwg and fonts-noto-core, sorted."""
    files = [
        str(p)
        for d in FONT_DIRS
        if d.is_dir()
        for p in sorted(d.glob("*.ttf"))
        if ("Thai" in p.name or d.name == "tlwg") and not any(s in p.name for s in _SKIP)
    ]
    if len(files) < 4:
        raise FontsMissingError(
            f"no Thai faces under {FONT_ROOT}: install fonts-thai-tlwg fonts-noto-core "
            "fonts-dejavu-core, or point PLATE_FONT_ROOT at a copy of their folders"
        )
    return tuple(files)


@functools.cache
def digit_font_files() -> tuple[str, ...]:
    """Faces for digits: DejaVu and Noto Sans plus the Thai faces' own digits."""
    own = _sans_digit_files()
    # Noto's Thai faces carry no Latin digits (they would render as tofu).
    return own + tuple(f for f in thai_font_files() if "Noto" not in f)


def fonts_available() -> bool:
    """Whether enough Thai faces are installed to render plates."""
    try:
        thai_font_files()
    except FontsMissingError:
        return False
    return True


@functools.cache
def font(path: str, size: int = REF_SIZE) -> ImageFont.FreeTypeFont:
    """A loaded FreeType face (cached: loading costs ~1 ms)."""
    return ImageFont.truetype(path, size)


@functools.cache
def glyph(path: str, char: str) -> Glyph:
    """The ink of ``char`` in face ``path`` at the reference size."""
    face = font(path)
    x0, y0, x1, y1 = face.getbbox(char, anchor="ls")
    image = Image.new("L", (max(1, x1 - x0), max(1, y1 - y0)))
    ImageDraw.Draw(image).text((-x0, -y0), char, font=face, fill=255, anchor="ls")
    return Glyph(np.asarray(image), int(y0))


@functools.cache
def cap_height(path: str, kind: str) -> float:
    """Ink height above the baseline of a digit ("0") or base consonant ("ก")."""
    return float(-glyph(path, "0" if kind == "digit" else "ก").top)


def stroke_weight(mask: np.ndarray, height: float) -> float:
    """Stroke width over ``height`` of the ink in ``mask``.

    The width is estimated as twice the ink's area over its outline's length, which is
    exact for a long stroke of even width.
    """
    ink = mask > 127
    padded = np.pad(ink, 1)
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return 2 * float(ink.sum()) / max(1, int((ink & ~inner).sum())) / height


@functools.cache
def weight(path: str, kind: str) -> float:
    """``stroke_weight`` of a digit ("0") or base consonant ("ก") in this face."""
    return stroke_weight(glyph(path, "0" if kind == "digit" else "ก").mask, cap_height(path, kind))


@functools.cache
def weighted_glyph(path: str, char: str, steps: int) -> Glyph:
    """``glyph`` (a character, or a shaped string such as a province name) with its strokes
    made ``2 * steps`` px heavier (lighter when negative).

    A 3 px maximum or minimum filter per step, at the reference size, where a digit or base
    consonant is 39-48 px tall and its strokes 3-11 px wide.
    """
    g = glyph(path, char)
    if steps == 0:
        return g
    size = 2 * abs(steps) + 1
    shaped = ImageFilter.MaxFilter(size) if steps > 0 else ImageFilter.MinFilter(size)
    pad = abs(steps)
    image = Image.fromarray(np.pad(g.mask, pad)).filter(shaped)
    return Glyph(np.asarray(image), g.top - pad)


def copy_faces(root: Path) -> None:
    """Copy every face the generator uses under ``root``, in the layout PLATE_FONT_ROOT reads."""
    for face in {*thai_font_files(), *digit_font_files()}:
        copy = root / Path(face).relative_to(FONT_ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(face, copy)


@functools.cache
def _loopless_files() -> tuple[str, ...]:
    return tuple(f for f in thai_font_files() if Path(f).name in LOOPLESS)


@functools.cache
def _plate_like_files() -> tuple[str, ...]:
    return tuple(f for f in thai_font_files() if Path(f).name in PLATE_LIKE)


@functools.cache
def _sans_digit_files() -> tuple[str, ...]:
    return tuple(f for f in DIGIT_FONT_FILES if Path(f).exists())


def pick_letter_font(rng: np.random.Generator) -> str:
    """A face for Thai letters: loopless a third of the time, any face otherwise."""
    files = thai_font_files()
    loopless = _loopless_files()
    if loopless and rng.random() < 1 / 3:
        return loopless[rng.integers(len(loopless))]
    return files[rng.integers(len(files))]


@functools.cache
def _looped_files() -> tuple[str, ...]:
    loopless = {*LOOPLESS, *PLATE_LIKE}
    return tuple(f for f in thai_font_files() if Path(f).name not in loopless)


def pick_registration_font(rng: np.random.Generator) -> str:
    """A face for a registration's consonants: any face with loops.

    The plate typeface draws its consonants' loops. The loopless faces do not, and at a
    plate's size some of their consonants are one shape: Sawasdee's ก, ถ and ภ, Noto Sans
    Thai's ฎ and ฏ (their masks 20 px high differ by 3-9 % of the ink, against 13 % or more
    in every looped face). Labels on shapes that cannot be told apart teach a reader to guess.
    """
    files = _looped_files() or thai_font_files()
    return files[rng.integers(len(files))]


def registration_face(char: str, face: str, rng: np.random.Generator) -> str:
    """The face to draw consonant ``char`` of a registration in, ``face`` being the plate's:
    a ``PLATE_LIKE`` face for ก ``HOOKED_KO`` of the time (the plate typeface's hook)."""
    plate_like = _plate_like_files()
    if char == "ก" and plate_like and rng.random() < HOOKED_KO:
        return plate_like[rng.integers(len(plate_like))]
    return face


def pick_digit_font(rng: np.random.Generator) -> str:
    """A face for digits, mostly the plain sans faces."""
    own = _sans_digit_files()
    if own and rng.random() < 0.6:
        return own[rng.integers(len(own))]
    files = digit_font_files()
    return files[rng.integers(len(files))]
