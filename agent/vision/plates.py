"""Plates: the project's detector on the detection stream, its OCR on crops from the main stream.

Both models are trained in `models/plates/` and described in `models/manifest.toml`. The
detector is CenterNet-style (models/plates/train_detector.py): a grey frame letterboxed
into its square input (aspect kept, black border right and bottom), a heatmap of plate
centres and, per cell, the centre's offset and the log of the box's width and height in
cells. Decoding is the evaluation's (models/plates/pipeline.py: 3x3 local maxima above the
score floor, best first), followed by non-maximum suppression, which the evaluation does
not need. Each plate found is then boxed again, the detector run on a square of the
full-resolution image about it (`PlateDetector.refined`, `vision.plate_refine`), and so is
each peak scored under the floor down to `vision.plate_look_score`, kept only where that
look scores it well (`CONFIRM_SCORE`). The reader cuts the box with the 8 % margin the OCR
was trained on from the full-resolution image, stretches it to the OCR input and decodes
the CTC output with the plate format (agent.vision.plate_text). Turning the crop level
first (agent.vision.rectify, `vision.plate_deskew`) is off by default: the OCR is trained
on level crops of tilted plates, and on the local real photos turning them cost exact
readings and provinces. Where its first read of a crop is not sure, the reader reads it
again zoomed a little in and out (`OCR_ZOOMS`, `vision.plate_ocr_views`), and keeps the
registration the reads agree on (`plate_text.agreed`) and the province of their mean
probabilities. Both models take uint8 pixels with scale 1/255, so images are copied into
their input tensors as they are, without a round trip through floats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import pairwise

import cv2
import numpy as np
from numpy.typing import NDArray

from agent.errors import ModelError
from agent.vision import plate_text
from agent.vision.image import Box, Image, crop, sharpness, shrink
from agent.vision.readings import Reading
from agent.vision.rectify import grey, plate_crop
from agent.vision.runtime import FloatArray, Model
from agent.vision.tracker import intersection, iou

CROP_MARGIN = 0.08  # what the OCR was trained on (models/plates/pipeline.py CROP_PAD)
MEDIA_MARGIN = 0.15  # the plate.jpg sent with an event shows a little of the car
#: The views of a crop the OCR reads (`vision.plate_ocr_views` takes the first 1-3): as cut,
#: zoomed 6 % in (its edges cut off) and 6 % out (its edges repeated). A detector's box is
#: never exactly the training crops' margin, and a misread in one view is rarely repeated in
#: the others: on 5,000 held-out synthetic crops three views read 2 points more
#: registrations exactly than one and 1 point more provinces (models/README.md).
OCR_ZOOMS = (1.0, 1.06, 0.94)
#: A valid first read whose every character and whose province are at least this
#: confident is not read again: about half of the crops, where the other views would
#: change 0.1 point of the exact reads.
SURE = 0.8
NMS_IOU = 0.3  # two peaks whose boxes overlap more are one plate
NMS_INSIDE = 0.6  # ... as are two where this share of the weaker box lies inside the better
MAX_PLATES = 10
HANDOVER_PX = 100  # a coarser pass adds plates at least this wide in the finer pass's input
TILE_OVERLAP_PX = 80  # ... or this wide in a tiled pass, whose tiles overlap by as much
MAX_EXTENT = 3.0  # a pass may enlarge the frame to 3 inputs across, cut into tiles
#: The second look at a plate found (`PlateDetector.refined`, `vision.plate_refine`): a square
#: of the full-resolution image about the box, this many box widths across (or twice as many
#: box heights, for a tall plate) and never fewer pixels than the input, so never enlarged ...
REFINE_SPAN = 2.0
#: ... whose peak of at least this score that overlaps the first box most, by this IoU at
#: least, gives the plate's box.
REFINE_SCORE = 0.1
REFINE_IOU = 0.3
#: With `look_score`, a peak under `min_score` is kept only where the second look finds it at
#: this score at least; and looked at only where its box spans at most this share of the
#: image's width and height (a coarse pass's low peak round the whole frame is no plate, and
#: the second look at it, the frame shrunk into a black square, scores its edges high).
CONFIRM_SCORE = 0.5
LOOK_SHARE = 0.5
_WINDOW = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class Detection:
    """A plate box (x0, y0, x1, y1) in the pixels of the image searched, and its score."""

    box: Box
    score: float


@dataclass(frozen=True)
class PlateReading(Reading):
    """A reading with the plate's crop (BGR, from the full-resolution image) for media."""

    crop: Image | None = field(default=None, compare=False, repr=False)


def _output(model: Model, last: int, what: str) -> int:
    """The index of the output whose last dimension is `last` (outputs come in any order)."""
    for index, spec in enumerate(model.outputs):
        if spec.shape[-1] == last:
            return index
    raise ModelError(f"model {model.name} has no {what} output (last dimension {last})")


def _takes_pixels(model: Model) -> bool:
    """Whether the input is uint8 with scale 1/255 and zero point 0: pixels as they are."""
    spec = model.inputs[0]
    return (
        np.dtype(spec.dtype) == np.uint8
        and spec.zero_point == 0
        and abs(spec.scale * 255.0 - 1.0) < 1e-6
    )


def _run_grey(model: Model, image: Image, *, raw: bool) -> list[FloatArray]:
    """Run a one-grey-image model: pixels copied in (`raw`) or quantised from 0..1 floats."""
    if not raw:
        return model.run(image[None, :, :, None].astype(np.float32) / 255.0)
    model.fill_input(lambda tensor: np.copyto(tensor[0, :, :, 0], image))
    model.invoke()
    return model.get_outputs()


def _grey_input(model: Model) -> tuple[int, int]:
    shape = model.inputs[0].shape
    if len(model.inputs) != 1 or len(shape) != 4 or shape[3] != 1:
        raise ModelError(f"model {model.name} does not take one grey image (input {shape})")
    return shape[2], shape[1]


class PlateDetector:
    """Finds plates in a frame (BGR or grey) with the CenterNet-style plate detector.

    `scales` are the fractions of the input square the frame is letterboxed into, one
    invoke each: at 1 the frame fills the square; at 0.5 it fills the top-left quarter,
    so a plate that fills much of a close-up photo shrinks into the sizes most of the
    detector's training plates had (14-150 px wide; real close-ups are found far more
    often at half scale, models/README.md). Above 1 (at most `MAX_EXTENT`) the frame is
    enlarged until its longest side spans that many inputs and looked at in tiles that
    overlap by `TILE_OVERLAP_PX`, one invoke each (`tile_starts`), so that a distant car's
    plate, 15 px wide in a 720p frame fitted into the input, is 25 px at 1.66. A coarser
    pass only adds plates that would be at least `HANDOVER_PX` (after a tiled pass,
    `TILE_OVERLAP_PX`) wide in the next finer pass: smaller ones the finer pass boxes more
    tightly. Where the passes find the same plate, the higher score wins, except that a
    box reaching an inner edge of its tile, perhaps part of a near plate, counts only
    where no other box overlaps it. A tiled pass never enlarges past the image's own
    pixels: on a smaller image (a photo of one car) it is the whole-image pass, scale 1.
    With `flip`, each square is also looked at mirrored, one more invoke, and the two
    outputs are averaged, the mirrored one turned back (`unmirrored`), before the peaks
    are found: on held-out synthetic scenes that finds more plates with fewer false boxes,
    but not on the local real photos, so `vision.plate_flip` is off by default.

    With `refine`, `refined` looks at each plate found a second time, in a square of the
    full-resolution image about its box (`REFINE_SPAN`): the plate spans half the input, or
    a smaller one is seen at the image's own pixels, where the pass that found it saw the
    whole frame shrunk into the input, or a smaller detection stream. On synthetic
    pole-camera frames the boxes found overlap the true ones more (mean IoU 0.83 to 0.89),
    more plates are found at IoU 0.5 and more registrations read exactly end to end; on the
    local real photos too (models/README.md). It costs one invoke per plate.

    With `refine` and a `look_score` under `min_score`, the passes keep peaks from
    `look_score` up, and `refined` keeps one under `min_score` only where the second look
    scores it `CONFIRM_SCORE` or more: a distant plate, a few pixels wide in the detection
    stream, is scored low there and high in the full-resolution square. It costs one more
    invoke per such peak (at most `top` boxes a frame in all); on synthetic pole-camera
    frames it found 97 % of the plates rather than 93 %, and on the local real photos the
    one plate missed before. `detect`'s list then holds peaks that `refined` may drop.
    """

    def __init__(
        self,
        model: Model,
        *,
        min_score: float = 0.3,
        top: int = MAX_PLATES,
        scales: tuple[float, ...] = (1.0,),
        flip: bool = False,
        refine: bool = False,
        look_score: float | None = None,
    ) -> None:
        width, height = _grey_input(model)
        if width != height:
            raise ModelError(f"model {model.name}: square input expected, got {width}x{height}")
        if not scales or any(not 0.1 <= s <= MAX_EXTENT for s in scales):
            raise ValueError(
                f"plate detector scales must be in [0.1, {MAX_EXTENT:g}], got {list(scales)}"
            )
        if look_score is not None and not 0 < look_score <= 1:
            raise ValueError(f"plate detector look_score must be in (0, 1], got {look_score}")
        self.model, self.size, self.min_score, self.top = model, width, min_score, top
        self.flip, self.refine = flip, refine
        # The passes' score floor: lower than min_score only where the second look confirms.
        self.floor = min(min_score, look_score) if refine and look_score is not None else min_score
        self.scales = tuple(sorted(set(scales), reverse=True))
        self._heat, self._box = _output(model, 1, "heatmap"), _output(model, 4, "box")
        self._raw_input = _takes_pixels(model)
        self.stride = width // model.outputs[self._heat].shape[2]

    def detect(self, image: Image) -> list[Detection]:
        """Plates in `image`, best first, boxes in its pixels."""
        longest = max(image.shape[:2])
        # A tiled pass never enlarges past the image's own pixels: that would add no detail,
        # and on a small close-up its characters would look like plates. On a smaller image
        # it is the whole-image pass (scale 1) instead.
        enlarged = [1.0 if s > 1 and self.size * s > longest else s for s in self.scales]
        scales = sorted(set(enlarged), reverse=True)
        found, cut = self._detect(image, scales[0])
        for finer, extent in pairwise(scales):
            handover = TILE_OVERLAP_PX if finer > 1 else HANDOVER_PX
            least = handover * longest / (self.size * finer)  # in image pixels
            coarser, more = self._detect(image, extent)
            found += [d for d in coarser if d.box[2] - d.box[0] >= least]
            cut += more
        # A box that reaches an inner edge of its tile may be part of a plate: it counts only
        # where no other box overlaps it (a near plate across two tiles, which the coarser
        # pass boxes whole, would otherwise be read from the half with the higher score).
        # (A peak under min_score, found with look_score, does not count against one that is
        # not: it may never be confirmed.)
        sure = [d for d in found if d.score >= self.min_score]
        found += [
            c
            for c in cut
            if all(iou(c.box, d.box) == 0 for d in (sure if c.score >= self.min_score else found))
        ]
        found.sort(key=lambda d: -d.score)
        return suppress(found)[: self.top]

    def _detect(self, image: Image, extent: float) -> tuple[list[Detection], list[Detection]]:
        """The plates one pass finds, and apart those that reach an inner edge of a tile."""
        scale = self.size * extent / max(image.shape[:2])
        scaled = tiles_grey(image, scale) if extent > 1 else resized_grey(image, scale)
        rows, cols = (tile_starts(n, self.size, TILE_OVERLAP_PX) for n in scaled.shape)
        found: list[Detection] = []
        cut: list[Detection] = []
        for (top, row), (left, col) in ((r, c) for r in rows for c in cols):
            # The inner edges of this tile, where a plate may be cut (within a cell of them).
            low_x, low_y = (self.stride if left else -math.inf), (self.stride if top else -math.inf)
            high_x = self.size - self.stride if left + self.size < scaled.shape[1] else math.inf
            high_y = self.size - self.stride if top + self.size < scaled.shape[0] else math.inf
            square = np.zeros((self.size, self.size), np.uint8)
            tile = scaled[top : top + self.size, left : left + self.size]
            square[: tile.shape[0], : tile.shape[1]] = tile
            heat, box = self._outputs(square)
            for d in peaks(heat, box, stride=self.stride, min_score=self.floor, top=self.top):
                x0, y0, x1, y1 = d.box
                if (
                    col[0] <= left + (x0 + x1) / 2 < col[1]
                    and row[0] <= top + (y0 + y1) / 2 < row[1]
                ):
                    whole = low_x <= x0 and x1 <= high_x and low_y <= y0 and y1 <= high_y
                    x0, x1 = (left + x0) / scale, (left + x1) / scale
                    y0, y1 = (top + y0) / scale, (top + y1) / scale
                    (found if whole else cut).append(Detection((x0, y0, x1, y1), d.score))
        return self._best(found, image), self._best(cut, image)

    def _outputs(self, square: Image) -> tuple[FloatArray, FloatArray]:
        """The heatmap and box maps of one input square (averaged with its mirror's)."""
        outputs = _run_grey(self.model, square, raw=self._raw_input)
        heat, box = outputs[self._heat][0, ..., 0], outputs[self._box][0]
        if not self.flip:
            return heat, box
        outputs = _run_grey(self.model, np.ascontiguousarray(square[:, ::-1]), raw=self._raw_input)
        mirrored = unmirrored(outputs[self._heat][0, ..., 0], outputs[self._box][0])
        both = ((heat + mirrored[0]) / 2, (box + mirrored[1]) / 2)
        return both[0].astype(np.float32), both[1].astype(np.float32)

    def refined(self, image: Image, found: list[Detection]) -> list[Detection]:
        """`found`, boxes in `image`'s pixels, each box looked at again in `image` where this
        detector refines (`look_again`), best first; boxes that came to one plate are one.

        A box scored under `min_score` (found with `look_score`) stays only where it spans at
        most `LOOK_SHARE` of the image and the second look finds it at `CONFIRM_SCORE` or
        more, with that score, and where it overlaps no box that made `min_score`: those
        are suppressed first.
        """
        if not self.refine:
            return found
        height, width = image.shape[:2]
        sure, confirmed = [], []
        for detection in found:
            x0, y0, x1, y1 = detection.box
            if detection.score >= self.min_score:
                sure.append(self.look_again(image, detection))
            elif x1 - x0 <= LOOK_SHARE * width and y1 - y0 <= LOOK_SHARE * height:
                again, score = self._again(image, detection)
                if score >= CONFIRM_SCORE:
                    confirmed.append(Detection(again.box, score))
        # A confirmed low peak never suppresses a plate that made the floor.
        first = sorted(sure, key=lambda d: -d.score)
        kept = suppress(first + sorted(confirmed, key=lambda d: -d.score))
        return sorted(kept, key=lambda d: -d.score)

    def look_again(self, image: Image, detection: Detection) -> Detection:
        """`detection` boxed again in a square of `image` about its box (`REFINE_SPAN`), or as
        it is where nothing there overlaps it enough (`REFINE_IOU`). Its score is kept."""
        return self._again(image, detection)[0]

    def _again(self, image: Image, detection: Detection) -> tuple[Detection, float]:
        """`look_again`'s box, and the score the second look gave it (0 where none)."""
        x0, y0, x1, y1 = detection.box
        height, width = image.shape[:2]
        # Never enlarged: where a plate is under half the input wide, the square shows more
        # around it at the image's own pixels (enlarged twice, it found fewer plates and read
        # fewer of them on synthetic frames).
        side = max(REFINE_SPAN * (x1 - x0), 2 * REFINE_SPAN * (y1 - y0), self.size)
        scale = self.size / side
        # The square's pixel (u, v) shows the image's ((u - shift_x) / scale, ...): the box's
        # centre at the square's centre. Only the part of the image under the square is made
        # grey and sampled (bilinear; beyond the image the square is black).
        shift_x = self.size / 2 - scale * (x0 + x1) / 2
        shift_y = self.size / 2 - scale * (y0 + y1) / 2
        left, top = max(0, math.floor(-shift_x / scale)), max(0, math.floor(-shift_y / scale))
        right = min(width, math.ceil((self.size - shift_x) / scale) + 1)
        bottom = min(height, math.ceil((self.size - shift_y) / scale) + 1)
        if right - left < 2 or bottom - top < 2:
            return detection, 0.0
        matrix = np.array(
            [[scale, 0, shift_x + scale * left], [0, scale, shift_y + scale * top]], np.float32
        )
        piece = grey(image[top:bottom, left:right])
        square = cv2.warpAffine(piece, matrix, (self.size, self.size), flags=cv2.INTER_LINEAR)
        heat, box = self._outputs(np.asarray(square, np.uint8))
        found = peaks(heat, box, stride=self.stride, min_score=REFINE_SCORE)
        again = [
            Detection(
                (
                    (a - shift_x) / scale,
                    (b - shift_y) / scale,
                    (c - shift_x) / scale,
                    (d - shift_y) / scale,
                ),
                p.score,
            )
            for p in found
            for a, b, c, d in [p.box]
        ]
        best = max(again, key=lambda p: iou(p.box, detection.box), default=None)
        if best is None or iou(best.box, detection.box) < REFINE_IOU:
            return detection, 0.0
        return Detection(_clip(best.box, width, height), detection.score), best.score

    def _best(self, found: list[Detection], image: Image) -> list[Detection]:
        height, width = image.shape[:2]
        best = sorted(found, key=lambda d: -d.score)[: self.top]
        return [Detection(_clip(d.box, width, height), d.score) for d in best]


def tile_starts(length: int, size: int, overlap: int) -> list[tuple[int, tuple[float, float]]]:
    """Where tiles of `size` start along an axis of `length`, each with its core.

    As few tiles as cover the axis with neighbours overlapping by at least `overlap`,
    spread evenly. A tile's core runs from the middle of its overlap with the previous
    tile to the middle of its overlap with the next: every point is in exactly one core,
    and a plate up to `overlap` wide whose centre is in a tile's core lies whole in that
    tile, so each such plate is kept once, from the tile that sees it whole.
    """
    if length <= size:
        return [(0, (-math.inf, math.inf))]
    count = math.ceil((length - overlap) / (size - overlap))
    starts = [round(i * (length - size) / (count - 1)) for i in range(count)]
    bounds = [-math.inf] + [(a + size + b) / 2 for a, b in pairwise(starts)] + [math.inf]
    return [(start, (bounds[i], bounds[i + 1])) for i, start in enumerate(starts)]


def resized_grey(image: Image, scale: float) -> Image:
    """An image (BGR or grey) resized by `scale` and made grey.

    Shrunk first (`image.shrink`), then made grey: the colour conversion then touches the
    small image only.
    """
    height, width = image.shape[:2]
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    if scale < 1:
        small = shrink(image, new)
    else:
        small = np.asarray(cv2.resize(image, new, interpolation=cv2.INTER_LINEAR), np.uint8)
    return grey(small)


def tiles_grey(image: Image, scale: float) -> Image:
    """An image (BGR or grey) made grey, then resized by `scale`, for a tiled pass.

    `shrink`'s exact INTER_AREA costs 4 ms on a grey 720p frame at the fractional factors
    a tiled pass uses (3x, to 425 px across), more than an invoke. Grey first, then from 2x
    down a bilinear pass to twice the size and INTER_AREA's exact 2x (1.0 ms with the
    colour conversion); under 2x bilinear alone, which at that factor still reads every
    source pixel (0.4 ms from 640x384).
    """
    height, width = image.shape[:2]
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    source = grey(image)
    if scale <= 0.5:
        double = (2 * new[0], 2 * new[1])
        source = np.asarray(cv2.resize(source, double, interpolation=cv2.INTER_LINEAR), np.uint8)
        return np.asarray(cv2.resize(source, new, interpolation=cv2.INTER_AREA), np.uint8)
    return np.asarray(cv2.resize(source, new, interpolation=cv2.INTER_LINEAR), np.uint8)


def letterbox(image: Image, size: int, extent: float = 1.0) -> tuple[Image, float]:
    """An image (BGR or grey) fitted into `extent` (at most 1) of a grey `size`x`size`.

    At the top left, black elsewhere, as in training. Returns the square and the scale.
    """
    scale = size * extent / max(image.shape[:2])
    small = resized_grey(image, scale)
    square = np.zeros((size, size), np.uint8)
    square[: small.shape[0], : small.shape[1]] = small
    return square, scale


def unmirrored(heat: FloatArray, box: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The detector's output for a mirrored square turned back to the square's own: cells
    mirrored, and a centre at fraction `dx` of its cell's width at `1 - dx` of it."""
    turned = box[:, ::-1].copy()
    turned[..., 0] = 1 - turned[..., 0]
    return heat[:, ::-1], turned


def peaks(
    heat: FloatArray, box: FloatArray, *, stride: int, min_score: float, top: int = MAX_PLATES
) -> list[Detection]:
    """3x3 local maxima of `heat` above `min_score`, as boxes in input pixels, best first."""
    # 3x3 maximum filter; the border counts as -inf, which for scores >= 0 is the 0 padding
    # of the reference (tests: test_peak_decoding_matches_the_cell_by_cell_reference).
    local = cv2.dilate(np.ascontiguousarray(heat, np.float32), _WINDOW)
    rows, cols = np.nonzero((heat >= local) & (heat >= min_score))
    scores = heat[rows, cols]
    order = np.argsort(-scores, kind="stable")[:top]
    rows, cols, scores = rows[order], cols[order], scores[order]
    dx, dy, lw, lh = (box[rows, cols, k] for k in range(4))
    cx, cy = (cols + dx) * stride, (rows + dy) * stride
    w, h = np.exp(lw) * stride, np.exp(lh) * stride
    corners = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)
    return [
        Detection((float(a), float(b), float(c), float(d)), float(s))
        for (a, b, c, d), s in zip(corners, scores, strict=True)
    ]


def suppress(detections: list[Detection], threshold: float = NMS_IOU) -> list[Detection]:
    """Greedy non-maximum suppression of detections sorted best first.

    A box also goes when most of it lies inside a better one (`NMS_INSIDE`): on a near
    plate, a tile may box one half of it, which overlaps the whole plate's box too little
    for the IoU to tell, and plates do not lie inside one another.
    """
    kept: list[Detection] = []
    for detection in detections:
        if all(
            iou(detection.box, k.box) <= threshold and _inside(detection.box, k.box) <= NMS_INSIDE
            for k in kept
        ):
            kept.append(detection)
    return kept


def _inside(box: Box, other: Box) -> float:
    """The share of `box`'s area that lies inside `other`."""
    area = (box[2] - box[0]) * (box[3] - box[1])
    return intersection(box, other) / area if area > 0 else 0.0


def _read_again(
    first: plate_text.PlateText, probs: FloatArray, province: FloatArray, floor: float
) -> bool:
    """Whether a crop's first read is worth more views: it is not sure of the registration
    or of the province (`SURE`), and some read of it could reach the caller's `floor`
    (below it, the caller drops the crop)."""
    if first.valid and min(first.confidences) >= SURE and float(province.max()) >= SURE:
        return False
    return floor <= 0 or plate_text.best_mean_confidence(probs) >= floor


def zoomed(crop: Image, factor: float) -> Image:
    """`crop` scaled by `factor` about its centre, its size kept: above 1 its edges are cut
    off, below 1 its edge pixels are repeated to fill the border."""
    if factor == 1.0:
        return crop
    height, width = crop.shape[:2]
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), 0.0, factor)
    scaled = cv2.warpAffine(
        crop, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(scaled, dtype=np.uint8)


def _clip(box: tuple[float, ...], width: int, height: int) -> Box:
    x0, y0, x1, y1 = box
    return max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1)


@dataclass(frozen=True)
class Text:
    """What the OCR read on one crop: the constrained registration and the province."""

    registration: plate_text.PlateText
    province: str
    province_confidence: float


class PlateReader:
    """Reads the plate in a box of the full-resolution image with the plate OCR."""

    def __init__(self, model: Model, *, deskew: bool = False, views: int = len(OCR_ZOOMS)) -> None:
        if not 1 <= views <= len(OCR_ZOOMS):
            raise ValueError(f"views must be 1 to {len(OCR_ZOOMS)}, got {views}")
        self.model, self.deskew, self.zooms = model, deskew, OCR_ZOOMS[:views]
        self.invokes = 0  # views read so far, all crops together (for measurements)
        self.size = _grey_input(model)
        self._text = _output(model, len(plate_text.OCR_CLASSES) + 1, "registration")
        self._province = _output(model, len(plate_text.PROVINCES), "province")
        self._raw_input = _takes_pixels(model)

    def ocr(self, crop: Image, *, floor: float = 0.0) -> Text:
        """Decode one grey crop already at the model's input size: as cut, and where that
        read is not sure (`SURE`), zoomed in and out too (`OCR_ZOOMS`, up to `views`).

        `floor`: the mean character confidence below which the caller drops the read
        (`plate_text.constrained`: no format search where no read could reach it).
        """
        reads, provinces = [], []
        for factor in self.zooms:
            outputs = _run_grey(self.model, zoomed(crop, factor), raw=self._raw_input)
            self.invokes += 1
            probs = plate_text.softmax(outputs[self._text][0])
            reads.append(plate_text.constrained(probs, floor=floor))
            provinces.append(outputs[self._province][0])
            if len(reads) == 1 and not _read_again(reads[0], probs, provinces[0], floor):
                break
        name, confidence = plate_text.province(np.mean(provinces, axis=0))
        return Text(plate_text.agreed(reads), name, confidence)

    def crop(self, image: Image, box: Box) -> NDArray[np.uint8]:
        """The OCR's input for the plate in `box`: margin, deskew, stretch."""
        return plate_crop(image, box, self.size, margin=CROP_MARGIN, deskew=self.deskew)[0]

    def read(
        self, image: Image, box: Box, *, score: float, ts: float, floor: float = 0.0
    ) -> PlateReading:
        """Read the plate in `box` (pixels of `image`) as a tracker reading with its crop.

        `floor` as in `ocr`.
        """
        pixels = self.crop(image, box)
        text = self.ocr(pixels, floor=floor)
        return PlateReading(
            box=box,
            text=text.registration.text,
            char_confidences=text.registration.confidences,
            province=text.province,
            province_confidence=text.province_confidence,
            detection_score=score,
            sharpness=sharpness(pixels),
            ts=ts,
            crop=crop(image, box, MEDIA_MARGIN).copy(),  # a copy: the frame is not kept alive
        )
