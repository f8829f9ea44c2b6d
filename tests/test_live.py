"""Live painting: the lane's order, coalescing (always the newest canvas, never a queue), a live run giving way to
a pressed one, and Keep (a node whose replay paints the same pixels), with the live state back after a reload."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from launch import build_sessions
from studio.control.catalogue import NO_PREPROCESSOR
from studio.control.units import SKETCH_KINDS, UnitValues, build_units, sketch_unit
from studio.engine.lane import Lane
from studio.errors import GaveWay, InputError, NothingToEdit
from studio.history import Action
from studio.live.painter import LivePainter
from studio.prepare import edit_from_layers
from studio.recipe import Mode, Recipe
from tests.fake_engine import FakeEngine

RECIPE = Recipe(prompt="a lighthouse", model="tiny", steps=8, width=64, height=64, sampler="Euler a")


def canvas(shade: int, size: tuple[int, int] = (64, 64)) -> Image.Image:
    return Image.new("RGB", size, (shade, 100, 200 - shade // 2))


def stroke(size: tuple[int, int] = (64, 64), box=(16, 16, 40, 40)) -> Image.Image:
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(layer).ellipse(box, fill=(255, 255, 255, 255))
    return layer


# --- the lane --------------------------------------------------------------------------------------


def test_pressed_runs_go_before_live_ones_and_live_ones_take_turns():
    lane, order = Lane(), []

    def take(name: str, live: bool) -> None:
        with lane.hold(live=live):
            order.append(name)

    with lane.hold():  # a run in progress while the others ask, in this order
        waiters = []
        for name, live in (("live A1", True), ("live B1", True), ("pressed 1", False), ("live A2", True)):
            waiters.append(threading.Thread(target=take, args=(name, live)))
            waiters[-1].start()
            deadline = time.monotonic() + 10
            while len(lane._waiting) < len(waiters) and time.monotonic() < deadline:
                time.sleep(0.005)
        assert lane.wanted  # a pressed run waits: a live run in progress would give way now
    for waiter in waiters:
        waiter.join(timeout=10)
    assert order == ["pressed 1", "live A1", "live B1", "live A2"]
    assert not lane.wanted


def test_a_waiting_run_is_told_how_many_runs_go_before_it_in_the_order_they_take_turns():
    lane, release = Lane(), threading.Event()

    def take(owner: str, live: bool) -> None:
        with lane.hold(live=live, owner=owner):
            pass

    def hold_until_released() -> None:
        with lane.hold(owner="holder"):
            release.wait(10)

    holder = threading.Thread(target=hold_until_released)
    holder.start()
    waiters = []
    waiting = (("painting live", True), ("first pressed", False), ("second pressed", False), ("holder", False))
    for owner, live in waiting:
        waiters.append(threading.Thread(target=take, args=(owner, live)))
        waiters[-1].start()
        deadline = time.monotonic() + 10
        while len(lane.waiting) < len(waiters) and time.monotonic() < deadline:
            time.sleep(0.005)
    try:
        # The run holding the lane, then the pressed runs in the order they came, then the live one.
        assert lane.ahead("first pressed") == 1
        assert lane.ahead("second pressed") == 2
        assert lane.ahead("painting live") == 4
        # The holder's session has a run under way and another waiting (two tabs): the run under way may be the
        # one asking, so neither is told it waits.
        assert lane.ahead("holder") is None
        assert lane.ahead("nobody") is None
    finally:
        release.set()
        for thread in (holder, *waiters):
            thread.join(timeout=10)
    assert lane.ahead("painting live") is None


# --- coalescing --------------------------------------------------------------------------------------


class GatedEngine(FakeEngine):
    """A fake engine whose first live run waits at its first step until the test lets it go on."""

    def __init__(self) -> None:
        super().__init__()
        self.started, self.go_on = threading.Event(), threading.Event()
        self.canvases: list[tuple[int, int, int]] = []  # the colour of each live run's canvas, in order

    def generate(self, recipe, *, image=None, mask=None, control_images=None, on_step=None, live=False):
        assert image is not None
        self.canvases.append(image.getpixel((0, 0)))  # pyright: ignore[reportArgumentType]
        self.started.set()
        assert self.go_on.wait(timeout=30)
        return super().generate(recipe, image=image, mask=mask, control_images=control_images, on_step=on_step)


def test_twenty_changes_during_a_run_give_one_follow_up_run_on_the_newest_canvas(tmp_path):
    engine = GatedEngine()
    session = build_sessions(engine, tmp_path / "outputs").open("live")
    answers: dict[int, object] = {}

    def change(number: int) -> None:
        edit = edit_from_layers(canvas(number), mask=None, paint=None, parent=None)
        answers[number] = session.paint_live(edit, RECIPE, strength=0.5, masked=False)

    first = threading.Thread(target=change, args=(0,))
    first.start()
    assert engine.started.wait(timeout=30)
    painter = session.services.live.for_session(session.folder)
    later = []
    for number in range(1, 21):  # twenty strokes while the first run paints, each asking after the one before
        later.append(threading.Thread(target=change, args=(number,)))
        later[-1].start()
        deadline = time.monotonic() + 10
        while painter._pending != number + 1 and time.monotonic() < deadline:  # the painter numbers from 1
            time.sleep(0.002)
    engine.go_on.set()
    for thread in (first, *later):
        thread.join(timeout=30)

    assert painter.runs == 2  # the first run, then exactly one more
    assert engine.canvases == [canvas(0).getpixel((0, 0)), canvas(20).getpixel((0, 0))]  # the newest canvas
    assert all(answers[number] is None for number in range(1, 20))  # replaced before they ran: nothing shown
    shown = [answers[0], answers[20]]
    assert all(live is not None for live in shown)
    # What reaches the page is each run's own picture, the newest last: never an older one over a newer one.
    assert [live.canvas.getpixel((0, 0)) for live in shown] == engine.canvases  # pyright: ignore[reportAttributeAccessIssue]
    assert session.live.last().canvas.getpixel((0, 0)) == canvas(20).getpixel((0, 0))  # pyright: ignore[reportOptionalMemberAccess]


def test_a_run_that_gave_way_runs_again_after_the_pressed_run_unless_a_newer_change_came():
    painter: LivePainter[str] = LivePainter()
    tries = []

    def gives_way_once() -> str:
        tries.append("try")
        if len(tries) == 1:
            raise GaveWay("a pressed run waits")
        return "picture"

    assert painter.paint(gives_way_once) == "picture" and len(tries) == 2 and painter.runs == 2

    def fails() -> str:
        raise NothingToEdit("nothing to paint on")

    with pytest.raises(NothingToEdit):  # the change that asked is told; the painter goes on
        painter.paint(fails)
    assert painter.paint(lambda: "again") == "again"


# --- on the tiny model --------------------------------------------------------------------------------


def test_a_live_run_gives_way_to_a_pressed_run_at_its_next_step(engine):
    live_steps: list[float] = []
    pressed: dict[str, float] = {}
    recipe = RECIPE.replace(steps=40, seed=5)

    def pressed_run() -> None:
        pressed["asked"] = time.monotonic()
        engine.generate(recipe.replace(steps=2))
        pressed["done"] = time.monotonic()

    presser = threading.Thread(target=pressed_run)

    def on_live_step(progress) -> None:
        live_steps.append(time.monotonic())
        if progress.step == 2:
            presser.start()
            deadline = time.monotonic() + 10
            while not engine._lane.wanted and time.monotonic() < deadline:
                time.sleep(0.005)

    picture = canvas(60)
    with pytest.raises(GaveWay):
        engine.generate(
            recipe.replace(mode=Mode.IMG2IMG, denoising_strength=1.0),
            image=picture,
            on_step=on_live_step,
            live=True,
        )
    presser.join(timeout=60)
    assert "done" in pressed
    assert len(live_steps) <= 3  # the step in progress when the pressed run asked, and no more
    assert all(step < pressed["done"] for step in live_steps)


def test_keep_makes_a_node_whose_replay_paints_the_same_pixels_and_a_reload_finds_the_live_state(engine, tmp_path):
    studio = build_sessions(engine, tmp_path / "outputs")
    session = studio.open("live")
    base = session.generate(RECIPE.replace(steps=3, seed=3))
    background = Image.open(session.output_path(base.id, 0))
    seed = session.live_seed()
    assert session.live_seed() == seed  # fixed until asked: what changes is what the artist did

    mask = stroke()
    edit = edit_from_layers(background, mask=mask, paint=None, parent=(base.id, 0))
    first = session.paint_live(edit, RECIPE, strength=0.6, masked=True)
    assert first is not None and first.recipe.seed == seed and first.recipe.mode is Mode.INPAINT
    assert first.steps == int(RECIPE.steps * 0.6) and first.timing.endswith(f"{first.steps} steps")
    # Away from the mask (and its blur) the picture stays as it was, as an inpaint's does.
    outside = np.asarray(mask.getchannel("A").filter(ImageFilter.GaussianBlur(RECIPE.mask_blur))) == 0
    assert np.array_equal(np.asarray(first.picture)[outside], np.asarray(background.convert("RGB"))[outside])

    # A reload (a new Session object on the same folder) finds the live picture and its recipe.
    again = studio.open("live")
    kept_state = again.live.last()
    assert kept_state is not None and kept_state.recipe == first.recipe
    assert np.array_equal(np.asarray(kept_state.picture), np.asarray(first.picture))

    node = again.keep_live()
    assert node.parent_id == base.id and node.action is Action.INPAINT and node.recipe == first.recipe
    assert set(node.inputs) == {"image", "mask"}
    kept_picture = np.asarray(Image.open(again.output_path(node.id, 0)))
    assert np.array_equal(kept_picture, np.asarray(first.picture))
    assert again.keep_live().id == node.id  # kept once: a second Keep is the same node, not a copy
    replayed = again.replay(node.id)
    assert np.array_equal(np.asarray(Image.open(again.output_path(replayed.id, 0))), kept_picture)

    chosen = session.new_live_seed()  # on purpose: kept, and the next live runs use it
    assert session.live_seed() == chosen and studio.open("live").live_seed() == chosen


def test_keep_without_a_live_picture_says_what_to_do(fake_engine, tmp_path):
    session = build_sessions(fake_engine, tmp_path / "outputs").open("empty")
    with pytest.raises(NothingToEdit, match="turn Live on and paint"):
        session.keep_live()


# --- sketch to picture ------------------------------------------------------------------------------------


def sketch() -> Image.Image:
    paper = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(paper).line([(8, 50), (32, 10), (56, 50)], fill="black", width=3)
    return paper


def unit(kind: str) -> UnitValues:
    return UnitValues(False, kind, "tiny", 0.8, 0.0, 1.0, NO_PREPROCESSOR, "", None)


def test_a_sketch_on_the_canvas_is_a_scribble_or_line_art_units_map_and_a_node_keeps_it(engine, tmp_path):
    drawn = sketch()
    lines = np.asarray(drawn.convert("L")) < 128
    for kind in SKETCH_KINDS:
        controls, maps = build_units([sketch_unit(unit(kind), drawn)])  # an off unit with no map yet: on, drawn
        assert controls[0].kind == kind and controls[0].weight == 0.8
        seen = np.asarray(maps[controls[0].image].convert("L"))
        assert np.array_equal(seen == 255, lines) and set(np.unique(seen)) == {0, 255}  # white lines on black
    with pytest.raises(InputError, match="must be Scribble or Line art"):
        sketch_unit(unit("canny"), drawn)

    session = build_sessions(engine, tmp_path / "outputs").open("sketch")
    controls, maps = build_units([sketch_unit(unit("scribble"), drawn)])
    edit = edit_from_layers(drawn, mask=None, paint=None, parent=None)
    live = session.paint_live(edit, RECIPE.replace(controls=controls), strength=1.0, masked=False, control_images=maps)
    assert live is not None
    node = session.keep_live()
    assert node.recipe.controls == controls
    kept_map = np.asarray(Image.open(session.path(node.inputs[controls[0].image])).convert("L"))
    assert np.array_equal(kept_map == 255, lines)


def test_every_run_is_made_on_one_thread_whichever_thread_asked(engine):
    """PyTorch keeps CUDA graphs and CPU thread teams per thread: runs asked for from the server's many threads
    are all made on the engine's one worker."""
    made_on: set[str] = set()
    recipe = RECIPE.replace(steps=2, seed=1)

    def run(live: bool) -> None:
        with contextlib.suppress(GaveWay):  # a live run gives way to a pressed one asking meanwhile: as it should
            engine.generate(recipe, on_step=lambda _: made_on.add(threading.current_thread().name), live=live)

    askers = [threading.Thread(target=run, args=(number % 2 == 0,)) for number in range(4)]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join(timeout=60)
    assert len(made_on) == 1 and next(iter(made_on)).startswith("studio-engine")


def test_two_artists_painting_live_take_turns_on_the_one_lane(engine, tmp_path, monkeypatch):
    """Two browsers' sessions (a share link), each painting stroke after stroke: the lane serves their live runs in
    the order they asked for it, so neither runs twice in a row while the other waits.

    Asserted on the lane's own tickets, not on the order of the runs alone: between two of its runs an artist's
    session writes its draft, and on a loaded machine the other may not have asked yet (then running again is fair).
    """
    studio = build_sessions(engine, tmp_path / "outputs")
    asked: list[str] = []
    served: list[str] = []
    tickets = itertools.count()

    class RecordedTickets:
        def __next__(self) -> int:  # taken under the lane's lock: the order the runs asked in
            asked.append(threading.current_thread().name)
            return next(tickets)

    monkeypatch.setattr(engine._lane, "_tickets", RecordedTickets())
    handed_over = engine._worker.run

    def recorded(work):
        served.append(threading.current_thread().name)  # the artist whose run holds the lane now
        return handed_over(work)

    monkeypatch.setattr(engine._worker, "run", recorded)

    def artist(name: str) -> None:
        session = studio.open(name)
        for shade in range(4):
            edit = edit_from_layers(canvas(shade * 40 + (name == "B")), mask=None, paint=None, parent=None)
            assert session.paint_live(edit, RECIPE.replace(steps=4), strength=0.5, masked=False) is not None

    painters = [threading.Thread(target=artist, args=(name,), name=name) for name in ("A", "B")]
    for painter in painters:
        painter.start()
    for painter in painters:
        painter.join(timeout=120)
    assert sorted(served) == ["A"] * 4 + ["B"] * 4
    assert served == asked  # first come, first served: a run that asked while the other waited went after it


def test_a_stopped_live_run_is_said_as_stopped_not_as_a_bug():
    from studio.errors import GenerationStopped
    from studio.ui.running import user_errors

    with pytest.raises(GenerationStopped):  # passed on to the live panel, which says "Live: stopped."
        with user_errors():
            raise GenerationStopped("stopped")


def test_the_same_canvas_and_recipe_again_is_not_run_again(tmp_path):
    engine = FakeEngine()
    session = build_sessions(engine, tmp_path / "outputs").open("again")
    edit = edit_from_layers(canvas(30), mask=None, paint=None, parent=None)
    first = session.paint_live(edit, RECIPE, strength=0.5, masked=False)
    again = session.paint_live(edit, RECIPE, strength=0.5, masked=False)  # one stroke's second change event
    assert len(engine.runs) == 1 and first is not None and again is not None
    assert again.fingerprint == first.fingerprint
    session.new_live_seed()
    session.paint_live(edit, RECIPE, strength=0.5, masked=False)
    assert len(engine.runs) == 2  # a new seed is a new run


def test_a_kept_live_picture_of_an_upload_keeps_what_the_artist_said_of_it(tmp_path):
    session = build_sessions(FakeEngine(), tmp_path / "outputs").open("upload")
    stated = {"image": {"origin": "my own sketch", "licence": "my own work"}}
    edit = edit_from_layers(canvas(90), mask=None, paint=None, parent=None)  # an upload: no parent in the tree
    assert session.paint_live(edit, RECIPE, strength=0.5, masked=False, sources=stated) is not None
    node = session.keep_live()
    assert node.parent_id is None and node.sources == stated
