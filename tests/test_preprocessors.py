"""Preprocessors through controlnet-aux: those without weights run offline; the others fail fast and clearly."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from studio.control.preprocessors import PREPROCESSORS
from studio.engine.annotators import Preprocessors
from studio.errors import AnnotatorMissing


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut()).resize((160, 128))


@pytest.mark.parametrize("name", ["canny", "lineart_standard", "shuffle", "tile_resample"])
def test_weight_free_preprocessors_make_a_map_at_the_pictures_size(photo, name):
    control_map = Preprocessors().run(name, photo)
    assert control_map.size == photo.size and control_map.mode == "RGB"
    assert np.asarray(control_map).std() > 5  # a map with something in it


def test_canny_thresholds_are_honoured(photo):
    runner = Preprocessors()
    fine = np.asarray(runner.run("canny", photo, {"low_threshold": 20, "high_threshold": 60}))
    coarse = np.asarray(runner.run("canny", photo, {"low_threshold": 200, "high_threshold": 300}))
    assert (fine > 127).sum() > 1.3 * (coarse > 127).sum()


@pytest.mark.parametrize("name", ["openpose", "depth_midas", "depth_zoe", "softedge_hed", "lineart", "seg_upernet"])
def test_without_weights_the_message_names_the_file_and_where_to_put_it_within_seconds(tmp_path, photo, name):
    runner = Preprocessors(annotator_dir=tmp_path / "annotators")
    started = time.monotonic()
    with pytest.raises(AnnotatorMissing) as caught:
        runner.run(name, photo)
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert PREPROCESSORS[name].files[0] in message and PREPROCESSORS[name].repo in message
    assert str(tmp_path / "annotators") in message and "canny" in message


def test_unknown_names_and_settings_are_refused(photo):
    with pytest.raises(ValueError, match="unknown 'sobel'"):
        Preprocessors().run("sobel", photo)
    with pytest.raises(ValueError, match="canny has no setting 'radius'"):
        Preprocessors().run("canny", photo, {"radius": 3})
