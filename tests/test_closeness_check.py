"""The closeness check of any picture against a session's pictures or a folder (studio/services/closeness.py),
through the facade (Session.closest_pictures), on the fake engine: which pictures it compares, and in what order."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps
from skimage import data

from launch import build_sessions
from studio.errors import InputError
from studio.recipe import Recipe

RECIPE = Recipe(prompt="a portrait", model="tiny", steps=2, width=128, height=128, seed=1)


def photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(data, name)()).convert("RGB").resize((128, 128), Image.Resampling.LANCZOS)


def test_a_session_offers_its_results_and_each_given_picture_once_never_masks(fake_engine, tmp_path):
    session = build_sessions(fake_engine, tmp_path / "outputs").open()
    upload = photo("astronaut")
    first = session.repaint(upload, RECIPE)
    session.repaint(upload, RECIPE.replace(seed=2))  # the same upload, kept again by its node
    mask = Image.new("L", (128, 128), 0)
    mask.paste(255, (40, 40, 90, 90))
    session.inpaint(upload, mask, RECIPE)
    matches = session.closest_pictures(ImageOps.mirror(upload), limit=50)
    names = [match.name for match in matches]
    assert not any("mask" in name for name in names)
    given = [name for name in names if name.endswith("-image.png")]
    assert given == [first.inputs["image"]]  # one upload, however many nodes kept it
    assert matches[0].name == given[0] and matches[0].closeness.verdict == "a near copy"  # a flipped copy of it
    assert [m.closeness.score for m in matches] == sorted((m.closeness.score for m in matches), reverse=True)


def test_a_folder_and_its_sub_folders_are_compared_and_bad_folders_refused(fake_engine, tmp_path):
    session = build_sessions(fake_engine, tmp_path / "outputs").open()
    folder = tmp_path / "references"
    (folder / "more").mkdir(parents=True)
    photo("coffee").save(folder / "coffee.png")
    photo("chelsea").save(folder / "more" / "chelsea.jpg")
    (folder / "notes.txt").write_text("not a picture")
    blurred = np.asarray(photo("chelsea").resize((96, 96)))
    matches = session.closest_pictures(Image.fromarray(blurred), folder)
    assert [match.name for match in matches] == ["more/chelsea.jpg", "coffee.png"]
    assert matches[0].closeness.score > 0.8 > matches[1].closeness.score
    with pytest.raises(InputError, match="is not a folder on this computer"):
        session.closest_pictures(photo("coffee"), tmp_path / "nowhere")
