"""Reference pictures (IP-Adapter) on the tiny models: adapters in their real file layout, loaded through
diffusers' own `load_ip_adapter`, measured on pixels and on the scales the UNet's attention reads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from studio.engine.families import Family
from studio.engine.references import ReferenceAdapters, ReferenceError
from studio.engine.tiny_references import PLAIN, PLUS, tiny_ip_adapter_folder
from studio.errors import NotAvailable
from studio.recipe import AreaPromptRef, Mode, Recipe, ReferenceKind, ReferenceRef

SIZE = 64
BASE = Recipe(prompt="a girl in a garden", model="tiny", width=SIZE, height=SIZE, steps=4, seed=3, cfg_scale=5.0)


@pytest.fixture
def adapters(engine, model_cache, monkeypatch):
    references = ReferenceAdapters(tiny_ip_adapter_folder(model_cache))
    monkeypatch.setattr(engine, "references", references)
    yield references
    references.activate(engine.pipelines.base, (), engine.family)  # the shared engine's UNet as it was


def reference_picture(colour: str = "crimson") -> Image.Image:
    picture = Image.new("RGB", (96, 80), colour)
    ImageDraw.Draw(picture).ellipse((20, 10, 70, 70), fill="gold")
    return picture


def pixels(picture: Image.Image) -> np.ndarray:
    return np.asarray(picture, dtype=np.float64)


def run(engine, recipe: Recipe, **pictures: Image.Image) -> np.ndarray:
    return pixels(engine.generate(recipe, control_images=pictures)[0])


@pytest.mark.parametrize("adapter", [PLAIN, PLUS])
def test_a_reference_changes_the_picture_and_weight_zero_gives_the_plain_picture_exactly(engine, adapters, adapter):
    plain = run(engine, BASE)
    unit = ReferenceRef(adapter, "reference-1", weight=1.0)
    steered = run(engine, BASE.replace(references=(unit,)), **{"reference-1": reference_picture()})
    assert np.abs(steered - plain).mean() > 2.0
    # Weight 0: the adapter is loaded and reads the picture, and adds nothing.
    off = run(
        engine,
        BASE.replace(references=(unit.__class__(adapter, "reference-1", weight=0.0),)),
        **{"reference-1": reference_picture()},
    )
    assert np.array_equal(off, plain)
    # Another picture steers elsewhere; the same one again is the same picture (a replay).
    other = run(engine, BASE.replace(references=(unit,)), **{"reference-1": reference_picture("navy")})
    again = run(engine, BASE.replace(references=(unit,)), **{"reference-1": reference_picture()})
    assert not np.array_equal(other, steered) and np.array_equal(again, steered)
    # And a run without references afterwards is the plain picture: the adapter is off the UNet.
    assert np.array_equal(run(engine, BASE), plain)


def first_cross_attention(engine):
    """The UNet's first cross-attention (where text and reference pictures enter), and the rows and columns of
    its grid of places."""
    unet = engine.pipelines.base.unet
    name = next(name for name in unet.attn_processors if name.endswith("attn2.processor"))
    return unet.get_submodule(name.removesuffix(".processor"))


def entering(engine, recipe: Recipe, **pictures: Image.Image) -> torch.Tensor:
    """What the first cross-attention gives at the first step, as a grid (rows x columns x width), for the
    conditional half of the batch: where the reference's words enter the picture."""
    outputs = []
    handle = first_cross_attention(engine).register_forward_hook(lambda module, args, output: outputs.append(output))
    try:
        engine.generate(recipe, control_images=pictures)
    finally:
        handle.remove()
    first = outputs[0][-1]  # CFG: the unconditional half first
    side = int(first.shape[0] ** 0.5)
    return first.reshape(side, side, -1)


def half_mask(left: bool) -> Image.Image:
    mask = Image.new("L", (SIZE, SIZE), 0)
    box = (0, 0, SIZE // 2 - 1, SIZE - 1) if left else (SIZE // 2, 0, SIZE - 1, SIZE - 1)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return mask


# Why the attention and not the pixels: on the tiny model's random weights every self-attention spreads any change
# over the whole picture, so no pixel stays put; a trained model's attention is local, a random one's is not. Where
# a reference *enters* is what its mask decides, and that is measured exactly.


def test_a_masked_reference_enters_only_its_area(engine, adapters):
    plain = entering(engine, BASE)
    unit = ReferenceRef(PLAIN, "reference-1", weight=1.5, mask="reference-1-mask")
    masked = entering(
        engine,
        BASE.replace(references=(unit,)),
        **{"reference-1": reference_picture(), "reference-1-mask": half_mask(True)},
    )
    side = plain.shape[1]
    assert torch.equal(masked[:, side // 2 :], plain[:, side // 2 :])  # outside the mask: exactly as without it
    assert (masked[:, : side // 2] - plain[:, : side // 2]).abs().mean() > 0.01
    unmasked = entering(
        engine,
        BASE.replace(references=(ReferenceRef(PLAIN, "reference-1", weight=1.5),)),
        **{"reference-1": reference_picture()},
    )
    assert (unmasked[:, side // 2 :] - plain[:, side // 2 :]).abs().mean() > 0.01  # without the mask it would


def test_two_references_with_two_masks_each_enter_their_half(engine, adapters):
    units = (
        ReferenceRef(PLAIN, "reference-1", 1.2, mask="reference-1-mask"),
        ReferenceRef(PLUS, "reference-2", 1.2, mask="reference-2-mask"),
    )
    pictures = {
        "reference-1": reference_picture("crimson"),
        "reference-1-mask": half_mask(True),
        "reference-2": reference_picture("navy"),
        "reference-2-mask": half_mask(False),
    }
    both = entering(engine, BASE.replace(references=units), **pictures)
    first = entering(
        engine, BASE.replace(references=units[:1]), **{k: v for k, v in pictures.items() if k.startswith("reference-1")}
    )
    plain = entering(engine, BASE)
    side = both.shape[1]
    assert torch.equal(both[:, : side // 2], first[:, : side // 2])  # the left half: the first reference's alone
    assert (both[:, side // 2 :] - plain[:, side // 2 :]).abs().mean() > 0.01  # the right: the second's
    # And the pictures: two references make another picture than either alone.
    assert not np.array_equal(
        run(engine, BASE.replace(references=units), **pictures),
        run(
            engine,
            BASE.replace(references=units[:1]),
            **{k: v for k, v in pictures.items() if k.startswith("reference-1")},
        ),
    )


@pytest.mark.parametrize("with_area_prompt", [False, True])
def test_start_and_end_set_the_scale_the_attention_reads_at_each_step(engine, adapters, with_area_prompt):
    unit = ReferenceRef(PLAIN, "reference-1", weight=0.8, guidance_start=0.25, guidance_end=0.75)
    recipe = BASE.replace(steps=8, references=(unit,))
    pictures = {"reference-1": reference_picture()}
    if with_area_prompt:  # area prompts wrap the adapters' processors: the steps must still reach them
        recipe = recipe.replace(area_prompts=(AreaPromptRef("a red dragon", "area-1"),))
        pictures["area-1"] = half_mask(True)
    seen = []
    unet = engine.pipelines.base.unet

    def record(module, args):
        processors = [getattr(p, "inner", p) for p in unet.attn_processors.values()]
        seen.append(next(p for p in processors if hasattr(p, "scale")).scale[0])

    handle = unet.register_forward_pre_hook(record)
    try:
        engine.generate(recipe, control_images=pictures)
    finally:
        handle.remove()
    # diffusers' ControlNet rule, written out: step i of n is on unless i/n < start or (i+1)/n > end.
    expected = [0.0 if i / 8 < 0.25 or (i + 1) / 8 > 0.75 else 0.8 for i in range(8)]
    assert seen == expected == [0.0, 0.0, 0.8, 0.8, 0.8, 0.8, 0.0, 0.0]


def test_a_reference_works_on_a_repaint(engine, adapters):
    start = engine.generate(BASE)[0]
    recipe = BASE.as_edit(Mode.IMG2IMG, denoising_strength=0.6)
    plain = pixels(engine.generate(recipe, image=start)[0])
    unit = ReferenceRef(PLAIN, "reference-1")
    steered = pixels(
        engine.generate(
            recipe.replace(references=(unit,)), image=start, control_images={"reference-1": reference_picture()}
        )[0]
    )
    assert np.abs(steered - plain).mean() > 1.0


def test_adapters_that_cannot_be_used_are_refused_by_name(engine, adapters, model_cache, tmp_path):
    sdxl_folder = tiny_ip_adapter_folder(model_cache, Family.SDXL)
    other = ReferenceRef(str(sdxl_folder / PLAIN), "reference-1")
    pictures = {"reference-1": reference_picture()}
    with pytest.raises(ReferenceError, match="ip-adapter_tiny.safetensors is made for another model family"):
        engine.generate(BASE.replace(references=(other,)), control_images=pictures)
    with pytest.raises(ReferenceError, match="no IP-Adapter named 'missing'"):
        engine.generate(BASE.replace(references=(ReferenceRef("missing", "reference-1"),)), control_images=pictures)
    pickled = tiny_ip_adapter_folder(model_cache) / "old.bin"
    try:
        torch.save({"image_proj": {}, "ip_adapter": {}}, pickled)
        with pytest.raises(ReferenceError, match="old.bin is pickled.*--allow-pickle"):
            engine.generate(BASE.replace(references=(ReferenceRef("old.bin", "reference-1"),)), control_images=pictures)
    finally:
        pickled.unlink()
    face = ReferenceRef(PLAIN, "reference-1", kind=ReferenceKind.FACE)
    with pytest.raises(NotAvailable, match="Face reference"):
        engine.generate(BASE.replace(references=(face,)), control_images=pictures)
    with pytest.raises(ValueError, match="reference 1 has no picture 'reference-1'"):
        engine.generate(BASE.replace(references=(ReferenceRef(PLAIN, "reference-1"),)))
    # The refusals left the model as it was.
    assert np.array_equal(run(engine, BASE), pixels(engine.generate(BASE)[0]))


def test_a_node_keeps_its_reference_pictures_their_origin_and_the_a1111_unit(engine, adapters, tmp_path):
    from launch import build_sessions
    from studio.formats import png_text

    session = build_sessions(engine, tmp_path / "outputs").open()
    unit = ReferenceRef(PLAIN, "reference-1", weight=0.7, guidance_end=0.8, mask="reference-1-mask")
    picture, area = reference_picture(), half_mask(True)
    node = session.generate(
        BASE.replace(references=(unit,)),
        control_images={"reference-1": picture, "reference-1-mask": area},
        sources={"reference-1": {"origin": "my sketchbook, page 4", "licence": "mine"}},
    )
    # The reference is kept whole (its own size), the mask at the picture's; a replay paints the same pixels.
    kept = Image.open(session.history.path(node.inputs["reference-1"]))
    assert kept.size == picture.size and np.array_equal(pixels(kept), pixels(picture))
    assert Image.open(session.history.path(node.inputs["reference-1-mask"])).size == (SIZE, SIZE)
    replayed = session.replay(node.id)
    assert np.array_equal(
        pixels(Image.open(session.output_path(replayed.id))), pixels(Image.open(session.output_path(node.id)))
    )
    # The PNG's text says it as sd-webui-controlnet writes an IP-Adapter unit.
    text = png_text.read_texts(session.output_path(node.id))[png_text.PARAMETERS_KEY]
    assert (
        'ControlNet 0: "Module: ip-adapter-auto, Model: ip-adapter_tiny, Weight: 0.7, Guidance Start: 0, '
        'Guidance End: 0.8, Control Mode: Balanced"'
    ) in text
    # The authorship story names the reference as outside material, with what the artist said of it.
    report, _ = session.authorship_report(node.id)
    step = report["steps"][-1]
    assert [(s["role"], s["origin"], s["licence"]) for s in step["outside"]] == [
        ("reference-1", "my sketchbook, page 4", "mine")
    ]
    words = [act["words"] for act in step["human"]]
    assert "chose reference picture 1 (style and content, weight 0.7, from my sketchbook, page 4)" in words
    assert any(word.startswith("painted the area reference picture 1 steers: 50.0 %") for word in words)
    # Variations run under the same references: the story says the choice once, at the node that made it.
    child = session.vary(node.id, count=1)
    report, _ = session.authorship_report(child.id)
    said = [act["words"] for step in report["steps"] for act in step["human"]]
    assert sum(word.startswith("chose reference picture 1") for word in said) == 1
    # An area painted for another shape would be squashed onto other places: refused, with what to do.
    with pytest.raises(ValueError, match="reference-1-mask: was painted on a 64x64 area, but the picture is 64x128"):
        session.generate(
            BASE.replace(height=128, references=(unit,)),
            control_images={"reference-1": picture, "reference-1-mask": area},
        )


def test_the_window_s_units_become_references_and_a_blank_area_is_refused():
    from studio.control.references import ReferenceValues, build_references

    area = half_mask(True)
    values = ReferenceValues(True, reference_picture(), PLAIN, "Composition", 0.6, 0.1, 0.9, area, "my sheet", "")
    references, pictures, sources = build_references([values, values.__class__(False, None, "", "", 1, 0, 1, None)])
    assert references == (
        ReferenceRef(PLAIN, "reference-1", 0.6, 0.1, 0.9, ReferenceKind.COMPOSITION, "reference-1-mask"),
    )
    assert list(pictures) == ["reference-1", "reference-1-mask"]  # the picture, then its area
    assert sources == {"reference-1": {"origin": "my sheet", "licence": "unknown"}}
    blank = ReferenceValues(
        True, reference_picture(), PLAIN, "Composition", 0.6, 0.1, 0.9, Image.new("L", (SIZE, SIZE))
    )
    with pytest.raises(ValueError, match="reference 1: its area is blank"):
        build_references([blank])


def test_an_sdxl_reference_steers_and_weight_zero_is_exact(sdxl_engine, model_cache, monkeypatch):
    """SDXL's IP-Adapter layout (its UNet's cross-attentions, both text encoders' width) through the same loader."""
    references = ReferenceAdapters(tiny_ip_adapter_folder(model_cache, Family.SDXL))
    monkeypatch.setattr(sdxl_engine, "references", references)
    recipe = BASE.replace(model="tiny-sdxl")
    try:
        plain = run(sdxl_engine, recipe)
        steered = run(
            sdxl_engine,
            recipe.replace(references=(ReferenceRef(PLUS, "reference-1"),)),
            **{"reference-1": reference_picture()},
        )
        off = run(
            sdxl_engine,
            recipe.replace(references=(ReferenceRef(PLUS, "reference-1", weight=0.0),)),
            **{"reference-1": reference_picture()},
        )
        assert np.abs(steered - plain).mean() > 1.0 and np.array_equal(off, plain)
        # An SD 1.5 adapter on SDXL is refused by name.
        other = ReferenceRef(str(tiny_ip_adapter_folder(model_cache) / PLAIN), "reference-1")
        with pytest.raises(ReferenceError, match="made for another model family"):
            sdxl_engine.generate(
                recipe.replace(references=(other,)), control_images={"reference-1": reference_picture()}
            )
    finally:
        references.activate(sdxl_engine.pipelines.base, (), sdxl_engine.family)
