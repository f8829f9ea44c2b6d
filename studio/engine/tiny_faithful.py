"""The tiny model with a VAE that keeps the picture: for claims about what img2img keeps of a picture.

The tiny model's VAE has random weights, so even a repaint at strength 0.05 decodes to a picture unrelated to the
one it was given: nothing about what a repaint keeps can be measured on it. A real VAE keeps the picture; this one
keeps it at a quarter of its size (latents at 1/4 of the picture's side, where SD's are at 1/8, so that the
tiny UNet still sees enough of a small picture). It is an `AutoencoderKL` of three blocks, its weights chosen, not
trained:

- every residual branch (the resnets' second convolution, the attention's output) is zero, so each block passes
  its input on unchanged;
- each downsampling averages 2 x 2 pixels; each upsampling repeats them (nearest, then an identity convolution);
- the convolutions in and out carry the three colour channels through (latent channel 4 stays zero);
- the one nonlinearity left on each side is a GroupNorm of one group, then SiLU: the GroupNorm standardizes the
  whole picture (one brightness and contrast for all channels, so colours keep their proportions), and a bias of 20
  puts SiLU where it is the identity to 1e-5, which the convolution after it takes off again.

So a picture comes back as itself up to one brightness and contrast (the closeness measure ignores both), and the
random UNet's share of a repaint grows with the strength, as a real model's does. The UNet, the text encoder and
the scheduler are the tiny model's own; the folder loads as any diffusers folder does.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from diffusers import AutoencoderKL
from diffusers.models.attention_processor import Attention
from diffusers.models.downsampling import Downsample2D
from diffusers.models.resnet import ResnetBlock2D
from diffusers.models.upsampling import Upsample2D

from studio.engine.families import Family
from studio.engine.tiny import TINY_VERSION, save_atomically, tiny_model_folder

_CHANNELS = 8
_SILU_SHIFT = 20.0  # SiLU(z + 20) = z + 20 to within 1e-5 for |z| < 5: a standardized picture's values


def tiny_faithful_model_folder(cache_dir: Path) -> Path:
    """The tiny SD 1.5 model with the VAE above, built on first use (a diffusers folder, like a user's)."""
    folder = cache_dir / f"tiny-sd15-faithful-vae-v{TINY_VERSION}"
    if not (folder / "model_index.json").is_file():

        def build(staging: Path) -> None:
            shutil.copytree(tiny_model_folder(cache_dir, Family.SD15), staging, dirs_exist_ok=True)
            shutil.rmtree(staging / "vae")
            faithful_vae().save_pretrained(staging / "vae", safe_serialization=True)

        save_atomically(folder, "model_index.json", build)
    return folder


def faithful_vae() -> AutoencoderKL:
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(_CHANNELS,) * 3,  # pyright: ignore[reportArgumentType]
        down_block_types=("DownEncoderBlock2D",) * 3,  # pyright: ignore[reportArgumentType]
        up_block_types=("UpDecoderBlock2D",) * 3,  # pyright: ignore[reportArgumentType]
        layers_per_block=1,
        norm_num_groups=1,
        sample_size=64,
        scaling_factor=1.0,  # the latents of a standardized picture already have unit variance
    )
    with torch.no_grad():
        for module in vae.modules():
            if isinstance(module, ResnetBlock2D):  # zero every residual branch: each block is the identity
                _zero(module.conv2)
            elif isinstance(module, Attention) and module.to_out is not None:
                _zero(_conv_or_linear(module.to_out[0]))
            elif isinstance(module, Downsample2D):
                _average_2x2(_conv(module.conv))
            elif isinstance(module, Upsample2D):  # nearest-neighbour, then this convolution
                _carry(_conv(module.conv), scale=1.0, every_channel=True)
        _carry(_conv(vae.encoder.conv_in), scale=1.0)
        _carry(_conv(vae.decoder.conv_in), scale=1.0)
        for norm in (vae.encoder.conv_norm_out, vae.decoder.conv_norm_out):
            assert isinstance(norm, torch.nn.GroupNorm)
            norm.weight.fill_(1.0)
            norm.bias.fill_(_SILU_SHIFT)
        # The encoder's mean is the standardized picture; its log-variance so low that a sample is the mean.
        encoder_out = _conv(vae.encoder.conv_out)
        _carry(encoder_out, scale=1.0, shift=_SILU_SHIFT)
        _bias(encoder_out)[4:] = -30.0
        # The decoder gives the standardized picture at half its spread: values in [-1, 1] as the pipeline wants.
        _carry(_conv(vae.decoder.conv_out), scale=0.5, shift=_SILU_SHIFT)
        for conv in (vae.quant_conv, vae.post_quant_conv):
            if conv is not None:
                _carry(_conv(conv), scale=1.0, every_channel=True)
    return vae


def _carry(conv: torch.nn.Conv2d, *, scale: float, shift: float = 0.0, every_channel: bool = False) -> None:
    """`conv` passes its first three input channels (or all) to the same outputs (times `scale`), less `shift` (what
    the SiLU before it added), and nothing else."""
    _zero(conv)
    middle = conv.weight.shape[-1] // 2
    for channel in range(conv.weight.shape[0] if every_channel else 3):
        conv.weight[channel, channel, middle, middle] = scale
        _bias(conv)[channel] = -shift * scale


def _average_2x2(conv: torch.nn.Conv2d) -> None:
    """A VAE's downsampling convolution (3 x 3, stride 2, after padding right and bottom) as a 2 x 2 average."""
    _zero(conv)
    for channel in range(conv.weight.shape[0]):
        conv.weight[channel, channel, :2, :2] = 0.25


def _zero(layer: torch.nn.Conv2d | torch.nn.Linear) -> None:
    layer.weight.zero_()
    _bias(layer).zero_()


def _bias(layer: torch.nn.Conv2d | torch.nn.Linear) -> torch.Tensor:
    assert layer.bias is not None  # diffusers' VAE layers all have one
    return layer.bias


def _conv(module: object) -> torch.nn.Conv2d:
    assert isinstance(module, torch.nn.Conv2d), module
    return module


def _conv_or_linear(module: object) -> torch.nn.Conv2d | torch.nn.Linear:
    assert isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)), module
    return module
