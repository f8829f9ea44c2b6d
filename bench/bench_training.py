"""LoRA training speed: steps per second.

    python bench/bench_training.py          # the tiny model on the CPU (what CI machines have)
    python bench/bench_training.py --gpu    # on a CUDA GPU: the full SD 1.5 UNet architecture with random
                                            # weights (no download), rank 16, 512 px, batch 1 and 4,
                                            # speed and peak GPU memory

Prints, for each setting, steps per second measured after warm-up steps, in one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from studio.engine.engine import Engine  # noqa: E402
from studio.engine.factory import make_engine  # noqa: E402
from studio.engine.models import DeviceSettings  # noqa: E402
from studio.engine.pipelines import PipelineSet  # noqa: E402
from studio.train.settings import TrainingSettings  # noqa: E402
from studio.train.trainer import train_lora  # noqa: E402

WARM_UP = 3


def dataset(folder: Path, size: int, count: int = 4) -> Path:
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    for index in range(count):
        Image.fromarray(photos[index % len(photos)]).convert("RGB").resize((size, size)).save(folder / f"{index}.png")
    return folder


def full_size_engine(device: str = "cuda", dtype: torch.dtype = torch.float16) -> Engine:
    """Stable Diffusion 1.5's real architecture (UNet 320/640/1280, CLIP ViT-L) with random weights."""
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from studio.engine.tiny import clip_tokenizer

    unet = UNet2DConditionModel(
        sample_size=64, cross_attention_dim=768, attention_head_dim=8
    )  # otherwise SD 1.x defaults
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=2,
    )
    text = CLIPTextModel(
        CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12)
    )
    scheduler = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True)
    pipe = StableDiffusionPipeline(
        vae, text, clip_tokenizer(), unet, scheduler, None, None, requires_safety_checker=False
    )
    pipe.to(device, dtype)
    pipe.set_progress_bar_config(disable=True)
    return Engine(lambda model: PipelineSet(pipe, model))


def measure(engine: Engine, folder: Path, name: str, **settings) -> float:
    times: list[float] = []
    last = [time.perf_counter()]

    def tick(progress) -> None:
        now = time.perf_counter()
        if progress.step > WARM_UP:
            times.append(now - last[0])
        last[0] = now

    training = TrainingSettings(dataset=str(folder), name=name, save_every=10**6, sample_every=10**6, **settings)
    train_lora(engine, training, folder / "out", on_progress=tick)
    return len(times) / sum(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gpu", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="studio-train-bench-"))
    if args.gpu:
        if not torch.cuda.is_available():
            sys.exit("--gpu needs a CUDA GPU")
        engine = full_size_engine()
        engine.load("sd15-architecture-random-weights")
        folder = dataset(work, 512)
        print(
            f"LoRA training on {torch.cuda.get_device_name()}: SD 1.5 architecture, random weights, fp16, rank 16, 512 px"
        )
        for batch in (1, 4):
            torch.cuda.reset_peak_memory_stats()
            speed = measure(
                engine, folder, f"b{batch}", rank=16, alpha=16, steps=WARM_UP + 20, batch_size=batch, resolution=512
            )
            peak = torch.cuda.max_memory_allocated() / 2**30
            print(
                f"  batch {batch}: {speed:6.2f} steps/s  ({speed * batch:6.2f} pictures/s)  peak memory {peak:5.2f} GiB"
            )
    else:
        torch.set_num_threads(1)
        engine = make_engine(cache_dir=work / "cache", settings=DeviceSettings("cpu", torch.float32))
        engine.load("tiny")
        folder = dataset(work, 256)
        print("LoRA training on the CPU, one thread: the tiny model, rank 8")
        for resolution, batch in ((64, 1), (256, 1), (256, 4)):
            speed = measure(
                engine,
                folder,
                f"r{resolution}b{batch}",
                rank=8,
                alpha=8,
                steps=WARM_UP + 15,
                batch_size=batch,
                resolution=resolution,
            )
            print(f"  {resolution:3d} px, batch {batch}: {speed:6.2f} steps/s")


if __name__ == "__main__":
    main()
