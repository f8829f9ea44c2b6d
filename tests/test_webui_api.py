"""AUTOMATIC1111's web API, driven by the real `webuiapi` client against a studio on the tiny model."""

from __future__ import annotations

import base64
import io
import threading

import httpx
import numpy as np
import pytest
import webuiapi
from PIL import Image, ImageFilter

from studio.formats import png_text
from studio.recipe import ControlMode
from studio.webui.routes import API_SESSION, SESSION_HEADER
from tests.servers import running_studio, wait_for_progress

SIZE = 128
FAST = {"steps": 3, "width": SIZE, "height": SIZE}


@pytest.fixture(scope="module")
def server(engine, tmp_path_factory):
    with running_studio(engine, tmp_path_factory.mktemp("webui-outputs"), api=True) as (url, studio):
        yield url, studio


@pytest.fixture
def api(server):
    host, port = server[0].split("//")[1].rstrip("/").split(":")
    return webuiapi.WebUIApi(host=host, port=int(port), sampler="Euler a")


def png_bytes(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def node_of(studio, info: dict, index: int = 0):
    session = studio.open(info["studio_session"])
    return session.history.get(info["studio_nodes"][index])


def test_txt2img_numbers_seeds_as_a1111_and_every_picture_is_a_node_with_its_recipe(server, api):
    url, studio = server
    result = api.txt2img(
        prompt="a lighthouse", negative_prompt="fog", seed=40, batch_size=2, n_iter=2, cfg_scale=6, **FAST
    )

    assert len(result.images) == 4 and result.images[0].size == (SIZE, SIZE)
    assert result.info["all_seeds"] == [40, 41, 42, 43] and result.info["seed"] == 40
    assert result.info["infotexts"][3].endswith(result.images[3].info["parameters"].split("\n")[-1])
    assert result.parameters["prompt"] == "a lighthouse" and result.parameters["n_iter"] == 2
    assert "Seed: 43" in result.images[3].info["parameters"]

    # Two batches, two nodes of the API session, each with the recipe the client asked for.
    assert result.info["studio_session"] == API_SESSION
    first, second = (node_of(studio, result.info, index) for index in (0, 1))
    assert first.seeds == (40, 41) and second.seeds == (42, 43)
    recipe = second.recipe
    assert (recipe.prompt, recipe.negative_prompt, recipe.sampler, recipe.steps, recipe.cfg_scale) == (
        "a lighthouse", "fog", "Euler a", 3, 6.0,
    )  # fmt: skip
    saved = Image.open(studio.open(API_SESSION).history.path(second.outputs[1])).convert("RGB")
    assert np.array_equal(np.asarray(saved), np.asarray(result.images[3].convert("RGB")))

    # png-info reads the produced picture back, as A1111 parses it.
    info = api.png_info(result.images[0]).json
    assert info["parameters"]["Prompt"] == "a lighthouse" and info["parameters"]["Seed"] == "40"
    assert info["parameters"]["Size-1"] == str(SIZE) and png_text.STUDIO_KEY in info["items"]


def test_img2img_with_a_mask_keeps_every_pixel_outside_it(server, api):
    url, studio = server
    picture = Image.fromarray(np.random.default_rng(3).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8))
    mask = Image.new("L", picture.size, 0)
    mask.paste(255, (40, 40, 88, 88))
    blurred = np.asarray(mask.filter(ImageFilter.GaussianBlur(4)))
    outside = blurred == 0

    # The client's defaults: fill the masked area first, render it alone (inpaint_full_res) and paste it back.
    filled = api.img2img(images=[picture], mask_image=mask, prompt="a red door", seed=3, denoising_strength=0.9, **FAST)
    # Inpaint from the original content, over the whole picture.
    original = api.img2img(
        images=[picture], mask_image=mask, prompt="a red door", seed=3, inpainting_fill=1, inpaint_full_res=False,
        denoising_strength=0.9, **FAST,
    )  # fmt: skip
    for result in (filled, original):
        returned = np.asarray(result.image.convert("RGB"))
        assert np.array_equal(returned[outside], np.asarray(picture)[outside])
        assert not np.array_equal(returned[blurred == 255], np.asarray(picture)[blurred == 255])
    node = node_of(studio, filled.info)
    assert node.recipe.mode.value == "inpaint" and node.recipe.inpaint_area.value == "only masked"
    assert node.recipe.denoising_strength == 0.9 and node.recipe.inpaint_padding == 0
    assert node_of(studio, original.info).recipe.inpaint_area.value == "whole picture"
    # What the model started from is on the node: the picture with its masked area filled from around it.
    started_from = np.asarray(studio.open(API_SESSION).inputs(node.id)["image"])
    assert np.array_equal(started_from[outside], np.asarray(picture)[outside])
    assert filled.parameters["init_images"] is None  # A1111 echoes no pictures unless include_init_images


def test_variations_keep_the_seed_and_number_the_subseeds(server, api):
    url, studio = server
    base = api.txt2img(prompt="a fox", seed=9, **FAST)
    varied = api.txt2img(prompt="a fox", seed=9, subseed=100, subseed_strength=0.2, batch_size=3, **FAST)
    assert varied.info["all_seeds"] == [9, 9, 9] and varied.info["all_subseeds"] == [100, 101, 102]
    recipe = node_of(studio, varied.info).recipe
    assert (recipe.variation_seed, recipe.variation_strength) == (100, 0.2)
    pictures = [np.asarray(image.convert("RGB"), dtype=float) for image in (base.image, *varied.images)]
    assert all(not np.array_equal(pictures[1], other) for other in pictures[2:])
    assert "Variation seed: 100" in varied.images[0].info["parameters"]


def test_a_controlnet_unit_runs_its_preprocessor_and_the_map_is_on_the_node(server, api):
    url, studio = server
    source = Image.new("RGB", (SIZE, SIZE), "black")
    source.paste((255, 255, 255), (30, 30, 98, 98))
    models = api.controlnet_model_list()
    assert "tiny [canny]" in models and "canny" in api.controlnet_module_list()
    unit = webuiapi.ControlNetUnit(
        image=source, module="canny", model="tiny [canny]", weight=0.8, threshold_a=50, threshold_b=150,
        guidance_end=0.9, control_mode=2,  # webuiapi sends "ControlNet is more important"
    )  # fmt: skip
    # webuiapi writes the units into its own default `alwayson_scripts` dict (a mutable default), so they would go
    # with every later request of this process: each request with units gives a dict of its own.
    result = api.txt2img(prompt="a window", seed=2, controlnet_units=[unit], alwayson_scripts={}, **FAST)

    node = node_of(studio, result.info)
    (control,) = node.recipe.controls
    assert (control.kind, control.model, control.weight, control.guidance_end) == ("canny", "tiny", 0.8, 0.9)
    assert control.preprocessor == "canny" and control.control_mode is ControlMode.CONTROL
    assert "Guidance End: 0.9, Control Mode: ControlNet is more important" in result.info["infotexts"][0]
    assert dict(control.preprocessor_settings) == {"low_threshold": 50.0, "high_threshold": 150.0}
    # The map on the node is the one /controlnet/detect makes of the same picture with the same thresholds.
    detected = api.controlnet_detect([source], module="canny", threshold_a=50, threshold_b=150).json["images"][0]
    detected_map = Image.open(io.BytesIO(base64.b64decode(detected))).convert("RGB")
    node_map = studio.open(API_SESSION).inputs(node.id)[control.image].convert("RGB")
    assert np.array_equal(np.asarray(node_map), np.asarray(detected_map))
    assert np.asarray(node_map).max() == 255  # the square's edges


class RegionUnit(webuiapi.ControlNetUnit):
    """webuiapi's unit with sd-webui-controlnet's `effective_region_mask` (the area a unit acts in), which webuiapi
    does not send itself."""

    def __init__(self, *, effective_region_mask: Image.Image, **settings) -> None:
        super().__init__(**settings)
        self.effective_region_mask = effective_region_mask

    def to_dict(self) -> dict:
        return super().to_dict() | {"effective_region_mask": webuiapi.raw_b64_img(self.effective_region_mask)}


def test_ip_adapter_units_are_reference_pictures_with_their_masks(server, api, engine, model_cache, monkeypatch):
    from studio.engine.references import ReferenceAdapters
    from studio.engine.tiny_references import tiny_ip_adapter_folder
    from studio.recipe import ReferenceKind, ReferenceRef
    from tests.face_finder import PixelFace

    adapters = ReferenceAdapters(tiny_ip_adapter_folder(model_cache), faces=PixelFace())
    monkeypatch.setattr(engine, "references", adapters)
    url, studio = server
    try:
        reference = Image.new("RGB", (90, 70), "crimson")
        area = Image.new("RGB", (SIZE, SIZE), "black")
        area.paste((255, 255, 255), (0, 0, SIZE // 2, SIZE))
        units = [
            RegionUnit(image=reference, module="ip-adapter_clip_sd15", model="ip-adapter_tiny [5d2b0c3a]",
                       weight=0.6, guidance_end=0.9, effective_region_mask=area),
            webuiapi.ControlNetUnit(image=reference, module="ip-adapter-auto", model="ip-adapter-plus_tiny"),
        ]  # fmt: skip
        result = api.txt2img(prompt="two friends", seed=4, controlnet_units=units, alwayson_scripts={}, **FAST)
        node = node_of(studio, result.info)
        assert node.recipe.references == (
            ReferenceRef("ip-adapter_tiny", "reference-1", 0.6, 0.0, 0.9, mask="reference-1-mask"),
            ReferenceRef("ip-adapter-plus_tiny", "reference-2"),
        )
        inputs = studio.open(API_SESSION).inputs(node.id)
        assert inputs["reference-1"].size == (90, 70) and inputs["reference-1-mask"].size == (SIZE, SIZE)
        text = result.info["infotexts"][0]
        assert 'ControlNet 0: "Module: ip-adapter-auto, Model: ip-adapter_tiny, Weight: 0.6' in text
        assert 'ControlNet 1: "Module: ip-adapter-auto, Model: ip-adapter-plus_tiny, Weight: 1' in text
        plain = api.txt2img(prompt="two friends", seed=4, **FAST)
        assert not np.array_equal(np.asarray(result.image), np.asarray(plain.image))
        # sd-webui-controlnet's FaceID module makes a Face reference, written back with that module.
        face = webuiapi.ControlNetUnit(image=reference, module="ip-adapter_face_id", model="ip-adapter-faceid_tiny")
        faced = api.txt2img(prompt="two friends", seed=4, controlnet_units=[face], alwayson_scripts={}, **FAST)
        assert node_of(studio, faced.info).recipe.references == (
            ReferenceRef("ip-adapter-faceid_tiny", "reference-1", kind=ReferenceKind.FACE),
        )
        assert 'ControlNet 0: "Module: ip-adapter_face_id, Model: ip-adapter-faceid_tiny' in faced.info["infotexts"][0]
        assert not np.array_equal(np.asarray(faced.image), np.asarray(plain.image))
        # `mask` masks the reference picture itself in sd-webui-controlnet: refused, with what to send instead.
        masked = webuiapi.ControlNetUnit(image=reference, module="ip-adapter-auto", model="ip-adapter_tiny", mask=area)
        body = {"prompt": "x", **FAST, "alwayson_scripts": {"controlnet": {"args": [masked.to_dict()]}}}
        refused = httpx.post(f"{url}sdapi/v1/txt2img", json=body, timeout=60)
        assert refused.status_code == 422 and "effective_region_mask" in refused.text
    finally:
        adapters.activate(engine.pipelines.base, (), engine.family)


def test_options_switch_the_api_model_and_leave_the_window_alone(server, api):
    url, studio = server
    window_defaults = studio.services.models.defaults
    try:
        api.set_options({"sd_model_checkpoint": "tiny-sdxl", "CLIP_stop_at_last_layers": 2})
        assert api.get_options()["sd_model_checkpoint"] == "tiny-sdxl"
        result = api.txt2img(prompt="a tower", seed=1, steps=2, width=64, height=64)
        recipe = node_of(studio, result.info).recipe
        assert (recipe.model, recipe.clip_skip) == ("tiny-sdxl", 2)
        assert "Clip skip: 2" in result.image.info["parameters"]
        assert studio.services.models.defaults == window_defaults  # the artist's window still starts from its own model
    finally:
        api.set_options({"sd_model_checkpoint": "tiny", "CLIP_stop_at_last_layers": 1})
    assert api.util_get_current_model() == "tiny"


def test_progress_shows_the_run_then_skip_and_interrupt_stop_only_what_they_name(server, api):
    url, studio = server
    answer: dict = {}

    def run() -> None:
        answer["result"] = api.txt2img(prompt="a long night", seed=70, n_iter=3, steps=60, width=64, height=64)

    worker = threading.Thread(target=run)
    worker.start()
    state = wait_for_progress(api, lambda p: p["state"]["sampling_step"] > 0 and p["state"]["job_no"] == 0)
    progress = api.get_progress()
    assert 0 < progress["progress"] < 1 and progress["eta_relative"] > 0 and progress["current_image"]
    assert state["state"]["job_count"] == 3 and state["state"]["sampling_steps"] == 60
    api.skip()  # the first batch is dropped; the job goes on with the second
    wait_for_progress(api, lambda p: p["state"]["job_no"] == 2 and p["state"]["sampling_step"] > 0)
    api.interrupt()
    worker.join(timeout=60)
    result = answer["result"]
    # The second batch is all that was made, with its own seed: A1111 numbers a request's pictures seed, seed + 1, ...
    assert result.info["all_seeds"] == [71] and len(result.images) == 1
    assert api.get_progress()["state"]["job_count"] == 0
    # The studio keeps serving: the next request runs in full.
    assert len(api.txt2img(prompt="morning", seed=1, **FAST).images) == 1


def test_interrupt_never_stops_a_run_the_artist_started_in_the_window(server, api):
    url, studio = server
    window = studio.open("the-artists-window")
    stepping, made = threading.Event(), {}

    def artist() -> None:
        recipe = studio.services.models.defaults.replace(
            prompt="the artist's own", seed=4, steps=40, width=64, height=64
        )
        made["node"] = window.generate(recipe, on_step=lambda progress: stepping.set())

    running = threading.Thread(target=artist)
    running.start()
    assert stepping.wait(timeout=60)
    api.interrupt()
    api.skip()
    running.join(timeout=60)
    assert made["node"].recipe.steps == 40 and window.tree()[-1].id == made["node"].id


def test_lists_clients_read_at_startup(server, api):
    url, studio = server
    assert "Euler a" in api.util_get_sampler_names() and "DPM++ 2M" in api.util_get_sampler_names()
    assert "karras" in api.util_get_scheduler_names()
    assert "tiny" in api.util_get_model_names()
    assert [entry["name"] for entry in api.get_upscalers()][:2] == ["None", "Lanczos"]
    presets, _ = studio.services.presets.all()
    styles = [preset for preset in presets if preset.kind == "style"]
    assert styles and api.get_prompt_styles() == [
        {
            "name": s.name,
            "prompt": s.settings["prompt_template"],
            "negative_prompt": s.settings.get("negative_prompt", ""),
        }
        for s in styles
    ]
    assert api.get_loras() == []
    assert api.get_memory()["ram"]["total"] > 0
    assert api.refresh_checkpoints() is None  # A1111 answers null: the lists are read afresh anyway
    # /docs works offline: Swagger UI's files come from the studio, not a CDN.
    docs = httpx.get(f"{url}docs").text
    assert "/docs-assets/swagger-ui-bundle.js" in docs and "/sdapi/openapi.json" in docs
    assert httpx.get(f"{url}docs-assets/swagger-ui-bundle.js").status_code == 200
    assert "/sdapi/v1/txt2img" in httpx.get(f"{url}sdapi/openapi.json").json()["paths"]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"sampler_name": "Restart"}, "sampler_name"),
        ({"restore_faces": True}, "restore_faces"),
        ({"alwayson_scripts": {"ADetailer": {"args": [True, {"ad_model": "face_yolov8n.pt"}]}}}, "ADetailer"),
        ({"override_settings": {"eta_noise_seed_delta": 31337}}, "eta_noise_seed_delta"),
        ({"scheduler": "Align Your Steps"}, "scheduler"),
        ({"enable_hr": True, "hr_sampler_name": "DDIM"}, "hr_sampler_name"),
        ({"width": 100}, "width"),
        ({"alwayson_scripts": {"controlnet": {"args": [{"module": "mlsd", "model": "tiny [canny]"}]}}}, "mlsd"),
        (
            {"alwayson_scripts": {"controlnet": {"args": [{"model": "tiny [canny]", "control_mode": 3}]}}},
            "control_mode: control mode must be one of 0 or 'Balanced'",
        ),
        # A seed out of range says the range (it used to answer 500, or wrap into another seed).
        ({"seed": 2**64}, "seed: 18446744073709551616 is out of range; a seed is -1 (random) or a whole number"),
        ({"seed": 2**32}, "0 to 4294967295"),
        ({"subseed": 2**64, "subseed_strength": 0.5}, "subseed: 18446744073709551616 is out of range"),
    ],
)
def test_what_the_studio_cannot_honour_is_refused_by_name(server, body, named):
    url, studio = server
    response = httpx.post(f"{url}sdapi/v1/txt2img", json={"prompt": "x", **FAST, **body})
    assert response.status_code == 422 and named in response.json()["detail"]


def test_bad_input_gets_a1111_errors_and_unknown_fields_are_ignored(server):
    url, studio = server
    types = httpx.post(f"{url}sdapi/v1/txt2img", json={"steps": "many"})
    assert types.status_code == 422 and types.json()["detail"][0]["loc"] == ["body", "steps"]
    broken = httpx.post(f"{url}sdapi/v1/img2img", json={"init_images": ["bm90IGEgcGljdHVyZQ=="], **FAST})
    assert broken.status_code == 422 and "init_images[0]" in broken.json()["detail"]
    # A resize mode A1111 does not have is refused, even for a picture already at the size (it was ignored there).
    at_size = base64.b64encode(png_bytes(Image.new("RGB", (SIZE, SIZE)))).decode()
    odd = httpx.post(f"{url}sdapi/v1/img2img", json={"init_images": [at_size], "resize_mode": 99, **FAST})
    assert odd.status_code == 422 and odd.json()["detail"].startswith("resize_mode: 99 is not one of A1111's: 0 (")
    missing = httpx.post(f"{url}sdapi/v1/options", json={"sd_model_checkpoint": "/no/such/model.safetensors"})
    assert missing.status_code == 404 and "model.safetensors" in missing.json()["detail"]
    # A field A1111 does not have either, and an extension turned off as clients send it: ignored.
    plain = {"prompt": "x", "seed": 5, "a_field_no_one_has": 1, "alwayson_scripts": {"ADetailer": {"args": [False]}}}
    answer = httpx.post(f"{url}sdapi/v1/txt2img", json=plain | FAST, headers={SESSION_HEADER: "my-bot"}, timeout=60)
    assert answer.status_code == 200 and len(answer.json()["images"]) == 1
    assert studio.open("my-bot").tree()[-1].recipe.prompt == "x"


def test_api_logins_guard_every_route_and_each_account_gets_its_own_pictures(engine, tmp_path):
    logins = {"ann": "one", "bob": "two"}
    outputs = tmp_path / "outputs"
    with running_studio(
        engine, outputs, api=True, api_credentials=logins, per_account=True, auth=list(logins.items())
    ) as (url, studio):
        for route in ("sdapi/v1/progress", "sdapi/v1/options", "controlnet/model_list"):
            assert httpx.get(f"{url}{route}").status_code == 401
        assert httpx.get(f"{url}sdapi/v1/options", auth=("ann", "two")).status_code == 401
        answer = httpx.post(
            f"{url}sdapi/v1/txt2img", json={"prompt": "ann's", "seed": 1, **FAST}, auth=("ann", "one"), timeout=60
        )
        assert answer.status_code == 200
        assert studio.open(API_SESSION, account="ann").tree()[0].recipe.prompt == "ann's"
        assert (outputs / "ann" / API_SESSION).is_dir() and not studio.open(API_SESSION, account="bob").tree()
