"""An OpenPose body skeleton the artist can pose by hand, rendered as the openpose ControlNet expects.

A pose is 18 keypoints in OpenPose's COCO order, each (x, y) as fractions of the picture's width and
height (so a pose fits any size), or None where a joint is hidden. Rendering follows the OpenPose
annotator exactly: limbs as ellipses 4 px thick in 60% of their colour, joints as 4 px discs in the
full colour, drawn on black. The openpose ControlNet was trained on those colours; a test compares
this renderer with controlnet-aux's own pixel for pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from studio.errors import InputError

SCHEMA_VERSION = 1

JOINTS: tuple[str, ...] = (
    "nose", "neck",
    "right shoulder", "right elbow", "right wrist",
    "left shoulder", "left elbow", "left wrist",
    "right hip", "right knee", "right ankle",
    "left hip", "left knee", "left ankle",
    "right eye", "left eye", "right ear", "left ear",
)  # fmt: skip

# (joint, joint) pairs, in the order whose colours the annotator uses.
LIMBS: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)  # fmt: skip

# One colour per joint, and per limb in LIMBS order: OpenPose's rainbow.
COLOURS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip

LIMB_SHADE = 0.6
LIMB_HALF_WIDTH = 4
JOINT_RADIUS = 4

Point = tuple[float, float]


@dataclass(frozen=True)
class Pose:
    keypoints: tuple[Point | None, ...]

    def __post_init__(self) -> None:
        points = tuple(None if p is None else (float(p[0]), float(p[1])) for p in self.keypoints)
        if len(points) != len(JOINTS):
            raise InputError(f"pose: needs {len(JOINTS)} keypoints, got {len(points)}")
        object.__setattr__(self, "keypoints", points)

    def moved(self, joint: int, to: Point) -> Pose:
        """This pose with one joint at `to` (fractions of width and height, kept inside the picture)."""
        x, y = (min(1.0, max(0.0, v)) for v in to)
        points = list(self.keypoints)
        points[joint] = (x, y)
        return Pose(tuple(points))

    def to_dict(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, "keypoints": [None if p is None else list(p) for p in self.keypoints]}

    @classmethod
    def from_dict(cls, data: dict) -> Pose:
        if data.get("schema_version") != SCHEMA_VERSION:
            raise InputError(f"pose: unsupported version {data.get('schema_version')!r}")
        return cls(tuple(data["keypoints"]))


def render(pose: Pose, size: tuple[int, int]) -> Image.Image:
    """The pose as an OpenPose control map of `size` (width, height)."""
    width, height = size
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    for (start, end), colour in zip(LIMBS, COLOURS, strict=False):
        a, b = pose.keypoints[start], pose.keypoints[end]
        if a is None or b is None:
            continue
        # The annotator's own arithmetic (pixel centre truncated, not rounded), so maps match it exactly.
        ax, ay, bx, by = a[0] * width, a[1] * height, b[0] * width, b[1] * height
        length = math.hypot(ax - bx, ay - by)
        angle = math.degrees(math.atan2(ay - by, ax - bx))
        outline = cv2.ellipse2Poly(
            (int((ax + bx) / 2), int((ay + by) / 2)), (int(length / 2), LIMB_HALF_WIDTH), int(angle), 0, 360, 1
        )
        cv2.fillConvexPoly(canvas, outline, [int(c * LIMB_SHADE) for c in colour])  # pyright: ignore[reportCallIssue, reportArgumentType] (an int32 point array, as cv2 wants)
    for point, colour in zip(pose.keypoints, COLOURS, strict=True):
        if point is not None:
            cv2.circle(canvas, (int(point[0] * width), int(point[1] * height)), JOINT_RADIUS, colour, thickness=-1)
    return Image.fromarray(canvas)


def nearest_joint(pose: Pose, point: Point, size: tuple[int, int], within: float = 12.0) -> int | None:
    """The joint within `within` pixels of `point` (fractions), the closest one; None if there is none."""
    width, height = size
    best, best_distance = None, within
    for index, joint in enumerate(pose.keypoints):
        if joint is None:
            continue
        distance = math.hypot((joint[0] - point[0]) * width, (joint[1] - point[1]) * height)
        if distance <= best_distance:
            best, best_distance = index, distance
    return best


def click(pose: Pose, selected: int | None, point: Point, size: tuple[int, int]) -> tuple[Pose, int | None]:
    """One click of the pose editor: on a joint it picks that joint up; elsewhere it puts the picked one there."""
    hit = nearest_joint(pose, point, size)
    if hit is not None and hit != selected:
        return pose, hit
    if selected is None:
        return pose, None
    return pose.moved(selected, point), None


def _pose(**moves: Point) -> Pose:
    points = dict(_STANDING)
    points.update({name.replace("_", " "): point for name, point in moves.items()})
    return Pose(tuple(points[name] for name in JOINTS))


_STANDING: dict[str, Point] = {
    "nose": (0.50, 0.16), "neck": (0.50, 0.26),
    "right shoulder": (0.42, 0.26), "right elbow": (0.39, 0.40), "right wrist": (0.37, 0.53),
    "left shoulder": (0.58, 0.26), "left elbow": (0.61, 0.40), "left wrist": (0.63, 0.53),
    "right hip": (0.45, 0.54), "right knee": (0.45, 0.71), "right ankle": (0.45, 0.88),
    "left hip": (0.55, 0.54), "left knee": (0.55, 0.71), "left ankle": (0.55, 0.88),
    "right eye": (0.48, 0.145), "left eye": (0.52, 0.145), "right ear": (0.46, 0.155), "left ear": (0.54, 0.155),
}  # fmt: skip

# Seen from the front: the figure's right side is on the picture's left.
PRESETS: dict[str, Pose] = {
    "standing": _pose(),
    "arms raised": _pose(right_elbow=(0.38, 0.16), right_wrist=(0.36, 0.05), left_elbow=(0.62, 0.16),
                         left_wrist=(0.64, 0.05)),
    "arms out (T)": _pose(right_elbow=(0.30, 0.26), right_wrist=(0.18, 0.26), left_elbow=(0.70, 0.26),
                          left_wrist=(0.82, 0.26)),
    "walking": _pose(right_elbow=(0.41, 0.40), right_wrist=(0.45, 0.51), left_elbow=(0.60, 0.39),
                     left_wrist=(0.60, 0.52), right_knee=(0.43, 0.71), right_ankle=(0.40, 0.87),
                     left_knee=(0.57, 0.70), left_ankle=(0.61, 0.86)),
    "sitting": _pose(right_wrist=(0.42, 0.62), left_wrist=(0.58, 0.62), right_elbow=(0.39, 0.44),
                     left_elbow=(0.61, 0.44), right_hip=(0.45, 0.60), left_hip=(0.55, 0.60),
                     right_knee=(0.41, 0.68), left_knee=(0.59, 0.68), right_ankle=(0.41, 0.88),
                     left_ankle=(0.59, 0.88)),
    "hands on hips": _pose(right_elbow=(0.34, 0.42), right_wrist=(0.44, 0.53), left_elbow=(0.66, 0.42),
                           left_wrist=(0.56, 0.53)),
}  # fmt: skip
