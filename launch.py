"""Start the studio: python launch.py [--model tiny] [--share] ...

The only place that builds objects: parse the arguments, make the engine, the history and the
studio, build the window, launch it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARE_USER = "artist"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from studio.recipe import DEFAULT_MODEL

    parser = argparse.ArgumentParser(description="The studio: guide Stable Diffusion instead of rolling dice.")
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="Hugging Face id, local diffusers folder, .safetensors file, or 'tiny' (built-in test model). "
        f"Default: {DEFAULT_MODEL}",
    )
    parser.add_argument("--port", type=int, default=None, help="port to serve on (default: 7860 or the next free one)")
    parser.add_argument("--listen", action="store_true", help="serve on the local network, not only this computer")
    parser.add_argument("--share", action="store_true", help="also make a temporary public link (password-protected)")
    parser.add_argument("--auth", metavar="USER:PASSWORD", help="require this login (always on with --share)")
    parser.add_argument("--outputs", type=Path, default=HERE / "outputs", help="where sessions are saved")
    parser.add_argument("--loras", type=Path, default=HERE / "loras", help="the LoRA library folder")
    parser.add_argument(
        "--user-presets", type=Path, default=HERE / "presets" / "user", help="where your own presets are saved"
    )
    parser.add_argument("--low-memory", action="store_true", help="keep idle model parts on the CPU (small GPUs)")
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
    if args.auth and ":" not in args.auth:
        parser.error("--auth takes USER:PASSWORD")
    return args


def login(args: argparse.Namespace) -> tuple[str, str] | None:
    """The login to require: --auth, or a fresh strong password when sharing without one."""
    if args.auth:
        user, password = args.auth.split(":", 1)
        return user, password
    if args.share:
        return SHARE_USER, secrets.token_urlsafe(12)
    return None


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # a desktop app does not phone home

    from studio.control.preprocessors import Preprocessors
    from studio.engine.factory import make_engine
    from studio.engine.models import DeviceSettings, default_cache_dir
    from studio.errors import ModelError
    from studio.hashes import HashCache
    from studio.history import HistoryStore
    from studio.recipe import Recipe
    from studio.studio import Studio
    from studio.train.workshop import LoraWorkshop
    from studio.ui.app import build_ui

    settings = DeviceSettings.best_available(low_memory=args.low_memory)
    cache_dir = args.cache or default_cache_dir()
    engine = make_engine(cache_dir=cache_dir, settings=settings, allow_pickle=args.allow_pickle, lora_dir=args.loras)
    notice = None
    print(f"Loading {args.model} on {settings.device}…", flush=True)
    try:
        engine.load(args.model)
    except ModelError as error:
        notice = (
            f"**The model could not be loaded.** {error}\n\n"
            "Open **Model** on the left to load another one, or press **Use the tiny test model** to try the loop."
        )
        print(f"\nWARNING: {error}\nThe studio starts anyway; load a model from its Model panel.\n", flush=True)

    studio = Studio(
        engine,
        HistoryStore(args.outputs),
        defaults=Recipe(model=args.model),
        hashes=HashCache(cache_dir / "hashes.json"),
        preset_folders=(HERE / "presets", args.user_presets),
        lora_dir=args.loras,
        workshop=LoraWorkshop(engine),
        map_maker=Preprocessors(args.annotators or cache_dir / "annotators"),
    )
    window = build_ui(studio, notice=notice)
    credentials = login(args)
    window.blocks.queue(default_concurrency_limit=4)
    _, local_url, share_url = window.blocks.launch(
        server_name="0.0.0.0" if args.listen else "127.0.0.1",
        server_port=args.port,
        share=args.share,
        auth=credentials,
        auth_message="This studio is password-protected.",
        inbrowser=not args.no_browser,
        prevent_thread_lock=True,
        allowed_paths=[str(args.outputs.resolve())],
        theme=window.theme,
        css=window.css,
        footer_links=["api"],
        quiet=True,
    )
    print(f"\nThe studio is running at {local_url}", flush=True)
    print(f"Pictures and history are saved in {args.outputs.resolve() / studio.session.id}", flush=True)
    if args.share:
        if share_url:
            print(f"Public link (valid about a week): {share_url}", flush=True)
        else:
            print("No public link could be made (no network?). The studio runs locally as usual.", flush=True)
    if credentials and not args.auth:
        print(f"Login  user: {credentials[0]}   password: {credentials[1]}", flush=True)
    if args.listen and not credentials:
        print("Note: --listen without --auth lets anyone on your network use the studio.", flush=True)
    try:
        window.blocks.block_thread()
    except KeyboardInterrupt:
        print("\nBye. Everything you made is in", args.outputs.resolve(), file=sys.stderr)


if __name__ == "__main__":
    main()
