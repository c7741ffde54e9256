"""What may be printed on a Thai licence plate, for the generator and the trainers.

The format itself (consonants, digits, provinces, the registration pattern)
lives in the runtime's ``agent.vision.plate_text`` so that training and the
agent cannot disagree; this module adds what only training needs.
"""

from __future__ import annotations

from agent.vision.plate_text import (
    BLANK,
    CONSONANTS,
    DIGITS,
    ISSUED_CONSONANTS,
    OCR_CLASSES,
    PROVINCES,
    REGISTRATION_RE,
    is_valid_registration,
)

__all__ = [
    "BLANK",
    "CONSONANTS",
    "DIGITS",
    "ISSUED_CONSONANTS",
    "OCR_CLASSES",
    "PROVINCES",
    "REGISTRATION_RE",
    "decode",
    "encode",
    "is_valid_registration",
    "split_registration",
]


def split_registration(text: str) -> tuple[str, str, str]:
    """Split a registration into (series digit, consonants, number); a truck's is all number."""
    if "-" in text and text.partition("-")[0].isdigit():
        return "", "", text
    series = text[0] if text[:1].isdigit() and not text.isdigit() else ""
    rest = text[len(series) :]
    letters = "".join(c for c in rest if c in CONSONANTS)
    return series, letters, rest[len(letters) :]


def encode(text: str) -> list[int]:
    """CTC label indices (1-based; 0 is the blank) of a registration (hyphens have no class)."""
    return [OCR_CLASSES.index(c) + 1 for c in text if c != "-"]


def decode(indices: list[int]) -> str:
    """Text of CTC label indices (blanks skipped)."""
    return "".join(OCR_CLASSES[i - 1] for i in indices if i != BLANK)
