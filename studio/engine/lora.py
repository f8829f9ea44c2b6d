"""LoRAs on the loaded model: fused into its weights while the set stays the same, never leaking.

Every run states its LoRAs. When the set (files and weights) differs from the last run's, the LoRAs
are loaded, fused into the model's weights and unloaded again: the UNet keeps its own structure, so
the fast path's compiled code stays valid (no new compile for a new LoRA), and every layer does one
matrix product, not three (unfused LoRAs cost about a third more per step). Before fusing, the
weights the LoRAs touch are copied; when the set changes they are copied back, so no rounding from
adding and subtracting builds up: with no LoRAs the model computes exactly the base model again.
A GGUF-quantized transformer cannot take a LoRA into its weights: there the LoRA layers stay beside them
while the set stays the same (unfused), and go when it changes.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import DiffusionPipeline, FluxPipeline
from peft.tuners.tuners_utils import BaseTunerLayer

from studio.engine.families import Family
from studio.lora_library import SAFE_SUFFIXES, LoraError, cross_attention_width, lora_family, read_header


class LoraAdapters:
    """The set of LoRAs fused into one model's (shared) UNet and text encoders, and the weights they replaced."""

    def __init__(self) -> None:
        self._fused: tuple[tuple[tuple[str, float], float], ...] = ()  # ((file, time), weight) of the fused set
        self._own_weights: list[tuple[torch.Tensor, torch.Tensor]] = []  # the model's, from before fusing

    def activate(self, pipe: DiffusionPipeline, loras: list[tuple[Path, float]]) -> None:
        """Make exactly `loras` (file, weight) act on `pipe` for the next run."""
        # One order whatever order the artist listed them in: float sums depend on it, and A then B
        # must give the very pixels of B then A.
        loras = sorted(loras, key=lambda lora: str(lora[0].resolve()))
        wanted = tuple((_key(path), float(weight)) for path, weight in loras)
        if wanted == self._fused:
            return  # the same set, still fused
        self._restore(pipe)
        if not wanted:
            return
        for path, _ in loras:
            self._check_family(pipe, path)
        names = [f"lora_{number}" for number in range(len(loras))]
        beside = _quantized(pipe)  # a GGUF model's weights cannot take a LoRA in: its layers stay beside them
        try:
            for name, (path, _) in zip(names, loras, strict=True):
                self._load(pipe, path, name)
            pipe.set_adapters(names, [weight for _, weight in wanted])
            if not beside:
                # Kept on the CPU: the GPU's memory is for runs; the copy back happens only when the set changes.
                own = [(weight, weight.detach().to("cpu", copy=True)) for weight in _lora_base_weights(pipe)]
                self._own_weights = own
                pipe.fuse_lora(adapter_names=names)
            self._fused = wanted
        finally:
            if not beside or self._fused != wanted:
                pipe.unload_lora_weights()  # the LoRA layers go; fused weights stay (or, on a failure, the own ones)

    def _restore(self, pipe: DiffusionPipeline) -> None:
        """The model's own weights back, bit for bit (peft's unfuse subtracts what it added, which rounds)."""
        with torch.no_grad():
            for weight, own in self._own_weights:
                weight.copy_(own)
        self._own_weights, self._fused = [], ()
        pipe.unload_lora_weights()  # layers another user of the model may have left (training's adapter)

    @staticmethod
    def _load(pipe: DiffusionPipeline, path: Path, name: str) -> None:
        try:
            pipe.load_lora_weights(str(path), adapter_name=name)
        except Exception as error:  # diffusers/peft raise many kinds for files that do not fit
            raise LoraError(f"{path.name} is not a LoRA for this model ({_first_line(error)})") from None
        loaded = {adapter for adapters in pipe.get_list_adapters().values() for adapter in adapters}
        if name not in loaded:
            raise LoraError(f"{path.name} holds no LoRA weights that fit this model (made for another base model?)")

    @staticmethod
    def _check_family(pipe: DiffusionPipeline, path: Path) -> None:
        """Refuse a LoRA of the other family before any of it is loaded: never applied half-way."""
        if path.suffix.lower() not in SAFE_SUFFIXES:
            return  # a pickled file's names cannot be read without running it; diffusers' own checks apply
        family = _family_of(pipe)
        header = read_header(path)
        named = lora_family(header)
        if named is not None and named != family:
            raise LoraError(
                f"{path.name} is {_a(named)} LoRA and the model is {family}: a LoRA works only on models of its own "
                f"family. Use {_a(family)} version of it, or load {_a(named)} model."
            )
        if family is Family.FLUX:
            return  # Flux has no cross-attention width to compare; diffusers' loader says what does not fit
        width = cross_attention_width(header)
        model_width = pipe.unet.config.cross_attention_dim  # pyright: ignore[reportAttributeAccessIssue]
        if width is not None and width != model_width:
            raise LoraError(
                f"{path.name} was made for a model whose text is {width} wide, and this {family} model's is "
                f"{model_width} (SD 1.5: 768, SDXL: 2048): it belongs to another family."
            )


def _a(family: str) -> str:
    return f"an {family}" if family.startswith("S") else f"a {family}"  # an SD 1.5, an SDXL, a Flux.1


def _family_of(pipe: DiffusionPipeline) -> Family:
    if isinstance(pipe, FluxPipeline):
        return Family.FLUX
    return Family.SDXL if getattr(pipe, "text_encoder_2", None) is not None else Family.SD15


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def _quantized(pipe: DiffusionPipeline) -> bool:
    """Whether the pipe's denoiser holds quantized weights (a GGUF Flux transformer)."""
    return any(getattr(component, "is_quantized", False) for component in pipe.components.values())


def _lora_base_weights(pipe: DiffusionPipeline) -> list[torch.Tensor]:
    """The model's own weights under every LoRA layer (the ones fusing changes), in the pipe's modules."""
    weights: list[torch.Tensor] = []
    for component in pipe.components.values():
        if isinstance(component, torch.nn.Module):
            for module in component.modules():
                if isinstance(module, BaseTunerLayer):
                    weight = module.get_base_layer().weight
                    assert isinstance(weight, torch.Tensor)  # LoRA wraps Linear and Conv layers, which have one
                    weights.append(weight)
    return weights


def _key(path: Path) -> tuple[str, float]:
    """A LoRA file as loaded: a file saved anew under the same name is another LoRA."""
    return (str(path.resolve()), path.stat().st_mtime)
