"""Hotlist: near-misses the OCR is known to make still match; different plates do not."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.errors import CommandError
from agent.vision.hotlist import Hotlist, distance, normalise
from agent.vision.plate_text import PROVINCES

BANGKOK = "กรุงเทพมหานคร"
NOW = 1_800_000_000.0  # 2027-01-15
ROOT = Path(__file__).resolve().parents[1]


def hotlist(*entries: dict[str, object], **options: float) -> Hotlist:
    return Hotlist.from_entries(list(entries), **options)


def test_a_near_miss_reading_k_as_th_matches_but_not_exactly():
    watched = hotlist({"plate": "1กข1234", "reason": "stolen"})
    found = watched.match("1ทข1234", now=NOW)
    assert found is not None
    assert found.entry.plate == "1กข1234"
    assert found.exact is False
    assert found.distance == pytest.approx(0.4)


def test_a_different_plate_does_not_match():
    watched = hotlist({"plate": "1กข1234"})
    assert watched.match("1กข5678", now=NOW) is None
    assert watched.match("2มน1234", now=NOW) is None


def test_a_confusable_substitution_costs_less_than_another():
    assert distance("กข12", "ทข12") < distance("กข12", "มข12") == 1.0
    assert distance("1234", "7234") < distance("1234", "9234")


def test_two_known_confusions_still_match_but_three_do_not():
    watched = hotlist({"plate": "1กด1235"})
    assert watched.match("1ทต1235", now=NOW) is not None  # 0.8
    assert watched.match("1ทต1236", now=NOW) is None  # 1.2


def test_the_exact_plate_matches_exactly_however_it_was_written():
    watched = hotlist({"plate": "1กข-๑๒๓๔", "province": "กรุงเทพฯ"})
    found = watched.match("1กข 1234", BANGKOK, now=NOW)
    assert found is not None
    assert (found.exact, found.distance) == (True, 0.0)
    assert watched.entries[0].plate == "1กข1234"
    assert normalise(" 1 กข-๑๒๓๔ ") == "1กข1234"


def test_a_doubled_consonant_collapsed_by_the_ocr_still_matches():
    watched = hotlist({"plate": "กก1234"})
    found = watched.match("ก1234", now=NOW)
    assert found is not None and found.distance == pytest.approx(0.5)


def test_a_province_that_disagrees_costs_but_an_unread_one_does_not():
    watched = hotlist({"plate": "1กข1234", "province": BANGKOK})
    unread = watched.match("1กข1234", None, now=NOW)
    other = watched.match("1กข1234", "นนทบุรี", now=NOW)
    assert unread is not None and unread.exact
    assert other is not None and not other.exact and other.distance == pytest.approx(0.5)
    assert watched.match("1ทข1235", "นนทบุรี", now=NOW) is None  # 0.4 + 0.4 + 0.5


def test_an_expired_entry_no_longer_matches():
    watched = hotlist({"plate": "กข12", "expires": "2027-01-01T00:00:00+07:00"})
    assert watched.match("กข12", now=NOW - 30 * 86400) is not None
    assert watched.match("กข12", now=NOW) is None


def test_the_closest_entry_wins_and_urgency_breaks_ties():
    watched = hotlist(
        {"plate": "กข12", "label": "unpaid fines", "priority": 3},
        {"plate": "ทข12", "label": "stolen", "priority": 1},
        {"plate": "หข12", "label": "wanted", "priority": 0},
    )
    assert watched.match("ทข12", now=NOW).entry.label == "stolen"  # type: ignore[union-attr]
    # ทข12 is 0.4 from both กข12 and หข12: the more urgent entry is reported.
    tied = hotlist({"plate": "กข12", "priority": 3}, {"plate": "หข12", "priority": 0})
    assert tied.match("ทข12", now=NOW).entry.plate == "หข12"  # type: ignore[union-attr]


def test_a_stricter_max_distance_rejects_near_misses():
    watched = hotlist({"plate": "1กข1234"}, max_distance=0.0)
    assert watched.match("1ทข1234", now=NOW) is None
    assert watched.match("1กข1234", now=NOW) is not None


def test_the_hit_is_json_ready_for_the_plate_event():
    watched = hotlist({"plate": "กข12", "label": "stolen", "expires": "2030-01-01T00:00:00Z"})
    hit = watched.match("ทข12", now=NOW)
    assert hit is not None
    data = json.loads(json.dumps(hit.as_dict()))
    assert data == {
        "plate": "กข12",
        "label": "stolen",
        "priority": 1,
        "expires": "2030-01-01T00:00:00Z",
        "distance": 0.4,
        "exact": False,
    }


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"plate": "AB1234"}, "entries.1.plate: .*'AB'.*got 'AB1234'"),
        ({"plate": " - "}, "entries.1.plate: must contain a registration"),
        ({"plate": "กข12", "province": "Bangkok"}, "entries.1.province: .*got 'Bangkok'"),
        ({"plate": "กข12", "priority": "1"}, "entries.1.priority"),
        ({"plate": "กข12", "expires": "2027-01-01T00:00:00"}, "entries.1.expires: .*timezone"),
        ({"plate": "กข12", "colour": "red"}, "entries.1.colour: Extra inputs"),
        ({"province": BANGKOK}, "entries.1.plate: Field required"),
    ],
)
def test_bad_entries_are_rejected_naming_the_field_and_value(
    entry: dict[str, object], message: str
):
    with pytest.raises(CommandError, match=message):
        hotlist({"plate": "กข12"}, entry)  # the error names the entry's index


def test_every_province_and_hotlist_set_entry_shape_is_accepted():
    entries = [{"plate": "1กข1234", "province": name, "reason": "test"} for name in PROVINCES]
    assert len(Hotlist.from_entries(entries).entries) == len(PROVINCES)


PLATE_CHARS = "กขคทหดตบปผพฟม0123456789"
plates = st.text(alphabet=PLATE_CHARS, min_size=0, max_size=8)


@settings(max_examples=300, deadline=None)
@given(plates, plates)
def test_distance_is_symmetric_and_zero_only_for_equal_plates(a: str, b: str):
    assert distance(a, b) == pytest.approx(distance(b, a))
    assert (distance(a, b) == 0.0) == (a == b)


def _undoubled(text: str) -> bool:
    return all(x != y for x, y in itertools.pairwise(text))


# The cheap doubled-letter deletion depends on its neighbour, so it is not a metric:
# d("", "ทห") = 2 > d("", "ทท") + d("ทท", "ทห") = 1.5 + 0.4. Without doubles it is one.
undoubled = st.text(alphabet="กขทห0138", max_size=6).filter(_undoubled)


@settings(max_examples=1000, deadline=None)
@given(undoubled, undoubled, undoubled)
def test_distance_obeys_the_triangle_inequality_between_plates_without_doubled_letters(
    a: str, b: str, c: str
):
    assert distance(a, c) <= distance(a, b) + distance(b, c) + 1e-9


@settings(max_examples=300, deadline=None)
@given(plates, plates, st.sampled_from([0.0, 0.4, 1.0, 1.5]))
def test_a_distance_cut_short_is_only_cut_short_beyond_its_limit(a: str, b: str, limit: float):
    full, cut = distance(a, b), distance(a, b, limit)
    assert (full <= limit) == (cut <= limit)
    if full <= limit:
        assert cut == pytest.approx(full)


@settings(max_examples=200, deadline=None)
@given(plates.filter(bool), st.integers(0, 20))
def test_the_length_prefilter_never_hides_a_match(plate: str, seed: int):
    other = (plate + PLATE_CHARS[seed % len(PLATE_CHARS)]) if seed % 2 else plate[:-1]
    if not other:
        return
    watched = Hotlist.from_entries([{"plate": plate}], max_distance=1.5)
    found = watched.match(other, now=NOW)
    assert (found is not None) == (distance(other, plate) <= 1.5)


def test_the_hotlist_needs_neither_numpy_nor_opencv():
    # The daemon validates `hotlist_set` without the vision extra installed.
    code = (
        "import sys; sys.modules['numpy'] = None; sys.modules['cv2'] = None\n"
        "from agent.vision.hotlist import Hotlist\n"
        "print(Hotlist.from_entries([{'plate': '1กข1234'}]).match('1ทข1234', now=0).distance)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert (done.returncode, done.stdout.strip()) == (0, "0.4"), done.stderr
