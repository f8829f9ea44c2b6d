"""A training folder: pictures with captions, fitted into aspect-ratio buckets or centre-cropped."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from studio.errors import InputError
from studio.train.settings import IMAGE_SUFFIXES, TrainingSettings


class DatasetError(InputError):
    """The training folder cannot be used; the message says why."""


@dataclass(frozen=True)
class Example:
    path: Path
    caption: str
    picture: Image.Image  # RGB, already at its bucket's size


def load_examples(settings: TrainingSettings) -> list[Example]:
    folder = Path(settings.dataset).expanduser()
    if not folder.is_dir():
        raise DatasetError(f"dataset: {folder} is not a folder")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise DatasetError(f"dataset: {folder} holds no pictures ({', '.join(IMAGE_SUFFIXES)})")
    examples = []
    for path in paths:
        try:
            with Image.open(path) as opened:
                picture = ImageOps.exif_transpose(opened).convert("RGB")
        except OSError as error:
            raise DatasetError(f"dataset: {path.name} is not a readable picture ({error})") from None
        size = (
            bucket_for(picture.size, settings.resolution)
            if settings.bucketing
            else (settings.resolution, settings.resolution)
        )
        examples.append(Example(path, caption_for(path, settings.trigger_word), ImageOps.fit(picture, size)))
    return examples


def folder_sha256(settings: TrainingSettings) -> str:
    """One hash of what was trained on: every picture and caption of the folder (names and bytes), in order.

    Kept in the LoRA, so an authorship record can say "trained on this folder" without naming the folder.
    """
    folder = Path(settings.dataset).expanduser()
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in (*IMAGE_SUFFIXES, ".txt") and p.is_file()):
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def caption_for(picture: Path, trigger_word: str) -> str:
    """The picture's .txt caption, led by the trigger word (added if the caption lacks it)."""
    sidecar = picture.with_suffix(".txt")
    caption = sidecar.read_text(encoding="utf-8").strip() if sidecar.is_file() else ""
    trigger = trigger_word.strip()
    if trigger and trigger not in caption:
        caption = f"{trigger}, {caption}" if caption else trigger
    return caption


def bucket_for(size: tuple[int, int], resolution: int) -> tuple[int, int]:
    """The bucket (multiples of 64, about resolution² pixels) whose aspect ratio is closest to `size`."""
    aspect = size[0] / size[1]
    buckets = []
    for width in range(max(64, resolution // 2 // 64 * 64), resolution * 2 + 1, 64):
        height = max(64, round(resolution * resolution / width / 64) * 64)
        buckets.append((width, height))
    return min(buckets, key=lambda bucket: abs(bucket[0] / bucket[1] - aspect))
