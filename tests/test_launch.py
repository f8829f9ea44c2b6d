"""`python launch.py` as a user runs it: a share link offline, the password, a missing model."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import webuiapi
from gradio_client import Client

from launch import READY_LINE

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Launched:
    def __init__(self, process: subprocess.Popen, lines: list[str]) -> None:
        self.process, self.lines = process, lines

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def launch(tmp_path: Path, model_cache: Path, *args: str) -> Launched:
    command = [
        sys.executable,
        "launch.py",
        "--no-browser",
        "--port",
        str(free_port()),
        "--outputs",
        str(tmp_path / "outputs"),
    ]
    command += ["--cache", str(model_cache), *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:
            lines.append(line.rstrip())
            if line.startswith(READY_LINE):
                ready.set()  # every startup line (the link, the login) is printed before this one
        ready.set()  # the process ended

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(timeout=120) or process.poll() is not None:
        process.kill()
        raise AssertionError("the studio did not start:\n" + "\n".join(lines))
    return Launched(process, lines)


@pytest.fixture
def started():
    running: list[Launched] = []
    yield running
    for launched in running:
        launched.process.terminate()
        launched.process.wait(timeout=20)


def url_of(launched: Launched) -> str:
    return re.search(r"running at (\S+)", launched.text).group(1)


def test_share_offline_keeps_the_local_studio_up_behind_a_password(tmp_path, model_cache, started):
    launched = launch(tmp_path, model_cache, "--model", "tiny-sdxl", "--share", "--api")
    started.append(launched)
    assert "No public link could be made" in launched.text
    login = re.search(r"Login\s+user: (\S+)\s+password: (\S+)", launched.text)
    assert login, launched.text
    user, password = login.groups()
    assert len(password) >= 16

    url = url_of(launched)
    assert launched.process.poll() is None
    # Without the password nothing but the login page is served.
    assert httpx.get(f"{url}config").status_code == 401
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do
        Client(url, verbose=False)
    assert httpx.post(f"{url}login", data={"username": user, "password": "wrong"}).status_code in (400, 401)
    started_at = time.monotonic()
    assert httpx.post(f"{url}login", data={"username": user, "password": "wrong"}).status_code in (400, 401)
    assert time.monotonic() - started_at >= 0.9  # the second wrong password in a row waits twice as long
    # An SDXL model starts the form at SDXL's native size.
    with httpx.Client() as browser:
        browser.post(f"{url}login", data={"username": user, "password": password})
        components = {c["props"].get("elem_id"): c["props"] for c in browser.get(f"{url}config").json()["components"]}
    assert (components["width"]["value"], components["height"]["value"]) == (1024, 1024)
    assert "tiny-sdxl` · SDXL" in components["model-status"]["value"]
    client = Client(url, auth=(user, password), verbose=False)
    node, pictures = client.predict(
        {"prompt": "behind a password", "steps": 2, "width": 64, "height": 64}, api_name="/generate"
    )
    assert node["id"] == "00001" and len(pictures) == 1

    # The A1111 API (--api) is behind the same password: a share link never serves it without one.
    api = f"{url}sdapi/v1/"
    assert httpx.get(f"{api}sd-models").status_code == 401
    assert httpx.post(f"{api}txt2img", json={"prompt": "x"}).status_code == 401
    assert httpx.get(f"{api}sd-models", auth=(user, "wrong")).status_code == 401
    assert httpx.get(f"{api}options", auth=(user, password)).json()["sd_model_checkpoint"] == "tiny-sdxl"
    host, port = url.split("//")[1].rstrip("/").split(":")
    result = webuiapi.WebUIApi(host=host, port=int(port), username=user, password=password).txt2img(
        prompt="through the API", seed=3, steps=2, width=64, height=64
    )
    assert result.image.size == (64, 64) and result.info["studio_session"] == "API"


def test_a_model_that_cannot_be_had_still_starts_the_studio_with_advice_and_auth_is_kept(
    tmp_path, model_cache, started
):
    launched = launch(
        tmp_path,
        model_cache,
        "--model",
        "stable-diffusion-v1-5/stable-diffusion-v1-5",
        "--auth",
        "painter:secret-brush",
    )
    started.append(launched)
    assert "WARNING:" in launched.text and "--model tiny" in launched.text
    assert "password:" not in launched.text  # the artist chose it; it is not printed
    url = url_of(launched)
    # Without --api there is no A1111 API, as in A1111: not even behind the password.
    assert httpx.get(f"{url}sdapi/v1/sd-models", auth=("painter", "secret-brush")).status_code == 404
    assert httpx.post(f"{url}sdapi/v1/txt2img", json={"prompt": "x"}).status_code == 404
    assert httpx.get(f"{url}docs").status_code == 404
    assert httpx.get(f"{url}config").status_code == 401
    with httpx.Client() as browser:
        browser.post(f"{url}login", data={"username": "painter", "password": "secret-brush"})
        config = browser.get(f"{url}config").json()
    notices = [c["props"].get("value") for c in config["components"] if c["props"].get("elem_id") == "notice"]
    assert notices and "could not be loaded" in notices[0] and "Tiny SDXL" in notices[0]
    client = Client(url, auth=("painter", "secret-brush"), verbose=False)
    assert client.predict(api_name="/history")["nodes"] == []
    # Generating with the missing model says what to do; the studio keeps serving.
    with pytest.raises(Exception, match="not in the local Hugging Face cache"):
        client.predict({"prompt": "x"}, api_name="/generate")
    node, _ = client.predict(
        {"prompt": "x", "model": "tiny", "steps": 2, "width": 64, "height": 64}, api_name="/generate"
    )
    assert node["recipe"]["model"] == "tiny"
