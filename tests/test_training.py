"""Training a LoRA with peft on the tiny model: it changes the output, saves kohya files, stops cleanly."""

import json

import numpy as np
import pytest
from PIL import Image
from safetensors import safe_open

from studio.errors import GenerationStopped
from studio.recipe import LoraRef, Recipe, RecipeError
from studio.train.dataset import DatasetError, bucket_for, caption_for, folder_sha256, load_examples
from studio.train.settings import TrainingSettings
from studio.train.trainer import train_lora


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from skimage import data

    folder = tmp_path_factory.mktemp("mira")
    Image.fromarray(data.astronaut()).save(folder / "astronaut.png")
    (folder / "astronaut.txt").write_text("a woman in a spacesuit, smiling")
    Image.fromarray(data.chelsea()).save(folder / "cat.jpg")
    return folder


def settings(dataset, **changes):
    base = dict(
        dataset=str(dataset),
        name="mira",
        trigger_word="mira",
        rank=4,
        alpha=4,
        learning_rate=1e-3,
        steps=12,
        resolution=64,
        save_every=6,
        sample_every=6,
        sample_prompt="mira",
    )
    return TrainingSettings(**{**base, **changes})


def picture(engine, **changes):
    recipe = Recipe(prompt="mira, a woman in a spacesuit", model="tiny", steps=4, width=64, height=64, seed=3)
    return np.asarray(engine.generate(recipe.replace(**changes))[0]).astype(int)


def test_a_trained_lora_changes_the_output_and_the_base_stays_exact(engine, dataset, tmp_path):
    before = picture(engine)
    progress = []
    result = train_lora(engine, settings(dataset), tmp_path, on_progress=progress.append)
    assert [p.step for p in progress] == list(range(1, 13)) and all(np.isfinite(p.loss) for p in progress)
    assert [p.saved is not None for p in progress].count(True) == 2  # steps 6 and 12
    assert progress[5].sample is not None and progress[5].sample.size == (64, 64)
    assert not result.stopped and result.lora == tmp_path / "mira.safetensors"
    assert np.array_equal(picture(engine), before)  # the adapter is gone from the shared model
    with_lora = picture(engine, loras=(LoraRef(str(result.lora), 1.0),))
    assert np.abs(with_lora - before).mean() > 0.5
    assert np.array_equal(picture(engine, loras=(LoraRef(str(result.lora), 0.0),)), before)


def test_the_file_is_kohya_named_with_training_metadata(engine, dataset, tmp_path):
    result = train_lora(engine, settings(dataset, train_text_encoder=True, steps=4, save_every=4), tmp_path)
    with safe_open(str(result.lora), "pt") as lora:
        keys, meta = list(lora.keys()), lora.metadata()
    assert any(
        key.startswith("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_down") for key in keys
    )
    assert any(key.startswith("lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up") for key in keys)
    assert all(key.endswith((".lora_down.weight", ".lora_up.weight", ".alpha")) for key in keys)
    assert meta["ss_num_train_images"] == "2" and meta["ss_steps"] == "4" and meta["studio_trigger_word"] == "mira"
    # The base model as the artist named it, so the LoRA library lists "tiny", not a cache folder.
    assert meta["studio_base_model"] == "tiny"
    assert json.loads(meta["studio_training"])["rank"] == 4
    # What it was trained on, as one hash of the folder's pictures and captions (for the authorship record).
    assert (
        meta["studio_dataset_sha256"] == folder_sha256(settings(dataset)) and len(meta["studio_dataset_sha256"]) == 64
    )
    assert "mira" in json.loads(meta["ss_tag_frequency"])[dataset.name]
    # diffusers itself loads it (through the engine, as A1111-style kohya keys).
    assert np.abs(picture(engine, loras=(LoraRef(str(result.lora), 1.0),)) - picture(engine)).mean() > 0


def test_stop_keeps_the_last_saved_checkpoint(engine, dataset, tmp_path):
    saved_at = {}

    def stop_after_first_save(progress):
        if progress.saved:
            saved_at["bytes"] = progress.saved.read_bytes()
            engine.request_stop()

    result = train_lora(engine, settings(dataset, steps=50, save_every=5), tmp_path, on_progress=stop_after_first_save)
    assert result.stopped and result.steps == 5
    assert (tmp_path / "mira.safetensors").read_bytes() == saved_at["bytes"]
    assert not list(tmp_path.glob(".*.tmp"))
    # Stopped before any checkpoint: nothing is written, and the previous file is untouched.
    previous = (tmp_path / "mira.safetensors").read_bytes()
    with pytest.raises(GenerationStopped):
        train_lora(
            engine, settings(dataset, steps=50, save_every=40), tmp_path, on_progress=lambda p: engine.request_stop()
        )
    assert (tmp_path / "mira.safetensors").read_bytes() == previous


def test_captions_triggers_and_buckets(dataset):
    assert caption_for(dataset / "astronaut.png", "mira") == "mira, a woman in a spacesuit, smiling"
    assert caption_for(dataset / "cat.jpg", "mira") == "mira"
    assert bucket_for((1024, 512), 512) == (704, 384)
    assert bucket_for((512, 512), 512) == (512, 512)
    # The astronaut is square; the cat (451x300) keeps its landscape shape in a bucket.
    assert [e.picture.size for e in load_examples(settings(dataset, resolution=256))] == [(256, 256), (320, 192)]
    assert [e.picture.size for e in load_examples(settings(dataset, resolution=128, bucketing=False))] == [
        (128, 128)
    ] * 2


def test_bad_training_requests_are_refused_clearly(tmp_path):
    with pytest.raises(RecipeError, match="rank"):
        TrainingSettings(dataset="x", name="y", rank=0)
    with pytest.raises(RecipeError, match="resolution"):
        TrainingSettings(dataset="x", name="y", resolution=500)
    with pytest.raises(DatasetError, match="holds no pictures"):
        load_examples(TrainingSettings(dataset=str(tmp_path), name="y"))


def test_epochs_count_every_picture(engine, dataset, tmp_path):
    progress = []
    result = train_lora(engine, settings(dataset, epochs=3, save_every=100), tmp_path, on_progress=progress.append)
    assert result.steps == 6 and progress[-1].total == 6  # 2 pictures x 3 epochs, batch 1


@pytest.fixture
def sdxl_dataset(tmp_path):
    from skimage import data

    Image.fromarray(data.astronaut()).save(tmp_path / "astronaut.png")
    (tmp_path / "astronaut.txt").write_text("a woman in a spacesuit, smiling")
    return tmp_path


def test_a_lora_trains_on_sdxl_with_both_text_encoders_and_checkpointing(sdxl_engine, sdxl_dataset, tmp_path):
    from studio.lora_library import lora_family, read_header

    recipe = Recipe(prompt="mira, a woman in a spacesuit", model="tiny-sdxl", steps=3, width=64, height=64, seed=3)
    before = np.asarray(sdxl_engine.generate(recipe)[0]).astype(int)
    trained = settings(
        sdxl_dataset, steps=6, save_every=6, sample_every=6, train_text_encoder=True, gradient_checkpointing=True
    )
    progress = []
    result = train_lora(sdxl_engine, trained, tmp_path / "out", on_progress=progress.append)
    assert all(np.isfinite(p.loss) for p in progress) and progress[-1].sample is not None
    assert np.array_equal(np.asarray(sdxl_engine.generate(recipe)[0]).astype(int), before)  # nothing left behind
    assert not sdxl_engine.pipelines.base.unet.is_gradient_checkpointing
    header = read_header(result.lora)
    keys = [key for key in header if key != "__metadata__"]
    assert any(key.startswith("lora_te1_") for key in keys) and any(key.startswith("lora_te2_") for key in keys)
    assert lora_family(header) == "SDXL" and header["__metadata__"]["ss_base_model_version"] == "sdxl_base_v1-0"
    with_lora = np.asarray(sdxl_engine.generate(recipe.replace(loras=(LoraRef(str(result.lora), 1.0),)))[0])
    assert np.abs(with_lora.astype(int) - before).mean() > 0.5
