"""The memorization check: a sample that reproduces a training picture is flagged, others are not. Its measure is the
studio's closeness measure (issue 29), flagged at the same band as everywhere."""

import io
import json

import pytest
from PIL import Image

from studio.closeness import KEEPS_COMPOSITION, SOME_LIKENESS
from studio.train.memorization import METRIC, THRESHOLD, check_memorization, score_samples, similarity
from studio.train.settings import TrainingSettings
from studio.train.trainer import train_lora

# 500 epochs of two pictures (250 steps of batch 4): about 30 s on the CPU. Measured with the closeness measure
# (2026-12-04): the two samples score 0.64 and 0.58 against their pictures ("keeps the composition", flagged at
# 0.55), the other samples 0.24-0.26, an unrelated folder 0.36 at most. (With SSIM, the measure before
# issue 29: 0.63 and 0.59, threshold 0.5; fewer steps or a higher learning rate fell below it.)
MEMORIZING_STEPS = 250


@pytest.fixture(scope="module")
def photos():
    from skimage import data

    return {
        name: Image.fromarray(getattr(data, name)()).convert("RGB")
        for name in ("astronaut", "chelsea", "coffee", "rocket")
    }


def jpeg(picture, quality=40):
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=quality)
    return Image.open(buffer).convert("RGB")


def test_the_check_flags_at_the_closeness_scales_keeps_the_composition_band():
    assert THRESHOLD == KEEPS_COMPOSITION and "closeness" in METRIC


def test_copies_score_high_and_different_pictures_low(photos):
    assert similarity(photos["astronaut"], jpeg(photos["astronaut"])) > 0.95
    for other in ("chelsea", "coffee", "rocket"):
        assert similarity(photos["astronaut"], photos[other]) < SOME_LIKENESS


def test_a_copied_sample_is_flagged_and_an_unrelated_one_is_not(photos):
    training = {"astronaut.png": photos["astronaut"], "chelsea.png": photos["chelsea"]}
    pairs = score_samples([photos["coffee"], jpeg(photos["chelsea"])], training)
    assert pairs[0].sample == 1 and pairs[0].training_picture == "chelsea.png" and pairs[0].score >= THRESHOLD
    assert pairs[1].sample == 0 and pairs[1].score < THRESHOLD


@pytest.fixture(scope="module")
def folders(tmp_path_factory, photos):
    pair = tmp_path_factory.mktemp("pair")
    photos["astronaut"].save(pair / "astronaut.png")
    (pair / "astronaut.txt").write_text("a woman in a spacesuit")
    photos["chelsea"].save(pair / "chelsea.png")
    unrelated = tmp_path_factory.mktemp("unrelated")
    photos["coffee"].save(unrelated / "coffee.png")
    photos["rocket"].save(unrelated / "rocket.png")
    return pair, unrelated


def test_the_check_runs_on_a_trained_lora_and_saves_its_report(engine, folders, tmp_path):
    pair, unrelated = folders
    settings = TrainingSettings(
        dataset=str(pair), name="mira", trigger_word="mira", rank=4, alpha=4, steps=6, resolution=64, save_every=6
    )
    lora = train_lora(engine, settings, tmp_path).lora
    report = check_memorization(engine, lora, unrelated, resolution=64, samples_per_picture=1, steps=6)
    assert not report.overfitted and len(report.closest) == 2
    assert {pair.training_picture for pair in report.closest} <= {"coffee.png", "rocket.png"}
    saved = json.loads((tmp_path / "mira.memorization.json").read_text())
    assert saved["schema_version"] == 1 and saved["threshold"] == THRESHOLD and saved["metric"] == METRIC
    assert Image.open(tmp_path / "mira.memorization.png").size[0] > 200


def two_simple_pictures(folder):
    """A disc and stripes: pictures a tiny model can learn by heart, as a real one learns a dozen photos."""
    from PIL import ImageDraw

    disc = Image.new("RGB", (64, 64), (20, 30, 120))
    ImageDraw.Draw(disc).ellipse((12, 12, 52, 52), fill=(240, 240, 230))
    disc.save(folder / "disc.png")
    (folder / "disc.txt").write_text("mira, a disc")
    stripes = Image.new("RGB", (64, 64), (200, 40, 40))
    for top in range(0, 64, 16):
        ImageDraw.Draw(stripes).rectangle((0, top, 63, top + 7), fill=(40, 180, 60))
    stripes.save(folder / "stripes.png")
    (folder / "stripes.txt").write_text("mira, stripes")


@pytest.mark.longest
def test_a_lora_trained_long_on_two_pictures_is_flagged_and_an_unrelated_folder_is_not(engine, folders, tmp_path):
    """Long, strong training on two pictures until the loss stops falling: the LoRA reproduces them."""
    pair = tmp_path / "pair"
    pair.mkdir()
    two_simple_pictures(pair)
    every_layer = ("to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2")
    every_layer += ("conv1", "conv2", "conv_in", "conv_out", "time_emb_proj")
    settings = TrainingSettings(
        dataset=str(pair),
        name="copycat",
        rank=32,
        alpha=32,
        learning_rate=3e-3,
        steps=MEMORIZING_STEPS,
        batch_size=4,
        resolution=64,
        bucketing=False,
        save_every=MEMORIZING_STEPS,
        target_layers=every_layer,
    )
    lora = train_lora(engine, settings, tmp_path / "loras").lora

    memorized = check_memorization(engine, lora, pair, resolution=64)
    assert memorized.overfitted and memorized.worst >= THRESHOLD
    assert {p.training_picture for p in memorized.closest if p.score >= THRESHOLD} == {"disc.png", "stripes.png"}

    _, unrelated = folders
    assert not check_memorization(engine, lora, unrelated, resolution=64).overfitted
