"""A1111's prompt syntax: emphasis with (), [] and (text:weight), escapes, and BREAK.

    a (red:1.3) fox, ((detailed)), [blurry], \\(not emphasis\\) BREAK in the snow

becomes text runs with weights: ("a ", 1.0), ("red", 1.3), (" fox, ", 1.0), ("detailed", 1.21), ...
and a BREAK marker that starts a new 75-token chunk. The rules are A1111's, so a prompt pasted
from a model site means here what it meant there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ROUND_BRACKETS = 1.1
SQUARE_BRACKETS = 1 / 1.1

_TOKENS = re.compile(
    r"""
    \\\( | \\\) | \\\[ | \\\] | \\\\ | \\   # escapes
    | \(                                    # open emphasis
    | \[                                    # open de-emphasis
    | :\s*([+-]?[.\d]+)\s*\)                # (text:1.3) closes with an explicit weight
    | \)
    | \]
    | [^\\()\[\]:]+                         # plain text
    | :                                     # a colon that is not a weight
    """,
    re.VERBOSE,
)
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)
_LORA_TAG = re.compile(r"<lora:([^:>]+)(?::\s*([+-]?[\d.]+))?\s*>")


def lora_tags(prompt: str) -> tuple[str, list[tuple[str, float]]]:
    """A1111's `<lora:name:weight>` tags: the prompt without them, and (name, weight) for each."""
    tags = [(name.strip(), float(weight) if weight else 1.0) for name, weight in _LORA_TAG.findall(prompt)]
    return _LORA_TAG.sub("", prompt), tags


def prompt_with_lora_tags(prompt: str, loras: list[tuple[str, float]]) -> str:
    """The prompt with a `<lora:name:weight>` tag added for each LoRA it does not tag already."""
    tagged = {name for name, _ in lora_tags(prompt)[1]}
    tags = [f"<lora:{name}:{weight:g}>" for name, weight in loras if name not in tagged]
    return " ".join([prompt.rstrip(), *tags]).strip() if tags else prompt


def effective_loras(prompt: str, loras: tuple[tuple[str, float], ...]) -> tuple[str, list[tuple[str, float]]]:
    """The prompt without tags, and every LoRA a run uses: the recipe's own first, then the prompt's tags."""
    prompt, tags = lora_tags(prompt)
    weights = dict(loras)
    for name, weight in tags:
        weights.setdefault(name, weight)
    return prompt, list(weights.items())


@dataclass(frozen=True)
class Run:
    """A stretch of prompt text with one weight. `is_break` marks a forced chunk boundary."""

    text: str
    weight: float
    is_break: bool = False


def parse(prompt: str) -> list[Run]:
    """The prompt as weighted runs, neighbours of equal weight merged."""
    runs: list[list] = []  # [text, weight, is_break], mutable while brackets close
    open_round: list[int] = []
    open_square: list[int] = []

    def scale_from(start: int, factor: float) -> None:
        for run in runs[start:]:
            if not run[2]:
                run[1] *= factor

    for match in _TOKENS.finditer(prompt):
        token, explicit_weight = match.group(0), match.group(1)
        if token.startswith("\\"):
            runs.append([token[1:], 1.0, False])
        elif token == "(":
            open_round.append(len(runs))
        elif token == "[":
            open_square.append(len(runs))
        elif explicit_weight is not None and open_round:
            scale_from(open_round.pop(), float(explicit_weight))
        elif token == ")" and open_round:
            scale_from(open_round.pop(), ROUND_BRACKETS)
        elif token == "]" and open_square:
            scale_from(open_square.pop(), SQUARE_BRACKETS)
        else:
            for index, part in enumerate(_BREAK.split(token)):
                if index:
                    runs.append(["BREAK", 1.0, True])
                runs.append([part, 1.0, False])
    # Unclosed brackets still count, as in A1111.
    for start in open_round:
        scale_from(start, ROUND_BRACKETS)
    for start in open_square:
        scale_from(start, SQUARE_BRACKETS)

    merged: list[list] = []
    for run in runs:
        if run[2] or not merged or merged[-1][2] or merged[-1][1] != run[1]:
            merged.append(list(run))
        else:
            merged[-1][0] += run[0]
    return [Run(text, weight, is_break) for text, weight, is_break in merged if text or is_break] or [Run("", 1.0)]
