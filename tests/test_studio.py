"""The Session: the loop and its pixels on the tiny engine; the version tree, marks and files on the fake one."""

import json

import numpy as np
import pytest
from PIL import Image

from launch import build_sessions
from studio.errors import GenerationStopped
from studio.formats import png_text
from studio.history import HISTORY_FILE, Action, HistoryError, HistoryStore, Mark, SessionHistory
from studio.recipe import InpaintArea, Mode, Recipe
from studio.session.session import Session

SIZE = 128


@pytest.fixture
def studio(engine, tmp_path) -> Session:
    """A session on the tiny engine: for the tests that claim something about pixels."""
    return build_sessions(engine, tmp_path / "outputs").open()


@pytest.fixture
def wired(fake_engine, tmp_path) -> Session:
    """A session on the fake engine: for the tests of the tree, marks and files."""
    return build_sessions(fake_engine, tmp_path / "outputs").open()


def recipe(**changes) -> Recipe:
    return Recipe(prompt="a lighthouse at dusk", model="tiny", steps=3, width=SIZE, height=SIZE).replace(**changes)


def mask_square() -> Image.Image:
    mask = Image.new("L", (SIZE, SIZE), 0)
    mask.paste(255, (32, 32, 96, 96))
    return mask


def test_generate_writes_the_node_before_returning(wired):
    node = wired.generate(recipe(batch_size=2))
    assert node.recipe.seed >= 0  # the random seed was made concrete and recorded
    assert node.seeds == (node.recipe.seed, node.recipe.seed + 1)
    for index, name in enumerate(node.outputs):
        path = wired.history.path(name)
        texts = png_text.read_texts(path)
        stored = json.loads(texts["studio"])
        assert stored["node"]["id"] == node.id and stored["output_index"] == index
        assert f"Seed: {node.seeds[index]}," in texts["parameters"]
    history = json.loads((wired.history.folder / HISTORY_FILE).read_text())
    assert history["schema_version"] == 5 and [n["id"] for n in history["nodes"]] == [node.id]


def test_the_loop_builds_a_tree(studio):
    root = studio.generate(recipe(seed=5))
    picture = studio.restore(root.id).outputs[0]
    painted = picture.copy()
    painted.paste((255, 0, 0), (10, 10, 40, 40))  # the artist paints over
    repainted = studio.repaint(painted, recipe(denoising_strength=0.4), parent_id=root.id, source_index=0)
    inpainted = studio.inpaint(picture, mask_square(), recipe(), parent_id=root.id, source_index=0)
    varied = studio.vary(inpainted.id, count=2)
    nudged = studio.vary(root.id, count=2, strength=0.2)

    assert [n.id for n in studio.tree()] == [root.id, repainted.id, inpainted.id, varied.id, nudged.id]
    assert repainted.parent_id == root.id and repainted.recipe.mode is Mode.IMG2IMG
    assert inpainted.parent_id == root.id and inpainted.recipe.mode is Mode.INPAINT
    assert varied.parent_id == inpainted.id and varied.action is Action.VARY and len(varied.outputs) == 2
    assert varied.inputs == inpainted.inputs  # variations of an inpaint reuse its picture and mask
    assert nudged.seeds == (root.recipe.seed, root.recipe.seed)
    assert nudged.recipe.variation_strength == 0.2

    # The human's inputs are saved on the node, and the picture outside the mask is untouched.
    restored = studio.restore(inpainted.id)
    assert set(restored.inputs) == {"image", "mask"}
    assert np.array_equal(np.asarray(restored.inputs["mask"]), np.asarray(mask_square()))
    assert np.array_equal(np.asarray(studio.restore(repainted.id).inputs["image"]), np.asarray(painted))
    outside = np.asarray(mask_square().filter(__import__("PIL.ImageFilter").ImageFilter.GaussianBlur(4))) == 0
    assert np.array_equal(np.asarray(restored.outputs[0])[outside], np.asarray(picture)[outside])


def test_restore_gives_the_recipe_back_and_replays_exactly(studio):
    node = studio.inpaint(studio.restore(studio.generate(recipe()).id).outputs[0], mask_square(), recipe())
    restored = studio.restore(node.id)
    assert restored.node.recipe == node.recipe
    replay = studio.services.models.engine.generate(
        node.recipe, image=restored.inputs["image"], mask=restored.inputs["mask"]
    )
    assert replay[0].tobytes() == restored.outputs[0].tobytes()


def test_an_edit_of_a_later_picture_of_a_batch_replays(wired):
    made = wired.generate(recipe(batch_size=2, seed=3))
    edit = wired.repaint(wired.output_picture(made.id, 1), recipe(), parent_id=made.id, source_index=1)
    again = wired.replay(edit.id)  # the edit's own node has one picture: the replay picks none of them
    assert (again.parent_id, again.source_index, again.inputs) == (edit.id, None, edit.inputs)
    assert wired.output_picture(again.id).tobytes() == wired.output_picture(edit.id).tobytes()


def test_only_masked_renders_the_crop_at_the_recipe_size(studio, latent_sizes):
    picture = studio.restore(studio.generate(recipe()).id).outputs[0]
    latent_sizes.clear()
    node = studio.inpaint(picture, mask_square(), recipe(inpaint_area=InpaintArea.ONLY_MASKED, width=256, height=256))
    assert (node.recipe.width, node.recipe.height) == (256, 256)
    assert set(latent_sizes) == {(32, 32)}  # the crop was denoised at 256x256, not at the picture's 128x128
    assert studio.restore(node.id).outputs[0].size == picture.size


def test_uploads_of_any_size_fit_the_model(studio):
    upload = Image.new("RGB", (203, 150), "teal")
    node = studio.repaint(upload, recipe())
    assert (node.recipe.width, node.recipe.height) == (208, 152)  # extended, never resized (tests/test_any_size.py)
    assert studio.restore(node.id).outputs[0].size == (203, 150)


def test_marks_are_kept(wired, tmp_path):
    node = wired.generate(recipe(batch_size=2))
    wired.set_mark(node.id, 1, Mark.KEEP)
    wired.set_mark(node.id, 0, "reject")
    reopened = SessionHistory(wired.history.folder)
    assert reopened.get(node.id).marks == (Mark.REJECT, Mark.KEEP)
    with pytest.raises(HistoryError):
        wired.set_mark(node.id, 5, Mark.KEEP)


def test_restart_brings_back_every_session_and_node(wired, fake_engine, tmp_path):
    first = wired.generate(recipe())
    child = wired.vary(first.id, count=1)
    later = build_sessions(fake_engine, tmp_path / "outputs").open()
    later.generate(recipe())

    fresh_store = HistoryStore(tmp_path / "outputs")
    sessions = fresh_store.sessions()
    assert {info.id for info in sessions} == {wired.history.id, later.history.id}
    reopened = Session(fresh_store.session(wired.history.id), fresh_store, wired.services)
    assert reopened.tree() == wired.tree()
    assert reopened.tree()[1].parent_id == first.id and reopened.tree()[1].id == child.id
    # Branching goes on where it left off, with new ids.
    branch = reopened.vary(first.id, count=1)
    assert branch.id not in {first.id, child.id}


def test_deleted_history_is_rebuilt_from_the_pngs(wired):
    root = wired.generate(recipe())
    inpainted = wired.inpaint(wired.restore(root.id).outputs[0], mask_square(), recipe(), parent_id=root.id)
    before = wired.tree()
    (wired.history.folder / HISTORY_FILE).unlink()

    rebuilt = SessionHistory(wired.history.folder)
    assert rebuilt.recovered == [root.id, inpainted.id]
    assert [n.to_dict() for n in rebuilt.nodes()] == [n.to_dict() for n in before]
    assert (wired.history.folder / HISTORY_FILE).is_file()  # written back at once


def test_torn_history_is_put_aside_and_rebuilt(wired):
    root = wired.generate(recipe())
    child = wired.vary(root.id, count=1)
    history_file = wired.history.folder / HISTORY_FILE
    whole = history_file.read_bytes()
    history_file.write_bytes(whole[: len(whole) // 2])  # a crash halfway through a plain write

    rebuilt = SessionHistory(wired.history.folder)
    assert [n.id for n in rebuilt.nodes()] == [root.id, child.id]
    assert rebuilt.get(child.id).parent_id == root.id
    damaged = list(wired.history.folder.glob(f"{HISTORY_FILE}.damaged-*"))
    assert len(damaged) == 1 and damaged[0].read_bytes() == whole[: len(whole) // 2]
    assert "unreadable" in rebuilt.damage_note


def test_a_write_that_dies_halfway_leaves_the_old_file_whole(wired):
    from studio.files import atomic_write

    node = wired.generate(recipe())
    history_file = wired.history.folder / HISTORY_FILE
    before = history_file.read_bytes()

    def crash(handle):
        handle.write(b'{"schema_version": 1, "nodes": [')
        raise OSError("disk pulled out")

    with pytest.raises(OSError):
        atomic_write(history_file, crash)
    assert history_file.read_bytes() == before
    assert not list(wired.history.folder.glob(".*.tmp"))
    assert SessionHistory(wired.history.folder).get(node.id) == node


def test_nodes_missing_from_history_are_recovered(wired):
    # A crash after the PNGs were written but before history.json was replaced.
    root = wired.generate(recipe())
    history_file = wired.history.folder / HISTORY_FILE
    stale = history_file.read_text()
    child = wired.vary(root.id, count=1)
    history_file.write_text(stale)
    rebuilt = SessionHistory(wired.history.folder)
    assert rebuilt.recovered == [child.id]
    assert [n.id for n in rebuilt.nodes()] == [root.id, child.id]


def test_stopped_run_records_nothing(studio):
    studio.generate(recipe())

    def stop_now(step):
        studio.services.models.stop()

    with pytest.raises(GenerationStopped):
        studio.generate(recipe(steps=20), on_step=stop_now)
    assert len(studio.tree()) == 1
    assert len(list(studio.history.folder.glob("*.png"))) == 1


def test_bad_requests_fail_before_anything_is_written(wired):
    with pytest.raises(HistoryError, match="no node"):
        wired.vary("00042")
    with pytest.raises(ValueError, match="mask"):
        wired.inpaint(Image.new("RGB", (SIZE, SIZE)), Image.new("L", (64, 64), 255), recipe())
    with pytest.raises(ValueError, match="mask: is empty"):
        wired.inpaint(Image.new("RGB", (SIZE, SIZE)), Image.new("L", (SIZE, SIZE), 0), recipe())
    assert wired.tree() == [] and not list(wired.history.folder.glob("*.png"))


def test_a_second_click_on_a_mark_clears_it(wired):
    node = wired.generate(recipe())
    assert wired.toggle_mark(node.id, 0, Mark.KEEP).marks == (Mark.KEEP,)
    assert wired.toggle_mark(node.id, 0, Mark.REJECT).marks == (Mark.REJECT,)
    assert wired.toggle_mark(node.id, 0, Mark.REJECT).marks == (Mark.NONE,)


def test_styles_run_applied_while_the_tree_keeps_the_artists_prompt(fake_engine, tmp_path):

    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "oil.json").write_text(
        json.dumps(
            {
                "schema_version": 1,
                "name": "Oil",
                "kind": "style",
                "settings": {"prompt_template": "{prompt}, oil painting", "negative_prompt": "photo"},
            }
        )
    )
    studio = build_sessions(fake_engine, tmp_path / "outputs", preset_folders=(presets, tmp_path / "mine")).open()
    node = studio.generate(recipe(prompt="a fox", styles=("Oil",)))
    assert fake_engine.runs[-1].prompt == "a fox, oil painting"
    assert fake_engine.runs[-1].negative_prompt == "photo"
    assert node.recipe.prompt == "a fox" and node.recipe.styles == ("Oil",)
    texts = png_text.read_texts(studio.history.path(node.outputs[0]))
    assert texts["parameters"].startswith("a fox, oil painting\nNegative prompt: photo\n")
    assert json.loads(texts[png_text.STUDIO_KEY])["node"]["recipe"]["styles"] == ["Oil"]
    # Replayed, the same style runs again: the same pixels.
    again = studio.replay(node.id)
    assert fake_engine.runs[-1].prompt == "a fox, oil painting" and again.recipe == node.recipe
