"""Reference pictures: IP-Adapters on the shared UNet, through diffusers' own `load_ip_adapter`.

An ipadapter folder holds adapter files (`.safetensors`; a pickled `.bin` only with --allow-pickle) beside an
`image_encoder/` folder (the CLIP vision encoder they were trained with), as h94/IP-Adapter ships them; adapters
with another encoder go in a sub-folder with their own. The adapters a run names are loaded onto the UNet for it
(and stay while the next run names the same ones); a run that names none runs on the plain UNet.

Per unit: a weight (the adapter's scale), a start and end (the fraction of steps it steers, as a control unit's;
the scale is 0 outside them), and an optional mask (diffusers' `IPAdapterMaskProcessor`): a reference then steers
only its area, so two references can make two characters in one picture.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from diffusers.image_processor import IPAdapterMaskProcessor
from diffusers.models.attention_processor import IPAdapterAttnProcessor, IPAdapterAttnProcessor2_0
from PIL import Image

from studio.control.references import IMAGE_ENCODER, PICKLED_SUFFIXES, SAFE_SUFFIXES, list_adapters
from studio.errors import InputError, NotAvailable
from studio.lora_library import read_header
from studio.recipe import ReferenceKind, ReferenceRef


class ReferenceError(InputError):
    """A reference picture's adapter cannot be found or used. The message says what to do."""


class ReferenceAdapters:
    """The IP-Adapters loaded on the shared model, and the arguments that give a run its reference pictures."""

    def __init__(self, folder: Path | None = None, *, allow_pickle: bool = False) -> None:
        self.folder = folder
        self._allow_pickle = allow_pickle
        self._loaded: tuple[tuple[Any, Path], ...] = ()  # (the pipeline, each adapter file) now on its UNet

    def resolve(self, name: str) -> Path:
        """The adapter file a name (a file in the folder, or a path) stands for."""
        candidate = Path(name).expanduser()
        if not candidate.is_absolute():
            matches = [path for path in list_adapters(self.folder) if path.name == name or path.stem == name]
            if not matches:
                where = f"in {self.folder}" if self.folder else "(no ipadapter folder is set)"
                raise ReferenceError(f"references: no IP-Adapter named {name!r} {where}; put its file there")
            candidate = matches[0]
        if not candidate.is_file():
            raise ReferenceError(f"references: IP-Adapter file {candidate} does not exist")
        if candidate.suffix.lower() in PICKLED_SUFFIXES and not self._allow_pickle:
            raise ReferenceError(
                f"references: {candidate.name} is pickled (loading it can run code); "
                "use a .safetensors IP-Adapter or start the studio with --allow-pickle"
            )
        if candidate.suffix.lower() not in SAFE_SUFFIXES + PICKLED_SUFFIXES:
            raise ReferenceError(f"references: {candidate.name} is not an IP-Adapter file (.safetensors or .bin)")
        if not (candidate.parent / IMAGE_ENCODER / "config.json").is_file():
            raise ReferenceError(
                f"references: {candidate.name} needs its CLIP vision encoder in {candidate.parent / IMAGE_ENCODER} "
                "(the image_encoder folder shipped with it)"
            )
        return candidate

    def activate(self, pipe, references: tuple[ReferenceRef, ...], family: str) -> None:
        """Exactly the adapters `references` name on `pipe`'s UNet (none: the plain UNet)."""
        for reference in references:
            if reference.kind is ReferenceKind.FACE:
                _refuse_face()
        files = tuple(self.resolve(reference.model) for reference in references)
        wanted = tuple((pipe, path) for path in files)
        if wanted == self._loaded and _has_adapters(pipe) == bool(files):
            return
        if _has_adapters(pipe):  # whoever loaded them: the UNet must hold exactly this run's adapters
            pipe.unload_ip_adapter()
        self._loaded = ()
        if not files:
            return
        encoders = {path.parent for path in files}
        if len(encoders) > 1:
            raise ReferenceError(
                "references: these adapters need different image encoders "
                f"({', '.join(str(folder / IMAGE_ENCODER) for folder in sorted(encoders))}); use adapters of one folder"
            )
        width = pipe.unet.config.cross_attention_dim
        for path in files:
            _check_family(path, width, family)
        pipe.load_ip_adapter(
            [str(path.parent) for path in files],
            subfolder=[""] * len(files),
            weight_name=[path.name for path in files],
            image_encoder_folder=IMAGE_ENCODER,
        )
        self._loaded = wanted

    def arguments(
        self, pipe, references: tuple[ReferenceRef, ...], pictures: Mapping[str, Image.Image], guided: bool, size
    ) -> dict[str, Any]:
        """The pipeline arguments for the loaded adapters: each reference's image embeddings (and, with CFG, its
        unconditional ones first), and the masks when any unit has one."""
        with torch.inference_mode():
            embeds = pipe.prepare_ip_adapter_image_embeds(
                [pictures[reference.image].convert("RGB") for reference in references],
                None,
                pipe._execution_device,
                1,
                guided,
            )
        arguments: dict[str, Any] = {"ip_adapter_image_embeds": embeds}
        if any(reference.mask for reference in references):
            width, height = size
            processor = IPAdapterMaskProcessor()
            masks = [
                processor.preprocess(pictures[reference.mask].convert("L"), height=height, width=width)
                if reference.mask
                else torch.ones(1, 1, height, width)
                for reference in references
            ]
            arguments["cross_attention_kwargs"] = {"ip_adapter_masks": masks}
        return arguments

    @staticmethod
    def scales_at(references: tuple[ReferenceRef, ...], step: int, steps: int) -> list[float]:
        """Each unit's scale at `step` of `steps`: its weight inside its start and end, else 0 (as diffusers turns
        a ControlNet on and off)."""
        return [
            0.0
            if step / steps < reference.guidance_start or (step + 1) / steps > reference.guidance_end
            else float(reference.weight)
            for reference in references
        ]

    def stepper(self, pipe, references: tuple[ReferenceRef, ...]) -> Callable[[int, int], None]:
        """Sets the scales for a step (from the step callback, before the step runs).

        Set on the adapters' processors themselves, also where area prompts wrap them (diffusers'
        `set_ip_adapter_scale` would not see a wrapped one)."""

        def set_scales(step: int, steps: int) -> None:
            scales = self.scales_at(references, step, steps)
            for processor in pipe.unet.attn_processors.values():
                processor = getattr(processor, "inner", processor)
                if isinstance(processor, IPAdapterAttnProcessor2_0 | IPAdapterAttnProcessor):
                    processor.scale[:] = scales  # one per adapter, as diffusers keeps them

        return set_scales


def _has_adapters(pipe) -> bool:
    # diffusers marks a loaded adapter with the config's attribute (not its dict entry) and the projection.
    unet = pipe.unet
    return getattr(unet.config, "encoder_hid_dim_type", None) == "ip_image_proj" and unet.encoder_hid_proj is not None


def _check_family(path: Path, width: int, family: str) -> None:
    if path.suffix.lower() not in SAFE_SUFFIXES:
        return  # a pickled file has no header to read; diffusers will say if its shapes do not fit
    header = read_header(path)
    reads = {entry["shape"][1] for key, entry in header.items() if key.endswith("to_k_ip.weight")}
    if reads and reads != {width}:
        raise ReferenceError(
            f"references: {path.name} is made for another model family (its attention reads text "
            f"{', '.join(str(w) for w in sorted(reads))} wide; this {family} model's reads {width}): "
            f"choose an IP-Adapter made for {family}"
        )


def _refuse_face() -> None:
    if importlib.util.find_spec("insightface") is None:
        raise NotAvailable(
            "references: a Face reference (IP-Adapter FaceID) needs a face finder (the insightface package) that "
            "this studio was installed without; use Style and content with a picture of the face instead"
        )
    raise NotAvailable(
        "references: Face references (IP-Adapter FaceID) are not supported by this studio yet; use Style and content "
        "with a picture of the face instead"
    )
