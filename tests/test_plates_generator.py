"""The synthetic Thai plate generator produces only valid plates, deterministically."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.plates import alphabet, dataset, degrade, fonts, layout, render, scenes

pytestmark = pytest.mark.skipif(
    not fonts.fonts_available(),
    reason="Thai fonts missing: apt-get install fonts-thai-tlwg fonts-noto-core fonts-dejavu-core",
)


def test_every_generated_registration_matches_the_thai_format() -> None:
    rng = np.random.default_rng(7)
    specs = [layout.random_spec(rng) for _ in range(3000)]
    bad = [s.registration for s in specs if not alphabet.is_valid_registration(s.registration)]
    assert bad == []
    assert all(0 <= s.province < len(alphabet.PROVINCES) for s in specs)


def test_registrations_cover_every_issued_form() -> None:
    rng = np.random.default_rng(8)
    regs = [layout.random_registration(rng) for _ in range(3000)]
    trucks = [r for r in regs if not alphabet.split_registration(r)[1]]
    assert 0.03 < len(trucks) / len(regs) < 0.1
    assert all(len(r) == 7 and r[2] == "-" for r in trucks)
    parts = [alphabet.split_registration(r) for r in regs if r not in trucks]
    assert {len(letters) for _, letters, _ in parts} == {1, 2, 3}
    assert {len(number) for _, _, number in parts} == {1, 2, 3, 4}
    assert any(series for series, _, _ in parts)
    assert any(letters[0] == letters[1] for _, letters, _ in parts if len(letters) == 2)
    assert all(len(letters) == 2 for series, letters, _ in parts if series)
    used = {c for _, letters, _ in parts for c in letters}
    assert used == set(alphabet.ISSUED_CONSONANTS)


def test_format_rejects_what_is_never_issued() -> None:
    never = ("1กข0123", "กข0", "1กขค12", "ฃข12", "กขคง1", "12345", "กข12345", "ก ข12")
    for text in (*never, "101234", "01-1234", "1-1234", "10-123", "ก-12"):
        assert not alphabet.is_valid_registration(text), text
    for text in ("1กก1234", "กข12", "ก9", "ฮฬอ999", "10-0123", "70-1234"):
        assert alphabet.is_valid_registration(text), text


def test_provinces_are_the_77_and_betong() -> None:
    assert len(alphabet.PROVINCES) == 78
    assert len(set(alphabet.PROVINCES)) == 78
    assert alphabet.PROVINCES[0] == "กรุงเทพมหานคร"
    assert "เบตง" in alphabet.PROVINCES
    assert len(alphabet.ISSUED_CONSONANTS) == 42


def test_buses_and_trucks_take_their_own_colours_and_mostly_the_issued_layout() -> None:
    rng = np.random.default_rng(9)
    specs = [layout.random_spec(rng) for _ in range(3000)]
    trucks = [s for s in specs if layout.is_truck(s.registration)]
    assert {s.style for s in trucks} == set(layout.TRUCK_STYLES)
    assert "bus" not in {s.style for s in specs if not layout.is_truck(s.registration)}

    def has_header(spec: layout.PlateSpec, seed: int) -> bool:
        # Above the number's band: a car plate layout leaves it blank, only the Latin
        # "THAILAND" header puts ink there.
        plate = layout.render_plate(spec, np.random.default_rng(seed)).mean(axis=2)
        h, w = plate.shape
        return float(plate[round(0.08 * h) : round(0.13 * h), w // 3 : 2 * w // 3].std()) > 10

    headed = [has_header(spec, seed) for seed, spec in enumerate(trucks[:60])]
    assert 0.5 < sum(headed) / len(headed) < 0.9


@pytest.mark.parametrize("style", sorted(layout.STYLES))
def test_every_style_renders_a_plate_of_the_real_proportions(style: str) -> None:
    rng = np.random.default_rng(1)
    spec = layout.PlateSpec(layout.random_registration(rng, motorcycle=True), 5, style)
    plate = layout.render_plate(spec, rng)
    h, w, channels = plate.shape
    assert channels == 3
    expected = 200 / 142 if style == "motorcycle" else 230 / 101
    assert abs(w / h - expected) < 0.02
    assert plate.std() > 10  # text was drawn


def test_ocr_samples_have_the_model_input_size_and_valid_labels() -> None:
    images, registrations, provinces = render.ocr_batch(seed=3, count=16)
    assert images.shape == (16, *render.OCR_SIZE)
    assert images.dtype == np.uint8
    assert all(alphabet.is_valid_registration(r) for r in registrations)
    labels = render.label_matrix(registrations)
    # A bus or truck plate's hyphen has no class: the labels hold its six digits.
    decoded = [alphabet.decode([int(v) for v in row if v >= 0]) for row in labels]
    assert decoded == [r.replace("-", "") for r in registrations]
    assert ((provinces >= 0) & (provinces < 78)).all()


def test_the_same_seed_gives_the_same_samples() -> None:
    first, regs_a, _ = render.ocr_batch(seed=11, count=4)
    again, regs_b, _ = render.ocr_batch(seed=11, count=4)
    other, regs_c, _ = render.ocr_batch(seed=12, count=4)
    assert regs_a == regs_b and np.array_equal(first, again)
    assert regs_a != regs_c and not np.array_equal(first, other)


def test_scenes_are_square_with_plate_boxes_inside_the_frame() -> None:
    images, boxes = scenes.scene_batch(seed=5, count=6)
    assert images.shape == (6, scenes.SCENE_SIZE, scenes.SCENE_SIZE)
    assert sum(len(b) for b in boxes) > 0
    for b in boxes:
        assert ((b >= 0) & (b <= scenes.SCENE_SIZE)).all()
        assert (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()


def test_pole_camera_frames_hold_plates_of_their_widths_inside_the_frame() -> None:
    rng = np.random.default_rng(3)
    frames = [scenes.wide_scene(rng) for _ in range(4)]
    low, high = scenes.WIDE_PLATES
    for frame in frames:
        assert frame.image.shape == (720, 1280) and frame.image.dtype == np.uint8
        b = frame.boxes
        assert 1 <= len(b) <= 4
        assert (b >= 0).all() and (b[:, [0, 2]] <= 1280).all() and (b[:, [1, 3]] <= 720).all()
        # A tilted plate's box is wider than the plate; one cut by the edge is narrower.
        assert (b[:, 2] - b[:, 0] > 0.6 * low).all() and (b[:, 2] - b[:, 0] < 1.5 * high).all()
        # What each plate says, box by box, for reading them end to end.
        assert len(frame.plates) == len(b)
        assert all(alphabet.is_valid_registration(p.registration) for p in frame.plates)
    half = scenes.wide_scene(np.random.default_rng(3), (640, 360))
    assert (
        half.image.shape == (360, 640) and (half.boxes[:, 2] - half.boxes[:, 0] < 0.75 * high).all()
    )


def test_tiles_hold_a_frames_plates_shrunk_to_the_detector_input() -> None:
    rng = np.random.default_rng(8)
    tiles = [scenes.tile_scene(rng) for _ in range(8)]
    low, high = scenes.WIDE_PLATES
    least, most = scenes.TILE_FACTORS
    widths = np.concatenate([t.boxes[:, 2] - t.boxes[:, 0] for t in tiles])
    assert len(widths) >= 4
    # Plates of the frame's widths, shrunk by 1.5 to 3 (a box cut by the edge is narrower).
    assert (widths > 0.6 * low / most).all() and (widths < 1.5 * high / least).all()
    assert widths.min() < 14  # smaller than any plate of the 256 px scenes
    for tile in tiles:
        assert tile.image.shape == (scenes.SCENE_SIZE,) * 2 and tile.image.dtype == np.uint8
        assert ((tile.boxes >= 0) & (tile.boxes <= scenes.SCENE_SIZE)).all()


def test_a_share_of_tiles_leaves_the_other_scenes_as_they_were() -> None:
    plain, _ = scenes.scene_batch(seed=6, count=8, tiles=0.0)
    rng = np.random.default_rng(6)
    # No draw for the share at 0: held-out sets of earlier versions stay the same.
    assert np.array_equal(plain, np.stack([scenes.scene(rng).image for _ in range(8)]))
    mixed, mixed_boxes = scenes.scene_batch(seed=6, count=8, tiles=0.5)
    assert mixed.shape == plain.shape and len(mixed_boxes) == 8
    assert not np.array_equal(mixed, plain)
    only, only_boxes = scenes.scene_batch(seed=6, count=3, tiles=1.0)
    rng = np.random.default_rng(6)
    for image, boxes in zip(only, only_boxes, strict=True):
        rng.random()  # the draw that chose a tile
        tile = scenes.tile_scene(rng)
        assert np.array_equal(image, tile.image) and np.array_equal(boxes, tile.boxes)


def test_a_plate_hidden_by_a_later_cars_body_is_not_a_plate_to_find() -> None:
    size, widths, hidden = (160, 120), (50.0, 70.0), 0
    for seed in range(12):
        kept, _ = scenes.place_plates(
            Image.new("RGB", size), np.random.default_rng(seed), 4, widths=widths
        )
        # The same draws one plate at a time: each plate's box and its car body's mask.
        rng, scene = np.random.default_rng(seed), Image.new("RGB", size)
        placed = [scenes.place_plate(scene, rng, widths=widths) for _ in range(4)]
        shown = [scenes.visible(box, size) for box, _, _ in placed]
        assert shown[-1] is None or any(np.allclose(shown[-1], k) for k in kept)
        for i, box in enumerate(shown):
            if box is None or any(np.allclose(box, k) for k in kept):
                continue
            hidden += 1
            x0, y0, x1, y1 = box.round().astype(int)
            under = np.logical_or.reduce([mask for _, mask, _ in placed[i + 1 :]])
            assert under[y0:y1, x0:x1].mean() > 0.35  # mostly under a later car
    assert hidden >= 2


def test_the_dataset_command_takes_a_share_of_tiles_for_scenes_only(tmp_path: Path) -> None:
    for kind, share in (("scenes", "1.5"), ("scenes", "-0.1"), ("ocr", "0.3")):
        argv = ["--count", "4", "--seed", "1", "--out", str(tmp_path / "x.npz"), "--tiles", share]
        done = subprocess.run(
            [sys.executable, "-m", "models.plates.dataset", kind, *argv],
            cwd=Path(__file__).resolve().parents[1],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2 and "--tiles must be 0 to 1" in done.stderr
    assert not (tmp_path / "x.npz").exists()


def _render_in_child(root: Path | None) -> subprocess.CompletedProcess[str]:
    """Render a seeded batch in a fresh interpreter, with PLATE_FONT_ROOT set to ``root``."""
    env = {k: v for k, v in os.environ.items() if k != "PLATE_FONT_ROOT"}
    if root is not None:
        env["PLATE_FONT_ROOT"] = str(root)
    code = (
        "import sys, numpy as np\n"
        "from models.plates import render\n"
        "images, regs, _ = render.ocr_batch(11, 4)\n"
        "sys.stdout.write(str(int(images.astype(np.int64).sum())) + ' ' + ' '.join(regs))\n"
    )
    return _python(code, env)


def _python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter from the repository root."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_copy_of_the_font_folders_renders_the_same_pixels(tmp_path: Path) -> None:
    # A GPU trainer without the Debian packages gets the faces as files (models/plates/gpu.sh).
    fonts.copy_faces(tmp_path)
    here, there = _render_in_child(None), _render_in_child(tmp_path)
    assert here.returncode == 0, here.stderr
    assert there.returncode == 0, there.stderr
    assert here.stdout == there.stdout


def test_a_font_root_without_faces_is_an_error_naming_it(tmp_path: Path) -> None:
    failed = _render_in_child(tmp_path)
    assert failed.returncode != 0
    assert f"no Thai faces under {tmp_path}" in failed.stderr
    assert "PLATE_FONT_ROOT" in failed.stderr


def test_province_names_are_never_eroded_at_plate_size() -> None:
    # At plate size a province's strokes are 1-2 px: a 3 px erosion there leaves a tenth
    # of the ink and no reader could tell the province. Bolder names (dilated at the
    # reference size) and bold faces may carry up to about twice the median ink.
    rng = np.random.default_rng(5)
    density = [layout.province_mask(p % 78, 17.0, rng).mean() for p in range(0, 400, 7)]
    median = float(np.median(density))
    assert 0.4 * median < min(density) and max(density) < 2.5 * median


def test_registrations_are_drawn_at_a_real_plates_weight_whatever_the_face() -> None:
    # The faces alone range from hairline (Sawasdee, 0.07 of the digit height) to heavy
    # (Noto Sans Thai Bold, 0.23); a real registration is neither.
    faces = [fonts.weight(f, "digit") for f in fonts.digit_font_files()]
    assert min(faces) < 0.08 and max(faces) > 0.22
    rng = np.random.default_rng(3)
    weights = [
        fonts.stroke_weight(layout.line_mask("1กก 3954", 40.0, rng), 40.0) for _ in range(200)
    ]
    assert min(weights) > 0.09
    assert max(weights) < 0.23


def _ink_difference(face: str, a: str, b: str, height: float = 20.0) -> float:
    """How much two consonants of a face differ at a plate's size: the ink that is not
    shared, over the larger ink, their masks ``height`` px high and aligned at the top left."""
    scale = height / fonts.cap_height(face, "letter")
    masks = []
    for char in (a, b):
        mask = fonts.glyph(face, char).mask
        size = (max(1, round(mask.shape[1] * scale)), max(1, round(mask.shape[0] * scale)))
        small = np.asarray(Image.fromarray(mask).resize(size, Image.BILINEAR), np.float32)
        canvas = np.zeros((40, 40), np.float32)
        canvas[: small.shape[0], : small.shape[1]] = small[:40, :40] / 255
        masks.append(canvas)
    return float(np.abs(masks[0] - masks[1]).sum() / max(m.sum() for m in masks))


def test_registrations_are_drawn_in_faces_whose_consonants_can_be_told_apart() -> None:
    rng = np.random.default_rng(4)
    picks = Counter(fonts.pick_registration_font(rng) for _ in range(2000))
    assert not {Path(f).name for f in picks} & {*fonts.LOOPLESS, *fonts.PLATE_LIKE}
    assert len(picks) == len(fonts.thai_font_files()) - len(fonts.LOOPLESS) - len(fonts.PLATE_LIKE)
    pairs = ("กถ", "กภ", "ฎฏ", "ณฌ")
    for face in picks:
        assert min(_ink_difference(face, *pair) for pair in pairs) > 0.1, face
    sawasdee = next(f for f in fonts.thai_font_files() if Path(f).name == "Sawasdee.ttf")
    assert _ink_difference(sawasdee, "ก", "ถ") < 0.06


def test_half_of_a_registrations_ko_has_the_plate_typefaces_hook() -> None:
    rng = np.random.default_rng(5)
    face = fonts.pick_registration_font(rng)
    hooked = [Path(fonts.registration_face("ก", face, rng)).name for _ in range(2000)]
    assert 0.45 < sum(name in fonts.PLATE_LIKE for name in hooked) / 2000 < 0.55
    assert {fonts.registration_face(c, face, rng) for c in "ขถภฎ" * 50} == {face}


def test_a_share_of_crops_is_cut_at_or_inside_the_plates_edge() -> None:
    # Close-up photos of a plate alone and tight detector boxes leave no margin around it.
    rng = np.random.default_rng(6)
    quad = np.array([[100.0, 50.0], [330.0, 50.0], [330.0, 151.0], [100.0, 151.0]])
    boxes = np.array([render.loose_crop(quad, rng) for _ in range(2000)])
    width = (boxes[:, 2] - boxes[:, 0]) / 230
    # Narrower than the plate by more than 3 %: one in ten (one in a hundred when every
    # crop was loose), and never by more than the 5 % cut from each side.
    assert 0.05 < (width < 0.97).mean() < 0.2
    assert width.min() > 0.9
    assert width.max() < 1.3


def test_batch_variation_inverts_a_share_and_keeps_the_range() -> None:
    rng = np.random.default_rng(0)
    crops = np.zeros((400, 8, 16, 1), np.float32)
    crops[:, 2:6, 4:12] = 0.9  # light ink on a dark ground
    varied = degrade.vary_batch(crops, np.random.default_rng(1), invert=0.3)
    assert varied.shape == crops.shape and varied.dtype == np.float32
    assert varied.min() >= 0.0 and varied.max() <= 1.0
    inverted = varied[:, 0, 0, 0] > varied[:, 3, 8, 0]
    assert 0.22 < inverted.mean() < 0.38
    assert np.array_equal(varied, degrade.vary_batch(crops, np.random.default_rng(1), 0.3))
    assert not (degrade.vary_batch(crops, rng, invert=0.0)[:, 0, 0, 0] > 0.5).any()


def test_samples_name_each_degradation_they_went_through() -> None:
    rng = np.random.default_rng(8)
    samples = [render.ocr_sample(rng) for _ in range(150)]
    named = Counter(e for s in samples for e in s.effects)
    assert set(named) == set(degrade.EFFECTS)
    assert all(len(set(s.effects)) == len(s.effects) for s in samples)
    assert any(not s.effects for s in samples)
    # Naming them draws nothing: asked or not, the same seed degrades the same way.
    plate = layout.render_plate(samples[0].spec, np.random.default_rng(1))
    for seed in range(20):
        lit = degrade.lighting(plate, np.random.default_rng(seed))
        noted: list[str] = []
        assert np.array_equal(lit, degrade.lighting(plate, np.random.default_rng(seed), noted))
        image = Image.fromarray(lit.astype(np.uint8))
        shot = degrade.capture(image, 90, np.random.default_rng(seed))
        again = degrade.capture(image, 90, np.random.default_rng(seed), noted)
        assert np.array_equal(np.asarray(shot), np.asarray(again))


def test_a_dataset_in_parts_holds_the_same_samples_as_one_file(tmp_path: Path) -> None:
    # Chunks of 4 so that 14 samples make four; the command runs in a child process.
    code = (
        "import sys\n"
        "from models.plates import dataset\n"
        "dataset.CHUNK = 4\n"
        "for parts, out in (('1', 'whole.npz'), ('3', 'part.npz')):\n"
        "    sys.argv = ['dataset', 'ocr', '--count', '14', '--seed', '9', '--workers', '2',\n"
        f"                '--parts', parts, '--out', '{tmp_path}/' + out]\n"
        "    dataset.main()\n"
    )
    done = _python(code)
    assert done.returncode == 0, done.stderr
    parts = [np.load(tmp_path / f"part-{i:03d}.npz") for i in range(3)]
    assert [len(p["images"]) for p in parts] == [4, 8, 2]  # chunks of 4, 4, 4, 2
    assert not list(tmp_path.glob("*.partial"))
    whole = np.load(tmp_path / "whole.npz")
    for name in dataset.COLUMNS["ocr"]:
        assert np.array_equal(np.concatenate([p[name] for p in parts]), whole[name])


def test_a_refill_replaces_the_oldest_samples_with_each_new_file(tmp_path: Path) -> None:
    def write(name: str, first: int, count: int) -> Path:
        path = tmp_path / name
        values = np.arange(first, first + count)
        np.savez(path, images=values[:, None].repeat(2, axis=1), labels=values)
        return path

    start = write("d-000.npz", 0, 5)
    images, labels = np.load(start)["images"].copy(), np.load(start)["labels"].copy()
    refill = dataset.Refill(
        (images, labels), ("images", "labels"), str(tmp_path / "d-*.npz"), [start]
    )
    assert refill.refresh() == 0  # the file it started with is not new
    write("d-001.npz", 100, 3)
    (tmp_path / "d-002.npz.partial").write_bytes(b"still being written")
    assert refill.refresh() == 3
    assert labels.tolist() == [100, 101, 102, 3, 4]
    assert (images[:, 0] == labels).all()
    write("d-002.npz", 200, 4)
    assert refill.refresh() == 4 and refill.refresh() == 0
    assert labels.tolist() == [202, 203, 102, 200, 201]  # on from where it stopped, round
    assert refill.fresh == 7
    assert dataset.Refill((images,), ("images",), None).refresh() == 0
