"""The studio facade: every action of the artist's loop, with no UI and no torch.

Each action asks the engine for pictures, then writes them (and the human's inputs) into the session
folder and records the node, all before returning: nothing reaches the screen that is not on disk.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PIL import Image

from studio.access.offered import Offered
from studio.authorship import credentials, report
from studio.authorship.lineage import Step, lineage
from studio.control.catalogue import default_model
from studio.errors import GenerationStopped, InputError
from studio.finish.outpaint import Extension, outpaint_canvas
from studio.finish.regions import FINDER
from studio.finish.runs import STRUCTURE_MAP, Enlarger, LanczosOnly, Renderer, fix_regions, region_masks
from studio.finish.runs import upscale as run_upscale
from studio.formats import a1111, png_text
from studio.formats.hashes import HashCache, model_hash_for
from studio.formats.picture_info import PictureInfo, read_picture_info
from studio.history import Action, HistoryError, HistoryStore, Iteration, Mark, SessionHistory, SessionInfo
from studio.pictures import open_picture
from studio.prepare import fit_control_maps, render_size
from studio.progress import RunReport, StepProgress, TrainingProgress, TrainingResult
from studio.recipe.prompt_syntax import effective_loras
from studio.recipe import MAX_BATCH, MAX_SEED, ControlRef, InpaintArea, Mode, Recipe, RegionRef, UpscaleRef
from studio.services.lora_library import LoraInfo, list_loras, training_folder_hash
from studio.services.lora_library import resolve as resolve_lora
from studio.services.presets import Preset, PresetError, apply_styles, load_presets, preset_from_recipe, save_preset
from studio.session.drafts import FOLDER as DRAFT_FOLDER
from studio.session.drafts import Drafts
from studio.sizes import size_for_new_family
from studio.train.report import MemorizationReport
from studio.train.settings import TrainingSettings

if TYPE_CHECKING:  # the pose editor draws with OpenCV; the facade only passes poses along
    from studio.control.pose import Pose

METADATA_SCHEMA_VERSION = 1
EXPORTS_FOLDER = "exports"  # in a session folder: authorship reports and pictures exported with credentials


class Engine(Renderer, Protocol):
    """What the facade needs from studio.engine.Engine (kept abstract so this module needs no torch):
    its one run (`generate`, see studio.finish.Renderer), and stopping and loading."""

    def request_stop(self) -> None: ...

    def load(self, model: str) -> None: ...

    @property
    def model(self) -> str | None: ...

    @property
    def family(self) -> str | None:
        """The loaded model's family, "SD 1.5" or "SDXL" (read from its files)."""
        ...

    @property
    def speed(self) -> str:
        """Fast (compiled) or eager, and why, in the artist's words."""
        ...

    def take_speed_notice(self) -> str | None:
        """Once: why the fast path turned itself off during a run (None when it did not)."""
        ...

    def warm_up(self, recipe: Recipe) -> None:
        """Compile the fast path's kernels for `recipe`'s size ahead of the artist's first run (nothing when eager)."""
        ...


class MapMaker(Protocol):
    """What the facade needs from studio.engine.annotators.Preprocessors."""

    def run(self, name: str, picture: Image.Image, settings: Mapping[str, float] | None = None) -> Image.Image: ...

    def detect_pose(self, picture: Image.Image) -> Pose | None: ...

    def find_regions(
        self, picture: Image.Image, labels: tuple[str, ...]
    ) -> list[tuple[str, tuple[int, int, int, int]]]:
        """(label, box) of each face or hand found in `picture`, for the labels asked for."""
        ...


class Workshop(Protocol):
    """What the facade needs from studio.train.workshop.LoraWorkshop: training and the memorization check."""

    def train(
        self,
        settings: TrainingSettings,
        output_dir: Path,
        on_progress: Callable[[TrainingProgress], None] | None = None,
    ) -> TrainingResult: ...

    def check(
        self, lora: Path, dataset: Path, *, resolution: int, on_progress: Callable[[int, int], None] | None = None
    ) -> MemorizationReport: ...


@dataclass(frozen=True)
class Restored:
    """A node brought back: its recipe for the form, its pictures, and the human's inputs."""

    node: Iteration
    outputs: list[Image.Image | None]  # None where the picture's file is damaged (named in `damaged`)
    inputs: dict[str, Image.Image]  # the readable ones
    damaged: list[str] = dataclasses.field(default_factory=list)  # one message per unreadable file


# Session ids and account names become folder names: plain characters only.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class _Shared:
    """What every session's view of the studio shares: the defaults, the write lock, the accounts' stores."""

    defaults: Recipe
    write_lock: threading.Lock
    account_stores: dict[str, HistoryStore]
    runs: dict[Path, RunReport] = field(default_factory=dict)  # each session folder's latest run


class Studio:
    """Generate, repaint, inpaint, vary, restore, mark and stop, in one session.

    A `Studio` acts on one session (`self.session`). Each browser and each API caller works in its
    own: `for_session(id, account=...)` gives the view of the studio for that caller's session, so
    one caller switching sessions never moves another's work.
    """

    def __init__(
        self,
        engine: Engine,
        history: HistoryStore,
        *,
        session_id: str | None = None,
        defaults: Recipe | None = None,
        hashes: HashCache | None = None,
        preset_folders: tuple[Path, Path] | None = None,
        lora_dir: Path | None = None,
        workshop: Workshop | None = None,
        map_maker: MapMaker | None = None,
        upscalers: Enlarger | None = None,
        per_account: bool = False,
        offered: Offered | None = None,
        signing: credentials.Signing | None = None,
    ) -> None:
        self.engine = engine
        self.history = history
        self.hashes = hashes
        # (built-in, the artist's own); saving goes to the second.
        self.preset_folders = preset_folders
        self.lora_dir = lora_dir
        # LoRA training and the memorization check on the same engine (studio/train/workshop.py).
        self._workshop = workshop
        # Control maps from pictures (controlnet-aux annotators), run outside the GPU lane on the CPU.
        self._map_maker = map_maker
        # Upscaler models from the upscalers folder (studio/engine/upscalers.py); None: Lanczos only.
        self._upscalers = upscalers or LanczosOnly()
        # With several accounts, each account's sessions live in a folder of its own (outputs/<account>/).
        self.per_account = per_account
        # Shared (--share, --listen): what recipes may name; None locally, where paths work.
        self.offered = offered
        # Who signs exported pictures' Content Credentials (the studio's own key, or the artist's).
        self.signing = signing
        self._shared = _Shared(defaults or Recipe(), threading.Lock(), {})
        self.session: SessionHistory = history.session(session_id) if session_id else history.new_session()
        self._rng = random.SystemRandom()

    @property
    def defaults(self) -> Recipe:
        """What a new form (or an API request that leaves fields out) starts from; shared by every session."""
        return self._shared.defaults

    @defaults.setter
    def defaults(self, recipe: Recipe) -> None:
        self._shared.defaults = recipe

    def for_session(self, session_id: str | None, *, account: str | None = None) -> Studio:
        """This studio acting in session `session_id` of `account` (a new session when the id is empty).

        The session is bound for the whole of every call made on the view: a run that started in
        one session records its node there, whatever other callers do meanwhile.
        """
        store = self._store_for(account)
        if session_id and not _SAFE_NAME.match(session_id):
            raise HistoryError(f"invalid session id {session_id!r}: use letters, digits, '-', '_' and '.'")
        view = copy.copy(self)
        view.history = store
        view.session = store.session(session_id) if session_id else store.new_session()
        return view

    def _store_for(self, account: str | None) -> HistoryStore:
        if not self.per_account:
            return self.history
        if not account or not _SAFE_NAME.match(account):
            raise HistoryError("this studio keeps each account's sessions apart: log in first")
        stores = self._shared.account_stores
        with self._shared.write_lock:
            if account not in stores:
                stores[account] = HistoryStore(self.history.root / account)
            return stores[account]

    # --- the loop ------------------------------------------------------------------------------

    def generate(
        self,
        recipe: Recipe,
        *,
        parent_id: str | None = None,
        control_images: Mapping[str, Image.Image] | None = None,
        on_step: Callable[[StepProgress], None] | None = None,
    ) -> Iteration:
        """txt2img. With `parent_id`, the result is a regeneration of that node (feedback loop).

        `control_images` holds the map of each control unit in `recipe.controls`, by the unit's role.
        """
        recipe = recipe.replace(mode=Mode.TXT2IMG)
        images = fit_control_maps(control_images, (recipe.width, recipe.height))
        return self._run(recipe, Action.GENERATE, parent_id=parent_id, images=images, on_step=on_step)

    def repaint(
        self,
        image: Image.Image,
        recipe: Recipe,
        *,
        parent_id: str | None = None,
        source_index: int | None = None,
        control_images: Mapping[str, Image.Image] | None = None,
        sources: Mapping[str, Mapping[str, str]] | None = None,
        on_step: Callable[[StepProgress], None] | None = None,
    ) -> Iteration:
        """img2img on a (painted-over) picture; the result has the picture's own size.

        `sources` says, for a picture from outside the studio, where it is from and its licence ({"image": {...}}).
        """
        image = image.convert("RGB")
        width, height = render_size(image.size)
        # A variation seed blends txt2img noise, the hires fix enlarges a txt2img picture; an edit has neither.
        recipe = recipe.replace(
            mode=Mode.IMG2IMG, width=width, height=height, variation_seed=None, variation_strength=0.0, hires_scale=1.0
        )
        images = {"image": image} | fit_control_maps(control_images, image.size)
        return self._run(
            recipe,
            Action.REPAINT,
            parent_id=parent_id,
            source_index=source_index,
            images=images,
            sources=sources,
            on_step=on_step,
        )

    def inpaint(
        self,
        image: Image.Image,
        mask: Image.Image,
        recipe: Recipe,
        *,
        parent_id: str | None = None,
        source_index: int | None = None,
        control_images: Mapping[str, Image.Image] | None = None,
        sources: Mapping[str, Mapping[str, str]] | None = None,
        on_step: Callable[[StepProgress], None] | None = None,
    ) -> Iteration:
        """Repaint where `mask` is white. The rest of the picture comes back pixel for pixel.

        "whole picture" renders at the picture's size; "only masked" renders the masked area (plus
        padding) at the recipe's size and pastes it back, as A1111 does.
        """
        image, mask = image.convert("RGB"), mask.convert("L")
        # A variation seed blends txt2img noise, the hires fix enlarges a txt2img picture; an edit has neither.
        recipe = recipe.replace(mode=Mode.INPAINT, variation_seed=None, variation_strength=0.0, hires_scale=1.0)
        if recipe.inpaint_area is InpaintArea.WHOLE_PICTURE:
            # The recipe records the size the model rendered at; the result has the picture's own size.
            width, height = render_size(image.size)
            recipe = recipe.replace(width=width, height=height)
        images = {"image": image, "mask": mask} | fit_control_maps(control_images, image.size)
        return self._run(
            recipe,
            Action.INPAINT,
            parent_id=parent_id,
            source_index=source_index,
            images=images,
            sources=sources,
            on_step=on_step,
        )

    def outpaint(
        self,
        node_id: str,
        extension: Extension,
        recipe: Recipe,
        *,
        index: int = 0,
        on_step: Callable[[StepProgress], None] | None = None,
    ) -> Iteration:
        """Widen output `index` of a node: a larger canvas, the new area inpainted and its seam blended.

        Runs as an inpaint of the whole canvas (the recipe's prompt, strength and mask blur), so the
        picture's pixels outside the blurred seam come back exactly. Control units are refused: their
        maps have the old picture's size and would not say what the new area holds.
        """
        parent = self.session.get(node_id)
        _check_output_index(parent, index)
        if recipe.controls:
            raise InputError("controls: outpainting runs without control units; switch them off, then outpaint")
        canvas, mask = outpaint_canvas(_load(self.session.path(parent.outputs[index])), extension)
        width, height = render_size(canvas.size)
        recipe = recipe.replace(
            mode=Mode.INPAINT,
            inpaint_area=InpaintArea.WHOLE_PICTURE,
            width=width,
            height=height,
            variation_seed=None,
            variation_strength=0.0,
            hires_scale=1.0,
        )
        images = {"image": canvas, "mask": mask}
        return self._run(recipe, Action.OUTPAINT, parent_id=node_id, source_index=index, images=images, on_step=on_step)

    def vary(
        self,
        node_id: str,
        *,
        index: int = 0,
        count: int = 4,
        strength: float = 0.0,
        on_step: Callable[[StepProgress], None] | None = None,
    ) -> Iteration:
        """`count` variations of output `index` of a node.

        strength 0: the same recipe with new seeds. strength > 0: that picture's own starting noise,
        nudged towards new noise by `strength` (A1111's variation seed), so the results stay close to it.
        """
        parent = self.session.get(node_id)
        _check_output_index(parent, index)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_BATCH:
            raise InputError(f"count: {count} variations; make 1 to {MAX_BATCH} at a time")
        if not isinstance(strength, (int, float)) or not math.isfinite(strength) or not 0 <= strength <= 1:
            raise InputError(f"strength: {strength} is not from 0 (new seeds) to 1")
        if parent.recipe.regions or parent.recipe.upscale is not None:
            raise InputError(
                f"{node_id} is a finished picture (a fix or an upscale), not a generation to vary. "
                "Vary the picture it came from, or change the seed and finish again."
            )
        if strength > 0 and parent.recipe.mode is not Mode.TXT2IMG:
            raise InputError(
                f"Close variations work on generated pictures, and {node_id} is {parent.action.as_words}. "
                "Set Closeness to 0 to vary it with new seeds."
            )
        if strength > 0:
            recipe = parent.recipe.replace(
                seed=parent.seeds[index],
                batch_size=count,
                variation_seed=self._rng.randint(0, MAX_SEED),
                variation_strength=strength,
            )
        else:
            recipe = parent.recipe.replace(
                batch_size=count, seed=self._rng.randint(0, MAX_SEED), variation_seed=None, variation_strength=0.0
            )
        return self._run(
            recipe,
            Action.VARY,
            parent_id=node_id,
            source_index=index,
            reused_inputs=parent.inputs,
            sources=parent.sources,
            on_step=on_step,
        )

    # --- finishing ---------------------------------------------------------------------------------

    def find_regions(
        self, node_id: str, labels: tuple[str, ...] = ("face", "hand"), *, index: int = 0
    ) -> list[RegionRef]:
        """Faces and hands found on output `index` of a node, as regions to review before a fix.

        AnnotatorMissing (in seconds) when the detector's weights are not on this machine; marking
        regions by hand always works.
        """
        parent = self.session.get(node_id)
        _check_output_index(parent, index)
        picture = _load(self.session.path(parent.outputs[index]))
        found = self._require_map_maker().find_regions(picture, labels)
        return [RegionRef(label, box, found_by=FINDER) for label, box in found]

    def fix(
        self,
        node_id: str,
        regions: tuple[RegionRef, ...],
        recipe: Recipe,
        *,
        index: int = 0,
        painted: Mapping[str, Image.Image] | None = None,
        keep_structure: float = 0.0,
        on_step: Callable[[StepProgress], None] | None = None,
    ) -> Iteration:
        """Re-render `regions` of output `index` of a node, each alone at the recipe's size; one child node.

        `recipe` gives the model, sampler, steps, seed and the default prompts; each region may have its
        own prompt, strength, blur and padding. `painted` holds brush regions' masks by their role.
        `keep_structure` > 0 runs each region under the tile ControlNet at that weight, its map the
        picture itself, so a strong repaint keeps the region's shapes. Outside the regions (and their
        mask blur) every pixel of the picture stays exactly as it was.
        """
        parent = self.session.get(node_id)
        _check_output_index(parent, index)
        if not regions:
            raise InputError("regions: none marked; drag a box over the picture, or find faces and hands first")
        if recipe.controls:
            raise InputError("controls: a region fix runs without control units; switch them off, then fix")
        recipe = recipe.replace(
            controls=self._structure_unit(recipe, keep_structure),
            mode=Mode.INPAINT,
            inpaint_area=InpaintArea.ONLY_MASKED,
            regions=tuple(regions),
            upscale=None,
            batch_size=1,
            variation_seed=None,
            variation_strength=0.0,
            hires_scale=1.0,
        )
        picture = _load(self.session.path(parent.outputs[index]))
        images = {"image": picture, **{role: mask.convert("L") for role, mask in (painted or {}).items()}}
        region_masks(recipe, picture, images)  # refuse a bad region before anything runs
        return self._run(recipe, Action.FIX, parent_id=node_id, source_index=index, images=images, on_step=on_step)

    def upscale(
        self,
        node_id: str,
        settings: UpscaleRef,
        recipe: Recipe,
        *,
        index: int = 0,
        keep_structure: float = 0.0,
        on_step: Callable[[StepProgress], None] | None = None,
    ) -> Iteration:
        """Output `index` of a node, enlarged; with `settings.refine`, repainted in tiles at the recipe's size.

        Without refine no diffusion runs, and the recipe is the picture's own, with the upscale added.
        `keep_structure` > 0 repaints each tile under the tile ControlNet at that weight (its map the tile).
        """
        parent = self.session.get(node_id)
        _check_output_index(parent, index)
        if settings.refine:
            if recipe.controls:
                raise InputError("controls: SD upscale runs without control units; switch them off, then upscale")
            recipe = recipe.replace(
                mode=Mode.IMG2IMG,
                regions=(),
                variation_seed=None,
                variation_strength=0.0,
                controls=self._structure_unit(recipe, keep_structure),
            )
        else:
            if keep_structure:
                raise InputError("keep structure: only SD upscale repaints; tick SD upscale or set it to 0")
            # The picture's own recipe (its seed, its hires fix), so A1111's text keeps how it was made, as Extras does.
            recipe = parent.recipe_of(index).replace(regions=(), controls=())
            if recipe.mode is Mode.INPAINT:  # nothing is inpainted by an upscale
                recipe = recipe.replace(mode=Mode.IMG2IMG)
        recipe = recipe.replace(upscale=settings, batch_size=1)
        if settings.refine:
            recipe = recipe.replace(hires_scale=1.0)
        picture = _load(self.session.path(parent.outputs[index]))
        return self._run(
            recipe, Action.UPSCALE, parent_id=node_id, source_index=index, images={"image": picture}, on_step=on_step
        )

    def hires_fix(
        self,
        node_id: str,
        recipe: Recipe,
        *,
        index: int = 0,
        on_step: Callable[[StepProgress], None] | None = None,
    ) -> Iteration:
        """Generated picture `index` of a node made again with `recipe`'s hires fix (A1111's ✨ button).

        Everything else is the picture's own recipe (its seed included), so the first pass is that very
        picture; the hires settings (scale, upscaler, steps, strength) are the only change.
        """
        parent = self.session.get(node_id)
        _check_output_index(parent, index)
        source = parent.recipe_of(index)
        if source.mode is not Mode.TXT2IMG or source.regions or source.upscale is not None:
            raise InputError(
                f"The hires fix remakes a generated picture, and {node_id} is {parent.action.as_words}. "
                "Use Upscale for it."
            )
        if recipe.hires_scale <= 1:
            raise InputError("hires: set Upscale by above 1 in the form's Hires fix, then press Hires fix again")
        if source.controls:
            raise InputError("controls: the hires fix runs without control units, and this picture was made under some")
        hires = source.replace(
            batch_size=1,
            hires_scale=recipe.hires_scale,
            hires_upscaler=recipe.hires_upscaler,
            hires_steps=recipe.hires_steps,
            hires_denoising_strength=recipe.hires_denoising_strength,
        )
        return self._run(hires, Action.GENERATE, parent_id=node_id, source_index=index, on_step=on_step)

    def _structure_unit(self, recipe: Recipe, weight: float) -> tuple[ControlRef, ...]:
        """The tile ControlNet unit that keeps a finish's shapes: none at weight 0; its map is the picture itself."""
        if not isinstance(weight, (int, float)) or not 0 <= weight <= 2:
            raise InputError(f"keep structure: {weight!r} is not a ControlNet weight from 0 (off) to 2")
        if weight == 0:
            return ()
        model = default_model("tile", recipe.model, self.family)
        if not model:
            raise InputError("keep structure: no tile ControlNet is known for this model's family; set it to 0")
        return (ControlRef("tile", model, STRUCTURE_MAP, float(weight), preprocessor="tile_resample"),)

    def upscalers(self) -> list[str]:
        """The upscalers an upscale can name: Lanczos, then the upscalers folder's model files."""
        return self._upscalers.names()

    def replay(self, node_id: str, on_step: Callable[[StepProgress], None] | None = None) -> Iteration:
        """Run a node again exactly as it was made (its recipe, seeds, picture, mask and control maps)."""
        node = self.session.get(node_id)
        return self._run(
            node.recipe,
            node.action,
            parent_id=node_id,
            source_index=node.source_index,
            reused_inputs=node.inputs,
            sources=node.sources,
            on_step=on_step,
        )

    def control_map(
        self, preprocessor: str, picture: Image.Image, settings: Mapping[str, float] | None = None
    ) -> Image.Image:
        """The control map a preprocessor makes of `picture` (AnnotatorMissing says which weights are missing)."""
        return self._require_map_maker().run(preprocessor, picture, settings)

    def detect_pose(self, picture: Image.Image) -> Pose | None:
        """The first person's OpenPose skeleton in `picture`, or None when there is nobody."""
        return self._require_map_maker().detect_pose(picture)

    def _require_map_maker(self) -> MapMaker:
        if self._map_maker is None:
            raise InputError("preprocessor: this studio was started without preprocessors")
        return self._map_maker

    def stop(self) -> None:
        """Stop the run in progress at its next step (or an upscaler at its next tile)."""
        self.engine.request_stop()
        self._upscalers.request_stop()

    def load_model(self, model: str) -> None:
        """Load `model` (raises ModelError with advice); new recipes default to it, at a size its family suits.

        Where the fast path is on, the new model is compiled here, at the defaults' size (seconds from the
        disk cache, about a minute the first time), not in the artist's next run."""
        if self.offered is not None:
            self.offered.check_model(model)
        old_family = self.family
        self.engine.load(model)
        (width, height), _ = size_for_new_family((self.defaults.width, self.defaults.height), old_family, self.family)
        self.defaults = self.defaults.replace(model=model, width=width, height=height)
        self.engine.warm_up(self.defaults)

    def prepare_model(self, model: str) -> None:
        """Load `model` for callers that name it in each request (the A1111 API); the window's defaults stay."""
        if self.offered is not None:
            self.offered.check_model(model)
        self.engine.load(model)

    @property
    def model(self) -> str | None:
        return self.engine.model

    @property
    def family(self) -> str | None:
        return self.engine.family

    @property
    def speed(self) -> str:
        return self.engine.speed

    def take_speed_notice(self) -> str | None:
        return self.engine.take_speed_notice()

    # --- the tree ------------------------------------------------------------------------------

    def tree(self) -> list[Iteration]:
        return self.session.nodes()

    def sessions(self) -> list[SessionInfo]:
        return self.history.sessions()

    def restore(self, node_id: str) -> Restored:
        """A node's recipe and pictures. A damaged file costs only itself: it is named, the rest is restored."""
        node = self.session.get(node_id)
        damaged: list[str] = []

        def readable(name: str) -> Image.Image | None:
            try:
                return _load(self.session.path(name))
            except ValueError as error:
                damaged.append(str(error))
                return None

        outputs = [readable(name) for name in node.outputs]
        inputs = {role: picture for role, name in node.inputs.items() if (picture := readable(name)) is not None}
        return Restored(node=node, outputs=outputs, inputs=inputs, damaged=damaged)

    def output_picture(self, node_id: str, index: int = 0) -> Image.Image:
        """Picture `index` of a node, read (ValueError naming the file when it is damaged)."""
        _check_output_index(self.session.get(node_id), index)
        return _load(self.output_path(node_id, index))

    def inputs(self, node_id: str) -> dict[str, Image.Image]:
        """What the artist gave a node (picture, mask, control maps), by role, without its outputs."""
        node = self.session.get(node_id)
        return {role: _load(self.session.path(name)) for role, name in node.inputs.items()}

    def presets(self) -> tuple[list[Preset], list[str]]:
        """Every preset that loads, and one line per preset file that does not (file and field)."""
        return load_presets(self.preset_folders or ())

    def apply_preset(self, name: str, recipe: Recipe) -> Recipe:
        presets, _ = self.presets()
        for preset in presets:
            if preset.name == name:
                return preset.apply(recipe)
        raise PresetError(f"no preset named {name!r}")

    def save_preset(self, name: str, recipe: Recipe) -> Path:
        """Save the recipe's prompts and settings as the artist's own preset."""
        if not self.preset_folders:
            raise PresetError("this studio has no preset folder")
        return save_preset(self.preset_folders[1], preset_from_recipe(name, recipe))

    def read_picture(self, path: str | Path) -> PictureInfo:
        """How any picture was made (ours, A1111/Forge, ComfyUI, EXIF). ValueError if it is no picture."""
        return read_picture_info(Path(path))

    @property
    def drafts(self) -> Drafts:
        """This session's work in progress (the editor, the control maps); a read-only session keeps none."""
        self.session.check_writable()
        return Drafts(self.session.folder / DRAFT_FOLDER)

    def output_path(self, node_id: str, index: int = 0) -> str:
        node = self.session.get(node_id)
        return str(self.session.path(node.outputs[index]))

    def set_mark(self, node_id: str, index: int, mark: Mark | str) -> Iteration:
        return self.session.set_mark(node_id, index, mark)

    def toggle_mark(self, node_id: str, index: int, mark: Mark) -> Iteration:
        """Set `mark`, or clear it when the picture already has it (a second click undoes the first)."""
        marks = self.session.get(node_id).marks
        already = 0 <= index < len(marks) and marks[index] is mark
        return self.set_mark(node_id, index, Mark.NONE if already else mark)

    def train_lora(
        self, settings: TrainingSettings, on_progress: Callable[[TrainingProgress], None] | None = None
    ) -> TrainingResult:
        """Train a LoRA into the LoRA library. It shares the GPU lane with generation; stop() stops it."""
        if self.offered is not None:
            self.offered.refuse_server_folders("training")
        workshop, lora_dir = self._require_workshop()
        samples: list[Image.Image] = []

        def keep_sample(progress: TrainingProgress) -> None:
            if progress.sample is not None:
                samples[:] = [progress.sample]
            if on_progress is not None:
                on_progress(progress)

        result = workshop.train(settings, lora_dir, on_progress=keep_sample)
        if samples:  # the last sample is the LoRA's picture in the library
            png_text.write_plain_png(samples[0], result.lora.with_name(f"{result.lora.stem}.preview.png"))
        return result

    def check_memorization(
        self, lora: str, dataset: str, *, resolution: int = 512, on_progress: Callable[[int, int], None] | None = None
    ) -> MemorizationReport:
        """Sample the LoRA from the folder's captions and report how close each sample is to a training picture."""
        if self.offered is not None:
            self.offered.refuse_server_folders("the memorization check")
        path = resolve_lora(lora, self.lora_dir)
        workshop, _ = self._require_workshop()
        return workshop.check(path, Path(dataset).expanduser(), resolution=resolution, on_progress=on_progress)

    def _require_workshop(self) -> tuple[Workshop, Path]:
        if self._workshop is None or self.lora_dir is None:
            raise InputError("training: this studio was started without a LoRA folder to train into")
        return self._workshop, self.lora_dir

    def loras(self) -> list[LoraInfo]:
        """The LoRA library: name, base model, size, trigger words, preview."""
        return list_loras(self.lora_dir)

    # --- authorship ----------------------------------------------------------------------------

    def lineage(self, node_id: str, index: int = 0) -> list[Step]:
        """The steps from the first generation to picture `index` of a node, with what the human and the machine did."""
        _check_output_index(self.session.get(node_id), index)
        return lineage(self.session.get, self.session.path, node_id, index, self._lora_trained_on)

    def _lora_trained_on(self, name: str) -> str | None:
        try:
            return training_folder_hash(resolve_lora(name, self.lora_dir))
        except (ValueError, OSError):
            return None  # a LoRA no longer here, or not a .safetensors: the record names it without its folder

    def authorship_report(self, node_id: str, index: int = 0) -> tuple[dict, str]:
        """The report as JSON and as a self-contained page (no paths of this computer in either)."""
        steps = self.lineage(node_id, index)
        return report.report_json(steps), report.report_html(steps, self.session.path)

    def export_with_credentials(self, node_id: str, index: int, destination: Path, *, kind: str = "png") -> Path:
        """The picture as PNG or JPEG with its lineage signed in (C2PA), at `destination`."""
        return self._signed(self.lineage(node_id, index), node_id, index, destination, kind)

    def save_authorship(self, node_id: str, index: int = 0, *, kind: str = "png") -> tuple[Path, Path, Path]:
        """The report (HTML, JSON) and the picture with its credentials, written to the session's exports folder."""
        steps = self.lineage(node_id, index)  # measured once: the report and the manifest tell the same figures
        folder = self.session.folder / EXPORTS_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{node_id}-{index}"
        suffix = "jpg" if kind == "jpeg" else "png"
        picture = self._signed(steps, node_id, index, folder / f"{stem}-credentials.{suffix}", kind)
        page_file, json_file = folder / f"{stem}-authorship.html", folder / f"{stem}-authorship.json"
        page_file.write_text(report.report_html(steps, self.session.path), encoding="utf-8")
        json_file.write_text(json.dumps(report.report_json(steps), indent=2), encoding="utf-8")
        return page_file, json_file, picture

    def _signed(self, steps: list[Step], node_id: str, index: int, destination: Path, kind: str) -> Path:
        if self.signing is None:
            raise InputError("export: this studio was started without a signing folder")
        picture = self.session.path(self.session.get(node_id).outputs[index])
        return credentials.export(picture, steps, self.signing.identity(), self.session.path, destination, kind)

    def verify_credentials(self, picture: str | Path) -> credentials.Verification:
        """Any picture's Content Credentials: none, valid, or invalid (changed after signing)."""
        return credentials.verify(Path(picture))

    # --- one turn ------------------------------------------------------------------------------

    def _lora_hashes(self, recipe: Recipe) -> dict[str, str]:
        """A1111's `Lora hashes` for the LoRAs the run used (the engine has already found their files)."""
        if self.hashes is None:
            return {}
        _, loras = effective_loras(recipe.prompt, tuple((lora.name, lora.weight) for lora in recipe.loras))
        return {name: self.hashes.lora_hash(resolve_lora(name, self.lora_dir, allow_pickle=True)) for name, _ in loras}

    def _run(
        self,
        recipe: Recipe,
        action: Action,
        *,
        parent_id: str | None = None,
        source_index: int | None = None,
        images: Mapping[str, Image.Image] | None = None,
        reused_inputs: Mapping[str, str] | None = None,
        sources: Mapping[str, Mapping[str, str]] | None = None,
        on_step: Callable[[StepProgress], None] | None = None,
    ) -> Iteration:
        images = dict(images or {})
        if (recipe.regions or recipe.upscale is not None) and action not in (Action.FIX, Action.UPSCALE):
            raise InputError(
                f"{'regions' if recipe.regions else 'upscale'}: {action.value} does not finish a picture; "
                "fix regions or upscale a picked picture in the Finish tab (Studio.fix, Studio.upscale)"
            )
        self.session.check_writable()
        if self.offered is not None:
            self.offered.check_recipe(recipe)
        if parent_id is not None:
            parent = self.session.get(parent_id)  # fail before spending GPU time on an orphan
            if source_index is not None and not 0 <= source_index < len(parent.outputs):
                raise InputError(f"source_index: node {parent_id} has no picture {source_index}")
        elif source_index is not None:
            raise InputError("source_index: names a picture of the parent, but no parent_id was given")
        if reused_inputs:
            images |= {role: _load(self.session.path(name)) for role, name in reused_inputs.items()}
        recipe = recipe.with_concrete_seed(self._rng)
        encoded = apply_styles(recipe, self.presets()[0]) if recipe.styles else recipe
        runs, folder = self._shared.runs, self.session.folder

        def report(progress: StepProgress) -> None:
            previous = runs[folder].progress
            if progress.preview is None and previous is not None:
                # Previews come a few a second: a window that reloads between two shows the last one.
                runs[folder] = RunReport(dataclasses.replace(progress, preview=previous.preview))
            else:
                runs[folder] = RunReport(progress)
            if on_step is not None:
                on_step(progress)

        runs[folder] = RunReport(None)
        try:
            pictures = self._render(encoded, images, report)
            with self._shared.write_lock:
                node = self._record(
                    recipe,
                    encoded,
                    action,
                    parent_id,
                    source_index,
                    pictures,
                    images,
                    reused_inputs or {},
                    sources or {},
                )
        except GenerationStopped:
            runs[folder] = RunReport(runs[folder].progress, finished=True, failed="Stopped.")
            raise
        except Exception as error:
            runs[folder] = RunReport(runs[folder].progress, finished=True, failed=str(error))
            raise
        runs[folder] = RunReport(runs[folder].progress, finished=True, node_id=node.id)
        return node

    def _render(
        self, recipe: Recipe, images: Mapping[str, Image.Image], report: Callable[[StepProgress], None]
    ) -> list[Image.Image]:
        """The pictures a recipe makes: a region fix or an upscale of the input picture, or one engine run."""
        if recipe.regions:
            masks = region_masks(recipe, images["image"], images)
            return [fix_regions(self.engine, recipe, images["image"], masks, report)]
        if recipe.upscale is not None:
            return [run_upscale(self.engine, self._upscalers, recipe, images["image"], report)]
        return self.engine.generate(
            recipe,
            image=images.get("image"),
            mask=images.get("mask"),
            control_images={role: picture for role, picture in images.items() if role not in ("image", "mask")},
            on_step=report,
        )

    def latest_run(self) -> RunReport | None:
        """This session's latest run since the studio started: running, or how it ended."""
        return self._shared.runs.get(self.session.folder)

    def _record(
        self,
        recipe: Recipe,
        encoded: Recipe,
        action: Action,
        parent_id: str | None,
        source_index: int | None,
        pictures: list[Image.Image],
        images: Mapping[str, Image.Image],
        reused_inputs: Mapping[str, str],
        sources: Mapping[str, Mapping[str, str]],
    ) -> Iteration:
        node_id = self.session.new_node_id()
        model_hash = model_hash_for(recipe.model, self.hashes)
        lora_hashes = self._lora_hashes(encoded)
        inputs = dict(reused_inputs)
        for role, image in images.items():
            if role not in inputs:
                inputs[role] = f"{node_id}-{role}.png"
                png_text.write_plain_png(image, self.session.path(inputs[role]))
        node = Iteration(
            id=node_id,
            parent_id=parent_id,
            recipe=recipe,
            action=action,
            outputs=tuple(f"{node_id}-{index}.png" for index in range(len(pictures))),
            seeds=tuple(recipe.seeds()),
            inputs=inputs,
            source_index=source_index,
            created=time.time(),
            sources=sources,
        )
        for index, picture in enumerate(pictures):
            studio_json = {
                "schema_version": METADATA_SCHEMA_VERSION,
                "session": self.session.id,
                "output_index": index,
                "node": node.to_dict(),
            }
            png_text.write_png(
                picture,
                self.session.path(node.outputs[index]),
                {
                    png_text.STUDIO_KEY: json.dumps(studio_json),
                    # A1111 writes the prompt as encoded, styles applied: so do we, for other tools to read.
                    png_text.PARAMETERS_KEY: a1111.format_parameters(
                        encoded, index, model_hash=model_hash, lora_hashes=lora_hashes
                    ),
                },
            )
        self.session.add(node)
        return node


def _check_output_index(node: Iteration, index: int) -> None:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(node.outputs):
        raise InputError(f"index: node {node.id} has no picture {index}")


def _load(path: str | Path) -> Image.Image:
    """A picture of the session; a damaged one is named (the session's other files are fine)."""
    name = Path(path).name
    try:
        return open_picture(path, name)
    except ValueError as error:
        raise InputError(f"{name} in this session is damaged and cannot be used ({error})") from None
