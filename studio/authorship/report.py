"""The authorship report: a lineage told in plain words, as JSON and as one self-contained HTML page.

It names no local path, user or folder: pictures by their file names in the session, outside
material by content hash. `published` lists what an export will carry, before it is written.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from PIL import Image

from studio.authorship.lineage import HUMAN, Step, plural
from studio.pictures import png_data_url

SCHEMA_VERSION = 2  # 2: closeness to outside pictures, per step and for the picture
THUMBNAIL = 160


def summary(steps: list[Step]) -> dict[str, Any]:
    """The figures of the story: steps, steps by hand, and the measured areas."""
    acts = [act for step in steps for act in step.by_hand]
    return {
        "steps": len(steps),
        "steps_by_hand": sum(1 for step in steps if _shaped_by_hand(step)),
        "human_acts": len(acts),
        "masked_percent": [act.figures["area_percent"] for act in acts if act.kind == "mask"],
        "painted_percent": [act.figures["changed_percent"] for act in acts if act.kind == "paint-over"],
        "outside_sources": sum(len(step.outside) for step in steps),
    }


def _shaped_by_hand(step: Step) -> bool:
    """A step the artist shaped beyond asking: masked, painted, drew a map or an area (a reference's, an area
    prompt's), marked regions, picked among several."""
    shaping = ("mask", "paint-over", "control map", "reference area", "area prompt", "region", "outpaint", "pick")
    return any(act.kind in shaping for act in step.by_hand)


def story(steps: list[Step]) -> str:
    """One sentence for people: "4 steps, 2 of them shaped by hand: masked 3.1 % of the picture; painted over …".

    It counts steps, then lists the acts that shaped them (a step may hold several), so the two never read as one
    count."""
    figures = summary(steps)
    shaped = [act.words for step in steps if _shaped_by_hand(step) for act in step.by_hand if act.kind != "prompt"]
    text = f"{plural(figures['steps'], 'step')}, {figures['steps_by_hand']} of them shaped by hand"
    return f"{text}: {'; '.join(shaped)}." if shaped else f"{text}."


def report_json(steps: list[Step]) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "story": story(steps),
        "summary": summary(steps),
        "steps": [
            {
                "node": step.node_id,
                "action": step.action,
                "picture": step.picture,
                "human": [asdict(act) for act in step.acts if act.by == HUMAN],
                "machine": [asdict(act) for act in step.acts if act.by != HUMAN],
                "outside": [asdict(source) for source in step.outside],
                "closeness": [entry.to_dict() for entry in step.closeness],
            }
            for step in steps
        ],
        # The exported picture's closeness to each outside picture of its lineage (studio/closeness.py).
        "closeness": [entry.to_dict() for entry in steps[-1].closeness] if steps else [],
    }


def published(steps: list[Step]) -> list[str]:
    """What an export carries, in words, for the artist to read before anything is written."""
    lines = [
        f"{plural(len(steps), 'step')}, each with what you did (the prompt words added and removed, picks, masked and "
        "painted areas in %, maps by hand)",
        "each step's model name and hash, sampler and schedule, number of steps, seed and strength",
        "the pictures of the steps as ingredients (their file names in the session, never a folder)",
    ]
    outside = [source for step in steps for source in step.outside]
    if outside:
        lines.append(f"{len(outside)} outside picture(s) by content hash, with the source and licence you gave")
    if steps and steps[-1].closeness:
        lines.append("how close the picture stays to each outside picture: the closeness figures and their words")
    lines.append("no paths, user names or folder names of this computer")
    return lines


def report_html(steps: list[Step], picture_of: Callable[[str], Path]) -> str:
    """A page that needs nothing else: thumbnails inline, the story, each step's acts."""
    data = report_json(steps)
    rows = []
    for step, entry in zip(steps, data["steps"], strict=True):
        human = "".join(f"<li>{html.escape(act['words'])}</li>" for act in entry["human"]) or "<li>(none)</li>"
        machine = "".join(f"<li>{html.escape(act['words'])}</li>" for act in entry["machine"])
        outside = "".join(
            f"<li>outside picture {html.escape(s['sha256'][:16])}…: source {html.escape(s['origin'])}, "
            f"licence {html.escape(s['licence'])}</li>"
            for s in entry["outside"]
        )
        rows.append(
            f"<section><img alt='{html.escape(step.picture)}' src='{_thumbnail(picture_of(step.picture))}'>"
            f"<div><h2>{html.escape(step.node_id)} · {html.escape(step.action)}</h2>"
            f"<h3>By hand</h3><ul>{human}</ul><h3>By the machine</h3><ul>{machine}{outside}</ul></div></section>"
        )
    closeness = "".join(f"<li>{html.escape(entry.words())}</li>" for entry in (steps[-1].closeness if steps else ()))
    closeness = f"<h2>Closeness to outside pictures</h2><ul>{closeness}</ul>" if closeness else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Authorship report</title><style>"
        "body{font-family:sans-serif;max-width:56rem;margin:2rem auto;color:#222}"
        "section{display:flex;gap:1rem;border-top:1px solid #ddd;padding:1rem 0}"
        "img{width:160px;height:auto;border:1px solid #ccc}h2{margin:0;font-size:1.1rem}h3{margin:.5rem 0 0;font-size:.9rem}"
        "</style></head><body><h1>Authorship report</h1>"
        f"<p><strong>{html.escape(data['story'])}</strong></p>{closeness}{''.join(rows)}"
        f"<script type='application/json' id='report'>{html.escape(json.dumps(data))}</script></body></html>"
    )


def _thumbnail(path: Path) -> str:
    with Image.open(path) as picture:
        picture = picture.convert("RGB")
    picture.thumbnail((THUMBNAIL, THUMBNAIL))
    return png_data_url(picture)
