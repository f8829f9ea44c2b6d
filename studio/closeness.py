"""How close one picture stays to another: the studio's one closeness measure (issue 29).

Used wherever the studio asks "is this too close to someone else's picture?": a result against each outside
picture in its lineage, the check tab, and the memorization check of trained LoRAs. One module, one scale.

What it must catch is what low-strength img2img keeps: the composition, the big edges, the colour layout. What it
must survive is what laundering adds: resizing, cropping up to 20 %, flips, colour shifts, blur, noise, JPEG and
small paint-overs. So it compares each picture's *layout* on a small grid and searches the ways one can sit in the
other:

- Each picture is squashed to a square grid. Resizing, even without keeping the aspect ratio, is then a no-op,
  and a crop of any shape becomes an axis-aligned window whose sides are 80-100 % of the grid's.
- Structure is the correlation of zero-mean, unit-variance grey levels; edges the same on the gradient
  magnitude. Correlation ignores brightness and contrast; the small grid (from a box-filtered reduction) averages
  away noise, JPEG blocks and all but heavy blur; a small paint-over moves few of the grid's cells.
- The alignment search: one picture's whole grid is slid over the other's grid enlarged by 1/0.8, 1/0.9 or 1
  on each axis (every offset), in both directions (either may be the crop), flipped or not on each axis. The
  best alignment by structure plus edges wins, and its crop, offset and flip are reported.
- Colour layout is compared at that alignment on a coarse 8 x 8 grid of chroma (U and V, means removed) as the
  coherence of complex numbers U + iV: a hue rotation multiplies every cell by one phase and a saturation change
  scales them, so neither changes it. Grey pictures have no colour layout; then the term is left out.

The score weighs structure, edges and colour; the bands turn it into plain words. What it does not do: it finds
one picture *inside* the other, so a shift that leaves a filled border (neither picture holds the other) is found
only through the larger part they share: 5 % each way scored 0.63-0.79 on four sample photos, 10 % each way (81 %
shared) 0.43-0.71. A picture of one flat colour has no composition and is close to nothing. Two halves
of a mirror-symmetric scene are each other's mirror image, and the measure says so. Searching alignments lets
unrelated pictures find their luckiest one, so the bands were set on the calibration bench
(bench/bench_closeness.py, figures in bench/RESULTS.md), which measures laundered copies and unrelated pairs.
No downloaded weights: an image encoder's semantic term could be added later as a separate figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

MEASURE = "studio-closeness/1"  # stored with every figure, so saved figures say which measure made them

# The template's side; a picture it may be a crop of is enlarged to side / fraction on each axis.
_SIDE = 32
# Crops down to 80 % of a side (the "cropping up to 20 %"), in steps of 5 %: with steps of 10 % a crop
# between two steps misaligned fine-grained pictures (gravel, bricks, star fields) by 1-2 cells at the window's
# edges, and 7 % of the bench's laundered copies fell out of the bands; unrelated pairs scored the same.
_CROP_FRACTIONS = (1.0, 0.95, 0.9, 0.85, 0.8)
_COLOUR_CELLS = 8
_BASE = 4 * _SIDE  # the box-filtered reduction every grid is taken from
# Below this spread of chroma (0..1 units) a picture is grey: its colour layout is only JPEG's and noise's.
_GREY_CHROMA = 0.02
# Edges weigh most: on the bench they told laundered from unrelated pairs best (unrelated photos often share a
# broad light-to-dark layout, a sky above and ground below, that grey-level structure alone scores high).
_WEIGHTS = {"structure": 0.3, "edges": 0.5, "colour": 0.2}
# A grid whose spread (the root of its summed squared deviations, grey in 0..1) is below this is flat: one colour.
_FLAT = 1e-3 * _SIDE
_FLIPS = {"": (), "horizontal": (2,), "vertical": (1,), "both": (1, 2)}  # axes of a (channel, y, x) grid

# The bands, closest first: a score at or above a band's floor gets its words. Set on the calibration bench
# (bench/bench_closeness.py; bench/RESULTS.md, 2026-12-04): of 1,539 unrelated pairs (different photos, laundered
# copies against other photos) one scored 0.56 and the next 0.54, and 96.8 % of laundered copies reached 0.55, so
# "keeps the composition" (what the studio flags) starts there; at 0.60, 95.8 %. Single laundering steps score
# 0.8 and more, hence "a near copy".
NEAR_COPY = 0.80
KEEPS_COMPOSITION = 0.55
SOME_LIKENESS = 0.40
THRESHOLDS: tuple[tuple[str, float], ...] = (
    ("a near copy", NEAR_COPY),
    ("keeps the composition", KEEPS_COMPOSITION),
    ("some likeness", SOME_LIKENESS),
    ("unrelated", 0.0),
)
VERDICTS = tuple(words for words, _ in THRESHOLDS)


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """What one picture contributes to any comparison, computed once (a folder of N pictures costs N of these).

    `grids` holds, per (height, width) grid size, the grey and edge grids and the spread of every template-sized
    window in them; `templates` the picture's own grey and edge grids at the template's size in each flip, each
    zero-mean and of unit norm, as columns to multiply with; `chroma` the U + iV chroma on the base grid."""

    size: tuple[int, int]  # the picture's (width, height), for the record
    templates: np.ndarray  # (2, side * side, flips): grey and edges, one column per entry of _FLIPS
    grids: Mapping[tuple[int, int], tuple[np.ndarray, np.ndarray]]  # size -> ((2, h, w) grids, (2, y, x) norms)
    chroma: np.ndarray  # (base, base) complex
    colourful: bool


@dataclass(frozen=True)
class Alignment:
    """Where the first picture sits in the second (or the second in the first: `inside`)."""

    inside: str  # "first in second" or "second in first": which picture is the (possibly) cropped one
    crop: tuple[float, float]  # the window's width and height as fractions of the larger picture's
    offset: tuple[float, float]  # the window's left and top as fractions of the larger picture's width and height
    flip: str  # "", "horizontal", "vertical" or "both"


@dataclass(frozen=True)
class Closeness:
    score: float  # 0 (unrelated) .. 1 (the same picture)
    structure: float
    edges: float
    colour: float | None  # None: one of the two pictures is grey
    alignment: Alignment

    @property
    def verdict(self) -> str:
        return verdict(self.score)

    @property
    def flagged(self) -> bool:
        """Keeps the composition or closer: what the studio warns about."""
        return self.score >= KEEPS_COMPOSITION

    def words(self) -> str:
        colour = "" if self.colour is None else f", colour {self.colour:.2f}"
        return f"{self.verdict} ({self.score:.2f}: structure {self.structure:.2f}, edges {self.edges:.2f}{colour})"

    def to_dict(self) -> dict[str, Any]:
        a = self.alignment
        return {
            "measure": MEASURE,
            "score": round(self.score, 4),
            "verdict": self.verdict,
            "structure": round(self.structure, 4),
            "edges": round(self.edges, 4),
            "colour": None if self.colour is None else round(self.colour, 4),
            "alignment": {
                "inside": a.inside,
                "crop": [round(v, 3) for v in a.crop],
                "offset": [round(v, 3) for v in a.offset],
                "flip": a.flip,
            },
        }


def verdict(score: float) -> str:
    """The plain words for a score: the first band whose floor it reaches."""
    return next(words for words, floor in THRESHOLDS if score >= floor)


def fingerprint(picture: Image.Image) -> Fingerprint:
    """The picture's layout on small grids: any size, any mode (alpha is dropped, palettes expanded)."""
    if picture.width < 1 or picture.height < 1:
        raise ValueError(f"a picture of {picture.width} x {picture.height} pixels has nothing to compare")
    # A box filter reduces as an average over every pixel, so noise and JPEG blocks cancel before anything else;
    # `reducing_gap` first shrinks by whole factors (the same average, and fast on a 1024 px picture).
    small = (
        picture.resize((_BASE, _BASE), Image.Resampling.BOX, reducing_gap=2.0) if picture.mode in ("RGB", "L") else None
    )
    rgb = small.convert("RGB") if small else picture.convert("RGB").resize((_BASE, _BASE), Image.Resampling.BOX)
    base = np.asarray(rgb, dtype=np.float32) / 255.0
    grey = base @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    chroma = (base[..., 2] - grey) + 1j * (base[..., 0] - grey)
    grids = {}
    for fy in _CROP_FRACTIONS:
        for fx in _CROP_FRACTIONS:
            shape = (round(_SIDE / fy), round(_SIDE / fx))
            channels = _channels(_resized(grey, shape))
            grids[shape] = (channels, _window_norms(channels))
    template = _channels(_resized(grey, (_SIDE, _SIDE)))
    template = template - template.mean(axis=(1, 2), keepdims=True)
    norm = np.linalg.norm(template, axis=(1, 2), keepdims=True)
    template = np.where(norm > _FLAT, template / np.maximum(norm, _FLAT), 0.0).astype(np.float32)
    flipped = [np.flip(template, axes) if axes else template for axes in _FLIPS.values()]
    templates = np.stack(flipped, axis=-1).reshape(2, _SIDE * _SIDE, len(_FLIPS))
    spread = float(np.abs(chroma - chroma.mean()).mean())
    return Fingerprint(picture.size, templates, grids, chroma.astype(np.complex64), spread >= _GREY_CHROMA)


def compare(a: Fingerprint, b: Fingerprint) -> Closeness:
    """How close `a` stays to `b` (and `b` to `a`: the measure is symmetric), at their best alignment."""
    best = max((_best_alignment(a, b, "first in second"), _best_alignment(b, a, "second in first")), key=lambda c: c[0])
    _, structure, edges, alignment = best
    colour = _colour(a, b, alignment) if a.colourful and b.colourful else None
    parts = {"structure": structure, "edges": edges} | ({} if colour is None else {"colour": colour})
    weight = sum(_WEIGHTS[name] for name in parts)
    score = sum(_WEIGHTS[name] * value for name, value in parts.items()) / weight
    return Closeness(float(score), float(structure), float(edges), colour, alignment)


def closeness(a: Image.Image, b: Image.Image) -> Closeness:
    """`compare` for two pictures at hand; fingerprint a folder once instead when comparing many."""
    return compare(fingerprint(a), fingerprint(b))


def closest(picture: Fingerprint, candidates: Mapping[str, Fingerprint]) -> list[tuple[str, Closeness]]:
    """Each candidate's closeness to `picture`, closest first (ties keep the candidates' order)."""
    found = [(name, compare(picture, other)) for name, other in candidates.items()]
    return sorted(found, key=lambda pair: -pair[1].score)


def _best_alignment(small: Fingerprint, large: Fingerprint, inside: str) -> tuple[float, float, float, Alignment]:
    """`small`'s whole grid, flipped each way, slid over each of `large`'s grids: the best (sum, structure, edges)."""
    best: tuple[float, float, float, Alignment] | None = None
    flips = list(_FLIPS)
    for (height, width), (grids, norms) in large.grids.items():
        # Every window as a row, so one matrix product correlates it with the template in every flip.
        windows = sliding_window_view(grids, (_SIDE, _SIDE), axis=(1, 2)).reshape(2, -1, _SIDE * _SIDE)
        spread = norms.reshape(2, -1, 1)
        # A flat window has no structure to share; dividing by its rounding errors would make one up.
        correlation = np.where(spread > _FLAT, (windows @ small.templates) / np.maximum(spread, _FLAT), 0.0)
        total = correlation.sum(axis=0)
        window, flip = np.unravel_index(int(np.argmax(total)), total.shape)
        if best is None or total[window, flip] > best[0]:
            y, x = divmod(int(window), norms.shape[2])
            alignment = Alignment(inside, (_SIDE / width, _SIDE / height), (x / width, y / height), flips[flip])
            structure, edges = correlation[:, window, flip]
            best = (float(total[window, flip]), float(structure), float(edges), alignment)
    assert best is not None
    total, structure, edges, alignment = best
    return (total, max(0.0, structure), max(0.0, edges), alignment)


def _colour(a: Fingerprint, b: Fingerprint, alignment: Alignment) -> float:
    """Coherence of the two coarse chroma layouts at the alignment: blind to hue rotation and saturation."""
    small, large = (a, b) if alignment.inside == "first in second" else (b, a)
    n = _BASE
    (left, top), (width, height) = alignment.offset, alignment.crop
    window = large.chroma[
        round(top * n) : max(round(top * n) + 1, round((top + height) * n)),
        round(left * n) : max(round(left * n) + 1, round((left + width) * n)),
    ]
    ours = _cells(np.flip(small.chroma, tuple(axis - 1 for axis in _FLIPS[alignment.flip])))
    theirs = _cells(window)
    ours, theirs = ours - ours.mean(), theirs - theirs.mean()
    norm = float(np.sqrt((np.abs(ours) ** 2).sum() * (np.abs(theirs) ** 2).sum()))
    return float(np.abs((ours * np.conj(theirs)).sum())) / norm if norm > 1e-9 else 0.0


def _cells(chroma: np.ndarray) -> np.ndarray:
    """Average chroma over an 8 x 8 grid of cells (the window need not divide evenly)."""
    rows = np.array_split(np.arange(chroma.shape[0]), _COLOUR_CELLS)
    cols = np.array_split(np.arange(chroma.shape[1]), _COLOUR_CELLS)
    return np.array([[chroma[r[0] : r[-1] + 1, c[0] : c[-1] + 1].mean() for c in cols] for r in rows])


def _resized(grey: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    height, width = shape
    return np.asarray(Image.fromarray(grey).resize((width, height), Image.Resampling.BOX))


def _channels(grey: np.ndarray) -> np.ndarray:
    """Grey levels and gradient magnitude, stacked: (2, h, w)."""
    dy, dx = np.gradient(grey)
    return np.stack([grey, np.hypot(dx, dy)]).astype(np.float32)


def _window_norms(channels: np.ndarray) -> np.ndarray:
    """Each template-sized window's spread about its own mean, per channel: the correlation's denominator.

    From summed-area tables (sums of values and of squares), in float64 so the difference does not cancel."""
    sums, squares = (_window_sums(values) for values in (channels.astype(np.float64), channels.astype(np.float64) ** 2))
    count = _SIDE * _SIDE
    return np.sqrt(np.maximum(squares - sums**2 / count, 0.0)).astype(np.float32)


def _window_sums(values: np.ndarray) -> np.ndarray:
    table = np.pad(values.cumsum(axis=1).cumsum(axis=2), ((0, 0), (1, 0), (1, 0)))
    n = _SIDE
    return table[:, n:, n:] - table[:, :-n, n:] - table[:, n:, :-n] + table[:, :-n, :-n]
