"""What a ComfyUI picture says: its `prompt` graph (API format) or its `workflow` (editor format).

A graph is not a recipe; we take what has a clear meaning (the sampler node's settings, the texts
wired to its positive and negative inputs, the latent size) and keep the rest visible as unknown.
"""

from __future__ import annotations

from typing import Any

from studio.recipe import MAX_SEED, Recipe, RecipeError

_SAMPLERS = {
    "euler": "Euler",
    "euler_ancestral": "Euler a",
    "heun": "Heun",
    "dpm_2": "DPM2",
    "dpm_2_ancestral": "DPM2 a",
    "lms": "LMS",
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_sde": "DPM++ 2M SDE",
    "dpmpp_sde": "DPM++ SDE",
    "ddim": "DDIM",
    "uni_pc": "UniPC",
    "lcm": "LCM",
}
_SAMPLER_NODES = ("KSampler", "KSamplerAdvanced")


def from_prompt_graph(graph: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Recipe fields from ComfyUI's API-format graph, and what was found but not applied."""
    nodes = {key: node for key, node in graph.items() if isinstance(node, dict) and "class_type" in node}
    sampler = next((node for node in nodes.values() if node["class_type"] in _SAMPLER_NODES), None)
    changes: dict[str, Any] = {}
    unknown: dict[str, str] = {}
    if sampler is None:
        unknown["graph"] = f"{len(nodes)} nodes, no KSampler"
        return changes, unknown
    inputs = sampler.get("inputs", {})
    seed = inputs.get("seed", inputs.get("noise_seed"))
    for name, value in (("seed", seed), ("steps", inputs.get("steps")), ("cfg_scale", inputs.get("cfg"))):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            changes[name] = int(value) if name != "cfg_scale" else float(value)
    _keep_seed_in_range(changes, unknown)
    found = _sampler(inputs.get("sampler_name"), inputs.get("scheduler"))
    if found:
        changes["sampler"], changes["scheduler"] = found
    elif inputs.get("sampler_name"):
        unknown["sampler"] = f"{inputs.get('sampler_name')} / {inputs.get('scheduler')}"
    if isinstance(inputs.get("denoise"), (int, float)) and inputs["denoise"] < 1:
        changes["denoising_strength"] = float(inputs["denoise"])
    for field, key in (("prompt", "positive"), ("negative_prompt", "negative")):
        text = _text_of(nodes, inputs.get(key))
        if text is not None:
            changes[field] = text
    latent = _linked(nodes, inputs.get("latent_image"))
    if latent and latent["class_type"] == "EmptyLatentImage":
        size = latent.get("inputs", {})
        if isinstance(size.get("width"), int) and isinstance(size.get("height"), int):
            changes["width"], changes["height"] = size["width"], size["height"]
    for node in nodes.values():
        if node["class_type"].startswith("CheckpointLoader"):
            unknown["checkpoint"] = str(node.get("inputs", {}).get("ckpt_name"))
        elif node["class_type"] == "LoraLoader":
            lora = node.get("inputs", {})
            unknown[f"lora {lora.get('lora_name')}"] = str(lora.get("strength_model"))
    return changes, unknown


def from_workflow(workflow: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The editor format has no named inputs: only the sampler's widget values are unambiguous."""
    changes: dict[str, Any] = {}
    unknown: dict[str, str] = {}
    for node in workflow.get("nodes", []):
        values = node.get("widgets_values") or []
        if node.get("type") == "KSampler" and len(values) >= 6:
            seed, _, steps, cfg, sampler, scheduler = values[:6]
            changes |= {"seed": int(seed), "steps": int(steps), "cfg_scale": float(cfg)}
            _keep_seed_in_range(changes, unknown)
            found = _sampler(sampler, scheduler)
            if found:
                changes["sampler"], changes["scheduler"] = found
        elif node.get("type") == "CLIPTextEncode" and values:
            unknown[f"text (node {node.get('id')})"] = str(values[0])
    return changes, unknown


# ComfyUI scheduler -> A1111 schedule type; the others have no counterpart here.
_SCHEDULES = {"normal": "Uniform", "karras": "Karras", "exponential": "Exponential", "sgm_uniform": "SGM Uniform"}


def _sampler(sampler: Any, scheduler: Any) -> tuple[str, str] | None:
    name, schedule = _SAMPLERS.get(str(sampler)), _SCHEDULES.get(str(scheduler))
    if name is None or schedule is None:
        return None
    try:
        Recipe(sampler=name, scheduler=schedule)  # e.g. Euler a cannot run Karras sigmas here
    except RecipeError:
        return None
    return name, schedule


def _linked(nodes: dict[str, Any], link: Any) -> dict[str, Any] | None:
    if isinstance(link, list) and link:
        return nodes.get(str(link[0]))
    return None


def _text_of(nodes: dict[str, Any], link: Any) -> str | None:
    node = _linked(nodes, link)
    if node and node["class_type"] == "CLIPTextEncode":
        text = node.get("inputs", {}).get("text")
        return text if isinstance(text, str) else None
    return None


def _keep_seed_in_range(changes: dict[str, Any], unknown: dict[str, str]) -> None:
    """ComfyUI seeds go up to 2**64 - 1; A1111's and ours to 2**32 - 1. A larger one is shown, not applied."""
    seed = changes.get("seed")
    if seed is not None and not 0 <= seed <= MAX_SEED:
        del changes["seed"]
        unknown["seed"] = f"{seed} (ComfyUI's; this studio's seeds go from 0 to {MAX_SEED}, so it is not applied)"
