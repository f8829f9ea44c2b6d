"""Closeness on the real engine: what a repaint of an uploaded picture keeps of it, as the node says.

The tiny model's random VAE turns any picture into noise, so these runs use the tiny model with a VAE that keeps
the picture (studio/engine/tiny_faithful.py): its UNet is the tiny model's own, random, and its share of a repaint
grows with the strength, as a real model's does.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from launch import build_sessions
from studio.closeness import closeness
from studio.engine.tiny_faithful import faithful_vae
from studio.recipe import Recipe
from studio.services.picture_info import read_picture_info
from studio.ui.present.picture import picture_info_text

UPLOADED = {"image": {"origin": "a photo found online", "licence": "unknown"}}


@pytest.fixture
def faithful(faithful_engine):
    return faithful_engine, faithful_engine.faithful_model


def photo(side: int = 128) -> Image.Image:
    return Image.fromarray(data.astronaut()).resize((side, side), Image.Resampling.LANCZOS)


def standardized(colours: np.ndarray) -> np.ndarray:
    every_channel = np.concatenate([colours.ravel(), np.zeros(colours.size * 5 // 3)])
    return (colours - every_channel.mean()) / every_channel.std()


def test_the_faithful_vae_gives_the_picture_back_at_a_quarter_of_its_side_up_to_one_brightness_and_contrast():
    picture = np.asarray(photo(64), dtype=np.float32) / 127.5 - 1
    vae = faithful_vae()
    with torch.no_grad():
        latents = vae.encode(torch.from_numpy(picture).permute(2, 0, 1)[None]).latent_dist.sample()
        decoded = vae.decode(latents).sample[0].permute(1, 2, 0).numpy()
    assert tuple(latents.shape) == (1, 4, 16, 16) and float(latents[0, 3].abs().max()) < 1e-5  # a sample is the mean
    # Expected, computed apart: each 4 x 4 block's average, standardized over the whole picture (its 8 channels: 3
    # colours, 5 zero) by the encoder and again by the decoder, at half its spread.
    blocks = picture.reshape(16, 4, 16, 4, 3).mean(axis=(1, 3))
    expected = 0.5 * standardized(standardized(blocks))
    expected = np.repeat(np.repeat(expected, 4, axis=0), 4, axis=1)
    assert np.abs(decoded - expected).max() < 1e-3


def test_repaints_of_an_uploaded_picture_at_rising_strength_stay_less_close_and_the_node_says_so(faithful, tmp_path):
    engine, model = faithful
    studio = build_sessions(engine, tmp_path / "outputs").open()
    upload = photo()
    scores = []
    for strength in (0.1, 0.3, 0.6, 1.0):
        recipe = Recipe(prompt="a portrait", model=model, steps=10, seed=1, denoising_strength=strength)
        node = studio.repaint(upload, recipe, sources=UPLOADED)
        (said,) = node.closeness[0]  # one outside picture: the upload
        assert (said["node"], said["role"], said["licence"]) == (node.id, "image", "unknown")
        # What the node says is the measure of its own saved picture against the saved upload.
        saved = Image.open(studio.path(node.outputs[0]))
        again = closeness(saved, Image.open(studio.path(node.inputs["image"])))
        assert said["score"] == pytest.approx(again.score, abs=1e-3) and said["verdict"] == again.verdict
        scores.append((said["score"], said["verdict"]))
        if strength == 0.1:  # Picture info reads what the PNG's node says
            info = read_picture_info(studio.path(node.outputs[0]))
            assert [entry.verdict for entry in info.closeness] == ["a near copy"]
            assert "- **Closeness:** a near copy of the picture uploaded at" in picture_info_text(info)
    assert [score for score, _ in scores] == sorted((score for score, _ in scores), reverse=True)
    assert scores[0][1] == "a near copy" and scores[-1][1] == "unrelated"
    assert scores[0][0] - scores[-1][0] > 0.5


def test_a_child_of_a_repaint_is_measured_against_the_upload_of_its_lineage(faithful, tmp_path):
    engine, model = faithful
    studio = build_sessions(engine, tmp_path / "outputs").open()
    recipe = Recipe(prompt="a portrait", model=model, steps=10, seed=1, denoising_strength=0.1)
    first = studio.repaint(photo(), recipe, sources=UPLOADED)
    child = studio.vary(first.id, count=1)  # new seeds: no picture of its own from outside
    (said,) = child.closeness[0]
    assert (said["node"], said["role"]) == (first.id, "image")
    plain = studio.generate(Recipe(prompt="a portrait", model=model, steps=4, seed=2, width=64, height=64))
    assert plain.closeness == ()  # nothing from outside: nothing measured
