"""Upscaler models (ESRGAN, Real-ESRGAN, SwinIR, 4x-UltraSharp, ...) from the upscalers folder, run in tiles.

spandrel reads the file and recognises the architecture: `.safetensors` as plain tensors, `.pth` and
`.pt` through its restricted unpickler (tensors and plain containers only, no code), so an upscaler
file needs no --allow-pickle. The picture is cut into tiles, each read with a margin of context (see
studio/finish/upscaling.py), so a 4x upscale of a 1024 pixel picture stays within a few hundred MB on any device.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from studio.errors import GenerationStopped, InputError
from studio.finish.upscaling import lanczos, model_tiles, upscaled_size
from studio.recipe import LANCZOS, UPSCALER_SUFFIXES

# Context each tile reads beyond its edges: more than the reach of the ESRGAN family's convolutions.
TILE_MARGIN = 32
MAX_MODEL_PASSES = 3  # a 2x model reaches 4x in two passes, as A1111 repeats it
TileCallback = Callable[[int, int], None]  # (tiles done, tiles in all)


class UpscalerError(InputError):
    """An upscaler file is missing, unreadable or not an upscaler. The message says what to do."""


class Upscalers:
    """Lists and runs the upscalers: Lanczos, and the model files in `folder`. Keeps the last model loaded."""

    def __init__(self, folder: Path | None, device: str = "cpu") -> None:
        self.folder = folder
        self.device = device
        self._loaded: tuple[str, object] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def names(self) -> list[str]:
        """Lanczos first, then the model files in the folder, by name."""
        files = []
        if self.folder is not None and self.folder.is_dir():
            files = sorted(p.name for p in self.folder.iterdir() if p.is_file() and p.suffix in UPSCALER_SUFFIXES)
        return [LANCZOS, *files]

    def request_stop(self) -> None:
        self._stop.set()

    def check(self, name: str) -> None:
        """UpscalerError, saying what to do, when `name` is neither Lanczos nor a file in the folder."""
        if name != LANCZOS:
            self._path(name)

    def upscale(
        self,
        picture: Image.Image,
        upscaler: str,
        factor: float,
        *,
        tile: int = 256,
        on_tile: TileCallback | None = None,
    ) -> Image.Image:
        """`picture` enlarged `factor` times. A model runs (repeatedly, up to 3 passes) until it reaches the
        factor, then Lanczos brings it to the exact size, as A1111 does. GenerationStopped on stop."""
        picture = picture.convert("RGB")
        target = upscaled_size(picture.size, factor)
        if upscaler == LANCZOS:
            return lanczos(picture, target)
        with self._lock:
            self._stop.clear()
            model = self._model(upscaler)
            scale = model.scale  # pyright: ignore[reportAttributeAccessIssue] (a spandrel descriptor)
            passes = 1
            while scale**passes < factor and passes < MAX_MODEL_PASSES:
                passes += 1
            enlarged = picture
            for _ in range(passes):
                enlarged = self._run_model(model, enlarged, tile, on_tile)
        return enlarged if enlarged.size == target else lanczos(enlarged, target)

    def _run_model(self, model, picture: Image.Image, tile: int, on_tile: TileCallback | None) -> Image.Image:
        scale = model.scale
        width, height = picture.size
        pixels = torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255).permute(2, 0, 1)[None]
        tiles = list(model_tiles(picture.size, tile or max(width, height), TILE_MARGIN))
        out = torch.zeros((1, 3, height * scale, width * scale), dtype=torch.float32)
        with torch.inference_mode():
            for done, part in enumerate(tiles, start=1):
                if self._stop.is_set():
                    raise GenerationStopped("stopped")
                left, top, right, bottom = part.read
                result = model(pixels[:, :, top:bottom, left:right].to(self.device, model.dtype))
                kept_left, kept_top, kept_right, kept_bottom = part.kept_part(scale)
                out[:, :, part.keep[1] * scale : part.keep[3] * scale, part.keep[0] * scale : part.keep[2] * scale] = (
                    result[:, :, kept_top:kept_bottom, kept_left:kept_right].float().cpu()
                )
                if on_tile is not None:
                    on_tile(done, len(tiles))
        array = (out[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        return Image.fromarray(array, "RGB")

    def _model(self, name: str):
        if self._loaded is not None and self._loaded[0] == name:
            return self._loaded[1]
        path = self._path(name)
        import spandrel

        try:
            descriptor = spandrel.ModelLoader().load_from_file(path)
        except Exception as error:  # spandrel raises many kinds for files it cannot read
            raise UpscalerError(
                f"{name} could not be read as an upscaler model ({type(error).__name__}: {error}); "
                "put an ESRGAN, Real-ESRGAN, SwinIR or similar .safetensors/.pth file in the upscalers folder"
            ) from None
        if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.scale < 2:
            raise UpscalerError(f"{name} is a {descriptor.architecture.name} model that does not enlarge pictures")
        if descriptor.input_channels != 3 or descriptor.output_channels != 3:
            raise UpscalerError(f"{name} works on {descriptor.input_channels}-channel pictures, not RGB")
        descriptor.to(self.device).eval()
        self._loaded = (name, descriptor)
        return descriptor

    def _path(self, name: str) -> Path:
        if self.folder is None:
            raise UpscalerError(f"{name}: this studio has no upscalers folder; start it with --upscalers FOLDER")
        path = self.folder / name
        if Path(name).name != name or path.suffix not in UPSCALER_SUFFIXES or not path.is_file():
            raise UpscalerError(
                f"{name} is not in the upscalers folder {self.folder}; the models there are: "
                f"{', '.join(self.names()[1:]) or 'none yet (put .safetensors or .pth upscalers in it)'}"
            )
        return path
