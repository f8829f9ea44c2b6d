"""LoRAs on the real engine with the tiny model: load, mix, weights, kohya files, no leaks, clear refusals."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from studio.engine.tiny import tiny_model_folder
from studio.lora_library import LoraError, list_loras, read_header
from studio.recipe import LoraRef, Recipe
from tests.loras import make_lora


@pytest.fixture(scope="module")
def library(engine, model_cache, tmp_path_factory):
    folder = tmp_path_factory.mktemp("loras")
    make_lora(
        folder / "mira.safetensors",
        model_cache,
        seed=1,
        metadata={"ss_tag_frequency": json.dumps({"img": {"mira_oc": 12, "red hair": 9, "smile": 2}})},
    )
    make_lora(folder / "inkstyle.safetensors", model_cache, seed=2)
    make_lora(folder / "kohya_char.safetensors", model_cache, seed=3, kohya=True, text_encoder=True)
    make_lora(folder / "kohya_unet_half.safetensors", model_cache, seed=3, kohya=True)
    (folder / "mira.preview.png").write_bytes(b"")
    previous = engine.lora_dir
    engine.lora_dir = folder
    yield folder
    engine.lora_dir = previous


def recipe(**changes):
    return Recipe(prompt="a portrait", model="tiny", steps=3, width=64, height=64, seed=11).replace(**changes)


def pixels(engine, r):
    return np.asarray(engine.generate(r)[0]).astype(int)


def test_a_lora_changes_the_picture_and_weight_zero_is_the_base(engine, library):
    base = pixels(engine, recipe())
    with_lora = pixels(engine, recipe(loras=(LoraRef("mira", 1.0),)))
    assert np.abs(with_lora - base).mean() > 1
    assert np.array_equal(pixels(engine, recipe(loras=(LoraRef("mira", 0.0),))), base)


def test_no_leak_from_one_run_into_the_next(engine, library):
    base = pixels(engine, recipe())
    pixels(engine, recipe(loras=(LoraRef("mira", 1.0), LoraRef("inkstyle", 0.7))))
    assert np.array_equal(pixels(engine, recipe()), base)
    # And a LoRA run is the same whatever ran before it.
    first = pixels(engine, recipe(loras=(LoraRef("inkstyle", 0.7),)))
    pixels(engine, recipe(loras=(LoraRef("mira", 1.0),)))
    assert np.array_equal(pixels(engine, recipe(loras=(LoraRef("inkstyle", 0.7),))), first)


def test_the_order_loras_are_listed_in_does_not_change_a_pixel(engine, library):
    a_then_b = pixels(engine, recipe(loras=(LoraRef("mira", 0.9), LoraRef("kohya_char", 0.6))))
    b_then_a = pixels(engine, recipe(loras=(LoraRef("kohya_char", 0.6), LoraRef("mira", 0.9))))
    tags = pixels(engine, recipe(prompt="a portrait <lora:kohya_char:0.6> <lora:mira:0.9>"))
    assert np.array_equal(a_then_b, b_then_a) and np.array_equal(a_then_b, tags)


def test_recipe_loras_are_written_as_tags_with_library_names_in_the_parameters(engine, library):
    from studio.formats.a1111 import format_parameters, parse_parameters

    r = recipe(loras=(LoraRef(str(library / "mira.safetensors"), 0.8),))
    text = format_parameters(r, lora_hashes={str(library / "mira.safetensors"): "0123456789ab"})
    parsed = parse_parameters(text)
    assert parsed.prompt == "a portrait <lora:mira:0.8>"
    assert parsed.fields["Lora hashes"] == "mira: 0123456789ab" and str(library) not in text


def test_two_loras_mix_and_negative_weights_work(engine, library):
    one = pixels(engine, recipe(loras=(LoraRef("mira", 0.8),)))
    other = pixels(engine, recipe(loras=(LoraRef("inkstyle", 0.8),)))
    both = pixels(engine, recipe(loras=(LoraRef("mira", 0.8), LoraRef("inkstyle", 0.8))))
    assert not np.array_equal(both, one) and not np.array_equal(both, other)
    negative = pixels(engine, recipe(loras=(LoraRef("mira", -0.8),)))
    assert not np.array_equal(negative, one) and not np.array_equal(negative, pixels(engine, recipe()))


def test_a1111_prompt_tags_are_loras(engine, library):
    tagged = pixels(engine, recipe(prompt="a portrait <lora:mira:0.6>"))
    assert np.array_equal(tagged, pixels(engine, recipe(loras=(LoraRef("mira", 0.6),))))


def test_a_kohya_file_with_text_encoder_keys_loads_and_changes_the_picture(engine, library):
    base = pixels(engine, recipe())
    assert np.abs(pixels(engine, recipe(loras=(LoraRef("kohya_char", 1.0),))) - base).mean() > 1
    # Its text-encoder keys (lora_te_text_model_...) are applied too: without them the picture differs.
    unet_half = pixels(engine, recipe(loras=(LoraRef("kohya_unet_half", 1.0),)))
    assert not np.array_equal(unet_half, pixels(engine, recipe(loras=(LoraRef("kohya_char", 1.0),))))
    assert "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight" in read_header(
        library / "kohya_char.safetensors"
    )
    assert np.array_equal(pixels(engine, recipe()), base)


def test_a_file_that_is_not_a_lora_is_refused(engine, library, model_cache):
    full_model = tiny_model_folder(model_cache) / "unet" / "diffusion_pytorch_model.safetensors"
    with pytest.raises(LoraError, match="is not a LoRA: it holds no LoRA weights"):
        engine.generate(recipe(loras=(LoraRef(str(full_model), 1.0),)))


def test_a_lora_for_another_model_is_refused(engine, library, tmp_path):
    other = tmp_path / "sdxl_thing.safetensors"
    save_file(
        {
            "lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q.lora_down.weight": torch.zeros(4, 640),
            "lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q.lora_up.weight": torch.zeros(640, 4),
        },
        str(other),
    )
    with pytest.raises(LoraError, match="sdxl_thing.safetensors"):
        engine.generate(recipe(loras=(LoraRef(str(other), 1.0),)))
    assert engine.generate(recipe())  # the engine keeps working


def test_unknown_names_and_pickles_are_refused_clearly(engine, library, tmp_path):
    with pytest.raises(LoraError, match="no LoRA named 'nobody'"):
        engine.generate(recipe(prompt="x <lora:nobody:1>"))
    pickled = tmp_path / "old.pt"
    pickled.write_bytes(b"pickle")
    with pytest.raises(LoraError, match="pickled"):
        engine.generate(recipe(loras=(LoraRef(str(pickled), 1.0),)))


def test_the_library_lists_names_bases_sizes_trigger_words_and_previews(library):
    infos = {info.name: info for info in list_loras(library)}
    assert set(infos) == {"mira", "inkstyle", "kohya_char", "kohya_unet_half"}
    mira = infos["mira"]
    assert mira.trigger_words == ("mira_oc", "red hair", "smile")
    assert mira.preview == library / "mira.preview.png"
    assert mira.size_bytes == (library / "mira.safetensors").stat().st_size
    assert infos["kohya_char"].base == "SD 1.5 (by layer names)"


def test_pictures_made_with_loras_carry_a1111_lora_hashes(engine, library, tmp_path):
    from launch import build_sessions
    from studio.formats import png_text
    from studio.formats.hashes import HashCache

    studio = build_sessions(engine, tmp_path / "out", hashes=HashCache(tmp_path / "h.json"), lora_dir=library).open()
    node = studio.generate(recipe(prompt="a portrait <lora:inkstyle:0.5>", loras=(LoraRef("mira", 0.7),)))
    parameters = png_text.read_texts(studio.history.path(node.outputs[0]))["parameters"]
    expected = f'Lora hashes: "mira: {studio.services.hashes.lora_hash(library / "mira.safetensors")}, inkstyle: {studio.services.hashes.lora_hash(library / "inkstyle.safetensors")}"'
    assert expected in parameters
    assert {info.name for info in studio.services.loras.all()} == {"mira", "inkstyle", "kohya_char", "kohya_unet_half"}
