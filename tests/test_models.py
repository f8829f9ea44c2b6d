"""Finding and loading models: every failure is quick and says what to do."""

import time

import pytest
import torch
from safetensors.torch import save_file

from studio.engine.models import DeviceSettings, SourceKind, load_pipeline, resolve_model
from studio.engine.tiny import CLIP_VOCAB_SIZE, clip_tokenizer, tiny_model_folder
from studio.errors import ModelError


def test_tiny_has_the_real_clip_tokenizer():
    tokenizer = clip_tokenizer()
    assert len(tokenizer) == CLIP_VOCAB_SIZE and tokenizer.model_max_length == 77
    # Known ids of OpenAI's CLIP for this sentence.
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]


def test_tiny_is_a_saved_diffusers_folder_loaded_like_any_other(model_cache):
    folder = tiny_model_folder(model_cache)
    assert (folder / "model_index.json").is_file() and (
        folder / "unet" / "diffusion_pytorch_model.safetensors"
    ).is_file()
    source = resolve_model(str(folder))
    assert source.kind is SourceKind.FOLDER
    pipe = load_pipeline(source, DeviceSettings("cpu", torch.float32), cache_dir=model_cache)
    assert len(pipe.tokenizer) == CLIP_VOCAB_SIZE and pipe.vae_scale_factor == 8
    assert pipe.unet.config.block_out_channels == [32, 64, 64]


def test_kinds_of_model_names():
    assert resolve_model("tiny").kind is SourceKind.TINY
    assert resolve_model("stable-diffusion-v1-5/stable-diffusion-v1-5").kind is SourceKind.HUB


@pytest.mark.parametrize("name", ["model.ckpt", "model.pt", "model.bin", "model.pth"])
def test_pickled_checkpoints_are_refused_without_opt_in(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"not really a pickle")
    with pytest.raises(ModelError, match="pickled checkpoint.*--allow-pickle"):
        resolve_model(str(path))
    assert resolve_model(str(path), allow_pickle=True).kind is SourceKind.SINGLE_FILE


def test_a_safetensors_checkpoint_is_a_single_file_model(tmp_path):
    path = tmp_path / "myModel_v10.safetensors"
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(1)}, str(path))
    assert resolve_model(str(path)).kind is SourceKind.SINGLE_FILE


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: d / "nowhere", "does not exist"),
        (lambda d: d, "not a diffusers model"),
        (lambda d: (d / "notes.txt").write_text("hi") and d / "notes.txt", "not a model checkpoint"),
        (lambda d: (d / "broken.safetensors").write_bytes(b"\x00" * 20) and d / "broken.safetensors", "not a readable"),
    ],
    ids=["missing", "plain-folder", "text-file", "broken-safetensors"],
)
def test_things_that_are_not_models_say_so(tmp_path, setup, message):
    with pytest.raises(ModelError, match=message):
        resolve_model(str(setup(tmp_path)))


def test_nonsense_name_is_refused():
    with pytest.raises(ModelError, match="neither a file, a folder, nor a Hugging Face id"):
        resolve_model("just some words")


def test_hub_model_offline_fails_fast_with_advice(model_cache):
    started = time.monotonic()
    with pytest.raises(ModelError, match="--model tiny"):
        load_pipeline(
            resolve_model("someone/not-cached-here"), DeviceSettings("cpu", torch.float32), cache_dir=model_cache
        )
    assert time.monotonic() - started < 10


def test_hub_unreachable_fails_fast_with_advice(model_cache, monkeypatch):
    # Not in offline mode: the studio finds out the hub cannot be reached before diffusers retries.
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "https://127.0.0.1:9")
    started = time.monotonic()
    with pytest.raises(ModelError, match="Cannot reach https://127.0.0.1:9"):
        load_pipeline(
            resolve_model("someone/not-cached-here"), DeviceSettings("cpu", torch.float32), cache_dir=model_cache
        )
    assert time.monotonic() - started < 10


def test_single_file_that_cannot_be_converted_says_why(tmp_path, model_cache):
    path = tmp_path / "myModel_v10.safetensors"
    save_file({"something.else": torch.zeros(1)}, str(path))
    started = time.monotonic()
    with pytest.raises(ModelError, match="myModel_v10.safetensors"):
        load_pipeline(resolve_model(str(path)), DeviceSettings("cpu", torch.float32), cache_dir=model_cache)
    assert time.monotonic() - started < 10


def test_engine_reports_model_errors(engine):
    from studio.recipe import Recipe

    with pytest.raises(ModelError, match="does not exist"):
        engine.generate(Recipe(prompt="x", model="/no/such/model", steps=2, width=64, height=64, seed=1))
    # A model that fails to load leaves the loaded one in place.
    assert engine.model == "tiny"
    assert engine.generate(Recipe(prompt="x", model="tiny", steps=2, width=64, height=64, seed=1))
