"""The A1111 web API served beside the window: `/sdapi/v1/...` and sd-webui-controlnet's `/controlnet/...`.

Handlers read a request, let `translate` make it recipes, and run them through the same Session calls as the window, in
the API's session ("API", or the one the `X-Studio-Session` header names), so every picture lands in
the history. Each batch holds the studio's one GPU lane, as the window's runs do.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations, some of them local.

import logging
import random
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import fastapi_offline
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from fastapi.staticfiles import StaticFiles

from studio.errors import GenerationStopped, InputError, answer_for, bug_line
from studio.formats import a1111, png_text
from studio.history import Iteration
from studio.recipe import (
    HIRES_UPSCALERS,
    SAMPLERS,
    SCHEDULERS,
    TINY_FLUX_MODEL,
    TINY_MODEL,
    TINY_SDXL_MODEL,
    Mode,
    Recipe,
)
from studio.services.presets import STYLE
from studio.session.session import Session
from studio.session.sessions import Sessions
from studio.webui import controlnet, scripts, translate
from studio.webui.fields import DetectRequest, Img2ImgRequest, PngInfoRequest, ProcessingRequest, Txt2ImgRequest
from studio.webui.jobs import Job, Jobs
from studio.webui.pictures import decode_picture, encode_file, encode_picture

API_SESSION = "API"
SESSION_HEADER = "X-Studio-Session"
DOCS_ASSETS = "/docs-assets"
SCHEMA = "/sdapi/openapi.json"  # the API's own endpoints, not the window's
_SWAGGER_FILES = Path(fastapi_offline.__file__).parent / "static"
_BASIC = HTTPBasic(auto_error=False)
logger = logging.getLogger("studio")
SessionId = Annotated[str | None, Header(alias=SESSION_HEADER)]


class WebUiApi:
    """The API's state: its options (model, clip skip), its jobs, and the studio it runs on."""

    def __init__(
        self,
        sessions: Sessions,
        *,
        credentials: Mapping[str, str] | None = None,
        memory: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.sessions = sessions
        services = sessions.services
        self.credentials = dict(credentials or {})
        self.memory = memory or (lambda: {"ram": {}, "cuda": {"error": "unknown"}})
        self.jobs = Jobs(services.models.stop)
        self.settings = translate.Settings(checkpoint=services.models.model or services.models.defaults.model)
        self._settings_lock = threading.Lock()
        self._rng = random.SystemRandom()

    def mount(self, app: FastAPI) -> None:
        """Add the routes to the window's app (guarded by HTTP Basic when the studio has logins), and /docs."""
        app.include_router(self.router())
        # FastAPI's docs page, with Swagger UI served from here: an offline studio reaches no CDN.
        app.mount(DOCS_ASSETS, StaticFiles(directory=str(_SWAGGER_FILES)), name="docs-assets")

    def router(self) -> APIRouter:
        def user(credentials: Annotated[HTTPBasicCredentials | None, Depends(_BASIC)]) -> str | None:
            return self._login(credentials) if self.credentials else None

        router = APIRouter(dependencies=[Depends(user)])
        sd = "/sdapi/v1"
        post, get = router.post, router.get

        @post(f"{sd}/txt2img", tags=["generation"])
        def txt2img(
            request: Txt2ImgRequest, account: Annotated[str | None, Depends(user)], session: SessionId = None
        ) -> dict[str, Any]:
            """A1111's txt2img. The pictures are nodes of the API's session, as the window's are of its own."""
            return self.txt2img(request, self._view(session, account))

        @post(f"{sd}/img2img", tags=["generation"])
        def img2img(
            request: Img2ImgRequest, account: Annotated[str | None, Depends(user)], session: SessionId = None
        ) -> dict[str, Any]:
            """A1111's img2img; with a mask, an inpaint: outside the mask the picture comes back pixel for pixel."""
            return self.img2img(request, self._view(session, account))

        get(f"{sd}/progress", tags=["generation"])(self.progress)
        post(f"{sd}/interrupt", tags=["generation"])(self.interrupt)
        post(f"{sd}/skip", tags=["generation"])(self.skip)
        get(f"{sd}/options", tags=["settings"])(self.get_options)
        post(f"{sd}/options", tags=["settings"])(self.set_options)
        get(f"{sd}/sd-models", tags=["lists"])(self.sd_models)
        post(f"{sd}/refresh-checkpoints", tags=["lists"])(_nothing_to_refresh)
        get(f"{sd}/samplers", tags=["lists"])(_samplers)
        get(f"{sd}/schedulers", tags=["lists"])(_schedulers)
        get(f"{sd}/loras", tags=["lists"])(self.loras)
        post(f"{sd}/refresh-loras", tags=["lists"])(_nothing_to_refresh)
        get(f"{sd}/embeddings", tags=["lists"])(self.embeddings)
        post(f"{sd}/refresh-embeddings", tags=["lists"])(_nothing_to_refresh)
        get(f"{sd}/upscalers", tags=["lists"])(self.upscalers)
        get(f"{sd}/latent-upscale-modes", tags=["lists"])(_latent_upscale_modes)
        get(f"{sd}/prompt-styles", tags=["lists"])(self.prompt_styles)
        get(f"{sd}/scripts", tags=["lists"])(_scripts)
        post(f"{sd}/png-info", tags=["pictures"])(self.png_info)
        get(f"{sd}/memory", tags=["settings"])(self.get_memory)
        get("/docs", include_in_schema=False)(self.docs)
        get(SCHEMA, include_in_schema=False)(lambda: schema(router))
        get("/controlnet/version", tags=["controlnet"])(_controlnet_version)
        get("/controlnet/model_list", tags=["controlnet"])(self.controlnet_models)
        get("/controlnet/module_list", tags=["controlnet"])(_controlnet_modules)
        post("/controlnet/detect", tags=["controlnet"])(self.controlnet_detect)
        return router

    def docs(self) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=SCHEMA,
            title="The studio: AUTOMATIC1111 API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )

    def _login(self, credentials: HTTPBasicCredentials | None) -> str:
        if credentials is not None:
            password = self.credentials.get(credentials.username)
            if password is not None and secrets.compare_digest(credentials.password, password):
                return credentials.username
        raise HTTPException(401, "Incorrect username or password", headers={"WWW-Authenticate": "Basic"})

    # --- generation ------------------------------------------------------------------------------

    def txt2img(self, request: Txt2ImgRequest, view: Session) -> dict[str, Any]:
        with _answers():
            script = scripts.read_script(request, img2img=False, rng=self._rng)
            run = translate.txt2img_run(request, self.settings, self._facts(view), self._rng)
            if script is not None:
                return self._script(view, request, run, script)
            nodes = self._run(view, "txt2img", run)
            self._keep_overrides(request)
        return self._answer(view, request, nodes, request.model_dump())

    def _script(
        self,
        view: Session,
        request: Txt2ImgRequest,
        run: translate.Run,
        script: scripts.XyzPlot | scripts.PromptsFromText,
    ) -> dict[str, Any]:
        """An X/Y/Z plot or a batch of prompts: the cells spread over every engine, `progress` counting them.
        The answer holds the grid picture (and the cells' with include_lone_images), or every line's pictures."""
        if run.control_images:
            raise InputError("script_name: ControlNet units and reference pictures do not run with a script here")
        owner = str(view.history.folder)
        job = self.jobs.start("txt2img", 1, owner=owner)
        nodes, board = [], None
        try:
            on_cell = lambda done, total: self.jobs.cells_done(job, done, total)  # noqa: E731
            if isinstance(script, scripts.XyzPlot):
                grid = view.grid(run.recipes[0], script.axes, on_cell=on_cell)
                nodes, board = grid.nodes, grid.picture
            else:
                random_lines = request.seed == -1 and not (script.iterate_seed or script.same_seed)
                base = run.recipes[0].replace(seed=-1) if random_lines else run.recipes[0]
                step = request.batch_size if script.iterate_seed else 0
                nodes = view.prompts(base, script.text, on_cell=on_cell, position=script.position, seed_step=step)
        except GenerationStopped:
            pass  # interrupted before a cell finished: the answer holds nothing, as A1111's would
        finally:
            self.jobs.finish(job)
        self._keep_overrides(request)
        lone = not isinstance(script, scripts.XyzPlot) or script.include_lone_images or board is None
        return self._answer(view, request, nodes, request.model_dump(), board=board, shown=lone)

    def img2img(self, request: Img2ImgRequest, view: Session) -> dict[str, Any]:
        with _answers():
            scripts.read_script(request, img2img=True, rng=self._rng)  # refuses a script by name
            run = translate.img2img_run(request, self.settings, self._facts(view), self._rng)
            nodes = self._run(view, "img2img", run)
            self._keep_overrides(request)
        echoed = request.model_dump()
        if not request.include_init_images:
            echoed |= {"init_images": None, "mask": None}
        return self._answer(view, request, nodes, echoed)

    def _keep_overrides(self, request: ProcessingRequest) -> None:
        with self._settings_lock:
            self.settings = translate.kept_settings(request, self.settings)

    def _view(self, session: str | None, account: str | None) -> Session:
        with _answers():
            return self.sessions.open((session or "").strip() or API_SESSION, account=account)

    def _facts(self, view: Session) -> translate.StudioFacts:
        return translate.StudioFacts(
            family=view.services.models.family,
            upscalers=tuple(name for name in view.services.models.upscaler_names() if name not in HIRES_UPSCALERS),
            make_map=view.services.maps.control_map,
        )

    def _run(self, view: Session, name: str, run: translate.Run) -> list[Iteration]:
        """Each batch in turn; `skip` drops the batch stepping now, `interrupt` ends the job with what is done."""
        job = self.jobs.start(name, len(run.recipes))
        nodes = []
        try:
            for number, recipe in enumerate(run.recipes):
                if job.interrupted:
                    break
                self.jobs.batch_started(job, number)
                try:
                    nodes.append(self._batch(view, run, recipe, job))
                except GenerationStopped:
                    if job.skipped and not job.interrupted:
                        continue
                    break  # interrupted, or stopped from the window: the answer holds what was made
                finally:
                    self.jobs.batch_ended(job)
        finally:
            self.jobs.finish(job)
        return nodes

    def _batch(self, view: Session, run: translate.Run, recipe: Recipe, job: Job) -> Iteration:
        def on_step(progress):
            self.jobs.stepped(job, progress)

        controls = run.control_images
        if run.mode is Mode.TXT2IMG:
            return view.generate(recipe, control_images=controls, on_step=on_step)
        assert run.image is not None  # img2img_run refused a request without a picture
        if run.mode is Mode.IMG2IMG:
            return view.repaint(run.image, recipe, control_images=controls, on_step=on_step)
        assert run.mask is not None
        return view.inpaint(run.image, run.mask, recipe, control_images=controls, on_step=on_step)

    def _answer(
        self,
        view: Session,
        request,
        nodes: list[Iteration],
        echoed: dict,
        board: Path | None = None,
        shown: bool = True,
    ) -> dict:
        """A1111's answer: the pictures (a grid's first, as A1111 puts it; the nodes' unless not `shown`), their
        parameters and `info`, which names every node made."""
        files = ([board] if board else []) + [view.history.path(n) for node in nodes if shown for n in node.outputs]
        infotexts = [png_text.read_texts(path).get(png_text.PARAMETERS_KEY, "") for path in files]
        info = translate.info_json(
            request, [node.recipe for node in nodes], infotexts, session=view.history.id, nodes=[n.id for n in nodes]
        )
        images = [encode_file(path) for path in files] if request.send_images else []
        return {"images": images, "parameters": echoed, "info": info}

    def progress(self, skip_current_image: bool = False) -> dict[str, Any]:
        """How far the API's job holding the lane (or next in line) is, with its preview and A1111's ETA."""
        job, done, eta = self.jobs.progress()
        state = {
            "skipped": bool(job and job.skipped),
            "interrupted": bool(job and job.interrupted),
            "job": job.name if job else "",
            "job_count": job.batches if job else 0,
            "job_timestamp": job.timestamp if job else "0",
            "job_no": job.batch if job else 0,
            "sampling_step": job.step if job else 0,
            "sampling_steps": job.steps if job else 0,
        }
        preview = None
        if job is not None and job.preview is not None and not skip_current_image:
            preview = encode_picture(job.preview)
        return {"progress": done, "eta_relative": eta, "state": state, "current_image": preview, "textinfo": None}

    def interrupt(self) -> None:
        self.jobs.interrupt()

    def skip(self) -> None:
        self.jobs.skip()

    # --- settings ----------------------------------------------------------------------------------

    def get_options(self) -> dict[str, Any]:
        return {
            "sd_model_checkpoint": self.settings.checkpoint,
            "CLIP_stop_at_last_layers": self.settings.clip_skip,
            "samples_format": "png",
            "sd_vae": "Automatic",
        }

    def set_options(self, options: dict[str, Any]) -> None:
        """Set the API's model (loaded now, so a bad name fails here) and clip skip; the window keeps its own."""
        with _answers():
            changes: dict[str, Any] = {}
            if translate.CLIP_SKIP in options:
                clip_skip = options[translate.CLIP_SKIP]
                Recipe(clip_skip=clip_skip)  # refuses a value out of bounds, naming the field
                changes["clip_skip"] = clip_skip
            if options.get(translate.CHECKPOINT):
                model = self._model_named(str(options[translate.CHECKPOINT]))
                self.sessions.services.models.prepare(model)
                changes["checkpoint"] = model
            with self._settings_lock:
                self.settings = replace(self.settings, **changes)

    def _model_named(self, name: str) -> str:
        """A title from sd-models (or any model the studio can load: a Hugging Face id, a folder, a file)."""
        for entry in self.sd_models():
            if name in (entry["title"], entry["model_name"]):
                return entry["filename"]
        return name

    def sd_models(self) -> list[dict[str, Any]]:
        offered = self.sessions.services.offered
        names = sorted(offered.models) if offered is not None else [
            self.settings.checkpoint, self.sessions.services.models.defaults.model, TINY_MODEL, TINY_SDXL_MODEL,
            TINY_FLUX_MODEL,
        ]  # fmt: skip
        unique = list(dict.fromkeys(names))
        return [
            {"title": name, "model_name": name, "hash": None, "sha256": None, "filename": name, "config": None}
            for name in unique
        ]

    def loras(self) -> list[dict[str, Any]]:
        shared = self.sessions.services.offered is not None  # a shared studio names no paths of this computer
        return [
            {
                "name": info.name,
                "alias": info.name,
                "path": info.name if shared else str(info.path),
                "metadata": {"ss_base_model_version": info.base, "trigger_words": list(info.trigger_words)},
            }
            for info in self.sessions.services.loras.all()
        ]

    def embeddings(self) -> dict[str, dict[str, Any]]:
        """A1111's answer: the loaded model's family's embeddings as `loaded`, every other one as `skipped`."""
        family = self.sessions.services.models.family
        answer: dict[str, dict[str, Any]] = {"loaded": {}, "skipped": {}}
        for info in self.sessions.services.embeddings.all():
            entry = {
                "step": None,
                "sd_checkpoint": None,
                "sd_checkpoint_name": None,
                "shape": info.width,
                "vectors": info.vectors,
            }
            answer["loaded" if family is not None and info.family == family else "skipped"][info.name] = entry
        return answer

    def upscalers(self) -> list[dict[str, Any]]:
        return [
            {"name": name, "model_name": None, "model_path": None, "model_url": None, "scale": None}
            for name in ("None", *self.sessions.services.models.upscaler_names())
        ]

    def prompt_styles(self) -> list[dict[str, Any]]:
        presets, _ = self.sessions.services.presets.all()
        return [
            {
                "name": preset.name,
                "prompt": preset.settings.get("prompt_template", ""),
                "negative_prompt": preset.settings.get("negative_prompt", ""),
            }
            for preset in presets
            if preset.kind == STYLE
        ]

    def png_info(self, request: PngInfoRequest) -> dict[str, Any]:
        """The picture's `parameters` text, its other text chunks, and the parameters taken apart."""
        with _answers():
            picture = decode_picture(request.image, "image")
            texts = {key: value for key, value in picture.info.items() if isinstance(value, str)}
            parameters = texts.pop(png_text.PARAMETERS_KEY, "")
            parsed: dict[str, Any] = {}
            if parameters:
                fields = a1111.parse_parameters(parameters)
                parsed = {"Prompt": fields.prompt, "Negative prompt": fields.negative_prompt, **fields.fields}
                if "Size" in parsed and "x" in parsed["Size"]:
                    parsed["Size-1"], parsed["Size-2"] = parsed["Size"].split("x", 1)
        return {"info": parameters, "items": texts, "parameters": parsed}

    def get_memory(self) -> dict[str, Any]:
        return self.memory()

    # --- ControlNet ------------------------------------------------------------------------------

    def controlnet_models(self) -> dict[str, list[str]]:
        return {"model_list": controlnet.model_list(self.settings.checkpoint, self.sessions.services.models.family)}

    def controlnet_detect(self, request: DetectRequest) -> dict[str, Any]:
        """The control map a module makes of each picture, as sd-webui-controlnet's detect returns them."""
        with _answers():
            module = controlnet.preprocessor_of(request.controlnet_module, "controlnet_module")
            settings = controlnet.thresholds(module, request.controlnet_threshold_a, request.controlnet_threshold_b)
            maps = []
            for index, text in enumerate(request.controlnet_input_images or request.controlnet_images):
                picture = decode_picture(text, f"controlnet_input_images[{index}]").convert("RGB")
                made = (
                    picture if module == "none" else self.sessions.services.maps.control_map(module, picture, settings)
                )
                maps.append(encode_picture(made))
        return {"images": maps, "info": "Success"}


@contextmanager
def _answers() -> Iterator[None]:
    """The studio's errors as HTTP answers, by the one table (studio/errors.py): each `StudioError` with its
    kind's status and its own words; anything else is our bug, a 500 that says so, its traceback in the log."""
    try:
        yield
    except HTTPException:
        raise
    except Exception as error:
        answer = answer_for(error)
        if answer is None:
            logger.error("%s", bug_line(error), exc_info=error)
            raise HTTPException(500, bug_line(error)) from None
        logger.warning("%s: %s", answer.title, error)
        raise HTTPException(answer.status, str(error)) from None


def schema(router: APIRouter) -> dict[str, Any]:
    """The OpenAPI description of the API's routes alone, for /docs."""
    description = (
        "AUTOMATIC1111's web API, served by the studio. Every picture made here is a node of the studio's history, "
        f"in the session `{API_SESSION}` or the one the `{SESSION_HEADER}` header names. See the README for what is "
        "supported."
    )
    return get_openapi(
        title="The studio: AUTOMATIC1111 API", version="1", description=description, routes=router.routes
    )


def _nothing_to_refresh() -> None:
    """The studio reads its lists afresh on every request: there is nothing to refresh."""


def _samplers() -> list[dict[str, Any]]:
    return [{"name": name, "aliases": [], "options": {}} for name in SAMPLERS]


def _schedulers() -> list[dict[str, Any]]:
    labels = {label: name for name, label in translate.SCHEDULER_NAMES.items()}
    return [
        {"name": labels[label], "label": label, "aliases": None, "default_rho": None, "need_inner_model": None}
        for label in SCHEDULERS
    ]


def _latent_upscale_modes() -> list[dict[str, str]]:
    return [{"name": name} for name in HIRES_UPSCALERS if name.startswith("Latent")]


def _scripts() -> dict[str, list[str]]:
    return {"txt2img": [*scripts.SCRIPT_NAMES, controlnet.SCRIPT_NAME], "img2img": [controlnet.SCRIPT_NAME]}


def _controlnet_version() -> dict[str, int]:
    return {"version": 2}


def _controlnet_modules() -> dict[str, Any]:
    return {"module_list": controlnet.module_list(), "module_detail": {}}
