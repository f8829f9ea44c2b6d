"""Sizes per model family: native sizes, and what a change of family does to the size (pure, and the models service)."""

from launch import build_sessions
from studio.recipe import Recipe
from studio.services.models import Models
from studio.sizes import Sampling, native_sizes, sampling_for_new_family, size_for_new_family, size_label, size_of_label


def test_each_family_offers_its_native_sizes_square_first():
    assert native_sizes("SDXL")[:3] == ((1024, 1024), (832, 1216), (1216, 832))
    assert native_sizes("SD 1.5")[0] == (512, 512) and native_sizes(None)[0] == (512, 512)
    assert all(w % 8 == 0 and h % 8 == 0 for family in ("SD 1.5", "SDXL") for w, h in native_sizes(family))
    assert size_of_label(size_label((832, 1216))) == (832, 1216)


def test_a_size_left_at_the_old_default_follows_the_family_and_a_chosen_one_stays():
    assert size_for_new_family((512, 512), "SD 1.5", "SDXL") == (
        (1024, 1024),
        "Size set to 1024 × 1024, SDXL's native size.",
    )
    assert size_for_new_family((1024, 1024), "SDXL", "SD 1.5")[0] == (512, 512)
    kept, note = size_for_new_family((640, 384), "SD 1.5", "SDXL")
    assert kept == (640, 384) and "kept" in note and "SDXL" in note
    assert size_for_new_family((832, 1216), "SD 1.5", "SDXL") == ((832, 1216), "")  # already an SDXL size
    assert size_for_new_family((512, 512), "SD 1.5", "SD 1.5") == ((512, 512), "")  # same family: nothing moves


def test_loading_a_model_of_another_family_moves_the_default_size(fake_engine, tmp_path):
    studio = build_sessions(fake_engine, tmp_path / "outputs", defaults=Recipe(model="tiny")).open()
    assert studio.services.models.family == "SD 1.5"
    studio.services.models.load("fake/sdxl-base")
    assert studio.services.models.family == "SDXL" and (
        studio.services.models.defaults.width,
        studio.services.models.defaults.height,
    ) == (1024, 1024)
    # A studio whose defaults the artist set to another SDXL size (the engine has SDXL loaded).
    models = Models(fake_engine, defaults=Recipe(model="fake/sdxl-base", width=896, height=1152))
    models.load("fake/sdxl-other")  # the same family: the artist's size stays
    assert (models.defaults.width, models.defaults.height) == (896, 1152)


def test_sampling_follows_a_flux_model_where_it_must_and_keeps_what_the_artist_chose():
    sd_default = Sampling("Euler a", "Automatic", 7.0)
    # What Flux cannot run moves (sampler, an SD schedule); CFG left at SD's default moves to 1 (real CFG off).
    moved, note = sampling_for_new_family(Sampling("DPM++ 2M", "Karras", 7.0), "SDXL", "Flux.1")
    assert moved == Sampling("Euler", "Automatic", 1.0)
    assert "sampler Euler" in note and "schedule Automatic" in note and "CFG 1" in note
    # A CFG the artist chose stays (Flux runs real CFG with it, at twice the time).
    assert sampling_for_new_family(Sampling("Euler", "Beta", 3.0), "SD 1.5", "Flux.1") == (
        Sampling("Euler", "Beta", 3.0),
        "",
    )
    # Back to SD: a Flux schedule moves, Flux's CFG 1 becomes SD's default, Euler runs on both and stays.
    back, note = sampling_for_new_family(Sampling("Euler", "Simple", 1.0), "Flux.1", "SD 1.5")
    assert back == Sampling("Euler", "Automatic", 7.0) and "SD 1.5" in note
    # Between SD families nothing moves.
    assert sampling_for_new_family(sd_default, "SD 1.5", "SDXL") == (sd_default, "")


def test_the_sampler_and_schedule_choices_hold_every_value_a_pick_may_bring():
    from studio.ui.form import sampler_choices, schedule_choices

    # A dropdown refuses a value not among its choices on every event that reads it: a picked SD node's "Euler a"
    # under a loaded Flux model must stay showable (the engine refuses it by name if run).
    flux, sd = sampler_choices("Flux.1")["choices"], sampler_choices("SD 1.5")["choices"]
    assert flux[0] == "Euler" and "Euler a" in flux and set(flux) == set(sd)
    assert {"Simple", "Beta", "Karras"} <= set(schedule_choices("SD 1.5")["choices"])
    assert schedule_choices("Flux.1")["choices"][:3] == ["Automatic", "Simple", "Beta"]
