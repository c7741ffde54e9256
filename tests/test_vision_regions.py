"""Regions: polygons from config decide which detections count, at any frame size."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.errors import ConfigError
from agent.vision.regions import Regions

HD = (1280, 720)
LORES = (320, 180)
# The lower half of the frame (the road), less a driveway in its bottom-left corner.
ROAD = [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]
DRIVEWAY = [[0, 0.75], [0.25, 0.75], [0.25, 1], [0, 1]]


def test_a_box_outside_the_polygon_is_excluded_and_one_inside_is_not():
    regions = Regions.from_config(include=[ROAD])
    assert not regions.contains((600, 100, 700, 150), HD)  # in the sky
    assert regions.contains((600, 500, 700, 550), HD)


def test_an_exclusion_wins_over_an_inclusion():
    regions = Regions.from_config(include=[ROAD], exclude=[DRIVEWAY])
    assert not regions.contains((50, 600, 150, 650), HD)
    assert regions.contains((500, 600, 600, 650), HD)


def test_without_inclusions_the_whole_frame_counts_except_exclusions():
    regions = Regions.from_config(exclude=[DRIVEWAY])
    assert regions.contains((600, 100, 700, 150), HD)
    assert not regions.contains((50, 600, 150, 650), HD)
    assert regions.mask(HD).mean() == pytest.approx(1 - 0.25 * 0.25, abs=0.01)


def test_a_box_straddling_the_edge_counts_by_centre_or_by_overlap():
    regions = Regions.from_config(include=[ROAD])
    straddling = (600, 280, 700, 400)  # a third of it below the half-way line
    assert not regions.contains(straddling, HD)
    assert regions.contains(straddling, HD, min_overlap=0.2)
    assert not regions.contains(straddling, HD, min_overlap=0.5)


def test_a_box_off_the_frame_is_not_contained():
    regions = Regions()
    assert not regions.contains((1300, 100, 1400, 200), HD)
    assert not regions.contains((1300, 100, 1400, 200), HD, min_overlap=0.1)


def test_normalised_polygons_cover_the_same_part_of_any_frame_size():
    regions = Regions.from_config(include=[ROAD], exclude=[DRIVEWAY])
    full, small = regions.mask(HD), regions.mask(LORES)
    assert full.shape == (720, 1280) and small.shape == (180, 320)
    assert full.mean() == pytest.approx(small.mean(), abs=0.01)
    assert full.mean() == pytest.approx(0.5 - 0.0625, abs=0.01)


def test_masks_are_cached_per_size_and_read_only():
    regions = Regions.from_config(include=[ROAD])
    first = regions.mask(HD)
    assert regions.mask(HD) is first
    assert regions.mask(LORES) is not first
    with pytest.raises(ValueError, match="read-only"):
        first[0, 0] = True


@pytest.mark.parametrize(
    ("include", "message"),
    [
        ([[[0, 0], [1, 1]]], r"regions\.include\.0: a polygon needs at least 3"),
        ([[[0, 0], [1.2, 0], [1, 1]]], r"regions\.include\.0\.1: coordinates .* 0\.\.1"),
        ([[[0, 0], [1, 0], [-0.1, 1]]], r"regions\.include\.0\.2: coordinates"),
        ([[[0, 0], [1, 0], ["a", 1]]], r"regions\.include\.0\.2: a point is \[x, y\]"),
        ([[[0, 0], [1, 0], [True, 1]]], r"regions\.include\.0\.2: a point"),
        ([[[0, 0], [1, 0], [1, 1, 1]]], r"regions\.include\.0\.2: a point"),
        ([[[0, 0], [0.5, 0.5], [1, 1]]], r"regions\.include\.0: the points enclose no area"),
        ([[[0, 0], [1, 1], [1, 0], [0, 1]]], r"regions\.include\.0: edges 0 and 2 cross"),
        ([[[0, 0], [0.5, 0], [0.5, 1], [0.2, 1], [0.9, 0.4]]], r"include\.0: edges 1 and 3 cross"),
        ("road", r"regions\.include\.0: a polygon needs"),
    ],
)
def test_bad_polygons_are_rejected_naming_the_key_and_value(include: object, message: str):
    with pytest.raises(ConfigError, match=message):
        Regions.from_config(include=include)  # type: ignore[arg-type]


def test_the_key_prefix_names_the_camera():
    with pytest.raises(ConfigError, match=r"cameras\.1\.regions\.exclude\.0"):
        Regions.from_config(exclude=[[[0, 0]]], key="cameras.1.regions")


coordinate = st.floats(0.0, 1.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(coordinate, coordinate, coordinate, coordinate)
def test_a_rectangle_masks_exactly_its_pixels_with_one_at_the_last_pixel(
    x0: float, y0: float, x1: float, y1: float
):
    left, right, top, bottom = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
    rectangle = [[left, top], [right, top], [right, bottom], [left, bottom]]
    try:
        regions = Regions.from_config(include=[rectangle])
    except ConfigError:
        assert (right - left) * (bottom - top) == 0.0
        return
    width, height = LORES[0] - 1, LORES[1] - 1
    columns = round(right * width) - round(left * width) + 1
    rows = round(bottom * height) - round(top * height) + 1
    assert int(regions.mask(LORES).sum()) == columns * rows
