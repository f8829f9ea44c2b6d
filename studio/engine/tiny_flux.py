"""The tiny Flux model (`tiny-flux`): Flux.1-dev's shape with small random weights.

Like the tiny SD models (studio/engine/tiny.py), it lets the studio and its tests run Flux without a model hub:
the same `FluxPipeline` and folder layout, OpenAI CLIP's real tokenizer, a T5 tokenizer of the real kind
(Unigram, `</s>` after every prompt, padded to 512) over a small English vocabulary, Flux.1-dev's scheduler
settings and distilled guidance. Its pictures are noise-coloured, not art.

`tiny_flux_checkpoint` is the same transformer as one `.safetensors` file in Black Forest Labs' own key
layout, the way Flux transformers are shipped outside diffusers (Civitai, ComfyUI's diffusion_models folder).
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import cast

import torch
from diffusers import (
    AutoencoderKL,
    FlowMatchEulerDiscreteScheduler,
    FluxControlNetModel,
    FluxFillPipeline,
    FluxPipeline,
    FluxTransformer2DModel,
)
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel, T5Tokenizer

from studio.engine.flux_files import to_original_flux_keys
from studio.engine.tiny import CLIP_MAX_LENGTH, CLIP_VOCAB_SIZE, _seeded, clip_tokenizer, save_atomically

# Bump when the architecture or weights change, so caches built by older code are not reused.
TINY_FLUX_VERSION = 1
T5_MAX_LENGTH = 512  # Flux reads up to 512 T5 tokens (FluxPipeline's max_sequence_length)
CHECKPOINT_NAME = "tiny-flux1-dev.safetensors"

# Words that prompts are made of, so that they become whole pieces as in a real T5 vocabulary.
_PROMPT_WORDS = """a an the of in on at to with and or by for from as is it this that his her their its my your our
one two three man woman girl boy child people person face portrait knight king queen warrior wizard witch
dragon cat dog horse bird fish tree trees forest flower flowers garden mountain mountains river lake sea
ocean sky cloud clouds sun moon star stars night day morning evening city street house castle tower room
window door road bridge field snow rain fire water stone wood metal glass gold silver red blue green yellow
black white orange purple pink brown grey gray dark bright light lights dramatic soft warm cold golden
armour armor dress hat sword shield crown cloak hair eyes hand hands smile old young small big tall long
beautiful detailed highly sharp focus photo photograph painting drawing sketch illustration art artwork
style oil watercolor digital concept cinematic lighting studio render realistic photorealistic film
high quality masterpiece best background foreground close up wide shot view landscape scene standing
sitting walking flying holding wearing looking under over behind front side top"""


def tiny_flux_folder(cache_dir: Path) -> Path:
    """The tiny Flux model's folder (diffusers layout), built on first use."""
    folder = cache_dir / f"tiny-flux-v{TINY_FLUX_VERSION}"
    if not (folder / "model_index.json").is_file():
        save_atomically(
            folder,
            "model_index.json",
            lambda staging: _tiny_flux_pipeline().save_pretrained(staging, safe_serialization=True),
        )
    return folder


def tiny_flux_checkpoint(cache_dir: Path) -> Path:
    """The tiny Flux transformer as one `.safetensors` file with Black Forest Labs' keys, built on first use.

    Made from the folder's transformer, so loading it as a single file must give back the same weights."""
    folder = cache_dir / f"tiny-flux-file-v{TINY_FLUX_VERSION}"
    if not (folder / CHECKPOINT_NAME).is_file():
        transformer = FluxTransformer2DModel.from_pretrained(tiny_flux_folder(cache_dir) / "transformer")
        weights = to_original_flux_keys(transformer.state_dict())
        save_atomically(folder, CHECKPOINT_NAME, lambda staging: save_file(weights, staging / CHECKPOINT_NAME))
    return folder / CHECKPOINT_NAME


def tiny_flux_fill_folder(cache_dir: Path) -> Path:
    """A tiny Flux Fill model (as FLUX.1 Fill is made): the tiny Flux model's encoders and VAE, and a transformer
    that reads the masked picture's latents and the mask (8x8 pixels per latent pixel) beside its own latents."""
    folder = cache_dir / f"tiny-flux-fill-v{TINY_FLUX_VERSION}"
    if not (folder / "model_index.json").is_file():
        flux = FluxPipeline.from_pretrained(tiny_flux_folder(cache_dir))
        packed = 4 * flux.vae.config.latent_channels
        config = {key: value for key, value in flux.transformer.config.items() if not key.startswith("_")}
        with _seeded(5):
            transformer = FluxTransformer2DModel.from_config(
                {**config, "in_channels": 2 * packed + 4 * flux.vae_scale_factor**2, "out_channels": packed}
            )
        parts = {
            name: part for name, part in flux.components.items() if name not in ("image_encoder", "feature_extractor")
        }
        fill = FluxFillPipeline(**{**parts, "transformer": transformer})
        save_atomically(folder, "model_index.json", lambda staging: fill.save_pretrained(staging))
    return folder


def tiny_flux_gguf(cache_dir: Path) -> Path:
    """The tiny Flux transformer as a GGUF file, as city96 ships Flux's: Black Forest Labs' keys, each weight matrix
    in Q8_0 and the rest in F32, written with the `gguf` package from `tiny_flux_checkpoint`'s weights."""
    import gguf
    from safetensors.torch import load_file

    folder = cache_dir / f"tiny-flux-gguf-v{TINY_FLUX_VERSION}"
    name = "tiny-flux-Q8_0.gguf"
    if not (folder / name).is_file():
        weights = load_file(str(tiny_flux_checkpoint(cache_dir)))
        quantized = gguf.GGMLQuantizationType.Q8_0
        block = gguf.GGML_QUANT_SIZES[quantized][0]

        def write(staging: Path) -> None:
            writer = gguf.GGUFWriter(str(staging / name), arch="flux")
            for key, tensor in weights.items():
                values = tensor.float().numpy()
                if values.ndim == 2 and values.shape[1] % block == 0:
                    writer.add_tensor(key, gguf.quants.quantize(values, quantized), raw_dtype=quantized)
                else:
                    writer.add_tensor(key, values)
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_tensors_to_file()
            writer.close()

        save_atomically(folder, name, write)
    return folder / name


def tiny_flux_controlnet_folder(cache_dir: Path, *, union: bool = False) -> Path:
    """A ControlNet for the tiny Flux model, saved like a real one; `union`: one model for several kinds, as
    InstantX's and Shakker Labs' Union Pro are (a control mode per kind)."""
    folder = cache_dir / f"tiny-flux-controlnet{'-union' if union else ''}-v{TINY_FLUX_VERSION}"
    if not (folder / "config.json").is_file():
        transformer = FluxTransformer2DModel.from_pretrained(tiny_flux_folder(cache_dir) / "transformer")
        with _seeded(4):
            controlnet = cast(
                FluxControlNetModel,
                FluxControlNetModel.from_transformer(
                    transformer, num_layers=1, num_single_layers=1, attention_head_dim=16, num_attention_heads=2
                ),
            )
            if union:  # the same, with a mode embedding, as `num_mode` makes it (10 in Union Pro)
                plain = controlnet
                # Without diffusers' private keys: "_use_default_values" would set num_mode back to its default.
                config = {key: value for key, value in plain.config.items() if not key.startswith("_")}
                controlnet = cast(FluxControlNetModel, FluxControlNetModel.from_config({**config, "num_mode": 10}))
                controlnet.load_state_dict(plain.state_dict(), strict=False)  # all but the new mode embedding
            _as_if_trained(controlnet)
        save_atomically(folder, "config.json", lambda staging: controlnet.save_pretrained(staging))
    return folder


def _as_if_trained(controlnet: FluxControlNetModel) -> None:
    """A real ControlNet starts with its map's input and its outputs at zero and learns them; untrained it would
    change nothing. Small random weights stand in for the training, so a map visibly steers the picture."""
    with torch.no_grad():
        for layer in [
            controlnet.controlnet_x_embedder,
            *controlnet.controlnet_blocks,
            *controlnet.controlnet_single_blocks,
        ]:
            layer.weight.normal_(0.0, 0.3)
            layer.bias.zero_()


def _tiny_flux_pipeline() -> FluxPipeline:
    """Flux.1-dev's components in miniature, from fixed seeds (every machine builds the same model)."""
    with _seeded(0):
        transformer = _tiny_transformer()
    with _seeded(1):
        vae = _tiny_vae()
    with _seeded(2):
        text_encoder = CLIPTextModel(_tiny_clip_config())
    with _seeded(3):
        tokenizer_2 = t5_tokenizer()
        text_encoder_2 = T5EncoderModel(_tiny_t5_config(len(tokenizer_2)))
    return FluxPipeline(
        scheduler=_flux_dev_scheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=clip_tokenizer(),
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
        transformer=transformer,
    )


def _tiny_transformer() -> FluxTransformer2DModel:
    """diffusers' own Flux test transformer, with Flux.1-dev's distilled guidance input.

    Flux packs 2x2 latent pixels into one token: four times the VAE's one latent channel."""
    return FluxTransformer2DModel(
        patch_size=1,
        in_channels=4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,  # the T5 encoder's width
        pooled_projection_dim=32,  # the CLIP encoder's width
        guidance_embeds=True,
        axes_dims_rope=(4, 4, 8),
    )


def _tiny_vae() -> AutoencoderKL:
    """Four blocks, so that a latent pixel is 8x8 picture pixels as in Flux's VAE (sizes divisible by 16)."""
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=1,
        # diffusers annotates these as one-element tuples; any length is meant.
        block_out_channels=(8, 16, 16, 16),  # pyright: ignore[reportArgumentType]
        down_block_types=("DownEncoderBlock2D",) * 4,  # pyright: ignore[reportArgumentType]
        up_block_types=("UpDecoderBlock2D",) * 4,  # pyright: ignore[reportArgumentType]
        layers_per_block=1,
        norm_num_groups=4,
        sample_size=32,
        use_quant_conv=False,  # Flux's VAE has neither quantisation convolution
        use_post_quant_conv=False,
        # diffusers' Flux tests' factors: Flux, unlike SD, shifts its latents as well as scaling them.
        scaling_factor=1.5035,
        shift_factor=0.0609,
    )


def _tiny_clip_config() -> CLIPTextConfig:
    """CLIP ViT-L's kind (quick GELU, 77 tokens) in miniature; its pooled output is Flux's `pooled_projection`."""
    return CLIPTextConfig(
        vocab_size=CLIP_VOCAB_SIZE,
        hidden_size=32,
        intermediate_size=64,
        num_attention_heads=4,
        num_hidden_layers=2,
        max_position_embeddings=CLIP_MAX_LENGTH,
        projection_dim=32,
        hidden_act="quick_gelu",
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
    )


def _tiny_t5_config(vocab_size: int) -> T5Config:
    """T5 v1.1's kind (gated GELU, relative positions) as Flux uses it, 32 wide.

    Relative attention has no position table, so 512 tokens cost nothing extra."""
    return T5Config(
        vocab_size=vocab_size,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        feed_forward_proj="gated-gelu",
        dropout_rate=0.0,
        pad_token_id=0,
        eos_token_id=1,
    )


def _flux_dev_scheduler() -> FlowMatchEulerDiscreteScheduler:
    """FLUX.1-dev's own scheduler configuration: the shift grows with the picture's size."""
    return FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000,
        shift=3.0,
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=1.15,
        base_image_seq_len=256,
        max_image_seq_len=4096,
    )


def t5_tokenizer() -> T5Tokenizer:
    """A T5 tokenizer built offline: Unigram over letters, digits, punctuation and common prompt words.

    T5's own ids for the special tokens (`<pad>` 0, `</s>` 1, `<unk>` 2); a character it lacks is `<unk>`,
    never an error. No sentinel tokens: Flux only encodes prompts."""
    specials = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    characters = string.ascii_letters + string.digits + string.punctuation
    # Scores are log-probabilities: a whole word beats spelling it, a word start beats a bare "▁".
    pieces = [("▁", -4.0)] + [(f"▁{character}", -8.0) for character in characters]
    pieces += [(character, -9.0) for character in characters]
    pieces += [(f"▁{word}", -5.0) for word in dict.fromkeys(_PROMPT_WORDS.split())]
    tokenizer = T5Tokenizer(vocab=specials + pieces, extra_ids=0, model_max_length=T5_MAX_LENGTH)
    if tokenizer.convert_tokens_to_ids(["<pad>", "</s>", "<unk>"]) != [0, 1, 2]:
        raise RuntimeError("built a T5 tokenizer with the special tokens at the wrong ids")
    return tokenizer
