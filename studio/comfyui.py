"""What a ComfyUI picture says: its `prompt` graph (API format) or its `workflow` (editor format).

A graph is not a recipe; we take what has a clear meaning (the sampler node's settings, the texts
wired to its positive and negative inputs, the latent size) and keep the rest visible as unknown.
"""

from __future__ import annotations

from typing import Any

from studio.recipe import SAMPLERS

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
    name = _sampler(inputs.get("sampler_name"), inputs.get("scheduler"))
    if name:
        changes["sampler"] = name
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
            name = _sampler(sampler, scheduler)
            if name:
                changes["sampler"] = name
        elif node.get("type") == "CLIPTextEncode" and values:
            unknown[f"text (node {node.get('id')})"] = str(values[0])
    return changes, unknown


def _sampler(sampler: Any, scheduler: Any) -> str | None:
    name = _SAMPLERS.get(str(sampler))
    if name and scheduler == "karras" and f"{name} Karras" in SAMPLERS:
        return f"{name} Karras"
    return name


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
