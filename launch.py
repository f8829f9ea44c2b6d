"""Start the studio: python launch.py [--model tiny] [--share] ...

The only place that builds objects: parse the arguments, make the engine, the history and the
studio, build the window, launch it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for the signatures: launch.py imports the studio when it runs, not on import
    from studio.access.offered import Offered
    from studio.authorship.credentials import Signing
    from studio.finish.runs import Enlarger
    from studio.formats.hashes import HashCache
    from studio.recipe import Recipe
    from studio.services.loras import Workshop
    from studio.services.maps import MapMaker
    from studio.services.models import Engine
    from studio.session.sessions import Sessions

HERE = Path(__file__).resolve().parent
SHARE_USER = "artist"
READY_LINE = "Press Ctrl+C to stop the studio."


def gpu_list(text: str) -> list[int] | str:
    """--gpus: "all", or GPU numbers such as "0,1" (each once)."""
    if text.strip() == "all":
        return "all"
    try:
        numbers = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give GPU numbers such as 0,1 or 'all'") from None
    if any(number < 0 for number in numbers) or len(set(numbers)) != len(numbers):
        raise argparse.ArgumentTypeError(f"{text!r}: each GPU number once, from 0")
    return numbers


def engine_devices(gpus: list[int] | str | None, available: int) -> list[str]:
    """The device of each engine: one per GPU asked for (--gpus), or the one best device (an empty list)."""
    if gpus is None:
        return []
    if available == 0:
        raise SystemExit("--gpus runs one engine per CUDA GPU, and this machine has none; start without it.")
    numbers = list(range(available)) if isinstance(gpus, str) else gpus  # "all", or the numbers given
    missing = [number for number in numbers if number >= available]
    if missing:
        raise SystemExit(f"--gpus: this machine has GPUs 0 to {available - 1}, not {missing}.")
    return [f"cuda:{number}" for number in numbers]


def cluster_engine(address: str, options: dict) -> Engine:
    """--ray: one engine per GPU of the Ray cluster at `address`, as actors, behind one pool (studio/scale/)."""
    import ray

    from studio.scale.pool import EnginePool
    from studio.scale.ray_engines import ray_engines

    try:
        ray.init(address=address)
    except Exception as error:  # ConnectionError, or Ray's own kinds for an address it cannot use
        raise SystemExit(
            f"--ray {address}: cannot join the cluster ({error}). Start it with `ray start --head`."
        ) from None
    gpus = int(ray.cluster_resources().get("GPU", 0))
    if gpus == 0:
        raise SystemExit(f"--ray {address}: the cluster has no GPUs; start its workers with `ray start --num-gpus=N`.")
    engines = ray_engines(gpus, options)
    return EnginePool(engines, [engine.name for engine in engines])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from studio.recipe import DEFAULT_MODEL

    parser = argparse.ArgumentParser(description="The studio: guide Stable Diffusion instead of rolling dice.")
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="Hugging Face id, local diffusers folder, .safetensors file, or 'tiny' / 'tiny-sdxl' / 'tiny-flux' (built-in test models). "
        f"Default: {DEFAULT_MODEL}",
    )
    parser.add_argument("--port", type=int, default=None, help="port to serve on (default: 7860 or the next free one)")
    parser.add_argument("--listen", action="store_true", help="serve on the local network, not only this computer")
    parser.add_argument("--share", action="store_true", help="also make a temporary public link (password-protected)")
    parser.add_argument(
        "--auth",
        metavar="USER:PASSWORD",
        action="append",
        help="require this login (always on with --share); repeat for several accounts, each with its own sessions",
    )
    parser.add_argument(
        "--api",
        action="store_true",
        help="also serve AUTOMATIC1111's web API (/sdapi/v1/..., docs at /docs) for the tools that speak it",
    )
    parser.add_argument(
        "--api-auth",
        metavar="USER:PASSWORD[,USER:PASSWORD...]",
        action="append",
        help="logins for the API (default: the --auth logins, or the share password)",
    )
    parser.add_argument("--outputs", type=Path, default=HERE / "outputs", help="where sessions are saved")
    parser.add_argument("--loras", type=Path, default=HERE / "loras", help="the LoRA library folder")
    parser.add_argument(
        "--embeddings",
        type=Path,
        default=HERE / "embeddings",
        help="the textual-inversion embeddings folder (used by name in a prompt, as in A1111)",
    )
    parser.add_argument(
        "--ipadapter",
        type=Path,
        default=HERE / "ipadapter",
        help="the IP-Adapter folder for reference pictures (adapter files beside their image_encoder folder)",
    )
    parser.add_argument(
        "--upscalers",
        type=Path,
        default=HERE / "upscalers",
        help="folder of upscaler models (ESRGAN, 4x-UltraSharp, SwinIR, ...; .safetensors or .pth)",
    )
    parser.add_argument(
        "--user-presets", type=Path, default=HERE / "presets" / "user", help="where your own presets are saved"
    )
    parser.add_argument(
        "--signing",
        type=Path,
        default=HERE / "credentials",
        help="where the studio keeps the key it signs exported pictures' Content Credentials with (made on first use)",
    )
    parser.add_argument("--sign-cert", type=Path, default=None, help="your own certificate chain (PEM) to sign with")
    parser.add_argument("--sign-key", type=Path, default=None, help="the private key (PEM) of --sign-cert")
    memory = parser.add_mutually_exclusive_group()
    memory.add_argument(
        "--low-memory",
        action="store_const",
        dest="memory",
        const="low",
        help="keep the model parts not in use on the CPU (SD 1.5 in about 2 GB of GPU memory; a little slower)",
    )
    memory.add_argument(
        "--lowest-memory",
        action="store_const",
        dest="memory",
        const="lowest",
        help="move the model to the GPU one layer at a time (the smallest GPUs; several times slower)",
    )
    parser.add_argument(
        "--fast",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="compile the model for speed (torch.compile, CUDA graphs): on by default where it works (a CUDA GPU); "
        "--no-fast turns it off, --fast also tries it where it only costs (the CPU)",
    )
    parser.add_argument(
        "--flux-base",
        metavar="FOLDER_OR_ID",
        default=None,
        help="a Flux.1 model in diffusers' layout whose text encoders and VAE serve a Flux transformer .safetensors "
        "(default: one found beside the file)",
    )
    parser.add_argument(
        "--gpus",
        type=gpu_list,
        default=None,
        metavar="0,1,…|all",
        help="run one engine per GPU (runs of different sessions in parallel, a grid's cells spread over them)",
    )
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        default=None,
        help="run one engine per GPU of a Ray cluster (e.g. auto, or 10.0.0.5:6379); the window and files stay here",
    )
    parser.add_argument("--allow-pickle", action="store_true", help="allow .ckpt/.pt checkpoints (can run code!)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    parser.add_argument(
        "--cache", type=Path, default=None, help="where built models are kept (default ~/.cache/studio)"
    )
    parser.add_argument(
        "--annotators",
        type=Path,
        default=None,
        help="folder with ControlNet preprocessor weights, e.g. body_pose_model.pth (default <cache>/annotators)",
    )
    args = parser.parse_args(argv)
    if (args.sign_cert is None) != (args.sign_key is None):
        parser.error("--sign-cert and --sign-key go together")
    if args.ray and args.gpus is not None:
        parser.error("--ray and --gpus: a cluster's engines are one per GPU of the cluster; give one or the other")
    from studio.access.login import LoginError, parse_account

    try:
        args.accounts = dict(parse_account(entry) for entry in args.auth or [])
        api_entries = [entry for value in args.api_auth or [] for entry in value.split(",") if entry.strip()]
        args.api_accounts = dict(parse_account(entry.strip()) for entry in api_entries)
    except LoginError as error:
        parser.error(str(error))
    return args


def accounts(args: argparse.Namespace) -> dict[str, str]:
    """The logins to require: --auth, or a fresh strong password when sharing without one."""
    if args.accounts:
        return args.accounts
    if args.share:
        return {SHARE_USER: secrets.token_urlsafe(12)}
    return {}


def offered(args: argparse.Namespace):
    """What a shared studio (--share, --listen) lets requests name: the model it started with, the tiny ones, the
    default ControlNets of both families, the library. None for a local studio, where paths work."""
    if not (args.share or args.listen):
        return None
    from studio.access.offered import Offered
    from studio.control.catalogue import KINDS, TINY_UNION
    from studio.lora_library import list_loras
    from studio.recipe import TINY_FLUX_MODEL, TINY_MODEL, TINY_SDXL_MODEL

    defaults = {model for kind in KINDS.values() for model in (kind.sd15_model, kind.sdxl_model) if model}
    return Offered(
        models=frozenset({args.model, TINY_MODEL, TINY_SDXL_MODEL, TINY_FLUX_MODEL}),
        controlnets=frozenset({TINY_MODEL, TINY_UNION, *defaults}),
        lora_names=lambda: [info.name for info in list_loras(args.loras)],
    )


def file_guard(sessions, outputs: Path) -> dict:
    """FastAPI arguments that keep each account's pictures to itself (with several accounts)."""
    if not sessions.per_account:
        return {}
    from starlette.middleware import Middleware

    from studio.ui.own_files import OwnFilesOnly

    return {"middleware": [Middleware(OwnFilesOnly, outputs=outputs)]}


def serve_api(app, sessions, credentials: dict[str, str]):
    """Serve AUTOMATIC1111's web API beside the window, behind `credentials` (HTTP Basic) when there are any."""
    from studio.engine.memory import memory_report
    from studio.webui.routes import WebUiApi

    api = WebUiApi(sessions, credentials=credentials, memory=memory_report)
    api.mount(app)
    return api


def build_sessions(
    engine: Engine,
    outputs: Path,
    *,
    defaults: Recipe | None = None,
    hashes: HashCache | None = None,
    preset_folders: tuple[Path, Path] | None = None,
    lora_dir: Path | None = None,
    embedding_dir: Path | None = None,
    reference_dir: Path | None = None,
    workshop: Workshop | None = None,
    map_maker: MapMaker | None = None,
    upscalers: Enlarger | None = None,
    per_account: bool = False,
    offered: Offered | None = None,
    signing: Signing | None = None,
) -> Sessions:
    """The app-wide services around `engine`, and the way every caller opens its session in `outputs`.

    Each part is optional but the engine: a studio without a LoRA folder, preprocessors or a signing
    folder still runs the loop, and says so when the missing part is asked for."""
    from studio.control.references import ReferenceLibrary
    from studio.history import HistoryStore
    from studio.services import Services
    from studio.services.authorship import Authorship
    from studio.services.closeness import ClosenessCheck
    from studio.services.embeddings import Embeddings
    from studio.services.loras import Loras
    from studio.services.maps import Maps
    from studio.services.models import Models
    from studio.services.presets import PresetShelf
    from studio.session.sessions import Sessions

    loras = Loras(lora_dir, workshop=workshop, hashes=hashes, offered=offered)
    services = Services(
        models=Models(engine, defaults=defaults, upscalers=upscalers, offered=offered),
        presets=PresetShelf(preset_folders),
        loras=loras,
        embeddings=Embeddings(embedding_dir, hashes=hashes),
        references=ReferenceLibrary(reference_dir),
        maps=Maps(map_maker),
        authorship=Authorship(signing, trained_on=loras.trained_on),
        closeness=ClosenessCheck(offered),
        hashes=hashes,
        offered=offered,
    )
    return Sessions(HistoryStore(outputs), services, per_account=per_account)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # a desktop app does not phone home

    import torch

    from studio.access.login import LoginGuard
    from studio.authorship.credentials import Signing
    from studio.engine.annotators import Preprocessors
    from studio.engine.factory import make_engine
    from studio.engine.models import DeviceSettings, MemoryMode, default_cache_dir
    from studio.engine.upscalers import Upscalers
    from studio.errors import ModelError
    from studio.formats.hashes import HashCache
    from studio.recipe import Recipe
    from studio.scale.pool import EnginePool
    from studio.sizes import default_size, defaults_for
    from studio.train.workshop import LoraWorkshop
    from studio.ui.app import build_ui

    settings = DeviceSettings.best_available(memory=MemoryMode(args.memory or MemoryMode.NORMAL))
    devices = engine_devices(args.gpus, torch.cuda.device_count() if settings.kind == "cuda" else 0)
    every = [DeviceSettings(device, settings.dtype, settings.memory) for device in devices] or [settings]
    cache_dir = args.cache or default_cache_dir()
    upscalers = Upscalers(args.upscalers, settings.device)
    options = {
        "cache_dir": cache_dir,
        "allow_pickle": args.allow_pickle,
        "lora_dir": args.loras,
        "embedding_dir": args.embeddings,
        "reference_dir": args.ipadapter,
        "fast": args.fast,
        "flux_base": args.flux_base,
    }
    workshop = None  # a cluster's studio trains no LoRA: its engines are elsewhere (the Train tab says so)
    if args.ray:
        engine: Engine = cluster_engine(args.ray, options)
    else:
        engines = [make_engine(settings=each, upscalers=upscalers, **options) for each in every]
        workshop = LoraWorkshop(engines[0])  # training holds the first engine's lane
        # Several GPUs: one engine each, behind a pool the studio talks to as to one engine (studio/scale/pool.py).
        engine = engines[0] if len(engines) == 1 else EnginePool(engines, [each.device for each in every])
    notice = None
    print(f"Loading {args.model} on {settings.device}…", flush=True)
    try:
        engine.load(args.model)
    except ModelError as error:
        notice = (
            f"**The model could not be loaded.** {error}\n\n"
            "Open **Model** on the left to load another one, or press **Tiny SD 1.5** or **Tiny SDXL** there to try "
            "the loop."
        )
        print(f"\nWARNING: {error}\nThe studio starts anyway; load a model from its Model panel.\n", flush=True)

    width, height = default_size(engine.family)  # new recipes start at the loaded family's native size
    sessions = build_sessions(
        engine,
        args.outputs,
        defaults=Recipe(model=args.model, width=width, height=height, **vars(defaults_for(engine.family))),
        hashes=HashCache(cache_dir / "hashes.json"),
        preset_folders=(HERE / "presets", args.user_presets),
        lora_dir=args.loras,
        embedding_dir=args.embeddings,
        reference_dir=args.ipadapter,
        workshop=workshop,
        map_maker=Preprocessors(args.annotators or cache_dir / "annotators"),
        upscalers=upscalers,
        # Several accounts: each one's sessions are its own, and only it is served their pictures.
        per_account=len(args.accounts) > 1,
        offered=offered(args),
        signing=Signing(args.signing, certificate=args.sign_cert, key=args.sign_key),
    )
    if engine.model is not None:
        # Compiles (or loads from the disk cache) the fast path's kernels while the window opens; a run
        # asked for meanwhile waits its turn in the lane. Nothing to do when the studio runs eagerly.
        threading.Thread(
            target=engine.warm_up, args=(sessions.services.models.defaults,), name="studio-warm-up", daemon=True
        ).start()
    print(f"Speed: {engine.speed}", flush=True)
    window = build_ui(sessions, notice=notice)
    credentials = accounts(args)
    window.blocks.queue(default_concurrency_limit=4)
    app, local_url, share_url = window.blocks.launch(
        server_name="0.0.0.0" if args.listen else "127.0.0.1",
        server_port=args.port,
        share=args.share,
        auth=LoginGuard(credentials).check if credentials else None,
        auth_message="This studio is password-protected.",
        inbrowser=not args.no_browser,
        prevent_thread_lock=True,
        allowed_paths=[str(args.outputs.resolve())],
        app_kwargs=file_guard(sessions, args.outputs),
        theme=window.theme,
        css=window.css,
        head=window.head,
        footer_links=["api"],
        quiet=True,
    )
    if args.api:
        # A share link reaches the API too: it always has a password there (the share login at least).
        serve_api(app, sessions, args.api_accounts or credentials)
    print(f"\nThe studio is running at {local_url}", flush=True)
    if args.api:
        print(f"A1111 API: {local_url.rstrip('/')}/sdapi/v1/  (endpoints: {local_url.rstrip('/')}/docs)", flush=True)
    print(f"Pictures and history are saved in {args.outputs.resolve()}", flush=True)
    if args.share:
        if share_url:
            print(f"Public link (valid about a week): {share_url}", flush=True)
        else:
            print("No public link could be made (no network?). The studio runs locally as usual.", flush=True)
    if credentials and not args.accounts:
        ((user, password),) = credentials.items()
        print(f"Login  user: {user}   password: {password}", flush=True)
    if args.listen and not credentials:
        print("Note: --listen without --auth lets anyone on your network use the studio.", flush=True)
    print(READY_LINE, flush=True)
    try:
        window.blocks.block_thread()
    except KeyboardInterrupt:
        print("\nBye. Everything you made is in", args.outputs.resolve(), file=sys.stderr)


if __name__ == "__main__":
    main()
