"""Plate readings and the vote that consolidates one vehicle's readings into one plate.

A registration is voted on part by part (series digit, consonants, number): each part's
length by the readings' summed confidence, then each character among the readings of the
winning length, weighted by its confidence. So `กก1234` read once as `ก1234` (a doubled
consonant collapsed by CTC) loses the consonants' length vote but still votes on the number.
The vote is kept as running sums, so a parked car read for hours holds constant memory.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

Box = tuple[float, float, float, float]
# Same consonants as agent.vision.plate_text (U+0E01-U+0E2E less the vowels ฤ ฦ); kept
# here so this module needs no numpy.
_CONSONANT_RANGE = ("\u0e01", "\u0e2e")
_NOT_CONSONANTS = "ฤฦ"
# Laplacian variance (64x64 grey crop, image.sharpness) at which sharpness scores 0.5.
SHARPNESS_HALF = 100.0
# A plate this many pixels wide or wider is as readable as a crop gets.
USABLE_PLATE_PX = 120.0
PARTS = 3  # series digit, consonants, number


@dataclass(frozen=True)
class Reading:
    """One plate read in one frame: where, what it says, how sure, and how usable the crop is."""

    box: Box
    text: str
    char_confidences: tuple[float, ...]
    province: str | None
    province_confidence: float
    detection_score: float
    sharpness: float
    ts: float

    def __post_init__(self) -> None:
        if len(self.char_confidences) != len(self.text):
            raise ValueError(
                f"char_confidences: {len(self.char_confidences)} values for "
                f"{len(self.text)} characters in {self.text!r}"
            )

    @property
    def quality(self) -> float:
        """How good this reading's crop is (0..1): detection, text, focus, size together."""
        text = sum(self.char_confidences) / len(self.text) if self.text else 0.0
        focus = self.sharpness / (self.sharpness + SHARPNESS_HALF) if self.sharpness > 0 else 0.0
        size = min(1.0, max(0.0, self.box[2] - self.box[0]) / USABLE_PLATE_PX)
        return self.detection_score * text * focus * size


def is_consonant(char: str) -> bool:
    """Whether `char` is a Thai consonant."""
    low, high = _CONSONANT_RANGE
    return low <= char <= high and char not in _NOT_CONSONANTS


def split(text: str) -> tuple[str, str, str]:
    """A registration's parts: series digit (or ""), consonants, and the rest (the number)."""
    series = text[0] if len(text) > 1 and text[0].isdigit() and is_consonant(text[1]) else ""
    rest = text[len(series) :]
    count = 0
    while count < len(rest) and is_consonant(rest[count]):
        count += 1
    return series, rest[:count], rest[count:]


class ReadingVotes:
    """Running, confidence-weighted votes over a track's readings."""

    def __init__(self) -> None:
        self.count = 0
        self._lengths: list[defaultdict[int, float]] = [defaultdict(float) for _ in range(PARTS)]
        self._chars: defaultdict[tuple[int, int, int], defaultdict[str, float]] = defaultdict(
            lambda: defaultdict(float)
        )
        self._voters: defaultdict[tuple[int, int, int], int] = defaultdict(int)
        self._texts: defaultdict[str, int] = defaultdict(int)
        self._provinces: defaultdict[str, float] = defaultdict(float)
        self._province_voters = 0

    def add(self, reading: Reading) -> None:
        """Count one reading's registration and province."""
        self.count += 1
        self._texts[reading.text] += 1
        start = 0
        for part, chars in enumerate(split(reading.text)):
            confs = reading.char_confidences[start : start + len(chars)]
            start += len(chars)
            # An empty part (no series digit) still votes for its length, at full weight.
            self._lengths[part][len(chars)] += sum(confs) / len(confs) if confs else 1.0
            for pos, (char, conf) in enumerate(zip(chars, confs, strict=True)):
                key = (part, len(chars), pos)
                self._chars[key][char] += conf
                self._voters[key] += 1
        if reading.province is not None:
            self._provinces[reading.province] += reading.province_confidence
            self._province_voters += 1

    def consolidated(self) -> tuple[str, tuple[float, ...]]:
        """The registration the votes favour and each character's confidence.

        A character's confidence is the summed confidence of the readings that voted for
        it over the number of readings that voted at its position: 0.9 when all agreed at
        0.9, lower when they disagreed.
        """
        text: list[str] = []
        confs: list[float] = []
        for part in range(PARTS):
            lengths = self._lengths[part]
            if not lengths:
                continue
            length = max(lengths, key=lambda n: (lengths[n], n))
            for pos in range(length):
                key = (part, length, pos)
                scores = self._chars[key]
                char = max(scores, key=lambda c: (scores[c], c))
                text.append(char)
                confs.append(scores[char] / self._voters[key])
        return "".join(text), tuple(confs)

    def province(self) -> tuple[str | None, float]:
        """The province the votes favour and its confidence (None when never read)."""
        if not self._provinces:
            return None, 0.0
        name = max(self._provinces, key=lambda p: (self._provinces[p], p))
        return name, self._provinces[name] / self._province_voters

    def support(self, registration: str) -> int:
        """How many readings said exactly `registration`."""
        return self._texts.get(registration, 0)
