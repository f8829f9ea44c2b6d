"""Face references (IP-Adapter FaceID) on the tiny models: the tiny FaceID file in the real layout (its projection
and its LoRA) loaded through diffusers' own `load_ip_adapter`, fed the face's identity embedding.

The studio reads faces with insightface, which this machine does not have (and whose models cannot be downloaded
here). So these tests give the engine a face finder of their own (tests/face_finder.py); what they check is
everything after it: the identity reaches FaceID's projection exactly, the picture follows it, FaceID's LoRA comes and goes
with the adapter, and what cannot run is refused in words.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from studio.control import references as reference_files
from studio.control.references import adapters_info, face_refusal, reference_advice
from studio.engine.faces import InsightFaceFinder
from studio.engine.families import Family
from studio.engine.references import ReferenceAdapters, ReferenceError
from studio.engine.tiny_references import FACEID, IDENTITY_WIDTH, PLAIN, PLUS, tiny_ip_adapter_folder
from studio.errors import NotAvailable
from studio.recipe import LoraRef, Recipe, ReferenceKind, ReferenceRef
from tests.face_finder import PixelFace
from tests.loras import make_lora

SIZE = 64
BASE = Recipe(prompt="a portrait of a girl", model="tiny", width=SIZE, height=SIZE, steps=4, seed=5, cfg_scale=5.0)
FACE = ReferenceRef(FACEID, "reference-1", weight=1.0, kind=ReferenceKind.FACE)


def face_picture(skin: str = "peachpuff", eyes: str = "navy") -> Image.Image:
    picture = Image.new("RGB", (90, 110), "white")
    draw = ImageDraw.Draw(picture)
    draw.ellipse((15, 10, 75, 95), fill=skin)
    draw.ellipse((28, 40, 38, 48), fill=eyes)
    draw.ellipse((52, 40, 62, 48), fill=eyes)
    return picture


@pytest.fixture
def faces(engine, model_cache, monkeypatch):
    references = ReferenceAdapters(tiny_ip_adapter_folder(model_cache), faces=PixelFace())
    monkeypatch.setattr(engine, "references", references)
    yield references
    references.activate(engine.pipelines.base, (), engine.family)  # the shared engine's UNet as it was


def run(engine, recipe: Recipe, **pictures: Image.Image) -> np.ndarray:
    return np.asarray(engine.generate(recipe, control_images=pictures)[0], dtype=np.float64)


def projections_read(engine, recipe: Recipe, **pictures: Image.Image) -> tuple[list[torch.Tensor], set[str]]:
    """What each adapter's projection was given at the first step, and the LoRAs on the UNet then."""
    unet = engine.pipelines.base.unet
    seen: list = []

    def read(module, args, kwargs):
        if not seen:
            embeds = kwargs["added_cond_kwargs"]["image_embeds"]  # the list the UNet hands its adapters' projection
            seen.append(([each.clone() for each in embeds], set(getattr(unet, "peft_config", None) or {})))

    # Watched on the UNet itself, not on its projection: the run may load the adapters again (after a LoRA change
    # left by an earlier run, say), and a hook on the projection would watch one no longer used.
    handle = unet.register_forward_pre_hook(read, with_kwargs=True)
    try:
        engine.generate(recipe, control_images=pictures)
    finally:
        handle.remove()
    return seen[0]


def test_a_face_reference_gives_faceid_the_face_s_identity_and_the_picture_follows_it(engine, faces):
    plain = run(engine, BASE)
    recipe = BASE.replace(references=(FACE,))
    read, loras = projections_read(engine, recipe, **{"reference-1": face_picture()})
    identity = PixelFace().identity(face_picture())
    # With CFG: the unconditional face (zeros, as FaceID's authors run it), then the face, one picture each.
    assert read[0].shape == (2, 1, IDENTITY_WIDTH)
    assert torch.equal(read[0][0], torch.zeros(1, IDENTITY_WIDTH)) and torch.allclose(read[0][1, 0], identity)
    assert loras == {"faceid_0"}  # FaceID's LoRA, loaded by diffusers with the adapter
    steered = run(engine, recipe, **{"reference-1": face_picture()})
    assert np.abs(steered - plain).mean() > 1.0
    other = run(engine, recipe, **{"reference-1": face_picture("sienna", "green")})
    assert not np.array_equal(other, steered)
    assert np.array_equal(run(engine, recipe, **{"reference-1": face_picture()}), steered)  # a replay
    # Weight 0: the face adds nothing (any face gives one picture); FaceID's LoRA stays, as the original's does.
    off = BASE.replace(references=(ReferenceRef(FACEID, "reference-1", weight=0.0, kind=ReferenceKind.FACE),))
    assert np.array_equal(
        run(engine, off, **{"reference-1": face_picture()}),
        run(engine, off, **{"reference-1": face_picture("sienna", "green")}),
    )
    # A run without references is the plain picture again: the adapter and its LoRA are off the UNet.
    assert np.array_equal(run(engine, BASE), plain)
    assert not getattr(engine.pipelines.base.unet, "peft_config", None)


def test_a_face_and_a_picture_reference_steer_one_run_each_through_its_own_projection(engine, faces):
    style = ReferenceRef(PLAIN, "reference-2", weight=0.8)
    recipe = BASE.replace(references=(FACE, style))
    pictures = {"reference-1": face_picture(), "reference-2": Image.new("RGB", (80, 80), "teal")}
    read, _ = projections_read(engine, recipe, **pictures)
    assert torch.allclose(read[0][1, 0], PixelFace().identity(face_picture()))
    encoder = engine.pipelines.base.image_encoder
    assert read[1].shape == (2, 1, encoder.config.projection_dim)  # the picture, through the CLIP vision encoder
    both = run(engine, recipe, **pictures)
    face_only = run(engine, BASE.replace(references=(FACE,)), **{"reference-1": face_picture()})
    assert np.abs(both - face_only).mean() > 0.5


def test_faceid_s_lora_comes_back_after_the_artist_s_loras_change(engine, faces, model_cache, tmp_path, monkeypatch):
    """The artist's LoRAs are fused and their layers dropped when the set changes, FaceID's with them: the next
    Face run loads the adapter again instead of running without its LoRA."""
    make_lora(tmp_path / "ink.safetensors", model_cache, seed=4)
    monkeypatch.setattr(engine, "lora_dir", tmp_path)
    pictures = {"reference-1": face_picture()}
    recipe = BASE.replace(references=(FACE,))
    alone = run(engine, recipe, **pictures)
    with_lora = run(engine, recipe.replace(loras=(LoraRef("ink", 0.8),)), **pictures)
    assert np.array_equal(run(engine, recipe.replace(loras=(LoraRef("ink", 0.8),)), **pictures), with_lora)
    assert np.array_equal(run(engine, recipe, **pictures), alone)


def test_what_a_face_reference_cannot_use_is_refused_by_name(engine, faces, model_cache, tmp_path):
    pictures = {"reference-1": face_picture()}
    plain = run(engine, BASE)
    with pytest.raises(ReferenceError, match="Face reference but ip-adapter_tiny.safetensors reads whole pictures"):
        engine.generate(
            BASE.replace(references=(ReferenceRef(PLAIN, "reference-1", kind=ReferenceKind.FACE),)),
            control_images=pictures,
        )
    with pytest.raises(ReferenceError, match="is a FaceID adapter, which reads a face; set the reference's kind"):
        engine.generate(BASE.replace(references=(ReferenceRef(FACEID, "reference-1"),)), control_images=pictures)
    assert np.array_equal(run(engine, BASE), plain)  # the refusals left the UNet as it was
    # A FaceID adapter needs no image encoder beside it.
    alone = tmp_path / "faceid-only"
    alone.mkdir()
    shutil.copy(tiny_ip_adapter_folder(model_cache) / FACEID, alone / FACEID)
    moved = ReferenceRef(str(alone / FACEID), "reference-1", kind=ReferenceKind.FACE)
    assert np.array_equal(
        run(engine, BASE.replace(references=(moved,)), **pictures),
        run(engine, BASE.replace(references=(FACE,)), **pictures),
    )


def test_without_insightface_a_face_reference_says_what_to_install(engine, model_cache, monkeypatch, tmp_path):
    folder = tiny_ip_adapter_folder(model_cache)
    monkeypatch.setattr(engine, "references", ReferenceAdapters(folder))
    if reference_files.importlib.util.find_spec("insightface") is None:
        with pytest.raises(NotAvailable, match="pip install insightface onnxruntime"):
            engine.generate(BASE.replace(references=(FACE,)), control_images={"reference-1": face_picture()})
        with pytest.raises(NotAvailable, match="pip install insightface"):
            InsightFaceFinder(folder).identity(face_picture())
    # With insightface installed, the face models are read from the ipadapter folder only, and named when absent.
    monkeypatch.setattr(reference_files.importlib.util, "find_spec", lambda name: object())
    models = tmp_path / "insightface" / "models" / "buffalo_l"
    assert str(models) in str(face_refusal(tmp_path))
    models.mkdir(parents=True)
    (models / "det_10g.onnx").write_bytes(b"")
    assert face_refusal(tmp_path) is None


def test_an_sdxl_face_reference_reads_the_identity(sdxl_engine, model_cache, monkeypatch):
    references = ReferenceAdapters(tiny_ip_adapter_folder(model_cache, Family.SDXL), faces=PixelFace())
    monkeypatch.setattr(sdxl_engine, "references", references)
    recipe = BASE.replace(model="tiny-sdxl")
    try:
        plain = run(sdxl_engine, recipe)
        steered = run(sdxl_engine, recipe.replace(references=(FACE,)), **{"reference-1": face_picture()})
        other = run(sdxl_engine, recipe.replace(references=(FACE,)), **{"reference-1": face_picture("sienna")})
        assert np.abs(steered - plain).mean() > 0.5 and not np.array_equal(steered, other)
        assert np.array_equal(run(sdxl_engine, recipe), plain)
    finally:
        references.activate(sdxl_engine.pipelines.base, (), sdxl_engine.family)


def test_the_window_starts_a_unit_on_a_picture_adapter_and_the_kind_follows_the_adapter_chosen(model_cache):
    from studio.control.references import ReferenceLibrary, kind_for

    library = ReferenceLibrary(tiny_ip_adapter_folder(model_cache))
    assert library.names()[0] == FACEID  # first by name, but not what a Style and content unit should start with
    assert library.first_choice() == PLUS
    assert (
        kind_for(FACEID, "Style and content") == "Face"
        and kind_for("ip-adapter-faceid_sdxl.bin", "Composition") == "Face"
    )
    assert kind_for(PLAIN, "Face") == "Style and content" and kind_for(PLAIN, "Composition") == "Composition"


def test_a_unit_says_why_it_cannot_run_as_set_and_the_list_says_where_adapters_come_from(tmp_path):
    refusal = face_refusal(tmp_path)  # without insightface, or without its models in tmp_path
    assert refusal is not None and str(tmp_path / "insightface" / "models" / "buffalo_l") in refusal
    assert reference_advice("ip-adapter-faceid_sd15.bin", "Face", refusal) == (
        f"**This reference cannot run:** {refusal[0].upper()}{refusal[1:]}."
    )
    assert reference_advice("ip-adapter-faceid_sd15.bin", "Face", None) == ""
    assert "set It lends to Face" in reference_advice("ip-adapter-faceid_sd15.bin", "Style and content", None)
    assert "needs a FaceID adapter" in reference_advice("ip-adapter_sd15.safetensors", "Face", refusal)
    for kind in ("Style and content", "Composition"):
        assert reference_advice("ip-adapter_sd15.safetensors", kind, refusal) == ""
    assert reference_advice("", "Face", refusal) == ""  # no adapter chosen: the plan says that
    assert "None yet: put IP-Adapter files in" in adapters_info([], tmp_path)
    assert str(tmp_path) in adapters_info(["ip-adapter_sd15.safetensors"], tmp_path)
    assert "--ipadapter" in adapters_info([], None)
