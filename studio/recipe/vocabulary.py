"""The recipe's vocabulary: A1111's sampler and schedule names, the bounds of every field, the model names."""

from __future__ import annotations

# 8: Flux's distilled guidance and shift; 6: control modes; 5: region fixes and upscales; 4: hires fix; 3: styles and clip skip; 2: sampler and schedule apart
SCHEMA_VERSION = 9
MAX_STYLES = 16
MAX_CLIP_SKIP = 12  # CLIP ViT-L has 12 layers
# How the hires fix enlarges the first picture, by A1111's names: the latents themselves ("Latent" is
# bilinear, as in A1111), or the decoded picture with Lanczos; or an upscaler model's file name.
HIRES_UPSCALERS: tuple[str, ...] = ("Latent", "Latent (nearest)", "Lanczos")
MAX_HIRES_SCALE = 4.0
# Upscaling a picked picture: Lanczos is built in; other names are model files in the upscalers folder.
LANCZOS = "Lanczos"
UPSCALER_SUFFIXES: tuple[str, ...] = (".safetensors", ".pth", ".pt")
MAX_UPSCALE = 4.0
MAX_REGIONS = 16
MAX_REFERENCES = 4  # reference pictures (IP-Adapter units) in one run
MAX_AREA_PROMPTS = 4  # area prompts (regional prompting) in one run
# What a fix region holds, as the artist names it: found by a detector, or marked by hand.
REGION_LABELS: tuple[str, ...] = ("face", "hand", "box", "brush")

DEFAULT_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"
TINY_MODEL = "tiny"
TINY_SDXL_MODEL = "tiny-sdxl"
TINY_FLUX_MODEL = "tiny-flux"

# A1111's sampler names (1.9 and later: the schedule is a field of its own), in its dropdown's order.
# The engine maps each to a diffusers scheduler (studio/engine/samplers.py); a test keeps the two equal.
SAMPLERS: tuple[str, ...] = (
    "DPM++ 2M",
    "DPM++ SDE",
    "DPM++ 2M SDE",
    "Euler a",
    "Euler",
    "LMS",
    "Heun",
    "DPM2",
    "DPM2 a",
    "DDIM",
    "PLMS",
    "UniPC",
    "LCM",
    "TCD",  # Forge's name: Trajectory Consistency Distillation, for TCD LoRAs (few steps)
)
# A1111's "Schedule type" labels that the studio runs. "Uniform" is the model's own timestep spacing.
SCHEDULERS: tuple[str, ...] = ("Automatic", "Uniform", "Karras", "Exponential", "SGM Uniform")
AUTOMATIC = "Automatic"
# Flow matching's schedules, for Flux.1 (Forge's names): "Simple" is the model's own sigmas, shifted; "Beta" bends
# them as A1111's and ComfyUI's Beta schedule does. SD models refuse them, Flux models refuse SD's.
FLUX_SCHEDULERS: tuple[str, ...] = ("Automatic", "Simple", "Beta")
FLUX_SAMPLERS: tuple[str, ...] = ("Euler",)
# What "Automatic" means for each sampler, as in A1111 1.9+ (its samplers' `scheduler` option); others: Uniform.
AUTOMATIC_SCHEDULES: dict[str, str] = {
    "DPM++ 2M": "Karras",
    "DPM++ SDE": "Karras",
    "DPM2": "Karras",
    "DPM2 a": "Karras",
    "DPM++ 2M SDE": "Exponential",
}
# Samplers whose diffusers schedulers cannot take Karras or exponential sigmas.
_SPACING_ONLY = frozenset({"Euler a", "DDIM", "PLMS", "LCM"})


def resolved_schedule(sampler: str, scheduler: str) -> str:
    """The schedule that runs: "Automatic" is the sampler's own default, as in A1111."""
    return AUTOMATIC_SCHEDULES.get(sampler, "Uniform") if scheduler == AUTOMATIC else scheduler


def split_sampler_name(name: str) -> tuple[str, str | None]:
    """A1111's older one-field names ("DPM++ 2M Karras") -> ("DPM++ 2M", "Karras"); others -> (name, None)."""
    for schedule in SCHEDULERS:
        if name.endswith(f" {schedule}") and name[: -len(schedule) - 1] in SAMPLERS:
            return name[: -len(schedule) - 1], schedule
    return name, None


MAX_SEED = 2**32 - 1
RANDOM_SEED = -1
MIN_SIDE, MAX_SIDE = 64, 2048
MAX_STEPS = 150
MAX_BATCH = 8
# A1111 sets no bound; ours keeps every PNG and history.json readable (the longest real prompts are ~2,000).
MAX_PROMPT_CHARS = 10_000
# LoRA weights beyond this only burn the picture (A1111's sliders stop at 2); negative weights are allowed.
MAX_LORA_WEIGHT = 5.0


# What a ControlNet unit can steer with; studio/control/catalogue.py says which model and preprocessors each uses.
CONTROL_KINDS: tuple[str, ...] = (
    "canny",
    "openpose",
    "depth",
    "seg",
    "scribble",
    "lineart",
    "softedge",
    "tile",
    "shuffle",
)


def is_upscaler_file(name: str) -> bool:
    """A model file's name in the upscalers folder: a known suffix, and no folder in it."""
    return name.endswith(UPSCALER_SUFFIXES) and "/" not in name and "\\" not in name and not name.startswith(".")
