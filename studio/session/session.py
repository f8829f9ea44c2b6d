"""One browser's or API caller's loop: generate, edit, vary, finish, replay, restore, mark, export.

A `Session` acts on one session folder and owns nothing app-wide: the engine, presets, LoRA library,
preprocessors and authorship are `Services` it is handed. Sessions are opened by `Sessions` (sessions.py),
never copied, so nothing one caller sets can reach another's.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from studio.authorship.lineage import Step
from studio.control.catalogue import default_model
from studio.errors import InputError
from studio.finish.outpaint import Extension, outpaint_canvas
from studio.finish.regions import FINDER
from studio.finish.runs import STRUCTURE_MAP, region_masks
from studio.history import Action, HistoryStore, Iteration, Mark, SessionHistory, SessionInfo
from studio.prepare import fit_control_maps, render_size
from studio.progress import RunReport, StepProgress
from studio.recipe import MAX_BATCH, MAX_SEED, ControlRef, InpaintArea, Mode, Recipe, RegionRef, UpscaleRef
from studio.scale.grid import Axis
from studio.services import Services
from studio.services.closeness import Match
from studio.session.drafts import FOLDER as DRAFT_FOLDER
from studio.session.drafts import Drafts
from studio.session.grids import GridJob, grid_picture_path, run_grid, run_prompts
from studio.session.live import LivePainting
from studio.session.turn import Request, check_output_index, load_picture, take_turn

OnStep = Callable[[StepProgress], None] | None


@dataclass(frozen=True)
class Restored:
    """A node brought back: its recipe for the form, its pictures, and the human's inputs."""

    node: Iteration
    outputs: list[Image.Image | None]  # None where the picture's file is damaged (named in `damaged`)
    inputs: dict[str, Image.Image]  # the readable ones
    damaged: list[str] = dataclasses.field(default_factory=list)  # one message per unreadable file


class Session(LivePainting):
    """The loop's actions in one session (`history`), for one caller, using the app-wide `services`."""

    def __init__(self, history: SessionHistory, store: HistoryStore, services: Services) -> None:
        self.history = history
        self.store = store  # the caller's sessions (its account's, with several accounts), for the session list
        self.services = services
        self._rng = random.SystemRandom()

    @property
    def id(self) -> str:
        return self.history.id

    @property
    def folder(self) -> Path:
        return self.history.folder

    def path(self, file_name: str) -> Path:
        return self.history.path(file_name)

    # --- the loop ------------------------------------------------------------------------------

    def generate(
        self,
        recipe: Recipe,
        *,
        parent_id: str | None = None,
        control_images: Mapping[str, Image.Image] | None = None,
        sources: Mapping[str, Mapping[str, str]] | None = None,
        on_step: OnStep = None,
    ) -> Iteration:
        """txt2img. With `parent_id`, the result is a regeneration of that node (feedback loop).

        `control_images` holds the map of each control unit in `recipe.controls`, and the picture and mask of each
        reference in `recipe.references`, by the unit's role; `sources` where each reference picture is from and
        its licence ({"reference-1": {"origin": ..., "licence": ...}}).
        """
        recipe = recipe.replace(mode=Mode.TXT2IMG)
        images = fit_control_maps(
            control_images, (recipe.width, recipe.height), recipe.reference_pictures, recipe.painted_areas
        )
        request = Request(recipe, Action.GENERATE, parent_id=parent_id, images=images, sources=sources or {})
        return self._turn(request, on_step)

    def repaint(
        self,
        image: Image.Image,
        recipe: Recipe,
        *,
        parent_id: str | None = None,
        source_index: int | None = None,
        control_images: Mapping[str, Image.Image] | None = None,
        sources: Mapping[str, Mapping[str, str]] | None = None,
        on_step: OnStep = None,
    ) -> Iteration:
        """img2img on a (painted-over) picture; the result has the picture's own size.

        `sources` says, for a picture from outside the studio, where it is from and its licence ({"image": {...}}).
        """
        image = image.convert("RGB")
        width, height = render_size(image.size)
        recipe = recipe.as_edit(Mode.IMG2IMG, width=width, height=height)
        images = {"image": image} | fit_control_maps(
            control_images, image.size, recipe.reference_pictures, recipe.painted_areas
        )
        request = Request(recipe, Action.REPAINT, parent_id, source_index, images, sources=sources or {})
        return self._turn(request, on_step)

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
        on_step: OnStep = None,
    ) -> Iteration:
        """Repaint where `mask` is white. The rest of the picture comes back pixel for pixel.

        "whole picture" renders at the picture's size; "only masked" renders the masked area (plus
        padding) at the recipe's size and pastes it back, as A1111 does.
        """
        image, mask = image.convert("RGB"), mask.convert("L")
        recipe = recipe.as_edit(Mode.INPAINT)
        if recipe.inpaint_area is InpaintArea.WHOLE_PICTURE:
            # The recipe records the size the model rendered at; the result has the picture's own size.
            width, height = render_size(image.size)
            recipe = recipe.replace(width=width, height=height)
        images = {"image": image, "mask": mask} | fit_control_maps(
            control_images, image.size, recipe.reference_pictures
        )
        request = Request(recipe, Action.INPAINT, parent_id, source_index, images, sources=sources or {})
        return self._turn(request, on_step)

    def kontext(
        self,
        image: Image.Image,
        instruction: str,
        recipe: Recipe,
        *,
        mask: Image.Image | None = None,
        parent_id: str | None = None,
        source_index: int | None = None,
        sources: Mapping[str, Mapping[str, str]] | None = None,
        on_step: OnStep = None,
    ) -> Iteration:
        """The change `instruction` describes ("make the jacket red"), made by a Flux.1 Kontext model that reads
        `image` whole. With `mask`, only the masked area changes and the rest comes back pixel for pixel.

        The instruction is the recipe's prompt; the picture is the only steering (no control units, references or
        area prompts), rendered at the picture's own size."""
        if not instruction.strip():
            raise InputError("Describe the change in words first, e.g. 'make the jacket red'.")
        image = image.convert("RGB")
        width, height = render_size(image.size)
        recipe = recipe.as_edit(
            Mode.IMG2IMG if mask is None else Mode.INPAINT,
            prompt=instruction.strip(),
            width=width,
            height=height,
            inpaint_area=InpaintArea.WHOLE_PICTURE,
            controls=(),
            references=(),
            area_prompts=(),
            kontext=True,
            # Without a mask the picture is drawn anew from noise: its record says so (strength 1), not the form's.
            **({"denoising_strength": 1.0} if mask is None else {}),
        )
        images = {"image": image} | ({"mask": mask.convert("L")} if mask is not None else {})
        request = Request(recipe, Action.KONTEXT, parent_id, source_index, images, sources=sources or {})
        return self._turn(request, on_step)

    def outpaint(
        self, node_id: str, extension: Extension, recipe: Recipe, *, index: int = 0, on_step: OnStep = None
    ) -> Iteration:
        """Widen output `index` of a node: a larger canvas, the new area inpainted and its seam blended.

        Runs as an inpaint of the whole canvas (the recipe's prompt, strength and mask blur), so the
        picture's pixels outside the blurred seam come back exactly. Control units are refused: their
        maps have the old picture's size and would not say what the new area holds.
        """
        parent = self._picture_node(node_id, index)
        if recipe.controls:
            raise InputError("controls: outpainting runs without control units; switch them off, then outpaint")
        canvas, mask = outpaint_canvas(load_picture(self.path(parent.outputs[index])), extension)
        width, height = render_size(canvas.size)
        recipe = recipe.as_edit(Mode.INPAINT, inpaint_area=InpaintArea.WHOLE_PICTURE, width=width, height=height)
        images = {"image": canvas, "mask": mask}
        return self._turn(Request(recipe, Action.OUTPAINT, node_id, index, images), on_step)

    def vary(
        self, node_id: str, *, index: int = 0, count: int = 4, strength: float = 0.0, on_step: OnStep = None
    ) -> Iteration:
        """`count` variations of output `index` of a node.

        strength 0: the same recipe with new seeds. strength > 0: that picture's own starting noise,
        nudged towards new noise by `strength` (A1111's variation seed), so the results stay close to it.
        """
        parent = self._picture_node(node_id, index)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_BATCH:
            raise InputError(f"count: {count} variations; make 1 to {MAX_BATCH} at a time")
        if not isinstance(strength, (int, float)) or not math.isfinite(strength) or not 0 <= strength <= 1:
            raise InputError(f"strength: {strength} is not from 0 (new seeds) to 1")
        if parent.recipe.is_finish:
            raise InputError(
                f"{node_id} is a finished picture (a fix or an upscale), not a generation to vary. "
                "Vary the picture it came from, or change the seed and finish again."
            )
        if strength > 0 and parent.recipe.mode is not Mode.TXT2IMG:
            raise InputError(
                f"Close variations work on generated pictures, and {node_id} is {parent.action.as_words}. "
                "Set Variation strength to 0 to vary it with new seeds."
            )
        if strength > 0:
            seed, variation_seed = parent.seeds[index], self._rng.randint(0, MAX_SEED)
        else:
            seed, variation_seed = self._rng.randint(0, MAX_SEED), None
        recipe = parent.recipe.as_variation(count=count, seed=seed, variation_seed=variation_seed, strength=strength)
        request = Request(recipe, Action.VARY, node_id, index, reused_inputs=parent.inputs, sources=parent.sources)
        return self._turn(request, on_step)

    def grid(
        self,
        base: Recipe,
        axes: Sequence[Axis],
        *,
        parent_id: str | None = None,
        on_cell: Callable[[int, int], None] | None = None,
    ) -> GridJob:
        """A1111's X/Y/Z plot: up to three settings (`grid.axis(...)`) varied over `base`, the cells spread over
        every engine, each a txt2img node of its own, and the grid picture with the values in its margins."""
        return run_grid(self.history, self.services, base, axes, rng=self._rng, parent_id=parent_id, on_cell=on_cell)

    def grid_picture(self, job: str) -> Path | None:
        """The picture of grid job `job` (its cells' `node.job.job`); None for a batch of prompts or a grid
        stopped part-way."""
        return grid_picture_path(self.history, job)

    def prompts(
        self,
        base: Recipe,
        text: str,
        *,
        parent_id: str | None = None,
        on_cell: Callable[[int, int], None] | None = None,
        position: str | None = None,
        seed_step: int = 0,
    ) -> list[Iteration]:
        """A1111's prompts from a file or textbox: a txt2img node per line of `text` (a prompt, or A1111's
        `--prompt "…" --steps …` options), the lines spread over every engine. A line's prompt replaces the
        base's, or goes at its `position` ("start", "end"); `seed_step` steps the seed from line to line."""
        return run_prompts(
            self.history,
            self.services,
            base,
            text,
            rng=self._rng,
            parent_id=parent_id,
            on_cell=on_cell,
            position=position,
            seed_step=seed_step,
        )

    def replay(self, node_id: str, on_step: OnStep = None) -> Iteration:
        """Run a node again exactly as it was made (its recipe, seeds, picture, mask and control maps)."""
        node = self.history.get(node_id)
        # A child of the node it replays, made from that node's own inputs: it picks none of the node's pictures
        # (the node's `source_index` names a picture of *its* parent, which this node may not have).
        request = Request(node.recipe, node.action, node_id, None, reused_inputs=node.inputs, sources=node.sources)
        return self._turn(request, on_step)

    # --- finishing ---------------------------------------------------------------------------------

    def find_regions(
        self, node_id: str, labels: tuple[str, ...] = ("face", "hand"), *, index: int = 0
    ) -> list[RegionRef]:
        """Faces and hands found on output `index` of a node, as regions to review before a fix.

        AnnotatorMissing (in seconds) when the detector's weights are not on this machine; marking
        regions by hand always works.
        """
        picture = self.output_picture(node_id, index)
        found = self.services.maps.find_regions(picture, labels)
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
        on_step: OnStep = None,
    ) -> Iteration:
        """Re-render `regions` of output `index` of a node, each alone at the recipe's size; one child node.

        `recipe` gives the model, sampler, steps, seed and the default prompts; each region may have its
        own prompt, strength, blur and padding. `painted` holds brush regions' masks by their role; left out,
        they are the strokes painted on the Finish tab's board, kept in this session's drafts.
        `keep_structure` > 0 runs each region under the tile ControlNet at that weight, its map the
        picture itself, so a strong repaint keeps the region's shapes. Outside the regions (and their
        mask blur) every pixel of the picture stays exactly as it was.
        """
        picture = self.output_picture(node_id, index)
        if not regions:
            raise InputError("regions: none marked; drag a box over the picture, or find faces and hands first")
        if recipe.controls:
            raise InputError("controls: a region fix runs without control units; switch them off, then fix")
        recipe = recipe.as_region_fix(tuple(regions), self._structure_unit(recipe, keep_structure))
        if painted is None:
            painted = self.drafts.painted_masks(regions)
        images = {"image": picture, **{role: mask.convert("L") for role, mask in painted.items()}}
        region_masks(recipe, picture, images)  # refuse a bad region before anything runs
        return self._turn(Request(recipe, Action.FIX, node_id, index, images), on_step)

    def upscale(
        self,
        node_id: str,
        settings: UpscaleRef,
        recipe: Recipe,
        *,
        index: int = 0,
        keep_structure: float = 0.0,
        on_step: OnStep = None,
    ) -> Iteration:
        """Output `index` of a node, enlarged; with `settings.refine`, repainted in tiles at the recipe's size.

        Without refine no diffusion runs, and the recipe is the picture's own, with the upscale added.
        `keep_structure` > 0 repaints each tile under the tile ControlNet at that weight (its map the tile).
        """
        parent = self._picture_node(node_id, index)
        if settings.refine:
            if recipe.controls:
                raise InputError("controls: SD upscale runs without control units; switch them off, then upscale")
            recipe = recipe.as_upscale(settings, self._structure_unit(recipe, keep_structure))
        else:
            if keep_structure:
                raise InputError("keep structure: only SD upscale repaints; tick SD upscale or set it to 0")
            # The picture's own recipe (its seed, its hires fix), so A1111's text keeps how it was made, as Extras does.
            recipe = parent.recipe_of(index).as_upscale(settings)
        images = {"image": load_picture(self.path(parent.outputs[index]))}
        return self._turn(Request(recipe, Action.UPSCALE, node_id, index, images), on_step)

    def hires_fix(self, node_id: str, recipe: Recipe, *, index: int = 0, on_step: OnStep = None) -> Iteration:
        """Generated picture `index` of a node made again with `recipe`'s hires fix (A1111's ✨ button).

        Everything else is the picture's own recipe (its seed included), so the first pass is that very
        picture; the hires settings (scale, upscaler, steps, strength) are the only change.
        """
        parent = self._picture_node(node_id, index)
        source = parent.recipe_of(index)
        if source.mode is not Mode.TXT2IMG or source.is_finish:
            raise InputError(
                f"The hires fix remakes a generated picture, and {node_id} is {parent.action.as_words}. "
                "Use Upscale for it."
            )
        if recipe.hires_scale <= 1:
            raise InputError("hires: set Upscale by above 1 in the form's Hires fix, then press Hires fix again")
        if source.controls:
            raise InputError("controls: the hires fix runs without control units, and this picture was made under some")
        return self._turn(Request(source.with_hires_of(recipe), Action.GENERATE, node_id, index), on_step)

    def _structure_unit(self, recipe: Recipe, weight: float) -> tuple[ControlRef, ...]:
        """The tile ControlNet unit that keeps a finish's shapes: none at weight 0; its map is the picture itself."""
        if not isinstance(weight, (int, float)) or not 0 <= weight <= 2:
            raise InputError(f"keep structure: {weight!r} is not a ControlNet weight from 0 (off) to 2")
        if weight == 0:
            return ()
        model = default_model("tile", recipe.model, self.services.models.family)
        if not model:
            raise InputError("keep structure: no tile ControlNet is known for this model's family; set it to 0")
        return (ControlRef("tile", model, STRUCTURE_MAP, float(weight), preprocessor="tile_resample"),)

    # --- the tree ------------------------------------------------------------------------------

    def tree(self) -> list[Iteration]:
        return self.history.nodes()

    def sessions(self) -> list[SessionInfo]:
        """Every session of this caller (its account's, where accounts are kept apart)."""
        return self.store.sessions()

    def restore(self, node_id: str) -> Restored:
        """A node's recipe and pictures. A damaged file costs only itself: it is named, the rest is restored."""
        node = self.history.get(node_id)
        damaged: list[str] = []

        def readable(name: str) -> Image.Image | None:
            try:
                return load_picture(self.path(name))
            except InputError as error:
                damaged.append(str(error))
                return None

        outputs = [readable(name) for name in node.outputs]
        inputs = {role: picture for role, name in node.inputs.items() if (picture := readable(name)) is not None}
        return Restored(node=node, outputs=outputs, inputs=inputs, damaged=damaged)

    def output_picture(self, node_id: str, index: int = 0) -> Image.Image:
        """Picture `index` of a node, read (InputError naming the file when it is damaged)."""
        return load_picture(self.output_path(node_id, index))

    def output_path(self, node_id: str, index: int = 0) -> str:
        node = self._picture_node(node_id, index)
        return str(self.path(node.outputs[index]))

    def inputs(self, node_id: str) -> dict[str, Image.Image]:
        """What the artist gave a node (picture, mask, control maps), by role, without its outputs."""
        node = self.history.get(node_id)
        return {role: load_picture(self.path(name)) for role, name in node.inputs.items()}

    def set_mark(self, node_id: str, index: int, mark: Mark | str) -> Iteration:
        return self.history.set_mark(node_id, index, mark)

    def toggle_mark(self, node_id: str, index: int, mark: Mark) -> Iteration:
        """Set `mark`, or clear it when the picture already has it (a second click undoes the first)."""
        marks = self.history.get(node_id).marks
        already = 0 <= index < len(marks) and marks[index] is mark
        return self.set_mark(node_id, index, Mark.NONE if already else mark)

    @property
    def drafts(self) -> Drafts:
        """This session's work in progress (the editor, the control maps); a read-only session keeps none."""
        self.history.check_writable()
        return Drafts(self.folder / DRAFT_FOLDER)

    def latest_run(self) -> RunReport | None:
        """This session's latest run since the studio started: running, or how it ended."""
        return self.services.runs.latest(self.folder)

    # --- authorship ----------------------------------------------------------------------------

    def lineage(self, node_id: str, index: int = 0) -> list[Step]:
        """The steps from the first generation to picture `index` of a node, with what the human and the machine did."""
        self._picture_node(node_id, index)
        return self.services.authorship.lineage(self.history, node_id, index)

    def authorship_report(self, node_id: str, index: int = 0) -> tuple[dict, str]:
        """The report as JSON and as a self-contained page (no paths of this computer in either)."""
        self._picture_node(node_id, index)
        return self.services.authorship.report(self.history, node_id, index)

    def export_with_credentials(self, node_id: str, index: int, destination: Path, **options) -> Path:
        """The picture as PNG or JPEG with its lineage signed in (C2PA), at `destination`. `options`: kind ("png",
        "jpeg"), confirmed (a near copy of an outside picture whose licence does not allow it: NeedsConfirmation)."""
        self._picture_node(node_id, index)
        return self.services.authorship.export(self.history, node_id, index, destination, **options)

    def save_authorship(self, node_id: str, index: int = 0, **options) -> tuple[Path, Path, Path]:
        """The report (HTML, JSON) and the picture with its credentials in the session's exports folder (`options`
        as export_with_credentials)."""
        self._picture_node(node_id, index)
        return self.services.authorship.save(self.history, node_id, index, **options)

    def closest_pictures(self, picture: Image.Image, folder: str | Path | None = None, **options) -> list[Match]:
        """Did `picture` (anyone's) come from one of these? The pictures of `folder`, or of this session (its results
        and the pictures it was given), closest first with their figures. `options`: limit, on_progress."""
        if folder is not None:
            return self.services.closeness.against_folder(picture, folder, **options)
        return self.services.closeness.against_session(picture, self.history, **options)

    # --- one turn ------------------------------------------------------------------------------

    def _picture_node(self, node_id: str, index: int) -> Iteration:
        node = self.history.get(node_id)
        check_output_index(node, index)
        return node

    def _turn(self, request: Request, on_step: OnStep) -> Iteration:
        return take_turn(self.history, self.services, request, rng=self._rng, on_step=on_step)
