"""Calibration of the closeness measure (studio/closeness.py, issue 29), built offline in one run.

Sources: scikit-image's sample photographs (they ship inside the package) and the studio's own outputs (the tiny
model's txt2img pictures). For each source, laundered versions: each transformation the issue names alone at
several strengths, random chains of three to five of them, stand-in repaints (the photo's low frequencies kept,
its details replaced), and real repaints at strengths 0.1-0.6 on the tiny model with a VAE that keeps the picture
(studio/engine/tiny_faithful.py), each measured against the original photo. Against them, unrelated pairs:
different photos, non-overlapping halves of one photo, laundered versions of one photo against another photo, and
tiny-model outputs of different seeds and prompts.

Printed: the confusion table (each kind of pair x the verdict bands), the share of laundered pairs at "keeps the
composition" or closer (goal >= 95 %), with and without the repaints, the share of unrelated pairs flagged (goal
<= 1 %), what other band floors would give, the closest unrelated pairs, and the time of one comparison of two
1024 px pictures, fingerprinting both included (goal <= 20 ms).

Run: python bench/bench_closeness.py [--no-model]  (CPU, offline; about four minutes on 2 cores)
`--no-model` skips the tiny models' pictures (no torch needed).
"""

from __future__ import annotations

import io
import itertools
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps  # noqa: E402

from studio.closeness import KEEPS_COMPOSITION, VERDICTS, Fingerprint, closeness, compare, fingerprint  # noqa: E402

if TYPE_CHECKING:
    from studio.engine.engine import Engine

# Photos that load from the package itself (no download). `cat` is `chelsea` again; the two motorcycle pictures
# are a stereo pair of one scene, so neither is used as "unrelated".
PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "camera",
    "coins",
    "moon",
    "page",
    "text",
    "clock",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "brick",
    "grass",
    "gravel",
    "cell",
    "colorwheel",
    "horse",
)
CHAINS_PER_SOURCE = 12
COPIES_AGAINST_OTHERS = 4
REPAINT_STRENGTHS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
REPAINT_SEEDS = (1, 2)
REPAINT_PROMPTS = ("a photo", "an oil painting, dramatic light")
REPAINT_SIDE = 128
TINY_SIDE = 256
TIMING_ROUNDS = 30
FLOORS = (0.40, 0.45, 0.50, 0.55, 0.60)
REPAINT = "tiny-model repaint"

Transform = Callable[[Image.Image, random.Random], Image.Image]


def photos() -> dict[str, Image.Image]:
    from skimage import data

    return {name: Image.fromarray(np.asarray(getattr(data, name)())).convert("RGB") for name in PHOTOS}


# --- the laundering kinds, each at a strength -------------------------------------------------------------------


def resize(factor: float, squash: float = 1.0) -> Transform:
    return lambda p, _: p.resize((max(8, round(p.width * factor * squash)), max(8, round(p.height * factor))))


def crop(fraction: float, where: str) -> Transform:
    """Cut `fraction` of the width and height: from one corner, evenly round the edge, or the width only."""

    def apply(p: Image.Image, rng: random.Random) -> Image.Image:
        cut_x, cut_y = round(p.width * fraction), round(p.height * fraction)
        if where == "centre":
            return p.crop((cut_x // 2, cut_y // 2, p.width - cut_x + cut_x // 2, p.height - cut_y + cut_y // 2))
        if where == "width":
            left = rng.randint(0, cut_x)
            return p.crop((left, 0, p.width - cut_x + left, p.height))
        left, top = rng.choice((0, cut_x)), rng.choice((0, cut_y))
        return p.crop((left, top, p.width - cut_x + left, p.height - cut_y + top))

    return apply


def hue(degrees: float) -> Transform:
    def apply(p: Image.Image, _: random.Random) -> Image.Image:
        h, s, v = p.convert("HSV").split()
        shift = round(degrees * 256 / 360)
        return Image.merge("HSV", (h.point([(x + shift) % 256 for x in range(256)]), s, v)).convert("RGB")

    return apply


def enhance(kind: type[ImageEnhance._Enhance], factor: float) -> Transform:
    return lambda p, _: kind(p).enhance(factor)  # pyright: ignore[reportCallIssue]


def blur(radius_per_512: float) -> Transform:
    return lambda p, _: p.filter(ImageFilter.GaussianBlur(radius_per_512 * max(p.size) / 512))


def noise(sigma: float) -> Transform:
    def apply(p: Image.Image, rng: random.Random) -> Image.Image:
        pixels = np.asarray(p, dtype=np.float32)
        pixels = pixels + np.random.default_rng(rng.randrange(2**32)).normal(0, sigma, pixels.shape)
        return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))

    return apply


def jpeg(quality: int) -> Transform:
    def apply(p: Image.Image, _: random.Random) -> Image.Image:
        buffer = io.BytesIO()
        p.save(buffer, "JPEG", quality=quality)
        return Image.open(buffer).convert("RGB")

    return apply


def paint_over(area: float) -> Transform:
    """Opaque strokes and blobs in random colours over about `area` of the picture, as a quick paint-over."""

    def apply(p: Image.Image, rng: random.Random) -> Image.Image:
        p = p.copy()
        draw = ImageDraw.Draw(p)
        covered, target = 0.0, area * p.width * p.height
        while covered < target:
            w, h = rng.uniform(0.05, 0.2) * p.width, rng.uniform(0.05, 0.2) * p.height
            x, y = rng.uniform(0, p.width - w), rng.uniform(0, p.height - h)
            colour = tuple(rng.randrange(256) for _ in range(3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x, y, x + w, y + h), fill=colour)
            covered += w * h * (0.79 if rng.random() < 0.5 else 1.0)
        return p

    return apply


def repaint_stand_in(strength: float, texture: Image.Image) -> Transform:
    """What an img2img repaint at `strength` keeps, imitated without a model: the photo's low frequencies stay,
    details above a cut-off that falls with strength come from another picture, and colours drift a little."""

    def apply(p: Image.Image, rng: random.Random) -> Image.Image:
        radius = strength * max(p.size) / 40
        kept = np.asarray(p.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32)
        other = texture.resize(p.size)
        detail = np.asarray(other, np.float32) - np.asarray(other.filter(ImageFilter.GaussianBlur(radius)), np.float32)
        drift = np.array([rng.uniform(-20, 20) * strength for _ in range(3)], dtype=np.float32)
        return Image.fromarray(np.clip(kept + detail + drift, 0, 255).astype(np.uint8))

    return apply


SINGLE: dict[str, list[Transform]] = {
    "resize": [resize(0.25), resize(0.5), resize(2.0), resize(0.7, squash=1.3)],
    "crop 5-20 %": [crop(f, w) for f in (0.05, 0.1, 0.15, 0.2) for w in ("corner", "centre", "width")],
    "flip": [lambda p, _: ImageOps.mirror(p), lambda p, _: ImageOps.flip(p)],
    "hue": [hue(15), hue(45), hue(90), hue(180)],
    "saturation": [enhance(ImageEnhance.Color, f) for f in (0.0, 0.5, 1.6)],
    "brightness": [enhance(ImageEnhance.Brightness, f) for f in (0.6, 1.4)],
    "contrast": [enhance(ImageEnhance.Contrast, f) for f in (0.5, 1.6)],
    "blur": [blur(r) for r in (1, 2, 4, 8)],
    "noise": [noise(s) for s in (10, 25, 50)],
    "JPEG": [jpeg(q) for q in (50, 20, 8)],
    "paint-over 5-20 %": [paint_over(a) for a in (0.05, 0.1, 0.2)],
}
# What a chain draws from: the milder half of each kind, as a launderer stacks several small changes.
CHAIN_PARTS = [
    *SINGLE["resize"],
    *[crop(f, w) for f in (0.05, 0.1, 0.15) for w in ("corner", "centre", "width")],
    *SINGLE["flip"],
    hue(15),
    hue(45),
    *SINGLE["saturation"],
    *SINGLE["brightness"],
    *SINGLE["contrast"],
    blur(1),
    blur(2),
    noise(10),
    noise(25),
    jpeg(50),
    jpeg(20),
    paint_over(0.05),
    paint_over(0.1),
]


def chain(rng: random.Random) -> Transform:
    steps = rng.sample(CHAIN_PARTS, rng.randint(3, 5))

    def apply(p: Image.Image, rng: random.Random) -> Image.Image:
        for step in steps:
            p = step(p, rng)
        return p

    return apply


# --- the pairs ------------------------------------------------------------------------------------------------


def laundered_pairs(sources: dict[str, Image.Image], textures: list[Image.Image]) -> list[tuple[str, str, Image.Image]]:
    """(kind, source name, laundered picture) for every source, kind and strength, plus chains and stand-ins."""
    rng = random.Random(29)
    found = []
    for name, picture in sources.items():
        for kind, transforms in SINGLE.items():
            found.extend((kind, name, t(picture, rng)) for t in transforms)
        found.extend(("3-5 combined", name, chain(rng)(picture, rng)) for _ in range(CHAINS_PER_SOURCE))
        texture = rng.choice([t for t in textures if t is not picture])
        found.extend(
            (f"repaint stand-in {s:.1f}", name, repaint_stand_in(s, texture)(picture, rng)) for s in REPAINT_STRENGTHS
        )
    return found


def halves(picture: Image.Image, side_by_side: bool) -> list[Image.Image]:
    w, h = picture.size
    if side_by_side:
        return [picture.crop((0, 0, w // 2, h)), picture.crop((w - w // 2, 0, w, h))]
    return [picture.crop((0, 0, w, h // 2)), picture.crop((0, h - h // 2, w, h))]


def tiny_model_pictures(
    sources: dict[str, Image.Image],
) -> tuple[list[tuple[float, str, Image.Image]], list[tuple[Image.Image, int]]]:
    """Repaints of every photo on the faithful tiny model, (strength, photo name, repaint), and the plain tiny
    model's txt2img outputs with their seeds."""
    import torch

    from studio.engine.factory import make_engine
    from studio.engine.tiny_faithful import tiny_faithful_model_folder
    from studio.recipe import TINY_MODEL, Recipe

    torch.set_num_threads(1)
    cache = Path(tempfile.mkdtemp(prefix="studio-closeness-"))
    engine = make_engine(cache_dir=cache)
    engine.load(TINY_MODEL)
    base = Recipe(prompt="a photo", model=TINY_MODEL, steps=20, width=TINY_SIDE, height=TINY_SIDE, seed=1)
    prompts = ("a photo", "a red house by the sea", "portrait of an old man")
    outputs = [
        (picture, seed)
        for seed in range(4)
        for prompt in prompts
        for picture in engine.generate(base.replace(prompt=prompt, seed=seed))
    ]
    return faithful_repaints(engine, tiny_faithful_model_folder(cache), sources, cache), outputs


def faithful_repaints(
    engine: Engine, folder: Path, sources: dict[str, Image.Image], cache: Path
) -> list[tuple[float, str, Image.Image]]:
    """Each photo, made small, repainted through a session as an artist's upload is: at each strength, with each
    seed and prompt. The plain tiny model's random VAE turns any photo into noise; this one keeps it."""
    from launch import build_sessions
    from studio.recipe import Recipe

    engine.load(str(folder))
    sessions = build_sessions(engine, cache / "outputs")
    repaints = []
    for name, photo in sources.items():
        session = sessions.open()  # one per photo: a session's history grows with every node
        small = upload_size(photo)
        for seed, prompt, strength in itertools.product(REPAINT_SEEDS, REPAINT_PROMPTS, REPAINT_STRENGTHS):
            recipe = Recipe(prompt=prompt, model=str(folder), steps=10, seed=seed, denoising_strength=strength)
            node = session.repaint(
                small, recipe, sources={"image": {"origin": f"skimage {name}", "licence": "unknown"}}
            )
            repaints.append((strength, name, session.output_picture(node.id)))
    return repaints


def upload_size(photo: Image.Image) -> Image.Image:
    """The photo with its longer side REPAINT_SIDE and both sides multiples of 16, its aspect kept as near as that
    allows (larger pictures make the tiny UNet's attention slow on a CPU)."""
    scale = REPAINT_SIDE / max(photo.size)
    width, height = (max(64, round(side * scale / 16) * 16) for side in photo.size)
    return photo.resize((width, height), Image.Resampling.LANCZOS)


# --- the report -----------------------------------------------------------------------------------------------


def table(rows: dict[str, Counter]) -> None:
    header = "| pairs | n | " + " | ".join(VERDICTS) + " | flagged |"
    print(header)
    print("|" + " --- |" * (len(VERDICTS) + 3))
    for kind, counts in rows.items():
        n = sum(counts.values())
        flagged = sum(counts[v] for v in VERDICTS[:2])
        cells = " | ".join(str(counts[v]) for v in VERDICTS)
        print(f"| {kind} | {n} | {cells} | {100 * flagged / n:.1f} % |")


def floors(
    laundered: list[tuple[float, str, str]],
    unrelated: list[tuple[float, str]],
    photo_kinds: list[str],
    repaint_kinds: list[str],
    unrelated_kinds: list[str],
) -> None:
    """What other floors of the flagged band would give: the bands stay as studio/closeness.py sets them."""
    print("floor | laundered photos | with repaints | repaints 0.5-0.6 | unrelated pairs flagged")
    strong = [k for k in repaint_kinds if float(k.rsplit(" ", 1)[1]) >= 0.5]

    def rate(kinds: list[str], floor: float) -> str:
        found = [s for s, k, _ in laundered if k in kinds]
        if not found:
            return "-"
        return f"{100 * sum(s >= floor for s in found) / len(found):.1f} %"

    for floor in FLOORS:
        pairs = [s for s, k in unrelated if k.split(":")[0] in unrelated_kinds]
        wrong = sum(s >= floor for s in pairs)
        print(f"{floor:.2f} | {rate(photo_kinds, floor)} | {rate(photo_kinds + repaint_kinds, floor)} | ", end="")
        print(f"{rate(strong, floor)} | ", end="")
        print(f"{wrong}/{len(pairs)} = {100 * wrong / max(1, len(pairs)):.2f} %")


def timing() -> float:
    """Median ms of one comparison of two 1024 px pictures, both fingerprinted in the call."""
    from skimage import data

    a = Image.fromarray(data.astronaut()).resize((1024, 1024))
    b = Image.fromarray(data.coffee()).resize((1024, 1024))
    closeness(a, b)
    times = []
    for _ in range(TIMING_ROUNDS):
        started = time.perf_counter()
        closeness(a, b)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def main() -> None:
    started = time.perf_counter()
    with_model = "--no-model" not in sys.argv
    sources = photos()
    prints = {name: fingerprint(p) for name, p in sources.items()}
    laundered: dict[str, Counter] = defaultdict(Counter)
    unrelated: dict[str, Counter] = defaultdict(Counter)
    worst_laundered: list[tuple[float, str, str]] = []
    closest_unrelated: list[tuple[float, str]] = []

    def count(rows: dict[str, Counter], kind: str, a: Fingerprint, b: Fingerprint, label: str) -> float:
        found = compare(a, b)
        rows[kind][found.verdict] += 1
        if rows is laundered:
            worst_laundered.append((found.score, kind, label))
        else:
            closest_unrelated.append((found.score, f"{kind}: {label}"))
        return found.score

    for kind, name, picture in laundered_pairs(sources, list(sources.values())):
        count(laundered, kind, prints[name], fingerprint(picture), name)

    names = list(sources)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            count(unrelated, "different photos", prints[a], prints[b], f"{a} / {b}")
    for name, picture in sources.items():
        for side_by_side, kind in ((True, "left / right half of one photo"), (False, "top / bottom half of one photo")):
            first, second = (fingerprint(half) for half in halves(picture, side_by_side))
            count(unrelated, kind, first, second, name)
    rng = random.Random(4)
    for name, picture in sources.items():  # a launderer's copy of one photo is still unrelated to the others
        for _ in range(COPIES_AGAINST_OTHERS):
            copy = fingerprint(chain(rng)(picture, rng))
            for other in names:
                if other != name:
                    count(unrelated, "laundered copy / another photo", copy, prints[other], f"{name} / {other}")

    if with_model:
        repaints, outputs = tiny_model_pictures(sources)
        for strength, name, picture in repaints:
            count(laundered, f"{REPAINT} {strength:.1f}", prints[name], fingerprint(picture), name)
        output_prints = [fingerprint(p) for p, _ in outputs]
        for i, (a, (_, seed_a)) in enumerate(zip(output_prints, outputs, strict=True)):
            for b, (_, seed_b) in zip(output_prints[i + 1 :], outputs[i + 1 :], strict=True):
                # The random text encoder barely steers the random UNet: one seed's pictures are one picture.
                kind = "tiny outputs, other seed" if seed_a != seed_b else "tiny outputs, same seed, other prompt"
                count(unrelated, kind, a, b, "")
        for (source, _), out in zip(outputs, output_prints, strict=True):
            for transform in (crop(0.15, "corner"), jpeg(20), SINGLE["flip"][0], noise(25)):
                copy = transform(source, rng)
                count(laundered, "tiny output, laundered once", out, fingerprint(copy), "tiny output")

    print("Laundered pairs (source against its laundered version), by verdict:\n")
    table(laundered)
    print("\nUnrelated pairs, by verdict:\n")
    table(unrelated)

    def share(rows: dict[str, Counter], kinds: list[str], bands: tuple[str, ...]) -> str:
        hits = sum(rows[k][v] for k in kinds for v in bands)
        total = sum(sum(rows[k].values()) for k in kinds)
        return f"{hits}/{total} = {100 * hits / max(1, total):.2f} %"

    repaint_kinds = [k for k in laundered if k.startswith(REPAINT)]
    photo_kinds = [k for k in laundered if not k.startswith(("tiny", REPAINT))]
    # The halves of a mirror-symmetric photo are each other's mirror image; same-seed tiny outputs are one picture.
    truly_unrelated = ["different photos", "laundered copy / another photo", "tiny outputs, other seed"]
    truly_unrelated = [k for k in truly_unrelated if k in unrelated]
    halves_kinds = [k for k in unrelated if "half" in k]
    flagged = VERDICTS[:2]
    print(f"\nlaundered photos at 'keeps the composition' or closer: {share(laundered, photo_kinds, flagged)}")
    if repaint_kinds:
        with_repaints = share(laundered, photo_kinds + repaint_kinds, flagged)
        print(f"  the same with the tiny-model repaints: {with_repaints}")
        print(f"  the repaints alone: {share(laundered, repaint_kinds, flagged)}")
    print(f"unrelated pairs flagged (score >= {KEEPS_COMPOSITION}), {' + '.join(truly_unrelated)}: ", end="")
    print(share(unrelated, truly_unrelated, flagged))
    print(f"halves of one photo flagged: {share(unrelated, halves_kinds, flagged)}")
    scores_by_kind: dict[str, list[float]] = defaultdict(list)
    for score, kind, _ in worst_laundered:
        scores_by_kind[kind].append(score)
    for kind in repaint_kinds:
        found = sorted(scores_by_kind[kind])
        print(f"{kind}: median {statistics.median(found):.2f}, lowest {found[0]:.2f}, highest {found[-1]:.2f}")
    for low, high in ((0.1, 0.4), (0.5, 0.6)):  # which photos' repaints fall out: textures, or subjects too?
        missed = Counter(
            name
            for score, kind, name in worst_laundered
            if kind in repaint_kinds and low <= float(kind.rsplit(" ", 1)[1]) <= high and score < KEEPS_COMPOSITION
        )
        print(
            f"repaints at {low}-{high} not flagged, by photo:", ", ".join(f"{n} {c}" for n, c in missed.most_common())
        )
    floors(worst_laundered, closest_unrelated, photo_kinds, repaint_kinds, truly_unrelated)
    lowest = sorted(x for x in worst_laundered if x[1] in photo_kinds)[:8]
    print("lowest laundered photos:", ", ".join(f"{s:.2f} {k} ({n})" for s, k, n in lowest))
    counted = [(s, k) for s, k in closest_unrelated if k.split(":")[0] in truly_unrelated]
    print("closest unrelated:", ", ".join(f"{s:.2f} {k}" for s, k in sorted(counted)[-6:][::-1]))
    halves_found = [(s, k) for s, k in closest_unrelated if "half" in k]
    print("closest halves:", ", ".join(f"{s:.2f} {k}" for s, k in sorted(halves_found)[-6:][::-1]))
    print(f"one comparison at 1024 px, both fingerprinted: {timing():.1f} ms (median of {TIMING_ROUNDS})")
    print(f"bench time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
