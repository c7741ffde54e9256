"""Decoding the OCR model's CTC output into a valid Thai registration, with confidences."""

from __future__ import annotations

import itertools

import numpy as np

from agent.vision import plate_text as pt

STEPS = 64


def probs_for(frames: list[dict[str, float]]) -> np.ndarray:
    """Per-step probabilities: each frame gives class -> probability; the rest is blank."""
    probs = np.full((STEPS, len(pt.OCR_CLASSES) + 1), 1e-4, np.float32)
    probs[:, pt.BLANK] = 1.0
    for t, frame in enumerate(frames, start=4):
        probs[t, pt.BLANK] = 1 - sum(frame.values())
        for char, p in frame.items():
            probs[t, pt.OCR_CLASSES.index(char) + 1] = p
    return probs / probs.sum(axis=1, keepdims=True)


def spell(text: str, p: float = 0.9) -> list[dict[str, float]]:
    """Two frames per character and a blank between characters."""
    frames: list[dict[str, float]] = []
    for char in text:
        frames += [{char: p}, {char: p}, {}]
    return frames


def test_a_clear_registration_reads_the_same_greedy_and_constrained() -> None:
    probs = probs_for(spell("1กก234"))
    assert pt.greedy(probs).text == "1กก234"
    result = pt.constrained(probs)
    assert result.text == "1กก234" and result.valid
    assert len(result.confidences) == 6
    assert all(0.85 < c <= 1 for c in result.confidences)


def test_constrained_decoding_replaces_a_letter_read_as_a_digit() -> None:
    # Greedy reads "1ก1234" (a series digit then one consonant): never issued.
    frames = [*spell("1ก"), {"1": 0.5, "ข": 0.4}, {}, *spell("234")]
    probs = probs_for(frames)
    assert not pt.greedy(probs).valid
    result = pt.constrained(probs)
    assert result.text == "1กข234"
    assert result.valid
    assert result.confidences[2] < 0.5 < result.confidences[0]


def test_constrained_decoding_never_returns_a_leading_zero_number() -> None:
    probs = probs_for([*spell("กข"), {"0": 0.6, "8": 0.3}, {}, *spell("12")])
    result = pt.constrained(probs)
    assert result.valid
    assert result.text == "กข812"


def test_doubled_consonants_survive_when_a_blank_separates_them() -> None:
    assert pt.constrained(probs_for(spell("กก9"))).text == "กก9"


def test_province_is_the_most_probable_name() -> None:
    probs = np.zeros(len(pt.PROVINCES), np.float32)
    probs[13] = 0.8
    assert pt.province(probs) == ("เชียงใหม่", np.float32(0.8))


def test_a_bus_or_truck_plate_reads_as_two_digits_hyphen_four() -> None:
    probs = probs_for(spell("701234"))
    assert pt.greedy(probs).text == "70-1234"
    result = pt.constrained(probs)
    assert result.text == "70-1234" and result.valid
    assert len(result.confidences) == len(result.text)
    assert pt.normalise(result.text) == "701234" == pt.normalise("70 - 1234")


def test_five_digits_are_forced_into_a_valid_format() -> None:
    # "12345" is no registration; the best valid reading makes one digit a letter.
    probs = probs_for([*spell("1"), {"2": 0.5, "ก": 0.45}, {}, *spell("345")])
    result = pt.constrained(probs)
    assert not pt.greedy(probs).valid
    assert result.valid and "ก" in result.text


def test_the_greedy_shortcut_returns_what_the_full_search_returns() -> None:
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(300):
        text = rng.choice(["1กข234", "กข12", "ฮ9", "70-1234", "กกก1000"])
        frames = spell(pt.normalise(str(text)), p=float(rng.uniform(0.5, 0.95)))
        probs = probs_for(frames) + rng.uniform(0, 0.3, (STEPS, len(pt.OCR_CLASSES) + 1))
        probs = (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)
        fast, full = pt.constrained(probs), pt.viterbi(probs)
        assert fast.valid and full.valid
        if pt.greedy(probs).valid:
            checked += 1
            assert fast.text == full.text
    assert checked > 30


def brute_force(probs: np.ndarray, tokens: list[int]) -> str:
    """The text of the most probable valid path, by trying every path over `tokens`."""
    best, text = -np.inf, ""
    logp = np.log(np.clip(probs, 1e-12, 1))
    for path in itertools.product(tokens, repeat=len(probs)):
        chars = [k for i, k in enumerate(path) if k and (i == 0 or k != path[i - 1])]
        candidate = pt.normalise("".join(pt.OCR_CLASSES[k - 1] for k in chars))
        if len(candidate) == 6 and candidate.isdigit():
            candidate = f"{candidate[:2]}-{candidate[2:]}"
        if not pt.is_valid_registration(candidate):
            continue
        score = sum(logp[t, k] for t, k in enumerate(path))
        if score > best:
            best, text = score, candidate
    return text


def test_the_search_finds_the_best_valid_path_that_trying_every_path_finds() -> None:
    rng = np.random.default_rng(5)
    tokens = [pt.BLANK, *(pt.OCR_CLASSES.index(c) + 1 for c in "10กข")]
    for _ in range(40):
        probs = np.full((6, len(pt.OCR_CLASSES) + 1), 1e-12)
        probs[:, tokens] = rng.dirichlet(np.full(len(tokens), 0.5), size=6)
        probs = (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)
        assert pt.viterbi(probs, floor=0.0).text == brute_force(probs, tokens)
        assert pt.constrained(probs).text == brute_force(probs, tokens)


def _mean(read: pt.PlateText) -> float:
    return sum(read.confidences) / len(read.confidences) if read.confidences else 0.0


def garbage(rng: np.random.Generator) -> np.ndarray:
    """What the OCR gives for a crop of something that is not a plate: weak, scattered peaks."""
    classes = len(pt.OCR_CLASSES) + 1
    probs = rng.dirichlet(np.full(classes, 0.05), size=STEPS) * rng.uniform(0.05, 0.9)
    probs[:, pt.BLANK] += 1 - probs.sum(axis=1)
    return probs.astype(np.float32)


def test_no_read_has_a_mean_confidence_above_the_bound() -> None:
    rng = np.random.default_rng(8)
    for i in range(200):
        if i % 2:
            probs = garbage(rng)
        else:
            text = str(rng.choice(["70-1234", "กข12", "1กข234", "99-9999"]))
            probs = probs_for(spell(pt.normalise(text), p=float(rng.uniform(0.2, 0.95))))
        bound = pt.best_mean_confidence(probs)
        for read in (pt.greedy(probs), pt.viterbi(probs), pt.constrained(probs)):
            assert _mean(read) <= bound + 1e-6, (read, bound)


def test_a_floor_skips_the_search_only_for_reads_the_caller_would_drop() -> None:
    rng = np.random.default_rng(9)
    skipped = kept = 0
    for _ in range(300):
        probs = garbage(rng)
        full, floored = pt.constrained(probs), pt.constrained(probs, floor=0.5)
        assert (_mean(full) >= 0.5) == (_mean(floored) >= 0.5)
        if _mean(full) >= 0.5:
            kept += 1
            assert floored == full
        elif floored != full:
            skipped += 1
            assert not floored.valid and floored == pt.greedy(probs)
    assert skipped > 100 and kept > 5  # both sides of the floor are exercised
    assert pt.constrained(probs, floor=0.0) == pt.constrained(probs)


def read(text: str, *confidences: float) -> pt.PlateText:
    return pt.PlateText(text, confidences, pt.is_valid_registration(text))


def test_the_reads_of_one_plate_agree_by_confidence_weighted_vote() -> None:
    sure, unsure = read("กข12", 0.9, 0.9, 0.9, 0.9), read("กฃ12", 0.5, 0.5, 0.5, 0.5)
    two = read("กข12", 0.6, 0.6, 0.6, 0.6)
    # Two weaker reads agreeing (1.2) outvote a single surer one (0.95), and the most
    # confident read of the winning text is returned, with its own confidences.
    assert pt.agreed([read("กค12", 0.95, 0.95, 0.95, 0.95), two, sure]) == sure
    # A read breaking the format has no vote, however confident.
    assert pt.agreed([read("ก1ข2", 1, 1, 1, 1), two]) == two
    # A tie goes to the earlier read; with no valid read, the first is returned as it is.
    assert pt.agreed([read("กค12", 0.6, 0.6, 0.6, 0.6), two]).text == "กค12"
    broken = [read("ก1ข2", 0.4, 0.4, 0.4, 0.4), read("12", 0.9, 0.9)]
    assert pt.agreed(broken) == broken[0]
    assert unsure.mean_confidence == 0.5 and read("", *()).mean_confidence == 0.0
