"""Live painting, one of a session's actions: the picture follows each stroke on the editor's canvas, one picture
per change, and the artist keeps the one they like as a node (see studio/live/)."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Mapping

from PIL import Image

from studio.errors import NothingToEdit
from studio.history import Action, HistoryError, Iteration, SessionHistory
from studio.live.draft import LiveDraft, LivePicture, run_fingerprint
from studio.prepare import Edit, fit_control_maps, render_size
from studio.recipe import MAX_SEED, InpaintArea, Mode, Recipe
from studio.services import Services
from studio.session.drafts import FOLDER as DRAFT_FOLDER
from studio.session.turn import Request, record_made, render_live


class LivePainting:
    """The live-painting part of `Session` (session.py): it acts on the same history, with the same services."""

    history: SessionHistory
    services: Services
    _rng: random.SystemRandom

    @property
    def live(self) -> LiveDraft:
        """The live painting's seed and last picture, kept in the draft (a read-only session keeps none)."""
        self.history.check_writable()
        return LiveDraft(self.history.folder / DRAFT_FOLDER)

    def live_seed(self) -> int:
        """The seed every live run uses until the artist asks for a new one: what changes is what they did."""
        seed = self.live.seed()
        return seed if seed is not None else self.new_live_seed()

    def new_live_seed(self) -> int:
        seed = self._rng.randint(0, MAX_SEED)
        self.live.save_seed(seed)
        return seed

    def paint_live(
        self,
        edit: Edit,
        recipe: Recipe,
        *,
        strength: float,
        masked: bool,
        control_images: Mapping[str, Image.Image] | None = None,
        sources: Mapping[str, Mapping[str, str]] | None = None,
    ) -> LivePicture | None:
        """A live run on the editor's canvas: img2img of the canvas, or inpaint of the mask when one is drawn
        (`masked`), at `strength`, with the live seed; one picture, behind every run the artist pressed.

        Coalesced with this session's other changes: None when a newer change came before this one ran.
        """
        width, height = render_size(edit.picture.size)
        mode, action = (Mode.INPAINT, Action.INPAINT) if masked else (Mode.IMG2IMG, Action.REPAINT)
        recipe = recipe.as_edit(
            mode, width=width, height=height, denoising_strength=strength, seed=self.live_seed(), batch_size=1
        )
        if masked:
            recipe = recipe.replace(inpaint_area=InpaintArea.WHOLE_PICTURE)
        images = {"image": edit.picture} | ({"mask": edit.mask} if masked else {})
        images |= fit_control_maps(control_images, edit.picture.size, recipe.reference_pictures, recipe.painted_areas)
        request = Request(recipe, action, edit.parent_id, edit.source_index, images, sources=sources or {})

        parent = (edit.parent_id, edit.source_index or 0) if edit.parent_id is not None else None
        control_maps = {role: image for role, image in images.items() if role not in ("image", "mask")}
        fingerprint = run_fingerprint(recipe, parent, edit.picture, edit.mask if masked else None, control_maps)

        def run() -> LivePicture:
            if self.live.last_fingerprint() == fingerprint and (same := self.live.last()) is not None:
                return same  # the same canvas and recipe again (one stroke's second event, a reload): its picture
            steps: list[int] = []
            started = time.perf_counter()
            pictures = render_live(self.history, self.services, request, lambda progress: steps.append(progress.step))
            painted = LivePicture(
                picture=pictures[0],
                recipe=recipe,
                action=action,
                canvas=edit.picture,
                mask=edit.mask if masked else None,
                parent=parent,
                sources={role: dict(stated) for role, stated in (sources or {}).items()},
                seconds=time.perf_counter() - started,
                steps=len(steps),
                control_maps=control_maps,
            )
            self.live.save(painted)
            return painted

        return self.services.live.for_session(self.history.folder).paint(run)

    def keep_live(self) -> Iteration:
        """The last live picture as a node: a child of the picture painted on, with the canvas and mask as the
        human's inputs and exactly the recipe that ran (a replay paints the same pixels)."""
        live = self.live.last()
        if live is None:
            raise NothingToEdit("There is no live picture to keep yet: turn Live on and paint.")
        kept = self.live.kept_as(live)
        if kept is not None:
            with contextlib.suppress(HistoryError):  # unless that node's files were removed by hand since
                return self.history.get(kept)  # kept already (or the same run again, after a reload): not a copy
        parent_id, source_index = live.parent if live.parent else (None, None)
        images = {"image": live.canvas} | ({"mask": live.mask} if live.mask is not None else {}) | live.control_maps
        request = Request(live.recipe, live.action, parent_id, source_index, images, sources=live.sources)
        node = record_made(self.history, self.services, request, [live.picture])
        self.live.mark_kept(live, node.id)
        return node
