"""The memorization check: a sample nearly identical to a training picture is flagged, others are not."""

import io
import json

import pytest
from PIL import Image

from studio.train.memorization import THRESHOLD, check_memorization, score_samples, similarity
from studio.train.trainer import train_lora
from studio.training_settings import TrainingSettings


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


def test_copies_score_high_and_different_pictures_low(photos):
    assert similarity(photos["astronaut"], jpeg(photos["astronaut"])) > 0.95
    for other in ("chelsea", "coffee", "rocket"):
        assert similarity(photos["astronaut"], photos[other]) < 0.2


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
    assert saved["schema_version"] == 1 and saved["threshold"] == THRESHOLD and saved["metric"].startswith("SSIM")
    assert Image.open(tmp_path / "mira.memorization.png").size[0] > 200
