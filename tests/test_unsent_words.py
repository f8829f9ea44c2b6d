"""Words typed but not run are kept across a pick (issue 25, item 4): which words count as unsent."""

from __future__ import annotations

from studio.history import Action, Iteration
from studio.recipe import LoraRef, Recipe
from studio.ui.present.unsent import form_words, unsent_label, unsent_words


def node(prompt: str, negative: str = "", loras=()) -> Iteration:
    recipe = Recipe(model="tiny", prompt=prompt, negative_prompt=negative, loras=tuple(loras))
    return Iteration(id="00001", parent_id=None, action=Action.GENERATE, recipe=recipe, outputs=("a.png",), seeds=(1,))


def test_words_typed_and_not_run_are_unsent_and_a_node_s_words_are_not():
    ran = [node("a lighthouse"), node("a fox", "blurry", [LoraRef("ink", 0.8)])]
    picked = form_words(ran[0])
    assert unsent_words(("a lighthouse in a storm", ""), picked, ran) == {
        "prompt": "a lighthouse in a storm",
        "negative": "",
    }
    assert unsent_words(("a lighthouse", "blurry"), picked, ran) == {"prompt": "a lighthouse", "negative": "blurry"}
    assert unsent_words(("a lighthouse ", ""), picked, ran) is None  # the picked words themselves
    assert (
        unsent_words(("a fox <lora:ink:0.8>", "blurry"), picked, ran) is None
    )  # words that ran, as the form shows them
    assert unsent_words(("", "  "), picked, ran) is None


def test_the_label_shows_the_words_shortened():
    label = unsent_label({"prompt": "word " * 40, "negative": ""})
    assert label.startswith("↩ Your unsent prompt: “word word") and label.endswith("…”") and len(label) < 90
