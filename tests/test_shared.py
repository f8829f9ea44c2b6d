"""A shared studio (--share, --listen) lets a request name only what it offers, and shows nothing of the server."""

from __future__ import annotations

import pytest
from gradio_client import Client

from launch import offered, parse_args
from tests.fake_engine import FakeEngine
from tests.loras import make_lora
from tests.servers import running_studio

RECIPE = {"prompt": "a fox", "steps": 2, "width": 64, "height": 64, "seed": 1, "model": "tiny"}


@pytest.fixture(scope="module")
def shared(model_cache, tmp_path_factory):
    root = tmp_path_factory.mktemp("shared")
    library, elsewhere = root / "loras", root / "private"
    library.mkdir()
    elsewhere.mkdir()
    make_lora(library / "inkstyle.safetensors", model_cache, seed=2)
    make_lora(elsewhere / "secret.safetensors", model_cache, seed=3)
    args = parse_args(["--share", "--model", "tiny", "--loras", str(library)])
    # What is refused is refused before any engine runs; a fake one stands in for the rest.
    with running_studio(FakeEngine(), root / "outputs", lora_dir=library, offered=offered(args)) as (url, studio):
        yield Client(url, verbose=False), root, studio


def message_of(client, changes: dict) -> str:
    with pytest.raises(Exception) as refused:
        client.predict({**RECIPE, **changes}, api_name="/generate")
    return str(refused.value)


def test_outside_models_loras_and_controlnets_are_refused_without_telling_what_exists(shared):
    client, root, _ = shared
    secret = str(root / "private" / "secret.safetensors")
    missing = str(root / "private" / "missing.safetensors")
    cases = {
        "model": ({"model": secret}, {"model": missing}),
        "LoRA in the recipe": ({"loras": [{"name": secret}]}, {"loras": [{"name": missing}]}),
        "LoRA tag": ({"prompt": f"a fox <lora:{secret}:1>"}, {"prompt": f"a fox <lora:{missing}:1>"}),
    }
    for what, (existing, absent) in cases.items():
        said_for_existing, said_for_absent = message_of(client, existing), message_of(client, absent)
        assert "shared studio" in said_for_existing, what
        # The same answer whether the file exists or not, and no server folder named in it.
        assert said_for_existing.replace(secret, "X") == said_for_absent.replace(missing, "X"), what
        assert str(root / "loras") not in said_for_existing and "outputs" not in said_for_existing, what
    control = {"kind": "canny", "model": str(root / "private"), "image": "control-0"}
    assert "only its own ControlNets" in message_of(client, {"controls": [control]})


def test_library_loras_by_name_and_the_offered_models_still_work(shared):
    client, _, _ = shared
    node, _ = client.predict({**RECIPE, "prompt": "a fox <lora:inkstyle:0.8>"}, api_name="/generate")
    assert node["recipe"]["prompt"].endswith("<lora:inkstyle:0.8>")
    assert "no such LoRA there" in message_of(client, {"loras": [{"name": "nonexistent"}]})


def test_training_and_the_memorization_check_read_no_server_folder(shared):
    _, root, studio = shared
    with pytest.raises(ValueError, match="reads a folder on the server"):
        studio.services.loras.check_memorization("inkstyle", str(root / "private"))
    with pytest.raises(ValueError, match="reads a folder on the server"):
        studio.services.loras.train(None)


def test_only_share_and_listen_restrict_what_a_recipe_names():
    assert offered(parse_args(["--model", "tiny"])) is None  # local: paths keep working
    listening = offered(parse_args(["--listen", "--model", "tiny"]))
    assert listening is not None and listening.models == {"tiny", "tiny-sdxl", "tiny-flux"}
    assert {"tiny", "tiny-union", "xinsir/controlnet-canny-sdxl-1.0"} <= listening.controlnets
