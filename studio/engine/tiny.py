"""The tiny models: Stable Diffusion 1.5's (`tiny`) and SDXL's (`tiny-sdxl`) shapes with small random weights.

They exist so the whole studio (and its tests) run without a model hub: same pipeline classes, same
folder layout, same 49,408-token CLIP tokenizers, loaded with `from_pretrained` like any local model.
Their pictures are noise-coloured, not art.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import torch
from diffusers import (
    AutoencoderKL,
    ControlNetModel,
    ControlNetUnionModel,
    EulerDiscreteScheduler,
    PNDMScheduler,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from studio.engine.families import Family

# Bump when the architecture or weights change, so caches built by older code are not reused.
TINY_VERSION = 2
CLIP_VOCAB_SIZE = 49408
CLIP_MAX_LENGTH = 77
_CLIP_MERGES = 49152 - 256 - 2  # merges used by OpenAI's CLIP tokenizer


_FOLDER_NAMES = {Family.SD15: "tiny-sd15", Family.SDXL: "tiny-sdxl"}


def tiny_model_folder(cache_dir: Path, family: Family = Family.SD15) -> Path:
    """The tiny model's folder for `family`, built on first use."""
    folder = cache_dir / f"{_FOLDER_NAMES[family]}-v{TINY_VERSION}"
    if not (folder / "model_index.json").is_file():
        build = _tiny_sdxl_pipeline if family is Family.SDXL else _tiny_pipeline
        save_atomically(
            folder, "model_index.json", lambda staging: build().save_pretrained(staging, safe_serialization=True)
        )
    return folder


def tiny_controlnet_folder(cache_dir: Path, family: Family = Family.SD15, *, union: bool = False) -> Path:
    """A ControlNet for the tiny model of `family`, saved like a real one (config.json + safetensors).

    `union`: SDXL's "union" ControlNet, one model that serves several kinds (xinsir's promax layout)."""
    prefix = "tiny-controlnet" if family is Family.SD15 else "tiny-sdxl-controlnet"
    folder = cache_dir / f"{prefix}{'-union' if union else ''}-v{TINY_VERSION}"
    if not (folder / "config.json").is_file():
        unet = UNet2DConditionModel.from_pretrained(tiny_model_folder(cache_dir, family) / "unet")
        make = _tiny_union_controlnet if union else _tiny_controlnet
        save_atomically(folder, "config.json", lambda staging: make(unet).save_pretrained(staging))
    return folder


def save_atomically(folder: Path, marker: str, save) -> None:
    """Save into a staging folder and rename it into place, so a half-built model is never loaded."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        save(staging)
        try:
            staging.rename(folder)
        except OSError:
            if not (folder / marker).is_file():  # another process did not win the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Random weights from a fixed seed (every machine builds the same model), the caller's generator kept."""
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.random.set_rng_state(state)


def _tiny_controlnet(unet: UNet2DConditionModel) -> ControlNetModel:
    """The tiny UNet's encoder as a ControlNet, as `from_unet` makes one before training.

    A real ControlNet starts with its output convolutions at zero and learns them; an untrained one
    would change nothing, and no test could tell control from none. Small random weights stand in
    for the training, so a map visibly steers the picture and its weight and timing matter.
    """
    with _seeded(1):
        controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32, 64, 64))
        if unet.config["addition_embed_type"] == "text_time":
            # `from_unet` leaves out SDXL's size conditioning; a ControlNet made from an SDXL UNet has it.
            sdxl = ("addition_embed_type", "addition_time_embed_dim", "projection_class_embeddings_input_dim")
            controlnet = cast(
                ControlNetModel,
                ControlNetModel.from_config(
                    {
                        **controlnet.config,
                        **{name: unet.config[name] for name in sdxl},
                        "transformer_layers_per_block": unet.config["transformer_layers_per_block"],
                    }
                ),
            )
        _as_if_trained(controlnet)
    return controlnet


def _tiny_union_controlnet(unet: UNet2DConditionModel) -> ControlNetUnionModel:
    """The union ControlNet's shape for the tiny SDXL UNet: eight control types (promax's), each map
    embedded, mixed by a small transformer and added to the latents, as a real one learns to."""
    with _seeded(2):
        made = ControlNetUnionModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32, 64, 64)).config
        # Without the bookkeeping keys: `_use_default_values` would put the defaults back over ours.
        shape = {key: value for key, value in made.items() if not key.startswith("_")}
        width = unet.config["block_out_channels"][0]
        union = {"num_control_type": 8, "num_trans_channel": width, "num_proj_channel": width, "num_trans_head": 4}
        controlnet = cast(ControlNetUnionModel, ControlNetUnionModel.from_config({**shape, **union}))
        _as_if_trained(controlnet)
        with torch.no_grad():
            controlnet.spatial_ch_projs.weight.normal_(0.0, 0.1)  # zero in an untrained one, like the blocks
    return controlnet


def _as_if_trained(controlnet: ControlNetModel | ControlNetUnionModel) -> None:
    embedding = controlnet.controlnet_cond_embedding
    with torch.no_grad():
        # He initialisation without biases: the map's signal survives the embedding's eight layers.
        for layer in [embedding.conv_in, *embedding.blocks, embedding.conv_out]:
            fan_in = layer.weight[0].numel()
            layer.weight.normal_(0.0, (2.0 / fan_in) ** 0.5)
            layer.bias.zero_()
        embedding.conv_out.weight *= 20.0  # as loud as the latents it is added to
        for layer in [controlnet.controlnet_mid_block, *controlnet.controlnet_down_blocks]:
            layer.weight.normal_(0.0, 0.1)
            layer.bias.zero_()


def _tiny_pipeline() -> StableDiffusionPipeline:
    with _seeded(0):
        unet = UNet2DConditionModel(
            sample_size=64,
            in_channels=4,
            out_channels=4,
            layers_per_block=1,
            block_out_channels=(32, 64, 64),
            down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=8,
            norm_num_groups=32,
        )
        vae = _tiny_vae()
        text_encoder = CLIPTextModel(_tiny_clip_config(2))
    # Stable Diffusion 1.5's own scheduler configuration.
    scheduler = PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        set_alpha_to_one=False,
        skip_prk_steps=True,
        steps_offset=1,
    )
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=clip_tokenizer(),
        unet=unet,
        scheduler=scheduler,  # pyright: ignore[reportArgumentType] (any scheduler; the annotation names an enum)
        safety_checker=None,  # pyright: ignore[reportArgumentType] (None is documented: no safety checker)
        feature_extractor=None,  # pyright: ignore[reportArgumentType]
        requires_safety_checker=False,
    )


def _tiny_vae() -> AutoencoderKL:
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        # diffusers annotates these as one-element tuples; any length is meant.
        block_out_channels=(32, 32, 64, 64),  # pyright: ignore[reportArgumentType]
        down_block_types=("DownEncoderBlock2D",) * 4,  # pyright: ignore[reportArgumentType]
        up_block_types=("UpDecoderBlock2D",) * 4,  # pyright: ignore[reportArgumentType]
        layers_per_block=1,
        norm_num_groups=32,
        sample_size=512,
        # Like SD's own 0.18215: scales this VAE's latents of photos (std ~0.19) to unit variance,
        # so that noise and picture weigh in the diffusion as they do in the real model.
        scaling_factor=5.3,
    )


def _tiny_clip_config(hidden_layers: int, *, width: int = 32, activation: str = "quick_gelu") -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=CLIP_VOCAB_SIZE,
        hidden_size=width,
        intermediate_size=2 * width,
        num_attention_heads=4,
        num_hidden_layers=hidden_layers,
        max_position_embeddings=CLIP_MAX_LENGTH,
        projection_dim=width,
        hidden_act=activation,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
    )


def _tiny_sdxl_pipeline() -> StableDiffusionXLPipeline:
    """SDXL's architecture in miniature: no attention in the first block, linear projections, two text
    encoders (CLIP ViT-L and OpenCLIP bigG's shape: GELU, a projection for the pooled embedding) whose
    hidden states are joined for the cross-attention, and the size conditioning ("text_time")."""
    with _seeded(0):
        text_encoder = CLIPTextModel(_tiny_clip_config(3))
        # Wider than the first, as bigG (1280) is wider than ViT-L (768): loaders tell them apart by width.
        text_encoder_2 = CLIPTextModelWithProjection(_tiny_clip_config(3, width=48, activation="gelu"))
        unet = UNet2DConditionModel(
            sample_size=128,
            in_channels=4,
            out_channels=4,
            layers_per_block=1,
            block_out_channels=(32, 64, 64),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 1, 1),  # pyright: ignore[reportArgumentType]
            cross_attention_dim=32 + 48,  # the two encoders' hidden states side by side
            attention_head_dim=(2, 4, 4),  # pyright: ignore[reportArgumentType]
            use_linear_projection=True,
            addition_embed_type="text_time",
            addition_time_embed_dim=8,
            # six size numbers (original size, crop, target size), each embedded, plus the pooled text
            projection_class_embeddings_input_dim=8 * 6 + 48,
            norm_num_groups=32,
        )
        vae = _tiny_vae()
    # SDXL base 1.0's own scheduler configuration.
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        steps_offset=1,
        timestep_spacing="leading",
        prediction_type="epsilon",
    )
    return StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,  # pyright: ignore[reportArgumentType]
        tokenizer=clip_tokenizer(),
        tokenizer_2=clip_tokenizer(pad_token="!"),
        unet=unet,
        scheduler=scheduler,  # pyright: ignore[reportArgumentType]
        force_zeros_for_empty_prompt=True,
        add_watermarker=False,
    )


def clip_tokenizer(pad_token: str = "<|endoftext|>") -> CLIPTokenizer:
    """OpenAI CLIP's real tokenizer, from the BPE vocabulary that ships inside the open_clip wheel.

    SD 1.5's tokenizer pads with the end token; SDXL's second (OpenCLIP) one pads with "!" (id 0).
    """
    vocab, merges = _clip_vocabulary()
    tokenizer = CLIPTokenizer(
        vocab=vocab,
        merges=merges,  # pyright: ignore[reportArgumentType] (transformers 5 takes (left, right) pairs)
        model_max_length=CLIP_MAX_LENGTH,
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token=pad_token,
    )
    # transformers silently builds a 2-token tokenizer from wrong arguments; never ship that.
    if len(tokenizer) != CLIP_VOCAB_SIZE or tokenizer.model_max_length != CLIP_MAX_LENGTH:
        raise RuntimeError(
            f"built a wrong CLIP tokenizer ({len(tokenizer)} tokens, max length {tokenizer.model_max_length})"
        )
    return tokenizer


def _clip_vocabulary() -> tuple[dict[str, int], list[tuple[str, str]]]:
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "open_clip_torch is not installed; it ships the CLIP vocabulary (pip install -r requirements.txt)"
        )
    bpe_file = Path(spec.submodule_search_locations[0]) / "bpe_simple_vocab_16e6.txt.gz"
    with gzip.open(bpe_file, "rt", encoding="utf-8") as vocabulary:
        lines = vocabulary.read().split("\n")
    merges = [(left, right) for left, right in (line.split() for line in lines[1 : _CLIP_MERGES + 1])]
    byte_symbols = list(_bytes_to_unicode().values())
    tokens = byte_symbols + [symbol + "</w>" for symbol in byte_symbols]
    tokens += ["".join(merge) for merge in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {token: index for index, token in enumerate(tokens)}, merges


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible map from bytes to printable characters."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    characters = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            characters.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, characters), strict=True))
