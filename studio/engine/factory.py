"""Wiring an engine to a model loader; called by launch.py (and test fixtures), nowhere else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.engine.controlnets import load_controlnet
from studio.engine.embeddings import EmbeddingShelf
from studio.engine.engine import Engine
from studio.engine.faces import InsightFaceFinder
from studio.engine.models import DeviceSettings, load_pipeline, resolve_model
from studio.engine.pipelines import AnyControlNet, PipelineSet, denoiser
from studio.engine.references import ReferenceAdapters
from studio.engine.speed import FastPath
from studio.engine.upscalers import Upscalers


def make_engine(
    *,
    cache_dir: Path,
    settings: DeviceSettings | None = None,
    allow_pickle: bool = False,
    lora_dir: Path | None = None,
    embedding_dir: Path | None = None,
    reference_dir: Path | None = None,
    upscalers: Upscalers | None = None,
    fast: bool | None = None,
    flux_base: str | None = None,
) -> Engine:
    """An engine that loads models on demand (a hub id, a folder, a .safetensors file or 'tiny').

    LoRAs named in recipes are looked up in `lora_dir` (or given as paths), textual-inversion embeddings named
    in prompts in `embedding_dir`, IP-Adapters for reference pictures in `reference_dir`. `fast`: None compiles where
    that works (studio/engine/speed.py), True also where it only costs (the CPU), False never. `flux_base`: the Flux
    model whose text encoders and VAE serve a Flux transformer file (None: one found beside the file).
    """
    device = settings or DeviceSettings.best_available()
    fast_path = FastPath.for_device(device, wanted=fast, cache_dir=cache_dir)

    def load(model: str) -> PipelineSet:
        source = resolve_model(model, allow_pickle=allow_pickle)
        return PipelineSet(load_pipeline(source, device, cache_dir=cache_dir, flux_base=flux_base), model)

    def load_control(spec: str, pipelines: PipelineSet) -> AnyControlNet:
        config: Any = denoiser(pipelines.base).config  # a diffusers FrozenDict
        text_width = int(config.get("joint_attention_dim") or config["cross_attention_dim"])
        return load_controlnet(
            spec, device, cache_dir=cache_dir, allow_pickle=allow_pickle, family=pipelines.family, text_width=text_width
        )

    return Engine(
        load,
        load_controlnet=load_control,
        lora_dir=lora_dir,
        embeddings=EmbeddingShelf(embedding_dir, allow_pickle=allow_pickle),
        references=ReferenceAdapters(reference_dir, allow_pickle=allow_pickle, faces=InsightFaceFinder(reference_dir)),
        allow_pickle=allow_pickle,
        upscalers=upscalers,
        fast=fast_path,
    )
