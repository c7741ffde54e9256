"""Thai plate text: the registration format, the provinces, and CTC decoding that obeys them.

Pure numpy (no inference runtime): the OCR model's per-step class probabilities
go in, a registration that is a valid Thai format comes out with one
confidence per character.  A registration is an optional series digit (1-9),
one to three consonants (exactly two after a series digit) and a number of one
to four digits without a leading zero; buses and trucks carry two digits, a
hyphen and four digits (``NN-NNNN``), which the OCR reads as six digits (the
hyphen has no class: its place is fixed).  Constraining the decoding to the
format fixed about one real plate in 85 in the first experiment.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: The 44 Thai consonants; ฃ and ฅ are obsolete and never issued.
CONSONANTS = "กขฃคฅฆงจฉชซฌญฎฏฐฑฒณดตถทธนบปผฝพฟภมยรลวศษสหฬอฮ"
ISSUED_CONSONANTS = "".join(c for c in CONSONANTS if c not in "ฃฅ")
DIGITS = "0123456789"
#: The OCR model's classes after the CTC blank (class 0).
OCR_CLASSES = DIGITS + ISSUED_CONSONANTS
BLANK = 0

#: The 77 provinces (Bangkok first, then Thai alphabetical order) and Betong,
#: whose special plates print its name in place of a province: the order of
#: the OCR model's province output.
PROVINCES: tuple[str, ...] = (
    "กรุงเทพมหานคร", "กระบี่", "กาญจนบุรี", "กาฬสินธุ์", "กำแพงเพชร", "ขอนแก่น",
    "จันทบุรี", "ฉะเชิงเทรา", "ชลบุรี", "ชัยนาท", "ชัยภูมิ", "ชุมพร", "เชียงราย",
    "เชียงใหม่", "ตรัง", "ตราด", "ตาก", "นครนายก", "นครปฐม", "นครพนม", "นครราชสีมา",
    "นครศรีธรรมราช", "นครสวรรค์", "นนทบุรี", "นราธิวาส", "น่าน", "บึงกาฬ", "บุรีรัมย์",
    "ปทุมธานี", "ประจวบคีรีขันธ์", "ปราจีนบุรี", "ปัตตานี", "พระนครศรีอยุธยา", "พะเยา",
    "พังงา", "พัทลุง", "พิจิตร", "พิษณุโลก", "เพชรบุรี", "เพชรบูรณ์", "แพร่", "ภูเก็ต",
    "มหาสารคาม", "มุกดาหาร", "แม่ฮ่องสอน", "ยโสธร", "ยะลา", "ร้อยเอ็ด", "ระนอง", "ระยอง",
    "ราชบุรี", "ลพบุรี", "ลำปาง", "ลำพูน", "เลย", "ศรีสะเกษ", "สกลนคร", "สงขลา", "สตูล",
    "สมุทรปราการ", "สมุทรสงคราม", "สมุทรสาคร", "สระแก้ว", "สระบุรี", "สิงห์บุรี", "สุโขทัย",
    "สุพรรณบุรี", "สุราษฎร์ธานี", "สุรินทร์", "หนองคาย", "หนองบัวลำภู", "อ่างทอง",
    "อำนาจเจริญ", "อุดรธานี", "อุตรดิตถ์", "อุทัยธานี", "อุบลราชธานี", "เบตง",
)  # fmt: skip

_C = f"[{ISSUED_CONSONANTS}]"
REGISTRATION_RE = re.compile(
    rf"^(?:(?:[1-9]{_C}{{2}}|{_C}{{1,3}})[1-9][0-9]{{0,3}}|[1-9][0-9]-[0-9]{{4}})$"
)

FloatArray = NDArray[np.float32]
_NEG = -1e9


def is_valid_registration(text: str) -> bool:
    """Whether `text` (no spaces) is a well-formed Thai registration."""
    return REGISTRATION_RE.match(text) is not None


def normalise(text: str) -> str:
    """A registration as compared: no spaces or hyphens (``ก-1234`` is ``ก1234``)."""
    return text.replace(" ", "").replace("-", "")


def _shaped(chars: list[str], confs: list[float]) -> PlateText:
    """Six digits are a bus or truck plate: the hyphen goes back in (confidence 1)."""
    if len(chars) == 6 and all(c in DIGITS for c in chars):
        chars, confs = [*chars[:2], "-", *chars[2:]], [*confs[:2], 1.0, *confs[2:]]
    text = "".join(chars)
    return PlateText(text, tuple(confs), is_valid_registration(text))


@dataclass(frozen=True)
class PlateText:
    """A decoded registration: its characters and one confidence (0..1) per character."""

    text: str
    confidences: tuple[float, ...]
    valid: bool

    @property
    def mean_confidence(self) -> float:
        """The characters' mean confidence (0 for an empty read)."""
        return sum(self.confidences) / len(self.confidences) if self.confidences else 0.0


def agreed(reads: Sequence[PlateText]) -> PlateText:
    """The registration most of `reads` (of one plate) agree on.

    Each valid read votes for its text with its mean confidence; of the reads of the
    winning text, the most confident is returned. A tie goes to the earlier read, and with
    no valid read the first read is returned as it is.
    """
    votes: dict[str, float] = {}
    for read in reads:
        if read.valid:
            votes[read.text] = votes.get(read.text, 0.0) + read.mean_confidence
    if not votes:
        return reads[0]
    text = max(votes, key=votes.__getitem__)
    return max((r for r in reads if r.text == text), key=lambda r: r.mean_confidence)


def _class_mask(chars: str) -> NDArray[np.bool_]:
    mask = np.zeros(len(OCR_CLASSES) + 1, bool)
    for c in chars:
        mask[OCR_CLASSES.index(c) + 1] = True
    return mask


# The format as a DFA over characters: (from state, to state, allowed classes).
# 0 start; 1 series digit; 2-3 its two consonants; 4-6 one to three consonants
# without a series digit; 7-10 the number's first to fourth digit (accepting);
# 1 -> 11-15: the other five digits of a bus or truck plate (15 accepting).
_DIGIT1, _DIGIT, _CONS = (
    _class_mask("123456789"),
    _class_mask(DIGITS),
    _class_mask(ISSUED_CONSONANTS),
)
_EDGES = (
    (0, 1, _DIGIT1), (1, 2, _CONS), (2, 3, _CONS), (0, 4, _CONS), (4, 5, _CONS), (5, 6, _CONS),
    (3, 7, _DIGIT1), (4, 7, _DIGIT1), (5, 7, _DIGIT1), (6, 7, _DIGIT1),
    (7, 8, _DIGIT), (8, 9, _DIGIT), (9, 10, _DIGIT),
    (1, 11, _DIGIT), (11, 12, _DIGIT), (12, 13, _DIGIT), (13, 14, _DIGIT), (14, 15, _DIGIT),
)  # fmt: skip
_STATES, _ACCEPTING = 16, (7, 8, 9, 10, 15)


def greedy(probs: FloatArray) -> PlateText:
    """Best-path decoding without the format: collapse repeats, drop blanks."""
    best = probs.argmax(axis=1)
    chars: list[str] = []
    confs: list[float] = []
    for t, k in enumerate(best):
        if k != BLANK and (t == 0 or k != best[t - 1]):
            chars.append(OCR_CLASSES[k - 1])
            confs.append(float(probs[t, k]))
        elif k != BLANK:
            confs[-1] = max(confs[-1], float(probs[t, k]))
    return _shaped(chars, confs)


def constrained(probs: FloatArray, *, floor: float = 0.0) -> PlateText:
    """The most probable CTC path whose text is a valid registration (Viterbi over the DFA).

    `probs` is (steps, classes) with the blank in class 0.  Each character's
    confidence is its highest probability over the steps that emit it.  The
    best path overall is also the best valid one when its text is valid, so
    the Viterbi runs only for the reads that break the format.

    `floor` is the mean character confidence below which the caller drops a read. When
    no read of `probs` could reach it (`best_mean_confidence`), the search, 10 ms on a
    crop of something that is not a plate, is skipped and the greedy read returned: it
    breaks the format and falls short of the floor, so the caller drops it as it would
    have dropped the valid one.
    """
    best = greedy(probs)
    if best.valid or (floor > 0 and best_mean_confidence(probs) < floor):
        return best
    return viterbi(probs)


def best_mean_confidence(probs: FloatArray) -> float:
    """The highest mean character confidence any read of `probs` can have.

    Every character's confidence is one of its class's probabilities, at most the largest
    non-blank probability M; only the hyphen put back into a bus or truck plate counts 1,
    one character in seven. So no mean exceeds (6 M + 1) / 7.
    """
    most = float(probs[:, 1:].max()) if probs.size else 0.0
    return (6 * most + 1) / 7


def viterbi(probs: FloatArray, *, floor: float = 1e-3) -> PlateText:
    """The most probable valid path, always searched (what `constrained` falls back to).

    Classes whose probability never reaches `floor` at any step are left out of
    the search (a path through one would pay at least log(1e-3) for it); when
    that leaves no valid path, the search runs again over every class.
    """
    probs = _squeeze_blanks(probs)
    seen = probs.max(axis=0) >= floor
    seen[BLANK] = True
    result = _search(probs, np.flatnonzero(seen))
    if result is None:
        result = _search(probs, np.arange(probs.shape[1]))
    assert result is not None  # every class allowed: a valid path always exists
    return result


def _squeeze_blanks(probs: FloatArray, sure: float = 0.999) -> FloatArray:
    """Keep one step of each run of near-certain blanks (the path through them is fixed)."""
    blank = probs[:, BLANK] > sure
    keep = ~(blank & np.concatenate([[False], blank[:-1]]))
    kept: FloatArray = probs[keep]
    return kept


# _ALLOWED[src, dst, class]: the DFA edges as one array, for the vectorised search.
_ALLOWED = np.zeros((_STATES, _STATES, len(OCR_CLASSES) + 1), bool)
for _src, _dst, _mask in _EDGES:
    _ALLOWED[_src, _dst] |= _mask


def _search(probs: FloatArray, classes: NDArray[np.intp]) -> PlateText | None:
    """Viterbi over (DFA state, current token) restricted to `classes` (blank first).

    A token is a class index into `classes`.  Per step a cell either stays (the
    same token again, or a blank after anything in the same state) or emits a
    new character along a DFA edge after a blank or a different character.
    """
    logp = np.log(np.clip(probs[:, classes], 1e-12, 1.0)).astype(np.float64)
    allowed = _ALLOWED[:, :, classes]
    steps, width = logp.shape
    states, tokens = np.arange(_STATES), np.arange(width)
    score = np.where(allowed[0], logp[0][None, :], _NEG)
    score[0, 0] = logp[0, 0]
    back_state = np.zeros((steps, _STATES, width), np.int16)
    back_token = np.zeros((steps, _STATES, width), np.int16)
    stay_state = np.broadcast_to(states[:, None], (_STATES, width))
    stay_token = np.broadcast_to(tokens[None, :], (_STATES, width))
    for t in range(1, steps):
        first = score.argmax(axis=1)
        top = score[states, first]
        rest = score.copy()
        rest[states, first] = _NEG
        second = rest.argmax(axis=1)
        # Entering token c from state s: the best previous token other than c itself.
        other = first[:, None] != tokens[None, :]
        came = np.where(other, first[:, None], second[:, None])
        cand = np.where(other, top[:, None], rest[states, second][:, None])
        via = np.where(allowed, cand[:, None, :], _NEG)
        src = via.argmax(axis=0)
        new = np.take_along_axis(via, src[None], 0)[0]
        take = new > score
        nxt = np.where(take, new, score)
        bs = np.where(take, src, stay_state)
        bt = np.where(take, came[src, tokens[None, :]], stay_token)
        blank = top > score[:, 0]
        nxt[blank, 0] = top[blank]
        bs[blank, 0] = states[blank]
        bt[blank, 0] = first[blank]
        back_state[t], back_token[t] = bs, bt
        # Unreachable cells stay at _NEG exactly, so they never look better than one another.
        score = np.maximum(nxt + logp[t][None, :], _NEG)
    return _backtrack(score, back_state, back_token, probs, classes)


def _backtrack(
    score: NDArray[np.float64],
    back_state: NDArray[np.int16],
    back_token: NDArray[np.int16],
    probs: FloatArray,
    classes: NDArray[np.intp],
) -> PlateText | None:
    """The best accepting cell's path, read back into characters and their confidences."""
    steps = len(back_state)
    final = np.full_like(score, _NEG)
    final[list(_ACCEPTING)] = score[list(_ACCEPTING)]
    if final.max() <= _NEG / 2:
        return None
    state, token = (int(v) for v in np.unravel_index(final.argmax(), final.shape))
    path: list[tuple[int, int]] = []
    for t in range(steps - 1, -1, -1):
        path.append((state, token))
        if t:
            state, token = int(back_state[t, state, token]), int(back_token[t, state, token])
    path.reverse()
    chars: list[str] = []
    confs: list[float] = []
    for t, (s, k) in enumerate(path):
        c = int(classes[k])
        if c == BLANK:
            continue
        if t == 0 or path[t - 1] != (s, k):
            chars.append(OCR_CLASSES[c - 1])
            confs.append(float(probs[t, c]))
        else:
            confs[-1] = max(confs[-1], float(probs[t, c]))
    return _shaped(chars, confs)


def province(probs: FloatArray) -> tuple[str, float]:
    """The most probable province name and its probability."""
    index = int(np.argmax(probs))
    return PROVINCES[index], float(probs[index])


def softmax(logits: FloatArray) -> FloatArray:
    """Row-wise softmax of CTC logits."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    result: FloatArray = (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)
    return result
