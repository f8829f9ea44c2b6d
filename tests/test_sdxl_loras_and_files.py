"""SDXL LoRAs (kohya and diffusers names), refusals across families, and single-file checkpoints of both families."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionXLPipeline
from PIL import Image

from studio.engine.families import Family, traits_of_checkpoint
from studio.engine.samplers import make_scheduler
from studio.engine.tiny import tiny_model_folder
from studio.errors import ModelError
from studio.lora_library import LoraError, lora_family, read_header
from studio.recipe import LoraRef, Recipe
from studio.services.picture_info import read_picture_info
from tests.ldm_checkpoints import write_checkpoint
from tests.loras import make_lora, make_sdxl_lora

SIZE = 64


def recipe(**changes) -> Recipe:
    base = Recipe(prompt="a portrait", model="tiny-sdxl", steps=3, width=SIZE, height=SIZE, seed=11, sampler="Euler")
    return base.replace(**changes)


@pytest.fixture(scope="module")
def sdxl_loras(model_cache, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sdxl-loras")
    return {
        "kohya": make_sdxl_lora(folder / "xl_kohya.safetensors", model_cache, seed=5, kohya=True),
        "diffusers": make_sdxl_lora(folder / "xl_diffusers.safetensors", model_cache, seed=6, kohya=False),
        "sd15": make_lora(folder / "sd15.safetensors", model_cache, seed=7, kohya=True, text_encoder=True),
    }


def diffusers_own(model_cache, r: Recipe, loras: list[tuple[str, float]]):
    """The picture diffusers makes itself with `load_lora_weights` (fused, as the studio runs LoRAs) on a freshly
    loaded tiny SDXL model. That fusing gives the unfused pixels is tests/test_speed.py's."""
    pipe = StableDiffusionXLPipeline.from_pretrained(tiny_model_folder(model_cache, Family.SDXL), add_watermarker=False)
    pipe.set_progress_bar_config(disable=True)
    for number, (path, _) in enumerate(loras):
        pipe.load_lora_weights(path, adapter_name=f"own_{number}")
    names = [f"own_{n}" for n in range(len(loras))]
    pipe.set_adapters(names, [weight for _, weight in loras])
    # Every file here holds the UNet and both text encoders: each part must be loaded, or the test proves less.
    assert {"unet", "text_encoder", "text_encoder_2"} <= set(pipe.get_list_adapters())
    pipe.fuse_lora(adapter_names=names)
    pipe.scheduler = make_scheduler(r.sampler, r.scheduler, pipe.scheduler.config, seed=r.seed)
    with torch.inference_mode():
        return pipe(
            r.prompt,
            num_inference_steps=r.steps,
            guidance_scale=r.cfg_scale,
            width=r.width,
            height=r.height,
            generator=[torch.Generator("cpu").manual_seed(r.seed)],
        ).images[0]


@pytest.mark.parametrize("naming", ["kohya", "diffusers"])
def test_an_sdxl_lora_gives_the_pixels_of_diffusers_own_loader(sdxl_engine, model_cache, sdxl_loras, naming):
    path = sdxl_loras[naming]
    r = recipe(loras=(LoraRef(str(path), 0.8),))
    ours = sdxl_engine.generate(r)[0]
    assert ours.tobytes() != sdxl_engine.generate(recipe())[0].tobytes()
    assert ours.tobytes() == diffusers_own(model_cache, r, [(str(path), 0.8)]).tobytes()


def test_two_sdxl_loras_mix_and_leave_nothing_behind(sdxl_engine, sdxl_loras):
    plain = sdxl_engine.generate(recipe())[0]
    both = recipe(loras=(LoraRef(str(sdxl_loras["kohya"]), 0.6), LoraRef(str(sdxl_loras["diffusers"]), 0.5)))
    mixed = sdxl_engine.generate(both)[0]
    one = sdxl_engine.generate(recipe(loras=(LoraRef(str(sdxl_loras["kohya"]), 0.6),)))[0]
    assert len({plain.tobytes(), mixed.tobytes(), one.tobytes()}) == 3
    assert sdxl_engine.generate(recipe())[0].tobytes() == plain.tobytes()


def test_a_replay_is_exact_whether_or_not_a_lora_was_ever_loaded(model_cache, tmp_path):
    """peft freezes the weights when a LoRA loads, and frozen weights run other kernels (SDXL's UNet moved by
    ~1e-6, a pixel by 1): the studio freezes them at load, so the first picture and its replay agree."""
    from studio.engine.factory import make_engine

    fresh = make_engine(cache_dir=model_cache)
    plain = recipe(prompt="a fox", sampler="Euler a", steps=4, seed=3, batch_size=4)
    first = [picture.tobytes() for picture in fresh.generate(plain)]
    lora = make_sdxl_lora(tmp_path / "xl.safetensors", model_cache, seed=1, kohya=True)
    fresh.generate(recipe(loras=(LoraRef(str(lora), 1.0),)))
    assert [picture.tobytes() for picture in fresh.generate(plain)] == first


def test_a_lora_of_the_other_family_is_refused_naming_both_and_never_half_applied(sdxl_engine, engine, sdxl_loras):
    plain = sdxl_engine.generate(recipe())[0]
    with pytest.raises(LoraError, match=r"SD 1\.5 LoRA and the model is SDXL"):
        sdxl_engine.generate(recipe(loras=(LoraRef(str(sdxl_loras["sd15"]), 1.0),)))
    assert sdxl_engine.generate(recipe())[0].tobytes() == plain.tobytes()
    sd15 = Recipe(prompt="a portrait", model="tiny", steps=2, width=SIZE, height=SIZE, seed=1)
    with pytest.raises(LoraError, match=r"SDXL LoRA and the model is SD 1\.5"):
        engine.generate(sd15.replace(loras=(LoraRef(str(sdxl_loras["kohya"]), 1.0),)))


def test_the_library_names_each_lora_family_from_its_layer_names(sdxl_loras):
    assert lora_family(read_header(sdxl_loras["kohya"])) == "SDXL"
    assert lora_family(read_header(sdxl_loras["diffusers"])) == "SDXL"
    assert lora_family(read_header(sdxl_loras["sd15"])) == "SD 1.5"


# --- single-file checkpoints ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoints(model_cache, tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    made = {}
    for family, name in ((Family.SD15, "sd15"), (Family.SDXL, "sdxl")):
        source = tiny_model_folder(model_cache, family)
        made[name] = write_checkpoint(source, folder / f"{name}.safetensors")
        made[f"{name}-vpred"] = write_checkpoint(source, folder / f"{name}-vpred.safetensors", extra_keys=("v_pred",))
        made[f"{name}-ztsnr"] = write_checkpoint(
            source, folder / f"{name}-ztsnr.safetensors", extra_keys=("v_pred", "ztsnr")
        )
    return made


@pytest.mark.parametrize(("name", "model"), [("sd15", "tiny"), ("sdxl", "tiny-sdxl")])
def test_a_checkpoint_in_the_original_layout_loads_offline_and_gives_the_folder_pixels(
    model_cache, checkpoints, name, model
):
    from safetensors import safe_open

    from studio.engine.factory import make_engine

    with safe_open(str(checkpoints[name]), framework="pt") as handle:
        keys = list(handle.keys())  # noqa: SIM118
    assert any(key.startswith("model.diffusion_model.input_blocks.") for key in keys)  # the LDM layout
    engine = make_engine(cache_dir=model_cache)
    r = Recipe(prompt="a fox", model=model, steps=3, width=SIZE, height=SIZE, seed=3)
    from_folder = engine.generate(r)[0]
    from_file = engine.generate(r.replace(model=str(checkpoints[name])))[0]
    assert engine.family == (Family.SDXL if name == "sdxl" else Family.SD15)
    assert from_file.tobytes() == from_folder.tobytes()


@pytest.mark.parametrize("name", ["sd15", "sdxl"])
def test_v_prediction_is_read_from_the_checkpoint_and_never_mixed_up(model_cache, checkpoints, name):
    from studio.engine.factory import make_engine

    engine = make_engine(cache_dir=model_cache)
    r = Recipe(prompt="a fox", model=str(checkpoints[name]), steps=3, width=SIZE, height=SIZE, seed=3, sampler="Euler")
    epsilon = engine.generate(r)[0]
    assert engine.pipelines.scheduler_config["prediction_type"] == "epsilon"
    v_pred = engine.generate(r.replace(model=str(checkpoints[f"{name}-vpred"])))[0]
    config = engine.pipelines.scheduler_config
    assert config["prediction_type"] == "v_prediction" and not config["rescale_betas_zero_snr"]
    ztsnr = engine.generate(r.replace(model=str(checkpoints[f"{name}-ztsnr"])))[0]
    assert engine.pipelines.scheduler_config["rescale_betas_zero_snr"] is True
    assert len({epsilon.tobytes(), v_pred.tobytes(), ztsnr.tobytes()}) == 3
    # A sampler whose scheduler cannot rescale to zero terminal SNR is refused, never run without it.
    with pytest.raises(ValueError, match="zero-terminal-SNR"):
        engine.generate(r.replace(model=str(checkpoints[f"{name}-ztsnr"]), sampler="LMS"))


def test_checkpoint_families_and_refusals_come_from_the_keys():
    assert traits_of_checkpoint(["conditioner.embedders.1.model.ln_final.weight"], "x").family is Family.SDXL
    sd15 = traits_of_checkpoint(["cond_stage_model.transformer.text_model.x", "v_pred"], "x")
    assert sd15.family is Family.SD15 and sd15.v_prediction and not sd15.zero_terminal_snr
    with pytest.raises(ModelError, match="2.x"):
        traits_of_checkpoint(["cond_stage_model.model.transformer.resblocks.0.ln_1.weight"], "sd2.safetensors")
    with pytest.raises(ModelError, match="LoRA"):
        traits_of_checkpoint(["lora_unet_down_blocks_0.lora_down.weight"], "lora.safetensors")


def test_a_checkpoint_of_an_unknown_shape_says_so(tmp_path, model_cache):
    from safetensors.torch import save_file

    from studio.engine.factory import make_engine

    odd = tmp_path / "odd.safetensors"
    save_file(
        {
            "model.diffusion_model.input_blocks.0.0.weight": torch.zeros(16, 9, 3, 3),
            "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": torch.zeros(10, 8),
        },
        str(odd),
    )
    with pytest.raises(ModelError, match="unusual shape"):
        make_engine(cache_dir=model_cache).load(str(odd))


def test_the_base_configurations_are_written_offline_with_real_tokenizers(model_cache):
    from transformers import CLIPTokenizer

    from studio.engine.checkpoint_configs import base_config_folder

    folder = base_config_folder(Family.SDXL, model_cache)
    assert (folder / "unet" / "config.json").is_file() and (folder / "text_encoder_2" / "config.json").is_file()
    tokenizer_2 = CLIPTokenizer.from_pretrained(folder / "tokenizer_2")
    assert len(tokenizer_2) == 49408 and tokenizer_2.pad_token == "!"
    assert np.array_equal(
        CLIPTokenizer.from_pretrained(folder / "tokenizer")("a cat").input_ids, tokenizer_2("a cat").input_ids
    )


def test_an_sdxl_checkpoint_picture_carries_a1111_parameters_and_reads_back(model_cache, checkpoints, tmp_path):
    """Size, Clip skip and the A1111 Model hash of the checkpoint file, as A1111/Forge write them."""
    from launch import build_sessions
    from studio.engine.factory import make_engine
    from studio.formats.a1111 import parse_parameters
    from studio.formats.hashes import HashCache

    hashes = HashCache(tmp_path / "hashes.json")
    studio = build_sessions(make_engine(cache_dir=model_cache), tmp_path / "outputs", hashes=hashes).open()
    path = checkpoints["sdxl"]
    made = studio.generate(Recipe(prompt="a fox", model=str(path), steps=2, width=64, height=96, seed=4, clip_skip=2))
    fields = parse_parameters(Image.open(studio.output_path(made.id)).text["parameters"]).fields
    assert fields["Size"] == "64x96" and fields["Clip skip"] == "2" and fields["Model"] == "sdxl"
    # A1111's short hash: the first 10 hex digits of the file's sha256.
    assert fields["Model hash"] == hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    info = read_picture_info(Path(studio.output_path(made.id)))
    assert info.recipe(Recipe()).model == str(path) and info.recipe(Recipe()).clip_skip == 2


@pytest.mark.parametrize(("family", "repo"), [(Family.SD15, "someone/tiny-sd15"), (Family.SDXL, "someone/tiny-xl")])
def test_a_hugging_face_id_in_the_local_cache_loads_as_its_family(model_cache, tmp_path, monkeypatch, family, repo):
    """A hub id whose snapshot is already downloaded (Hugging Face's cache layout) loads offline, family and all."""
    import shutil

    from huggingface_hub import constants

    from studio.engine.models import DeviceSettings, load_pipeline, resolve_model

    cache = tmp_path / "hub"
    repo_folder = cache / f"models--{repo.replace('/', '--')}"
    commit = "0" * 40
    shutil.copytree(tiny_model_folder(model_cache, family), repo_folder / "snapshots" / commit)
    (repo_folder / "refs").mkdir()
    (repo_folder / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    pipe = load_pipeline(resolve_model(repo), DeviceSettings("cpu", torch.float32), cache_dir=model_cache)
    assert type(pipe).__name__ == ("StableDiffusionXLPipeline" if family is Family.SDXL else "StableDiffusionPipeline")


def test_the_studio_configurations_are_the_real_architectures():
    """Built on the meta device (no memory): the parameter counts of SD 1.5's and SDXL base 1.0's published models."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from studio.engine.checkpoint_configs import BASE_CONFIGS

    def count(model) -> int:
        return sum(parameter.numel() for parameter in model.parameters())

    expected = {Family.SD15: 859_520_964, Family.SDXL: 2_567_463_684}
    for family, unet_parameters in expected.items():
        config = BASE_CONFIGS[family]
        with init_empty_weights():
            assert count(UNet2DConditionModel.from_config(config["unet/config.json"])) == unet_parameters
            assert count(AutoencoderKL.from_config(config["vae/config.json"])) == 83_653_863
            assert count(CLIPTextModel(CLIPTextConfig(**config["text_encoder/config.json"]))) == 123_060_480
            if family is Family.SDXL:
                big_g = CLIPTextModelWithProjection(CLIPTextConfig(**config["text_encoder_2/config.json"]))
                assert count(big_g) == 694_659_840
