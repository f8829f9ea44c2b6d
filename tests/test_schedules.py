"""Sampler and schedule type are two fields, as in A1111 1.9+; version-1 recipes, histories and PNGs migrate exactly."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from launch import build_sessions
from studio.engine.samplers import SCHEDULERS as ENGINE_SAMPLERS
from studio.engine.samplers import make_scheduler
from studio.formats import png_text
from studio.history import HISTORY_FILE, SessionHistory
from studio.recipe import AUTOMATIC_SCHEDULES, SAMPLERS, SCHEDULERS, Recipe, RecipeError

RECIPE = Recipe(prompt="a lighthouse", model="tiny", steps=4, width=64, height=64, seed=5)


def test_the_engine_runs_every_sampler_the_recipe_names():
    assert list(ENGINE_SAMPLERS) == list(SAMPLERS)


def test_automatic_means_the_samplers_own_schedule_as_in_a1111(engine):
    config = engine.pipelines.scheduler_config
    karras = make_scheduler("DPM++ 2M", "Automatic", config, seed=1)
    assert (
        karras.config.use_karras_sigmas and make_scheduler("DPM++ 2M", "Karras", config, seed=1).config == karras.config
    )
    assert make_scheduler("DPM++ 2M SDE", "Automatic", config, seed=1).config.use_exponential_sigmas
    uniform = make_scheduler("DPM++ 2M", "Uniform", config, seed=1).config
    assert not uniform.use_karras_sigmas and not uniform.use_exponential_sigmas
    assert make_scheduler("Euler", "SGM Uniform", config, seed=1).config.timestep_spacing == "trailing"
    assert set(AUTOMATIC_SCHEDULES) == {"DPM++ 2M", "DPM++ SDE", "DPM2", "DPM2 a", "DPM++ 2M SDE"}


@pytest.mark.parametrize("schedule", SCHEDULERS)
def test_each_schedule_runs_deterministically_and_changes_the_picture(engine, schedule):
    recipe = RECIPE.replace(sampler="DPM++ 2M", scheduler=schedule)
    first, second = engine.generate(recipe)[0], engine.generate(recipe)[0]
    assert first.tobytes() == second.tobytes()
    if schedule not in ("Automatic", "Karras"):
        karras = engine.generate(RECIPE.replace(sampler="DPM++ 2M", scheduler="Karras"))[0]
        assert first.tobytes() != karras.tobytes()


def test_a_schedule_a_sampler_cannot_run_is_refused():
    with pytest.raises(RecipeError, match="Euler a cannot run Karras"):
        Recipe(sampler="Euler a", scheduler="Karras")
    with pytest.raises(RecipeError, match="unknown schedule type 'Cosine'"):
        Recipe(scheduler="Cosine")
    # A1111's one-field names are still understood where values come in (API, presets, older texts).
    assert Recipe().updated({"sampler": "DPM++ 2M Karras"}).scheduler == "Karras"
    with pytest.raises(RecipeError, match="contradicts"):
        Recipe().updated({"sampler": "DPM++ 2M Karras", "scheduler": "Uniform"})


V1_MIGRATIONS = [
    ("DPM++ 2M Karras", ("DPM++ 2M", "Karras")),
    ("DPM++ 2M", ("DPM++ 2M", "Uniform")),  # version 1 ran these on uniform spacing, not A1111's Automatic
    ("DPM++ 2M SDE", ("DPM++ 2M SDE", "Uniform")),
    ("DPM2 a Karras", ("DPM2 a", "Karras")),
    ("Euler a", ("Euler a", "Automatic")),  # Automatic is uniform for Euler a: nothing changes
    ("LMS Karras", ("LMS", "Karras")),
]


@pytest.mark.parametrize(("v1", "v2"), V1_MIGRATIONS)
def test_version_1_recipes_migrate_to_what_ran(v1, v2):
    data = {**RECIPE.to_dict(), "schema_version": 1, "sampler": v1}
    del data["scheduler"]
    recipe = Recipe.from_dict(data)
    assert (recipe.sampler, recipe.scheduler) == v2


def version_1(folder) -> None:
    """Turn a session folder into what the studio wrote before schedule types: history.json and PNG metadata."""

    def downgrade(recipe: dict) -> dict:
        recipe = dict(recipe, schema_version=1)
        schedule = recipe.pop("scheduler")
        recipe["sampler"] += " Karras" if schedule == "Karras" else ""
        return recipe

    history = json.loads((folder / HISTORY_FILE).read_text())
    history["schema_version"] = 1
    for node in history["nodes"]:
        node["recipe"] = downgrade(node["recipe"])
    (folder / HISTORY_FILE).write_text(json.dumps(history))
    for png in folder.glob("*-[0-9].png"):
        texts = png_text.read_texts(png)
        stored = json.loads(texts["studio"])
        stored["node"]["recipe"] = downgrade(stored["node"]["recipe"])
        with Image.open(png) as picture:
            picture.load()
            png_text.write_png(picture, png, {**texts, "studio": json.dumps(stored)})


@pytest.mark.parametrize("keep_history", [True, False], ids=["history.json", "PNGs alone"])
def test_a_version_1_session_migrates_and_replays_exactly(engine, tmp_path, keep_history):
    studio = build_sessions(engine, tmp_path / "made").open("old")
    made = [
        studio.generate(RECIPE.replace(sampler="DPM++ 2M", scheduler="Karras")),
        studio.generate(RECIPE.replace(sampler="DPM++ 2M", scheduler="Uniform")),
        studio.generate(RECIPE.replace(sampler="Euler a")),
    ]
    old = tmp_path / "outputs" / "old"
    shutil.copytree(studio.history.folder, old)
    version_1(old)
    if not keep_history:
        (old / HISTORY_FILE).unlink()

    reopened = build_sessions(engine, tmp_path / "outputs").open("old")
    assert [n.recipe for n in reopened.tree()] == [n.recipe for n in made]
    for node in made:
        again = reopened.replay(node.id)
        before = np.asarray(Image.open(old / node.outputs[0]))
        assert np.array_equal(np.asarray(reopened.restore(again.id).outputs[0]), before)
    assert SessionHistory(old).get(made[0].id).recipe.scheduler == "Karras"


def test_picking_picture_i_of_a_variation_batch_gives_the_recipe_that_remakes_it(engine, tmp_path):
    from studio.services.picture_info import read_picture_info

    studio = build_sessions(engine, tmp_path / "outputs").open()
    root = studio.generate(RECIPE)
    varied = studio.vary(root.id, count=3, strength=0.3)
    outputs = studio.restore(varied.id).outputs
    for index in range(3):
        recipe = varied.recipe_of(index)
        assert recipe.variation_strength == 0.3 and recipe.variation_seed == varied.recipe.variation_seeds()[index]
        # At the batch's own size the picture comes back first, bit for bit (a batch of one may differ by one
        # level in a few values: batched arithmetic, as in A1111).
        assert engine.generate(recipe)[0].tobytes() == outputs[index].tobytes()
        alone = np.asarray(engine.generate(recipe.replace(batch_size=1))[0]).astype(int)
        assert np.abs(alone - np.asarray(outputs[index]).astype(int)).max() <= 1
        # The picture's own metadata says the same.
        info = read_picture_info(studio.history.path(varied.outputs[index]))
        assert info.recipe(Recipe()) == recipe
