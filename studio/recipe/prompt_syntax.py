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
_BREAK_WORD, _BREAK_WEIGHT = "BREAK", -1.0  # A1111's marker entry for a chunk break
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
    """The prompt as weighted runs, as A1111's `parse_prompt_attention` makes them.

    A BREAK is an entry ("BREAK", -1) that brackets scale like any text: only a BREAK outside every
    bracket keeps weight -1 and starts a new chunk; inside brackets A1111 encodes the word "BREAK"
    with the scaled (negative) weight, and so do we. Neighbours of equal weight merge, as there.
    """
    entries: list[list] = []  # [text, weight], mutable while brackets close
    open_round: list[int] = []
    open_square: list[int] = []

    def scale_from(start: int, factor: float) -> None:
        for entry in entries[start:]:
            entry[1] *= factor

    for match in _TOKENS.finditer(prompt):
        token, explicit_weight = match.group(0), match.group(1)
        if token.startswith("\\"):
            entries.append([token[1:], 1.0])
        elif token == "(":
            open_round.append(len(entries))
        elif token == "[":
            open_square.append(len(entries))
        elif explicit_weight is not None and open_round:
            scale_from(open_round.pop(), float(explicit_weight))
        elif token == ")" and open_round:
            scale_from(open_round.pop(), ROUND_BRACKETS)
        elif token == "]" and open_square:
            scale_from(open_square.pop(), SQUARE_BRACKETS)
        else:
            for index, part in enumerate(_BREAK.split(token)):
                if index:
                    entries.append([_BREAK_WORD, _BREAK_WEIGHT])
                entries.append([part, 1.0])
    # Unclosed brackets still count, as in A1111.
    for start in open_round:
        scale_from(start, ROUND_BRACKETS)
    for start in open_square:
        scale_from(start, SQUARE_BRACKETS)
    if not entries:
        entries = [["", 1.0]]

    merged: list[list] = []
    for entry in entries:
        if merged and merged[-1][1] == entry[1]:
            merged[-1][0] += entry[0]
        else:
            merged.append(list(entry))
    runs = [
        Run("BREAK", 1.0, True) if text == _BREAK_WORD and weight == _BREAK_WEIGHT else Run(text, weight)
        for text, weight in merged
    ]
    return [run for run in runs if run.text or run.is_break] or [Run("", 1.0)]
