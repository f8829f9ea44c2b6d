"""Reference pictures: IP-Adapters on the shared UNet, through diffusers' own `load_ip_adapter`.

An ipadapter folder holds adapter files (`.safetensors`; a pickled `.bin` only with --allow-pickle) beside an
`image_encoder/` folder (the CLIP vision encoder they were trained with), as h94/IP-Adapter ships them; adapters
with another encoder go in a sub-folder with their own. The adapters a run names are loaded onto the UNet for it
(and stay while the next run names the same ones); a run that names none runs on the plain UNet.

Per unit: a weight (the adapter's scale), a start and end (the fraction of steps it steers, as a control unit's;
the scale is 0 outside them), and an optional mask (diffusers' `IPAdapterMaskProcessor`): a reference then steers
only its area, so two references can make two characters in one picture.

A Face reference reads a face instead of a picture: IP-Adapter FaceID's projection takes the face's identity
embedding (from a FaceFinder: insightface, where it is installed) and needs no image encoder. Its files carry a
LoRA for every attention, which diffusers loads with it (as faceid_0, at weight 1 whatever the unit's weight, as
the original does); it leaves the UNet with the adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from diffusers.image_processor import IPAdapterMaskProcessor
from diffusers.models.attention_processor import IPAdapterAttnProcessor, IPAdapterAttnProcessor2_0
from diffusers.models.embeddings import (
    ImageProjection,
    IPAdapterFaceIDImageProjection,
    IPAdapterFaceIDPlusImageProjection,
)
from PIL import Image
from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

from studio.control.references import IMAGE_ENCODER, PICKLED_SUFFIXES, SAFE_SUFFIXES, face_refusal, list_adapters
from studio.engine.faces import FaceFinder
from studio.errors import InputError, NotAvailable
from studio.lora_library import read_header
from studio.recipe import ReferenceKind, ReferenceRef


class ReferenceError(InputError):
    """A reference picture's adapter cannot be found or used. The message says what to do."""


class ReferenceAdapters:
    """The IP-Adapters loaded on the shared model, and the arguments that give a run its reference pictures."""

    def __init__(
        self, folder: Path | None = None, *, allow_pickle: bool = False, faces: FaceFinder | None = None
    ) -> None:
        self.folder = folder
        self.faces = faces  # what reads a Face reference's face (None: Face references are refused)
        self._allow_pickle = allow_pickle
        self._loaded: tuple[tuple[Any, Path, ReferenceKind], ...] = ()  # (pipeline, file, kind) now on its UNet
        self._face_lora = False  # whether those brought FaceID's LoRA onto the UNet

    def resolve(self, name: str, *, needs_encoder: bool = True) -> Path:
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
        if needs_encoder and not (candidate.parent / IMAGE_ENCODER / "config.json").is_file():
            raise ReferenceError(
                f"references: {candidate.name} needs its CLIP vision encoder in {candidate.parent / IMAGE_ENCODER} "
                "(the image_encoder folder shipped with it)"
            )
        return candidate

    def activate(self, pipe, references: tuple[ReferenceRef, ...], family: str) -> None:
        """Exactly the adapters `references` name on `pipe`'s UNet (none: the plain UNet)."""
        faces = [reference for reference in references if reference.kind is ReferenceKind.FACE]
        if faces and self.faces is None:
            raise NotAvailable(f"references: {face_refusal(self.folder) or 'this studio has no face finder'}")
        files = tuple(self.resolve(r.model, needs_encoder=r.kind is not ReferenceKind.FACE) for r in references)
        wanted = tuple((pipe, path, reference.kind) for path, reference in zip(files, references, strict=True))
        if wanted == self._loaded and _has_adapters(pipe) == bool(files) and _has_face_lora(pipe) == self._face_lora:
            return  # (a LoRA change takes FaceID's LoRA off with the others': then the adapters load again)
        self._unload(pipe)
        if not files:
            return
        encoders = {path.parent for _, path, kind in wanted if kind is not ReferenceKind.FACE}
        if len(encoders) > 1:
            raise ReferenceError(
                "references: these adapters need different image encoders "
                f"({', '.join(str(folder / IMAGE_ENCODER) for folder in sorted(encoders))}); use adapters of one folder"
            )
        width = pipe.unet.config.cross_attention_dim
        for path in files:
            _check_family(path, width, family)
        if encoders:  # loaded here: diffusers would look beside the first adapter, which may be a FaceID one
            encoder: Any = CLIPVisionModelWithProjection.from_pretrained(encoders.pop() / IMAGE_ENCODER)
            pipe.register_modules(image_encoder=encoder.to(device=pipe.device, dtype=pipe.unet.dtype))
            _fit_feature_extractor(pipe, int(encoder.config.image_size))
        pipe.load_ip_adapter(
            [str(path.parent) for path in files],
            subfolder=[""] * len(files),
            weight_name=[path.name for path in files],
            image_encoder_folder=None,
        )
        try:
            _check_kinds(pipe, files, references)
        except ReferenceError:
            self._unload(pipe)
            raise
        self._loaded, self._face_lora = wanted, _has_face_lora(pipe)

    def _unload(self, pipe) -> None:
        if _has_adapters(pipe):  # whoever loaded them: the UNet must hold exactly this run's adapters
            pipe.unload_ip_adapter()
        if _has_face_lora(pipe):
            pipe.unload_lora_weights()  # the artist's LoRAs are fused into the weights, not in LoRA layers
        self._loaded, self._face_lora = (), False

    def arguments(
        self, pipe, references: tuple[ReferenceRef, ...], pictures: Mapping[str, Image.Image], guided: bool, size
    ) -> dict[str, Any]:
        """The pipeline arguments for the loaded adapters: each reference's image embeddings (and, with CFG, its
        unconditional ones first), and the masks when any unit has one."""
        layers = pipe.unet.encoder_hid_proj.image_projection_layers
        device, embeds = pipe._execution_device, []
        with torch.inference_mode():  # as diffusers' prepare_ip_adapter_image_embeds, a face read by the finder
            for reference, layer in zip(references, layers, strict=True):
                picture = pictures[reference.image].convert("RGB")
                if reference.kind is ReferenceKind.FACE:
                    assert self.faces is not None  # activate refused a Face reference without one
                    positive = self.faces.identity(picture).reshape(1, 1, -1).to(device, pipe.unet.dtype)
                    negative = torch.zeros_like(positive)  # FaceID's unconditional face, as its authors run it
                else:
                    hidden_states = not isinstance(layer, ImageProjection)
                    positive, negative = (e[None] for e in pipe.encode_image(picture, device, 1, hidden_states))
                embeds.append(torch.cat([negative, positive]) if guided else positive)
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


def _fit_feature_extractor(pipe, size: int) -> None:
    """Pictures cut to the encoder's size. diffusers makes the cutter with the first adapters loaded (at 224 when
    they were FaceID's, which have no encoder) and keeps it on a pipeline with a safety checker slot."""
    current = getattr(pipe, "feature_extractor", None)
    if current is None or getattr(current, "crop_size", None) != {"height": size, "width": size}:
        pipe.register_modules(feature_extractor=CLIPImageProcessor(size=size, crop_size=size))


def _has_face_lora(pipe) -> bool:
    return any(name.startswith("faceid_") for name in getattr(pipe.unet, "peft_config", None) or {})


def _check_kinds(pipe, files: tuple[Path, ...], references: tuple[ReferenceRef, ...]) -> None:
    """A Face reference on a FaceID adapter, every other kind on a picture's (read from the loaded projections:
    a pickled file has no header to tell)."""
    layers = pipe.unet.encoder_hid_proj.image_projection_layers
    for number, (path, reference, layer) in enumerate(zip(files, references, layers, strict=True), start=1):
        if isinstance(layer, IPAdapterFaceIDPlusImageProjection):
            raise ReferenceError(
                f"references: reference {number}'s {path.name} is a FaceID Plus adapter, which also reads the face's "
                "picture; this studio runs FaceID (ip-adapter-faceid_*), choose one of those"
            )
        face = isinstance(layer, IPAdapterFaceIDImageProjection)
        if reference.kind is ReferenceKind.FACE and not face:
            raise ReferenceError(
                f"references: reference {number} is a Face reference but {path.name} reads whole pictures; choose "
                "a FaceID adapter (ip-adapter-faceid_*), or set its kind to Style and content"
            )
        if face and reference.kind is not ReferenceKind.FACE:
            raise ReferenceError(
                f"references: reference {number}'s {path.name} is a FaceID adapter, which reads a face; set the "
                "reference's kind to Face"
            )
