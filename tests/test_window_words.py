"""The window's words say what is so (issue 25, item 13): a prompt shown as written, one step, what a node is."""

from __future__ import annotations

import pytest

from launch import build_sessions
from studio.finish.outpaint import Extension
from studio.history import Action, Iteration
from studio.recipe import AreaPromptRef, Recipe, ReferenceKind, ReferenceRef
from studio.ui.present.results import recipe_summary, selection_text


def node_with(prompt: str) -> Iteration:
    return Iteration(
        id="00001", parent_id=None, recipe=Recipe(model="tiny", prompt=prompt, steps=1), action=Action.GENERATE,
        outputs=("00001-0.png",), seeds=(7,), created=1_700_000_000,
    )  # fmt: skip


def test_a_prompt_is_shown_as_written_and_an_empty_one_says_so():
    shown = selection_text(node_with("a fox <lora:ink:0.8> (snow:1.2) *bold*"), 0)
    assert "&lt;lora:ink:0.8&gt;" in shown and r"\(snow:1.2\)" in shown and r"\*bold\*" in shown
    assert "**" not in selection_text(node_with(""), 0).split("\n")[-1]
    assert selection_text(node_with("   "), 0).endswith("(no prompt)")


def test_one_step_is_one_step():
    assert "1 step ·" in recipe_summary(Recipe(model="tiny", steps=1)) + " ·"
    assert "2 steps" in recipe_summary(Recipe(model="tiny", steps=2))


def test_the_summary_names_each_reference_and_counts_the_area_prompts():
    references = (
        ReferenceRef("/adapters/ip-adapter-plus_sd15.safetensors", "reference-1", weight=0.6, mask="reference-1-mask"),
        ReferenceRef("ip-adapter-faceid_sd15.bin", "reference-2", kind=ReferenceKind.FACE),
    )
    areas = (AreaPromptRef("a girl", "area-1"), AreaPromptRef("a boy", "area-2"))
    summary = recipe_summary(Recipe(model="tiny", references=references, area_prompts=areas))
    assert summary.endswith(
        "reference ip-adapter-plus_sd15 (style and content) 0.6 in its area · "
        "reference ip-adapter-faceid_sd15 (face) 1 · 2 area prompts"
    )


def test_the_hires_refusal_names_what_the_picture_is(fake_engine, tmp_path):
    studio = build_sessions(fake_engine, tmp_path / "outputs").open("words")
    small = Recipe(model="tiny", prompt="a bay", steps=2, width=64, height=64)
    root = studio.generate(small)
    widened = studio.outpaint(root.id, Extension(right=16), small)
    with pytest.raises(ValueError, match=f"{widened.id} is an outpaint"):
        studio.hires_fix(widened.id, small.replace(hires_scale=2.0))
