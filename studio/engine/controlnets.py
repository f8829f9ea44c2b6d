"""ControlNet models: where one comes from (`tiny`, a hub id, a local folder, one .safetensors file) and loading it.

A ControlNet belongs to a family (SD 1.5, SDXL or Flux.1) like the model it steers; one of another family is
refused by name before a run, never half-applied.

Like base models, every failure is a `ModelError` that says what to do, and an unreachable hub is
detected in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

from diffusers import ControlNetModel, ControlNetUnionModel, FluxControlNetModel

from studio.access.network import reachable
from studio.control.catalogue import TINY_UNION
from studio.engine.families import Family, checkpoint_keys
from studio.engine.models import PICKLED_CHECKPOINTS, SAFE_CHECKPOINTS, DeviceSettings
from studio.engine.tiny import tiny_controlnet_folder
from studio.engine.tiny_flux import tiny_flux_controlnet_folder
from studio.errors import ModelError
from studio.recipe import TINY_MODEL

_HOW_TO_POINT = (
    "Give the unit a ControlNet of the model's family: a Hugging Face id like "
    "lllyasviel/control_v11p_sd15_canny (SD 1.5) or xinsir/controlnet-canny-sdxl-1.0 (SDXL), downloaded once, "
    "a local folder with its config.json, or a .safetensors file; with a tiny model, use 'tiny'."
)


AnyControlNet = ControlNetModel | ControlNetUnionModel | FluxControlNetModel


def load_controlnet(
    spec: str, settings: DeviceSettings, *, cache_dir: Path, allow_pickle: bool, family: Family, text_width: int
) -> AnyControlNet:
    """The ControlNet `spec` names, for a model of `family` whose UNet reads text `text_width` wide.

    A "union" ControlNet (one model for several kinds: xinsir's for SDXL) is told by its configuration
    or its keys and loads as one; the engine tells it each unit's kind."""
    spec = spec.strip()
    common = {"torch_dtype": settings.dtype}
    try:
        if family is Family.FLUX and spec in (TINY_MODEL, TINY_UNION):
            folder = tiny_flux_controlnet_folder(cache_dir, union=spec == TINY_UNION)
            controlnet = FluxControlNetModel.from_pretrained(folder, **common)
        elif spec == TINY_MODEL:
            controlnet = ControlNetModel.from_pretrained(tiny_controlnet_folder(cache_dir, family), **common)
        elif spec == TINY_UNION:
            if family is not Family.SDXL:
                raise ModelError(f"The union ControlNet {spec} is made for SDXL and the model is {family}.")
            folder = tiny_controlnet_folder(cache_dir, family, union=True)
            controlnet = ControlNetUnionModel.from_pretrained(folder, **common)
        else:
            controlnet = _load(spec, common, allow_pickle)
    except ModelError:
        raise
    except Exception as error:  # diffusers raises many kinds; the artist needs one clear message.
        raise ModelError(f"Could not load the ControlNet {spec}: {error}. {_HOW_TO_POINT}") from error
    made_for = _family_of(controlnet)
    if made_for is not family:
        raise ModelError(
            f"The ControlNet {spec} is made for {made_for} and the model is {family}: a ControlNet works only "
            f"on its own family. {_HOW_TO_POINT}"
        )
    width = controlnet.config["joint_attention_dim" if made_for is Family.FLUX else "cross_attention_dim"]
    if width != text_width:  # the family's shape, another base: an SD 2.x ControlNet on SD 1.5
        raise ModelError(
            f"The ControlNet {spec} reads text {width} wide and this {family} model's is {text_width}: it is made "
            f"for another base model. {_HOW_TO_POINT}"
        )
    controlnet.requires_grad_(False)  # frozen, as the model's own weights are (studio/engine/models.py)
    return controlnet.to(settings.device).eval()  # pyright: ignore[reportArgumentType] (diffusers' `to` overloads)


def _family_of(controlnet: AnyControlNet) -> Family:
    if isinstance(controlnet, FluxControlNetModel):
        return Family.FLUX
    # An SDXL ControlNet takes SDXL's size conditioning ("text_time"), as the SDXL UNet does.
    return Family.SDXL if controlnet.config["addition_embed_type"] == "text_time" else Family.SD15


def _controlnet_class(folder: Path) -> type[AnyControlNet]:
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if config.get("_class_name") == "FluxControlNetModel":
        return FluxControlNetModel
    union = config.get("_class_name") == "ControlNetUnionModel" or "num_control_type" in config
    return ControlNetUnionModel if union else ControlNetModel


def _from_folder(folder: Path, common: dict) -> AnyControlNet:
    return _controlnet_class(folder).from_pretrained(folder, **common)


def _load(spec: str, common: dict, allow_pickle: bool) -> AnyControlNet:
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"{path} is a folder but holds no ControlNet (no config.json). {_HOW_TO_POINT}")
        return _from_folder(path, common)
    suffix = path.suffix.lower()
    if suffix in SAFE_CHECKPOINTS + PICKLED_CHECKPOINTS or path.exists():
        if not path.is_file():
            raise ModelError(f"{path} does not exist. {_HOW_TO_POINT}")
        if suffix in PICKLED_CHECKPOINTS and not allow_pickle:
            raise ModelError(
                f"{path.name} is a pickled file: loading it can run code hidden in it. "
                "Use a .safetensors ControlNet, or start the studio with --allow-pickle if you trust its source."
            )
        if suffix in SAFE_CHECKPOINTS and "task_embedding" in checkpoint_keys(path):
            return ControlNetUnionModel.from_single_file(str(path), **common)  # the union's own layers
        return ControlNetModel.from_single_file(str(path), **common)
    if spec.count("/") != 1:
        raise ModelError(f"{spec!r} is neither a file, a folder, nor a Hugging Face id. {_HOW_TO_POINT}")
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return _from_folder(Path(snapshot_download(spec, local_files_only=True)), common)
    except (LocalEntryNotFoundError, OSError, ValueError):
        pass  # not fully cached yet: download it
    if constants.HF_HUB_OFFLINE or not reachable(constants.ENDPOINT):
        raise ModelError(
            f"The ControlNet {spec} is not on this machine and cannot be downloaded now (offline). "
            f"Download it once with a connection, or {_HOW_TO_POINT[0].lower() + _HOW_TO_POINT[1:]}"
        )
    from huggingface_hub import hf_hub_download

    return _controlnet_class(Path(hf_hub_download(spec, "config.json")).parent).from_pretrained(spec, **common)
