"""LoRAs on the loaded model: loaded once as named adapters, switched per run, never leaking.

Every run states its LoRAs: the ones it names are activated with their weights, and with none the
adapters are disabled, which makes the UNet and text encoder compute exactly the base model again.
"""

from __future__ import annotations

from pathlib import Path

from diffusers import DiffusionPipeline

from studio.engine.families import Family
from studio.lora_library import SAFE_SUFFIXES, LoraError, cross_attention_width, lora_family, read_header


class LoraAdapters:
    """The adapters loaded into one model's (shared) UNet and text encoder."""

    def __init__(self) -> None:
        self._names: dict[tuple[str, float], str] = {}  # (file, modification time) -> adapter name

    def activate(self, pipe: DiffusionPipeline, loras: list[tuple[Path, float]]) -> None:
        """Make exactly `loras` (file, weight) active on `pipe` for the next run."""
        if not loras:
            if self._names:
                pipe.disable_lora()
            return
        # One order whatever order the artist listed them in: float sums depend on it, and A then B
        # must give the very pixels of B then A.
        loras = sorted(loras, key=lambda lora: str(lora[0].resolve()))
        names = [self._load(pipe, path) for path, _ in loras]
        pipe.enable_lora()
        pipe.set_adapters(names, [weight for _, weight in loras])

    def _load(self, pipe: DiffusionPipeline, path: Path) -> str:
        key = (str(path.resolve()), path.stat().st_mtime)
        if key in self._names:
            return self._names[key]
        self._check_family(pipe, path)
        name = f"lora_{len(self._names)}"
        try:
            pipe.load_lora_weights(str(path), adapter_name=name)
        except Exception as error:  # diffusers/peft raise many kinds for files that do not fit
            raise LoraError(f"{path.name} is not a LoRA for this model ({_first_line(error)})") from None
        loaded = {adapter for adapters in pipe.get_list_adapters().values() for adapter in adapters}
        if name not in loaded:
            raise LoraError(f"{path.name} holds no LoRA weights that fit this model (made for another base model?)")
        self._names[key] = name
        return name

    @staticmethod
    def _check_family(pipe: DiffusionPipeline, path: Path) -> None:
        """Refuse a LoRA of the other family before any of it is loaded: never applied half-way."""
        if path.suffix.lower() not in SAFE_SUFFIXES:
            return  # a pickled file's names cannot be read without running it; diffusers' own checks apply
        family = Family.SDXL if getattr(pipe, "text_encoder_2", None) is not None else Family.SD15
        header = read_header(path)
        named = lora_family(header)
        if named is not None and named != family:
            raise LoraError(
                f"{path.name} is an {named} LoRA and the model is {family}: a LoRA works only on models of its own "
                f"family. Use an {family} version of it, or load an {named} model."
            )
        width = cross_attention_width(header)
        model_width = pipe.unet.config.cross_attention_dim  # pyright: ignore[reportAttributeAccessIssue]
        if width is not None and width != model_width:
            raise LoraError(
                f"{path.name} was made for a model whose text is {width} wide, and this {family} model's is "
                f"{model_width} (SD 1.5: 768, SDXL: 2048): it belongs to another family."
            )


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
