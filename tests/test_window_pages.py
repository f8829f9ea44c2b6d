"""The window's drawn pages as pure functions: the version tree's layout, the viewer, the plan, the comparison."""

from __future__ import annotations

import re

from studio.history import Action, Iteration, Mark
from studio.recipe import ControlRef, Recipe
from studio.ui.present.compare import comparison, word_diff
from studio.ui.present.plan import ReferencePlan, UnitPlan, plan_text
from studio.ui.present.tree_view import (
    CARD_HEIGHT,
    CARD_WIDTH,
    Place,
    layout,
    thumbnail_columns,
    thumbnail_side,
    tree_html,
)
from studio.ui.present.viewer import Shown, viewer_html


def node(node_id: str, parent: str | None = None, action: Action = Action.GENERATE, count: int = 1, **recipe):
    return Iteration(
        id=node_id,
        parent_id=parent,
        recipe=Recipe(prompt=recipe.pop("prompt", "a fox"), model="tiny", **recipe),
        action=action,
        outputs=tuple(f"{node_id}-{i}.png" for i in range(count)),
        seeds=tuple(range(count)),
        source_index=0 if parent else None,
        marks=(Mark.NONE,) * count,
    )


def test_branches_stand_side_by_side_and_parents_centre_over_their_children():
    nodes = [
        node("00001"),
        node("00002", "00001", Action.INPAINT),
        node("00003", "00001", Action.VARY),
        node("00004", "00003", Action.REPAINT),
        node("00005"),
    ]
    places = layout(nodes)
    assert places["00002"] == Place(0, 1) and places["00003"] == Place(1, 1) and places["00004"] == Place(1, 2)
    assert places["00001"] == Place(0.5, 0)
    assert places["00005"] == Place(2, 0)  # a new root: a tree of its own, beside the first


def test_a_long_chain_is_laid_out_without_recursion():
    chain = [node("00001")] + [node(f"{i:05d}", f"{i - 1:05d}") for i in range(2, 1500)]
    places = layout(chain)
    assert places["01499"] == Place(0, 1498)


def test_the_tree_draws_an_edge_from_each_parent_to_each_child_labelled_with_the_action():
    nodes = [node("00001", count=2), node("00002", "00001", Action.INPAINT), node("00003", "00001", Action.VARY)]
    html = tree_html(nodes, lambda name: f"/out/{name}", selected=("00001", 1))
    edges = re.findall(r"data-from='(\d+)' data-to='(\d+)' d='M([\d.]+),([\d.]+) C[^']* ([\d.]+),([\d.]+)'", html)
    assert [(a, b) for a, b, *_ in edges] == [("00001", "00002"), ("00001", "00003")]
    places = layout(nodes)
    for parent, child, x1, y1, x2, y2 in edges:
        assert float(x1) == places[parent].left + CARD_WIDTH / 2 and float(y1) == places[parent].top + CARD_HEIGHT
        assert float(x2) == places[child].left + CARD_WIDTH / 2 and float(y2) == places[child].top
    assert "inpaint ·1" in html and "vary ·1" in html
    assert html.count("<img") == 4
    assert "class='pic selected' data-node='00001' data-index='1'" in html


def test_the_viewer_shows_the_picked_picture_and_offers_before_after_only_for_edits():
    shown = [Shown("00001", 0, "/out/a.png", "00001·1 generate"), Shown("00002", 0, "/out/b.png", "x", "/out/a.png")]
    generated = viewer_html(shown, 0)
    assert "class='after' alt='00001·1 generate' src='/gradio_api/file=/out/a.png'" in generated
    assert "<label class='compare' hidden>" in generated
    edited = viewer_html(shown, 1)
    assert "<label class='compare'>" in edited and "src='/gradio_api/file=/out/a.png'>" in edited
    assert "Nothing yet" in viewer_html([], empty="Nothing yet")


def test_the_plan_lists_everything_the_next_run_uses():
    text = plan_text(
        "tiny",
        "a knight <lora:mira:0.8>",
        [
            UnitPlan(1, True, "openpose", 1.0, {"preprocessor": "none"}),
            UnitPlan(2, False, "seg", 1.0, None),
            UnitPlan(3, True, "depth", 0.5, None),
        ],
        ["Oil painting"],
    )
    assert "`tiny`" in text and "LoRAs: mira 0.8" in text and "Styles: Oil painting" in text
    assert "Control unit 1: Pose (OpenPose), weight 1, map by hand" in text
    assert "unit 2" not in text
    assert "Control unit 3: Depth, weight 0.5, **no map yet**" in text
    assert "Control: off" in plan_text("tiny", "a fox", [UnitPlan(1, False, "canny", 1.0, None)])
    assert plan_text("tiny-sdxl", "a fox", [], family="SDXL").startswith("**Will run:** `tiny-sdxl` · SDXL")
    assert "Hires fix: 1.5× by Latent, strength 0.7 (Generate only)" in plan_text(
        "tiny", "a", [], hires=(1.5, "Latent", 0.7)
    )
    assert "Hires" not in plan_text("tiny", "a", [], hires=(1.0, "Latent", 0.7))
    library = ["EasyNegative", "mira-style"]
    with_embeddings = plan_text(
        "tiny", "a fox, (Mira-Style:1.2)", [], negative_prompt="EasyNegative", embeddings=library
    )
    assert "Embeddings: mira-style, EasyNegative (negative)" in with_embeddings
    assert "Embeddings" not in plan_text("tiny", "a fox, easy negative", [], embeddings=library)
    face = [ReferencePlan(1, "ip-adapter-faceid_sd15.bin", 0.8, "Face")]
    assert "Reference 1: ip-adapter-faceid_sd15, weight 0.8, face — **cannot run:** needs insightface" in plan_text(
        "tiny", "a fox", [], references=face
    )
    assert "cannot run" not in plan_text("tiny", "a fox", [], references=face, faces_ready=True)
    # An adapter and a kind that do not go together are named, whether insightface is there or not.
    for ready in (False, True):
        face_on_picture = [ReferencePlan(1, "ip-adapter_sd15.safetensors", 0.8, "Face")]
        assert "cannot run:** ip-adapter_sd15.safetensors reads whole pictures: a Face reference needs a FaceID" in (
            plan_text("tiny", "a fox", [], references=face_on_picture, faces_ready=ready)
        )
        style_on_face = [ReferencePlan(1, "ip-adapter-faceid_sd15.bin", 0.8, "Composition")]
        assert "cannot run:** a FaceID adapter reads a face: set It lends to Face" in plan_text(
            "tiny", "a fox", [], references=style_on_face, faces_ready=ready
        )


def test_a_comparison_shows_the_prompt_diff_and_the_settings_that_changed():
    assert word_diff("a red fox in snow", "a grey fox in the snow") == (
        "a <del>red</del> <ins>grey</ins> fox in <ins>the</ins> snow"
    )
    first = node("00001", prompt="a red fox", steps=20)
    second = node(
        "00002",
        "00001",
        Action.INPAINT,
        prompt="a grey fox",
        steps=30,
        controls=(ControlRef(kind="canny", model="tiny", image="control-0"),),
    )
    text = comparison(first, 0, second, 0)
    assert "<del>red</del> <ins>grey</ins>" in text
    assert "steps: 20 → 30" in text and "controls: none → canny" in text
    assert "Prompt** (A → B): unchanged" in comparison(first, 0, first, 0)


def test_picture_info_shows_what_ran_and_no_denoising_for_a_generated_picture():
    from studio.recipe import InpaintArea, LoraRef, Mode
    from studio.services.picture_info import PictureInfo, Source
    from studio.ui.present.picture import picture_info_text

    def info(recipe: Recipe) -> str:
        changes = recipe.to_dict()
        changes.pop("schema_version")
        return picture_info_text(PictureInfo(Source.STUDIO, changes, {}))

    generated = info(Recipe(prompt="a fox", model="tiny", styles=("Oil painting",)))
    assert "Denoising" not in generated and "Styles: Oil painting" in generated
    inpainted = info(
        Recipe(
            prompt="a fox",
            model="tiny",
            mode=Mode.INPAINT,
            denoising_strength=0.6,
            inpaint_area=InpaintArea.ONLY_MASKED,
            mask_blur=6,
            loras=(LoraRef("mira", 0.8),),
            controls=(ControlRef(kind="openpose", model="tiny", image="control-0", preprocessor="none"),),
        )
    )
    assert "- Denoising: 0.6" in inpainted
    assert "- Inpaint: only masked, mask blur 6 px, padding 32 px" in inpainted
    assert "- LoRA: mira 0.8" in inpainted
    assert "- Control unit 1: openpose · `tiny` · weight 1.0 · steps 0.0–1.0 · map by hand" in inpainted


def test_window_messages_name_fields_as_the_window_labels_them():
    from studio.recipe import RecipeError
    from studio.ui.running import in_the_windows_words

    assert in_the_windows_words(RecipeError("cfg_scale", "40 is above 30")) == "Prompt strength (CFG): 40 is above 30"
    assert in_the_windows_words(RecipeError("variation_strength", "needs a variation_seed")).startswith(
        "Variation strength: "
    )
    assert in_the_windows_words(RecipeError("controls.kind", "unknown kind")) == "controls.kind: unknown kind"


def test_a_tree_of_hundreds_of_nodes_has_a_place_for_each_and_no_two_cards_overlap():
    import random

    chooser = random.Random(7)
    nodes = [node("00001")]
    for number in range(2, 301):
        parent = nodes[chooser.randrange(len(nodes))].id if chooser.random() < 0.9 else None
        nodes.append(node(f"{number:05d}", parent, Action.VARY if parent else Action.GENERATE))
    places = layout(nodes)
    assert len(places) == 300 and len(set(places.values())) == 300
    for row in {place.row for place in places.values()}:
        columns = sorted(place.column for place in places.values() if place.row == row)
        assert all(b - a >= 1 for a, b in zip(columns, columns[1:], strict=False)), "cards side by side never overlap"
    html = tree_html(nodes, lambda name: f"/out/{name}")
    assert html.count("class='card'") == 300 and html.count("<path class='edge'") == sum(
        1 for n in nodes if n.parent_id
    )


def test_a_users_mistake_is_one_line_in_the_console_and_a_bug_keeps_its_traceback(caplog):
    import gradio as gr
    import pytest

    from studio.errors import InputError
    from studio.ui.running import user_errors

    with caplog.at_level("WARNING", logger="studio"), pytest.raises(gr.Error) as refused:
        with user_errors():
            raise InputError("image: is not a picture the studio can read")
    assert refused.value.print_exception is False
    assert [(record.getMessage(), record.exc_info) for record in caplog.records] == [
        ("Please check your input: image: is not a picture the studio can read", None)
    ]
    caplog.clear()
    # A ValueError that is no StudioError (PIL's, numpy's) is our bug, whatever its type says.
    with caplog.at_level("WARNING", logger="studio"), pytest.raises(gr.Error) as bug:
        with user_errors():
            raise ValueError("operands could not be broadcast")
    assert bug.value.title == "A bug in the studio"
    assert bug.value.message == (
        "This is a bug in the studio: ValueError: operands could not be broadcast. The details are in the console."
    )
    (logged,) = caplog.records
    assert logged.exc_info is not None and logged.exc_info[2] is not None  # the full traceback, in the console


def test_every_batch_s_thumbnails_fit_their_card():
    """A card is as tall as its thumbnails (issue 25, item 9): the 4th of four used to wrap below the card."""
    inside_width = CARD_WIDTH - 2 * (1 + 6)  # the card's border and padding
    title = 15 + 3  # the title line and the space under it
    for count in range(1, 10):
        columns, side = thumbnail_columns(count), thumbnail_side(count)
        rows = -(-count // columns)
        width = columns * (side + 4) + (columns - 1) * 2  # each thumbnail's 2 px border, 2 px between them
        height = 2 * (1 + 4) + title + rows * (side + 4) + (rows - 1) * 2
        assert width <= inside_width and height <= CARD_HEIGHT, (count, width, height)
        assert side >= 30  # still a picture one can tell apart
