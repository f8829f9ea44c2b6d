"""The closeness measure (issue 29) on constructed cases: what laundering keeps scores close, unrelated pictures
do not, in the expected order. The bands' floors are calibrated on bench/bench_closeness.py; these tests check
clear cases with wide margins, so no figure rests on a last decimal."""

import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from studio.authorship.outside import OutsideCloseness
from studio.closeness import (
    KEEPS_COMPOSITION,
    MEASURE,
    NEAR_COPY,
    THRESHOLDS,
    VERDICTS,
    Closeness,
    closeness,
    closest,
    compare,
    fingerprint,
)


@pytest.fixture(scope="module")
def photos():
    from skimage import data  # these ship inside scikit-image: no download

    return {name: Image.fromarray(getattr(data, name)()).convert("RGB") for name in ("astronaut", "coffee", "rocket")}


def jpeg(picture, quality):
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=quality)
    return Image.open(buffer).convert("RGB")


def hue_turned(picture, degrees):
    h, s, v = picture.convert("HSV").split()
    shift = round(degrees * 256 / 360)
    return Image.merge("HSV", (h.point([(x + shift) % 256 for x in range(256)]), s, v)).convert("RGB")


def shifted(picture, fraction):
    """The picture moved right and down by `fraction` of its size, the uncovered edge filled with grey."""
    moved = Image.new("RGB", picture.size, (128, 128, 128))
    moved.paste(picture, (round(picture.width * fraction), round(picture.height * fraction)))
    return moved


def cropped(picture, fraction):
    return picture.crop((round(picture.width * fraction), 0, picture.width, round(picture.height * (1 - fraction))))


def test_identical_scores_one_and_is_a_near_copy(photos):
    found = closeness(photos["astronaut"], photos["astronaut"].copy())
    assert found.score == pytest.approx(1.0, abs=1e-3) and found.verdict == "a near copy"
    assert found.alignment.flip == "" and found.alignment.crop == (1.0, 1.0)


def test_the_order_identical_then_laundered_then_unrelated(photos):
    source = photos["astronaut"]
    laundered = {
        "shifted 5 %": shifted(source, 0.05),
        "cropped 15 %": cropped(source, 0.15),
        "flipped": ImageOps.mirror(source),
        "colour-shifted": hue_turned(source, 60),
    }
    identical = closeness(source, source).score
    scores = {name: closeness(source, picture).score for name, picture in laundered.items()}
    unrelated = max(closeness(source, photos[other]).score for other in ("coffee", "rocket"))
    assert identical >= max(scores.values())  # a flip is found exactly: it may tie
    assert min(scores.values()) > unrelated + 0.3, (scores, unrelated)
    assert all(score >= KEEPS_COMPOSITION for score in scores.values()), scores
    assert unrelated < KEEPS_COMPOSITION


def test_what_laundering_adds_keeps_a_near_copy(photos):
    source = photos["coffee"]
    for name, picture in {
        "half size": source.resize((source.width // 2, source.height // 2)),
        "squashed": source.resize((source.width, source.height // 2)),
        "JPEG 20": jpeg(source, 20),
        "blurred": source.filter(ImageFilter.GaussianBlur(3)),
        "noisy": Image.fromarray(
            np.clip(
                np.asarray(source) + np.random.default_rng(0).normal(0, 25, (source.height, source.width, 3)), 0, 255
            ).astype(np.uint8)
        ),
        "grey": source.convert("L"),
        "upside down": ImageOps.flip(source),
    }.items():
        found = closeness(source, picture)
        assert found.verdict == "a near copy", (name, found.words())


def test_a_flip_and_a_crop_are_found_and_reported(photos):
    source = photos["rocket"]
    copy = ImageOps.mirror(source.crop((0, 0, round(source.width * 0.8), source.height)))
    found = closeness(copy, source)
    assert found.alignment.flip == "horizontal" and found.alignment.inside == "first in second"
    assert found.alignment.crop[0] == pytest.approx(0.8, abs=0.03) and found.alignment.crop[1] == 1.0
    # Symmetric: the cropped picture is found inside the whole one either way round.
    assert closeness(source, copy).alignment.inside == "second in first"


def test_colour_is_blind_to_a_hue_turn_but_not_to_another_colour_layout(photos):
    left_red = Image.new("RGB", (200, 200), (40, 40, 200))
    ImageDraw.Draw(left_red).rectangle((0, 0, 99, 199), fill=(200, 40, 40))
    assert closeness(left_red, hue_turned(left_red, 120)).colour == pytest.approx(1.0, abs=0.05)
    source = photos["astronaut"]
    turned = closeness(source, hue_turned(source, 90)).colour
    other = closeness(source, photos["coffee"]).colour
    assert turned is not None and other is not None and turned > other + 0.3


def test_grey_pictures_leave_the_colour_term_out(photos):
    grey = photos["astronaut"].convert("L")
    found = closeness(grey, grey)
    assert found.colour is None and found.score == pytest.approx(1.0, abs=1e-3)
    assert "colour" not in found.words() and found.to_dict()["colour"] is None


def test_flat_and_tiny_pictures_are_compared_without_errors():
    flat = Image.new("RGB", (64, 64), (90, 90, 90))
    dot = Image.new("RGB", (3, 2), (255, 0, 0))
    for a, b in ((flat, flat), (flat, dot), (dot, dot)):
        found = closeness(a, b)
        # One flat colour has no composition to keep: it is close to nothing, itself included.
        assert found.score == 0.0 and found.verdict == "unrelated"
    with pytest.raises(ValueError, match="nothing to compare"):
        fingerprint(Image.new("RGB", (0, 5)))


def test_modes_other_than_rgb_are_read(photos):
    source = photos["astronaut"]
    for mode in ("RGBA", "P", "L", "I;16", "CMYK"):
        assert closeness(source, source.convert(mode)).verdict == "a near copy", mode


def test_bands_words_and_record(photos):
    assert [words for words, _ in THRESHOLDS] == list(VERDICTS)
    floors = [floor for _, floor in THRESHOLDS]
    assert floors == sorted(floors, reverse=True) and floors[-1] == 0.0
    found = closeness(photos["astronaut"], jpeg(photos["astronaut"], 40))
    assert found.words().startswith(f"a near copy ({found.score:.2f}: structure ")
    record = found.to_dict()
    assert record["measure"] == MEASURE and record["verdict"] == "a near copy"
    assert json.loads(json.dumps(record)) == record
    assert found.flagged and found.score >= NEAR_COPY


def test_a_verdict_follows_the_floors():
    def at(score):
        alignment = closeness(Image.new("RGB", (8, 8)), Image.new("RGB", (8, 8))).alignment
        return Closeness(score, score, score, None, alignment)

    for words, floor in THRESHOLDS:
        assert at(floor).verdict == words
    assert at(KEEPS_COMPOSITION).flagged and not at(KEEPS_COMPOSITION - 0.01).flagged


def test_closest_sorts_a_folder_closest_first(photos):
    folder = {name: fingerprint(picture) for name, picture in photos.items()}
    copy = fingerprint(jpeg(cropped(photos["coffee"], 0.1), 50))
    ranked = closest(copy, folder)
    assert [name for name, _ in ranked][0] == "coffee"
    assert [c.score for _, c in ranked] == sorted((c.score for _, c in ranked), reverse=True)
    assert ranked[0][1].score == compare(copy, folder["coffee"]).score


def test_each_verdict_reads_as_a_sentence_about_the_outside_picture():
    said = {
        verdict: OutsideCloseness(
            "00002", "reference-1", "0" * 64, "my photo", "unknown", {"verdict": verdict, "score": 0.5}
        ).words()
        for verdict in ("a near copy", "keeps the composition", "some likeness", "unrelated")
    }
    assert [words.split(" reference picture 1 of 00002 ")[0] for words in said.values()] == [
        "a near copy of",
        "keeps the composition of",
        "some likeness to",
        "unrelated to",
    ]
