"""The Control tab's events: choosing a kind, making a map, painting with a class, posing a skeleton."""

from __future__ import annotations

from typing import Any

import gradio as gr
from PIL import ImageDraw

from studio.control import maps
from studio.control.catalogue import KINDS, NO_PREPROCESSOR, default_model
from studio.control.pose import JOINTS, PRESETS, Pose, click, render
from studio.control.units import default_settings, parse_settings
from studio.errors import InputError
from studio.pictures import check_side
from studio.services import Services
from studio.ui.control_panel import (
    ControlPanel,
    UnitWidgets,
    editor_value,
    hint_text,
    kind_display,
    map_colour_names,
    map_colours,
    map_of,
    painting_text,
    preprocessor_choices,
)
from studio.ui.running import refusal, user_errors, warn
from studio.ui.screen import Screen

_RECENT_CLASSES = 8
BY_HAND = {"preprocessor": NO_PREPROCESSOR}  # a map drawn, posed or uploaded by the artist


def wire(services: Services, screen: Screen, panel: ControlPanel) -> None:
    for unit in panel.units:
        _wire_unit(services, screen, unit)


def _wire_unit(services: Services, screen: Screen, unit: UnitWidgets) -> None:
    form = screen.form
    # Progress and "Error" badges go to the hidden sink: a refusal reads as a message, never a badge over the map.
    private: dict[str, Any] = {"api_visibility": "private", "show_progress_on": [screen.badge_sink]}

    def choose_kind(kind: str, shown_kind: str, model: str, recent: list[str], made_by: dict | None):
        if kind == shown_kind:  # the dropdown reports one choice more than once: nothing changes
            return {unit.shown_kind: gr.skip()}
        first = KINDS[kind].preprocessors[0]
        shown = {
            unit.shown_kind: kind,
            unit.model: default_model(kind, model or services.models.defaults.model, services.models.family),
            unit.preprocessor: gr.Dropdown(choices=preprocessor_choices(kind), value=first),
            unit.settings: default_settings(first),
            **kind_display(unit, kind),
        }
        if made_by is None:
            return shown
        # A map means one thing to one kind (a skeleton is not a depth map): it never outlives the kind.
        return {
            **shown,
            unit.map: None,
            unit.made_by: None,
            unit.enabled: False,
            unit.hint: hint_text(kind) + "  \n**The old map was cleared** (it was made for another kind): "
            "make or paint a new one; the unit is off until then.",
        }

    unit.kind.input(
        choose_kind,
        inputs=[unit.kind, unit.shown_kind, form.model, unit.recent_classes, unit.made_by],
        outputs=[
            unit.shown_kind,
            unit.model,
            unit.preprocessor,
            unit.settings,
            unit.hint,
            unit.palette_box,
            unit.pose_box,
            unit.map,
            unit.made_by,
            unit.enabled,
        ],
        **private,
    ).then(keep_map(services, screen, unit), **keep_options(screen, unit))
    unit.preprocessor.input(default_settings, inputs=unit.preprocessor, outputs=unit.settings, **private)

    # Every change of the map (painted, made, posed, cleared) goes to the session's draft: a reload keeps it.
    unit.map.change(keep_map(services, screen, unit), **keep_options(screen, unit))

    def use_picked(selected: dict | None, session_id: str | None, request: gr.Request):
        if not selected:
            return warn("Pick a result first (click it in Results or History).", title="Nothing picked")
        session = screen.session_for(session_id, request)
        with user_errors():
            return session.output_picture(selected["node"], selected["index"])

    unit.use_picked.click(use_picked, inputs=[screen.selected, screen.session], outputs=unit.source, **private)

    def make_map(source, preprocessor: str, settings: str, kind: str, recent: list[str]):
        if source is None:
            raise refusal("Upload a picture (or use the picked result) to make the map from.", title="No picture")
        with user_errors():
            check_side(source, f"control unit {unit.number}: the picture to make a map from")
        if preprocessor == NO_PREPROCESSOR:  # the artist's own map, taken as it is
            return {unit.map: editor_value(source, kind), unit.enabled: True, unit.made_by: BY_HAND}
        with user_errors():
            control_map = services.maps.control_map(preprocessor, source, parse_settings(settings, preprocessor))
        made_by = {"preprocessor": preprocessor, "settings": settings}
        return {unit.map: editor_value(control_map, kind, recent), unit.enabled: True, unit.made_by: made_by}

    unit.make_map.click(
        make_map,
        inputs=[unit.source, unit.preprocessor, unit.settings, unit.kind, unit.recent_classes],
        outputs=[unit.map, unit.enabled, unit.made_by],
        **{**private, "show_progress_on": [unit.hint]},  # progress on the hint line, never over the map
    ).then(keep_map(services, screen, unit), **keep_options(screen, unit))

    def blank(kind: str, width: float, height: float, recent: list[str]):
        with user_errors():
            size = _size(width, height)
        return {
            unit.map: editor_value(maps.blank_map(kind, size), kind, recent),
            unit.enabled: True,
            unit.made_by: BY_HAND,
        }

    unit.blank_map.click(
        blank,
        inputs=[unit.kind, form.width, form.height, unit.recent_classes],
        outputs=[unit.map, unit.enabled, unit.made_by],
        **private,
    ).then(keep_map(services, screen, unit), **keep_options(screen, unit))

    def paint_with(name: str | None, recent: list[str], current: dict | None):
        if not name:
            return {unit.recent_classes: gr.skip()}  # an empty dict would be read as one value, not as no change
        recent = [name, *(other for other in recent if other != name)][:_RECENT_CLASSES]
        named = {"colours": map_colours("seg", recent), "colour_names": map_colour_names("seg", recent)}
        return {
            unit.recent_classes: recent,
            unit.map: {**current, **named} if current else current,
            unit.painting_with: painting_text(recent),
        }

    unit.palette.input(
        paint_with,
        inputs=[unit.palette, unit.recent_classes, unit.map],
        outputs=[unit.recent_classes, unit.map, unit.painting_with],
        **private,
    )

    pose_outputs = [unit.pose, unit.held_joint, unit.pose_view, unit.pose_help, unit.map, unit.enabled, unit.made_by]

    def show_pose(pose: Pose, size: tuple[int, int], held: int | None, note: str = "") -> dict[Any, Any]:
        control_map = render(pose, size)
        view = render(pose, _view_size(size))
        point = pose.keypoints[held] if held is not None else None
        if point is not None:  # ring the joint in hand (on the view only, never on the map)
            x, y = point
            centre = (x * view.width, y * view.height)
            ImageDraw.Draw(view).ellipse(
                (centre[0] - 12, centre[1] - 12, centre[0] + 12, centre[1] + 12), outline="white", width=2
            )
        if held is None:
            help_text = note or "*Click a joint to pick it up.*"
        else:
            help_text = f"Holding the **{JOINTS[held]}**: click where it goes."
        return {
            unit.pose: pose.to_dict(),
            unit.held_joint: held,
            unit.pose_view: view,
            unit.pose_help: help_text,
            unit.map: editor_value(control_map, "openpose"),
            unit.enabled: True,
            unit.made_by: BY_HAND,
        }

    def start_pose(name: str | None, width: float, height: float):
        if not name:  # the preset box cleared: nothing to pose (an empty dict would read as one missing value)
            return {unit.pose_help: gr.skip()}
        with user_errors():
            return show_pose(PRESETS[name], _size(width, height), None, f"*{name}: click a joint to pick it up.*")

    unit.pose_preset.input(
        start_pose, inputs=[unit.pose_preset, form.width, form.height], outputs=pose_outputs, **private
    ).then(keep_map(services, screen, unit), **keep_options(screen, unit))

    def detect(source, width: float, height: float):
        if source is None:
            raise refusal("Upload a picture (or use the picked result) to find a pose in.", title="No picture")
        with user_errors():
            pose = services.maps.detect_pose(source)
        if pose is None:
            raise refusal("No person was found in the picture; start from a preset pose instead.", title="No pose")
        return show_pose(pose, _size(width, height), None, "*Detected: click a joint to pick it up.*")

    unit.detect_pose.click(
        detect,
        inputs=[unit.source, form.width, form.height],
        outputs=pose_outputs,
        **{**private, "show_progress_on": [unit.pose_help]},
    ).then(keep_map(services, screen, unit), **keep_options(screen, unit))

    def click_pose(pose: dict | None, held: int | None, width: float, height: float, event: gr.SelectData):
        if pose is None:
            raise refusal("Start from a pose first.", title="No pose")
        size = _size(width, height)
        view = _view_size(size)
        x, y = event.index  # in the view's pixels
        moved, held = click(Pose.from_dict(pose), held, (x / view[0], y / view[1]), view)
        return show_pose(moved, size, held)

    unit.pose_view.select(
        click_pose,
        inputs=[unit.pose, unit.held_joint, form.width, form.height],
        outputs=pose_outputs,
        **private,
    ).then(keep_map(services, screen, unit), **keep_options(screen, unit))


def keep_map(services: Services, screen: Screen, unit: UnitWidgets) -> Any:
    """A handler that writes `unit`'s map into the session's draft."""

    def keep(editor: dict | None, session_id: str | None, request: gr.Request) -> None:
        if not session_id:
            return
        session = screen.session_for(session_id, request)
        if not session.history.read_only:
            session.drafts.save_map(unit.number, map_of(editor))

    return keep


def keep_options(screen: Screen, unit: UnitWidgets) -> dict[str, Any]:
    return {
        "inputs": [unit.map, screen.session],
        "trigger_mode": "always_last",
        "show_progress": "hidden",
        "api_visibility": "private",
    }


def keep_every_map(services: Services, screen: Screen, event: Any) -> None:
    """After `event` (which may set any unit's map), the drafts follow."""
    for unit in screen.controls.units:
        event = event.then(keep_map(services, screen, unit), **keep_options(screen, unit))


def _view_size(size: tuple[int, int], longest: int = 512) -> tuple[int, int]:
    """The pose editor draws at this size whatever the map's, so joints are big enough to click."""
    scale = longest / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _size(width: float | None, height: float | None) -> tuple[int, int]:
    if not width or not height:
        raise InputError("width/height: set the picture's size first")
    return int(width), int(height)
