"""Has a LoRA memorised its training pictures instead of learning the character?

Samples are made from the training captions with the LoRA, and each is compared with every training
picture. A sample nearly identical to a training picture means the model has copied, not learned.

The similarity is SSIM (structural similarity, Wang et al. 2004) on 128x128 greyscale: it compares
local brightness, contrast and structure much as the eye does, needs no network weights (LPIPS and
DreamSim must be downloaded), and tolerates the small noise differences between two renders of one
picture. Each training picture is first passed through the model's own VAE, so the measure asks "did
the model reproduce this picture as well as it could at all?" and the VAE's own losses do not count.

Threshold 0.5, measured on scikit-image's sample photos: different photos score 0.05-0.12; a photo
against a JPEG (quality 40) of itself 0.99, against a copy shifted and rescaled by 1.5% 0.68. SSIM is
strict about shifts, so the line sits halfway: a margin to both kinds.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from skimage.metrics import structural_similarity

from studio.engine.engine import Engine
from studio.files import atomic_write, atomic_write_text
from studio.recipe import LoraRef, Recipe
from studio.train.dataset import load_examples
from studio.train.report import MemorizationReport, Pair
from studio.train.settings import TrainingSettings
from studio.train.trainer import picture_latents

METRIC = "SSIM, 128x128 greyscale, against the VAE reconstruction of each training picture"
THRESHOLD = 0.5
_SIDE = 128


def similarity(a: Image.Image, b: Image.Image) -> float:
    score = structural_similarity(_grey(a), _grey(b), data_range=255.0)  # a float without `full`/`gradient`
    return float(score)  # pyright: ignore[reportArgumentType]


def score_samples(samples: list[Image.Image], references: dict[str, Image.Image]) -> list[Pair]:
    """For each sample, its nearest reference picture, closest pairs first."""
    pairs = []
    for index, sample in enumerate(samples):
        name, score = max(
            ((name, similarity(sample, picture)) for name, picture in references.items()), key=lambda p: p[1]
        )
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
        references = {example.path.name: _through_vae(pipelines.base, example.picture) for example in examples}
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
                scheduler="Uniform",  # the schedule the 0.5 threshold was measured with (README)
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


def _through_vae(pipe, picture: Image.Image) -> Image.Image:
    with torch.inference_mode():
        latents = picture_latents(pipe, picture) / pipe.vae.config.scaling_factor
        decoded = pipe.vae.decode(latents).sample[0]
    return Image.fromarray(((decoded.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy())


def _grey(picture: Image.Image) -> np.ndarray:
    return np.asarray(picture.convert("L").resize((_SIDE, _SIDE), Image.Resampling.BILINEAR), dtype=np.float64)
