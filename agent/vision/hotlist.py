"""Hotlist: plates to watch for, matched with an edit distance that knows the OCR's confusions.

Substituting a pair the plate OCR is known to confuse (the official typeface's ก/ท hook,
ข/ช, ด/ต, ท/ห and the digits 1/7, 3/8, 5/6, 0/8; notes/plates-ocr.md) costs `CONFUSED_COST`,
and so does a chain of such pairs (ก→ท→ห costs two); any other substitution, insertion or
deletion costs 1, except a doubled consonant that CTC collapsed (กก read as ก), which costs
`DOUBLED_COST`. Stdlib and pydantic only, so the daemon can validate `hotlist_set` without
the vision extra.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from agent.config import describe
from agent.errors import CommandError
from agent.vision.readings import is_consonant

CONFUSED_COST = 0.4
DOUBLED_COST = 0.5
DEFAULT_MAX_DISTANCE = 1.0
# Groups of characters the OCR reads for one another (notes/plates-ocr.md and the typeface).
CONFUSIONS = (
    "กท", "ขช", "ดต", "ทห", "ฎฏ", "ฌณ", "ถภ", "บป", "ผพฟ", "ฆฑ", "17", "38", "56", "08",
)  # fmt: skip
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
_DROPPED = str.maketrans("", "", " \t-\u2010\u2011\u2012\u2013\u2014\u2212.")
_THAI_BLOCK = ("\u0e00", "\u0e7f")
_BANGKOK = "กรุงเทพมหานคร"
_PROVINCE_ALIASES = {"กรุงเทพฯ": _BANGKOK, "กรุงเทพ": _BANGKOK, "กทม": _BANGKOK, "กทม.": _BANGKOK}


def normalise(plate: str) -> str:
    """A plate as the OCR writes it: NFC, no spaces, hyphens or dots, Thai digits as 0-9."""
    return unicodedata.normalize("NFC", plate).translate(_DROPPED).translate(_THAI_DIGITS)


def normalise_province(name: str) -> str:
    """A province name trimmed, NFC, with Bangkok's common short forms expanded."""
    text = unicodedata.normalize("NFC", name).strip()
    return _PROVINCE_ALIASES.get(text, text)


def _is_plate_char(char: str) -> bool:
    return (char.isascii() and char.isdigit()) or is_consonant(char)


def _plate(value: str) -> str:
    text = normalise(value)
    if not text:
        raise ValueError("must contain a registration")
    bad = sorted({c for c in text if not _is_plate_char(c)})
    if bad:
        raise ValueError(f"may hold only Thai consonants and digits, not {''.join(bad)!r}")
    return text


def _province(value: str) -> str:
    text = normalise_province(value)
    low, high = _THAI_BLOCK
    if not text or not all(low <= c <= high for c in text):
        raise ValueError("must be a province name in Thai")
    return text


class Entry(BaseModel):
    """One watched plate: what to look for, why, how urgent, until when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    plate: Annotated[str, Field(min_length=1, max_length=16), AfterValidator(_plate)]
    province: Annotated[str, Field(max_length=64), AfterValidator(_province)] | None = None
    reason: Annotated[str, Field(max_length=256)] | None = None
    label: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    #: As event priorities: 0 is the most urgent.
    priority: Annotated[int, Field(ge=0, le=9, strict=True)] = 1
    expires: AwareDatetime | None = None

    def active(self, now: float) -> bool:
        """Whether the entry still applies at `now` (Unix seconds)."""
        return self.expires is None or self.expires.timestamp() > now


@dataclass(frozen=True)
class Match:
    """The best entry for a reading and how far the reading is from it."""

    entry: Entry
    distance: float
    exact: bool

    def as_dict(self) -> dict[str, Any]:
        """The hit as it appears in a plate event's `data.hotlist`."""
        found = self.entry.model_dump(mode="json", exclude_none=True)
        return {**found, "distance": round(self.distance, 3), "exact": self.exact}


def _closure(groups: Iterable[str], cost: float) -> dict[tuple[str, str], float]:
    """Cheapest substitution cost between characters linked by chains of confusions."""
    costs = {(a, b): cost for g in groups for a, b in itertools.permutations(g, 2)}
    chars = {c for pair in costs for c in pair}
    for via, a, b in itertools.product(sorted(chars), repeat=3):  # Floyd-Warshall
        through = costs.get((a, via), 2.0) + costs.get((via, b), 2.0)
        if a != b and through < costs.get((a, b), 1.0):
            costs[a, b] = through
    return costs


_SUBSTITUTION = _closure(CONFUSIONS, CONFUSED_COST)


def substitution_cost(a: str, b: str) -> float:
    """What reading `a` where `b` is printed costs."""
    return 0.0 if a == b else _SUBSTITUTION.get((a, b), 1.0)


def _indel(text: str, i: int) -> float:
    """Inserting or deleting `text[i]`: cheap when it doubles its left neighbour."""
    return DOUBLED_COST if i > 0 and text[i] == text[i - 1] else 1.0


def distance(a: str, b: str, limit: float = float("inf")) -> float:
    """Weighted edit distance between two normalised plates; > `limit` once it is exceeded."""
    # Symmetric; a metric too, except that the cheap doubled-letter indel depends on its
    # neighbour: d("", "ทห") = 2 > d("", "ทท") + d("ทท", "ทห") = 1.9.
    previous = [0.0]
    for j in range(len(b)):
        previous.append(previous[-1] + _indel(b, j))
    for i, char in enumerate(a):
        current = [previous[0] + _indel(a, i)]
        for j, other in enumerate(b):
            current.append(
                min(
                    previous[j] + substitution_cost(char, other),
                    previous[j + 1] + _indel(a, i),
                    current[j] + _indel(b, j),
                )
            )
        if min(current) > limit:
            return min(current)
        previous = current
    return previous[-1]


class Hotlist:
    """A validated watch list; `match` finds the entry nearest to a reading."""

    def __init__(
        self,
        entries: Sequence[Entry],
        *,
        max_distance: float = DEFAULT_MAX_DISTANCE,
        province_cost: float = 0.5,
    ) -> None:
        if max_distance < 0 or province_cost < 0:
            raise ValueError("max_distance and province_cost must be >= 0")
        self.entries = tuple(entries)
        self.max_distance = max_distance
        self.province_cost = province_cost
        self._by_length: dict[int, list[Entry]] = {}
        for entry in self.entries:
            self._by_length.setdefault(len(entry.plate), []).append(entry)

    @classmethod
    def from_entries(cls, entries: Sequence[Mapping[str, Any]], **options: Any) -> Hotlist:
        """Validate entries (as `hotlist_set` sends them); CommandError names field and value."""
        parsed = []
        for index, raw in enumerate(entries):
            try:
                parsed.append(Entry.model_validate(raw))
            except ValidationError as exc:
                lines = (f"entries.{index}.{line}" for line in describe(exc))
                raise CommandError("; ".join(lines)) from None
        return cls(parsed, **options)

    def match(self, plate: str, province: str | None = None, *, now: float) -> Match | None:
        """The closest active entry within `max_distance` (ties: the most urgent), or None."""
        text = normalise(plate)
        seen = normalise_province(province) if province else None
        best: Match | None = None
        for entry in self._candidates(len(text)):
            if not entry.active(now):
                continue
            found = self._score(entry, text, seen)
            if found is not None and (best is None or _better(found, best)):
                best = found
        return best

    def _candidates(self, length: int) -> Iterable[Entry]:
        # Each insertion or deletion costs at least DOUBLED_COST.
        spread = int(self.max_distance // DOUBLED_COST)
        for size in range(max(0, length - spread), length + spread + 1):
            yield from self._by_length.get(size, ())

    def _score(self, entry: Entry, text: str, province: str | None) -> Match | None:
        clash = entry.province is not None and province is not None and entry.province != province
        extra = self.province_cost if clash else 0.0
        if extra > self.max_distance:
            return None
        apart = distance(text, entry.plate, self.max_distance - extra) + extra
        if apart > self.max_distance:
            return None
        return Match(entry, apart, exact=text == entry.plate and not clash)


def _better(a: Match, b: Match) -> bool:
    return (a.distance, a.entry.priority) < (b.distance, b.entry.priority)
