"""Words the artist typed but has not run yet, which a pick would otherwise write over."""

from __future__ import annotations

from collections.abc import Iterable

from studio.history import Iteration
from studio.recipe.prompt_syntax import prompt_with_lora_tags

LABEL_WORDS = 60


def form_words(node: Iteration) -> tuple[str, str]:
    """A node's prompt and negative prompt as the form shows them (its LoRAs as <lora:…> tags)."""
    recipe = node.recipe
    prompt = prompt_with_lora_tags(recipe.prompt, [(lora.name, lora.weight) for lora in recipe.loras])
    return prompt, recipe.negative_prompt


def unsent_words(typed: tuple[str, str], picked: tuple[str, str], ran: Iterable[Iteration]) -> dict | None:
    """{"prompt", "negative"} when the form's words are the artist's own, not run yet, and a pick of words
    `picked` would replace them; None when they are empty, the same, or the words of a node that ran."""
    prompt, negative = (typed[0] or "").strip(), (typed[1] or "").strip()
    if not prompt and not negative:
        return None
    if (prompt, negative) == tuple(words.strip() for words in picked):
        return None
    if any((prompt, negative) == tuple(words.strip() for words in form_words(node)) for node in ran):
        return None
    return {"prompt": typed[0] or "", "negative": typed[1] or ""}


def unsent_label(words: dict) -> str:
    prompt = " ".join(str(words.get("prompt") or words.get("negative") or "").split())
    shown = prompt if len(prompt) <= LABEL_WORDS else prompt[: LABEL_WORDS - 1].rstrip() + "…"
    return f"↩ Your unsent prompt: “{shown}”"
