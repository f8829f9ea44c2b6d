"""The studio's own diffusers configurations for single-file checkpoints, so one loads with no download.

A checkpoint in the original (LDM) layout holds weights only; diffusers' `from_single_file` needs
a diffusers folder to know the shapes, the tokenizers and the scheduler, and without one it
downloads the base model's from the hub. These are SD 1.5's and SDXL base 1.0's published
configurations, written once into the cache (with the CLIP tokenizer built from its vocabulary), and
the tiny models' folders for checkpoints made from them. Which one fits is read from the
checkpoint's own shapes, never from its name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from studio.engine.families import SD15_TEXT_ENCODER, SDXL_TEXT_ENCODER_2, UNET, Family
from studio.engine.tiny import clip_tokenizer, save_atomically, tiny_model_folder
from studio.errors import ModelError

CONFIG_VERSION = 1

_CLIP_L = {
    "architectures": ["CLIPTextModel"],
    "model_type": "clip_text_model",
    "hidden_act": "quick_gelu",
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "projection_dim": 768,
    "max_position_embeddings": 77,
    "vocab_size": 49408,
    "layer_norm_eps": 1e-05,
    "bos_token_id": 0,
    "eos_token_id": 2,
    "pad_token_id": 1,
}
_OPEN_CLIP_BIG_G = {
    **_CLIP_L,
    "architectures": ["CLIPTextModelWithProjection"],
    "hidden_act": "gelu",
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_attention_heads": 20,
    "num_hidden_layers": 32,
    "projection_dim": 1280,
}
_VAE = {
    "_class_name": "AutoencoderKL",
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}
_UNET_COMMON = {
    "_class_name": "UNet2DConditionModel",
    "act_fn": "silu",
    "center_input_sample": False,
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
}
_SCHEDULER_COMMON = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "steps_offset": 1,
    "prediction_type": "epsilon",
}

BASE_CONFIGS: dict[Family, dict[str, dict]] = {
    Family.SD15: {
        "model_index.json": {
            "_class_name": "StableDiffusionPipeline",
            "feature_extractor": [None, None],
            "safety_checker": [None, None],
            "requires_safety_checker": False,
            "scheduler": ["diffusers", "PNDMScheduler"],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"],
        },
        "unet/config.json": {
            **_UNET_COMMON,
            "attention_head_dim": 8,
            "block_out_channels": [320, 640, 1280, 1280],
            "cross_attention_dim": 768,
            "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
            "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
            "sample_size": 64,
        },
        "vae/config.json": _VAE,
        "text_encoder/config.json": _CLIP_L,
        "scheduler/scheduler_config.json": {
            "_class_name": "PNDMScheduler",
            **_SCHEDULER_COMMON,
            "set_alpha_to_one": False,
            "skip_prk_steps": True,
        },
    },
    Family.SDXL: {
        "model_index.json": {
            "_class_name": "StableDiffusionXLPipeline",
            "force_zeros_for_empty_prompt": True,
            "scheduler": ["diffusers", "EulerDiscreteScheduler"],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "tokenizer_2": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"],
        },
        "unet/config.json": {
            **_UNET_COMMON,
            "addition_embed_type": "text_time",
            "addition_embed_type_num_heads": 64,
            "addition_time_embed_dim": 256,
            "attention_head_dim": [5, 10, 20],
            "block_out_channels": [320, 640, 1280],
            "cross_attention_dim": 2048,
            "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
            "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
            "projection_class_embeddings_input_dim": 2816,
            "sample_size": 128,
            "transformer_layers_per_block": [1, 2, 10],
            "use_linear_projection": True,
        },
        "vae/config.json": {**_VAE, "sample_size": 1024, "scaling_factor": 0.13025, "force_upcast": True},
        "text_encoder/config.json": _CLIP_L,
        "text_encoder_2/config.json": _OPEN_CLIP_BIG_G,
        "scheduler/scheduler_config.json": {
            "_class_name": "EulerDiscreteScheduler",
            **_SCHEDULER_COMMON,
            "timestep_spacing": "leading",
            "interpolation_type": "linear",
            "use_karras_sigmas": False,
        },
    },
}
_NAMES = {Family.SD15: "sd15", Family.SDXL: "sdxl"}


def config_folder(path: Path, family: Family, cache_dir: Path) -> Path:
    """The diffusers folder whose shapes fit the checkpoint at `path`: the family's base, or its tiny model."""
    shapes = _checkpoint_shapes(path, family)
    candidates: list[Callable[[], Path]] = [
        lambda: base_config_folder(family, cache_dir),
        lambda: tiny_model_folder(cache_dir, family),
    ]
    for folder in (candidate() for candidate in candidates):
        if _folder_shapes(folder, family) == shapes:
            return folder
    raise ModelError(
        f"{path.name} is an {family} checkpoint of an unusual shape (UNet input {shapes[0]}, text width "
        f"{shapes[1]}): an inpainting or other special model the studio cannot configure offline yet. "
        "Use a diffusers folder of it, or a standard SD 1.5/SDXL checkpoint."
    )


def _checkpoint_shapes(path: Path, family: Family) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The UNet's first convolution and the (first) text encoder's token embedding: what tells shapes apart."""
    from safetensors import safe_open

    text = (
        "conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight"
        if family is Family.SDXL
        else SD15_TEXT_ENCODER + "text_model.embeddings.token_embedding.weight"
    )
    with safe_open(str(path), framework="pt") as checkpoint:
        keys = set(checkpoint.keys())  # noqa: SIM118 (safe_open is not iterable)
        conv_in = UNET + "input_blocks.0.0.weight"
        if conv_in not in keys or text not in keys:
            first = SDXL_TEXT_ENCODER_2 if family is Family.SDXL else SD15_TEXT_ENCODER
            raise ModelError(f"{path.name} lacks {conv_in if conv_in not in keys else text} ({first}...).")
        return tuple(checkpoint.get_slice(conv_in).get_shape()), tuple(checkpoint.get_slice(text).get_shape())


def _folder_shapes(folder: Path, family: Family) -> tuple[tuple[int, ...], tuple[int, ...]]:
    unet = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
    text = json.loads((folder / "text_encoder" / "config.json").read_text(encoding="utf-8"))
    conv_in = (unet["block_out_channels"][0], unet["in_channels"], 3, 3)
    return conv_in, (text["vocab_size"], text["hidden_size"])


def base_config_folder(family: Family, cache_dir: Path) -> Path:
    folder = cache_dir / f"config-{_NAMES[family]}-v{CONFIG_VERSION}"
    if not (folder / "model_index.json").is_file():
        save_atomically(folder, "model_index.json", lambda staging: _write_config(staging, family))
    return folder


def _write_config(folder: Path, family: Family) -> None:
    for name, content in BASE_CONFIGS[family].items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(json.dumps(content, indent=2), encoding="utf-8")
    clip_tokenizer().save_pretrained(folder / "tokenizer")
    if family is Family.SDXL:
        clip_tokenizer(pad_token="!").save_pretrained(folder / "tokenizer_2")
