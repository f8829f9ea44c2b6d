"""What a studio open to others (`--share`, `--listen`) lets a request name: only what it offers.

Locally, a recipe may name any model file, ControlNet folder or LoRA path on the artist's own
computer. Shared, that would let anyone with the link load, probe and read files on the server, so
a recipe names only the models and ControlNets the studio offers and LoRAs of its library, by name;
and every message names what the caller wrote, never what exists on the server. Pure: no torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from studio.errors import NotOffered
from studio.recipe import Recipe


@dataclass(frozen=True)
class Offered:
    models: frozenset[str]
    controlnets: frozenset[str]
    lora_names: Callable[[], Iterable[str]]  # the LoRA library's names, read when asked (the library changes)

    def check_model(self, model: str) -> None:
        if model not in self.models:
            raise NotOffered(
                f"model: a shared studio runs only the models it offers ({', '.join(sorted(self.models))}); "
                f"{model!r} is not one of them"
            )

    def check_lora(self, name: str, library: set[str] | None = None) -> None:
        if name not in (library if library is not None else set(self.lora_names())):
            raise NotOffered(
                f"LoRA {name!r}: a shared studio uses LoRAs of its library, by name (see the LoRAs tab); "
                "there is no such LoRA there"
            )

    def check_recipe(self, recipe: Recipe) -> None:
        self.check_model(recipe.model)
        for unit in recipe.controls:
            if unit.model not in self.controlnets:
                raise NotOffered(
                    f"controls: a shared studio uses only its own ControlNets (each kind's default); "
                    f"{unit.model!r} is not one of them"
                )
        loras = recipe.effective_loras
        library = set(self.lora_names()) if loras else set()  # read the library once per request
        for lora in loras:
            self.check_lora(lora.name, library)

    def refuse_server_folders(self, what: str) -> None:
        raise NotOffered(f"{what} reads a folder on the server, which a shared studio does not do; run it locally")
