"""Has a LoRA memorised its training pictures instead of learning the character?

Samples are made from the training captions with the LoRA, and each is compared with every training
picture. A sample that reproduces a training picture means the model has copied, not learned.

The comparison is the studio's closeness measure (studio/closeness.py, issue 29): the same measure and the same
scale that say when a result stays too close to someone else's picture, so each band means one thing everywhere. It needs no network weights and survives the small shifts, crops, flips and noise between two renders
of one picture. Each training picture is first passed through the model's own VAE, so the measure asks "did the
model reproduce this picture as well as it could at all?" and the VAE's own losses do not count.

A sample is flagged when it "keeps the composition" of a training picture or is closer (the measure's
KEEPS_COMPOSITION band): "flagged" means the same here as for a result against someone else's picture. The band's
floor was set on the calibration bench (bench/bench_closeness.py); on the tiny model, a LoRA trained until it
reproduces its two pictures scores 0.64 and 0.58 against them, and its other samples about 0.25 (a test). The
stricter "a near copy" would not catch it: through a VAE, even a copied picture comes back changed. A character LoRA
whose pictures all share one pose and framing may be flagged for keeping that framing; the Train tab names the
band and the sheet shows the pairs, so the artist can judge.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from studio.closeness import KEEPS_COMPOSITION, MEASURE, Fingerprint, compare, fingerprint
from studio.engine.engine import Engine
from studio.errors import InputError
from studio.files import atomic_write, atomic_write_text
from studio.recipe import LoraRef, Recipe
from studio.train.dataset import load_examples
from studio.train.report import MemorizationReport, Pair
from studio.train.settings import TrainingSettings
from studio.train.trainer import picture_latents

METRIC = f"the studio's closeness measure ({MEASURE}), against the VAE reconstruction of each training picture"
THRESHOLD = KEEPS_COMPOSITION
_SIDE = 128  # the report sheet's thumbnails


def similarity(a: Image.Image, b: Image.Image) -> float:
    """The closeness score of two pictures, 0 (unrelated) .. 1 (the same picture)."""
    return compare(fingerprint(a), fingerprint(b)).score


def score_samples(samples: list[Image.Image], references: dict[str, Image.Image]) -> list[Pair]:
    """For each sample, its nearest reference picture, closest pairs first."""
    prints: dict[str, Fingerprint] = {name: fingerprint(picture) for name, picture in references.items()}
    pairs = []
    for index, sample in enumerate(samples):
        ours = fingerprint(sample)
        name, score = max(((name, compare(ours, theirs).score) for name, theirs in prints.items()), key=lambda p: p[1])
        pairs.append(Pair(index, name, round(score, 4)))
    return sorted(pairs, key=lambda pair: -pair.score)


def check_memorization(
    engine: Engine,
    lora: Path,
    dataset: Path,
    *,
    resolution: int = 512,
    samples_per_picture: int = 2,
    steps: int = 20,
    model: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> MemorizationReport:
    """Sample from the dataset's captions with the LoRA, score, and save the report beside the LoRA."""
    settings = TrainingSettings(dataset=str(dataset), name=lora.stem, resolution=resolution)
    examples = load_examples(settings)
    with engine.lane(model) as pipelines:
        if pipelines.family.is_flux:
            raise InputError("model: the memorization check runs on SD 1.5 and SDXL models for now; load one")
        references = {example.path.name: through_vae(pipelines.base, example.picture) for example in examples}
        model = pipelines.model
    samples: list[Image.Image] = []
    total = len(examples) * samples_per_picture
    for example in examples:
        for seed in range(samples_per_picture):
            recipe = Recipe(
                prompt=example.caption or lora.stem,
                model=model,
                steps=steps,
                width=example.picture.width,
                height=example.picture.height,
                seed=seed,
                sampler="DPM++ 2M",
                scheduler="Uniform",  # the schedule the tests' figures were measured with
                loras=(LoraRef(str(lora), 1.0),),
            )
            samples.extend(engine.generate(recipe))
            if on_progress:
                on_progress(len(samples), total)
    closest = score_samples(samples, references)
    report = MemorizationReport(
        str(lora),
        str(dataset),
        METRIC,
        THRESHOLD,
        overfitted=bool(closest) and closest[0].score >= THRESHOLD,
        closest=closest,
    )
    report = dataclasses.replace(report, sheet=str(report_paths(lora)[1]))
    _save(report, samples, {e.path.name: e.picture for e in examples}, lora)
    return report


def report_paths(lora: Path) -> tuple[Path, Path]:
    return lora.with_name(f"{lora.stem}.memorization.json"), lora.with_name(f"{lora.stem}.memorization.png")


def _save(report: MemorizationReport, samples: list[Image.Image], pictures: dict[str, Image.Image], lora: Path) -> None:
    json_path, sheet_path = report_paths(lora)
    atomic_write_text(json_path, json.dumps(report.to_dict(), indent=2))
    rows = report.closest[:4]
    sheet = Image.new("RGB", (2 * _SIDE + 30, max(1, len(rows)) * (_SIDE + 24)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, pair in enumerate(rows):
        top = row * (_SIDE + 24)
        sheet.paste(samples[pair.sample].convert("RGB").resize((_SIDE, _SIDE)), (10, top + 18))
        sheet.paste(pictures[pair.training_picture].resize((_SIDE, _SIDE)), (20 + _SIDE, top + 18))
        flag = "  TOO CLOSE" if pair.score >= report.threshold else ""
        draw.text(
            (10, top + 3), f"sample {pair.sample} vs {pair.training_picture}: {pair.score:.2f}{flag}", fill="black"
        )
    atomic_write(sheet_path, lambda handle: sheet.save(handle, format="PNG"))


def through_vae(pipe, picture: Image.Image) -> Image.Image:
    """The picture encoded and decoded by the pipeline's VAE: as close as this model can come to it at all."""
    with torch.inference_mode():
        latents = picture_latents(pipe, picture) / pipe.vae.config.scaling_factor
        decoded = pipe.vae.decode(latents).sample[0]
    return Image.fromarray(((decoded.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy())
