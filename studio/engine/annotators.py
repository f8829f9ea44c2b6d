"""Turning a picture into a control map, through controlnet-aux (and transformers for segmentation).

Annotators are imported and loaded lazily, on first use. Those that need network weights find them in
the annotator folder (`--annotators`), else in the Hugging Face cache, else download them; when none
of that is possible, `AnnotatorMissing` says within seconds which file to put where, and every kind
that needs no weights keeps working. Which preprocessors there are is studio/control/preprocessors.py.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from studio.access.network import reachable
from studio.control import ade20k
from studio.control.pose import Pose
from studio.control.preprocessors import PREPROCESSORS, REGION_FINDER, Preprocessor
from studio.errors import AnnotatorMissing, InputError


class Preprocessors:
    """Runs preprocessors; keeps each loaded annotator for the next call."""

    def __init__(self, annotator_dir: Path | None = None) -> None:
        self.annotator_dir = annotator_dir
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()

    def run(self, name: str, picture: Image.Image, settings: Mapping[str, float] | None = None) -> Image.Image:
        """The control map for `picture`, at the picture's size. ValueError for an unknown name or setting."""
        preprocessor = PREPROCESSORS.get(name)
        if preprocessor is None:
            raise InputError(f"preprocessor: unknown {name!r}; choose one of {', '.join(PREPROCESSORS)}")
        values = dict(preprocessor.settings)
        for key, value in (settings or {}).items():
            if key not in values:
                raise InputError(f"preprocessor: {name} has no setting {key!r} (it has: {', '.join(values) or 'none'})")
            values[key] = float(value)
        picture = picture.convert("RGB")
        with self._lock:
            control_map = _RUNNERS[name](self, picture, values)
        return control_map.convert("RGB").resize(picture.size, Image.Resampling.BILINEAR)

    def detect_pose(self, picture: Image.Image) -> Pose | None:
        """The first person's body keypoints, as an editable pose; None when nobody is found."""

        with self._lock:
            detector = self._annotator("openpose", lambda folder: _openpose_class().from_pretrained(folder))
            people = detector.detect_poses(np.asarray(picture.convert("RGB")))
        if not people:
            return None
        points = [None if k is None else (k.x, k.y) for k in people[0].body.keypoints]
        return Pose(tuple(points))

    def find_regions(
        self, picture: Image.Image, labels: tuple[str, ...] = ("face", "hand")
    ) -> list[tuple[str, tuple[int, int, int, int]]]:
        """(label, box) of every face and hand OpenPose finds on the people in `picture`, faces first."""
        with self._lock:
            body = self._annotator(REGION_FINDER, _load_body)
            pixels = np.asarray(picture.convert("RGB"))[:, :, ::-1].copy()  # OpenPose reads BGR
            candidate, subset = body(pixels)
            people = body.format_body_result(candidate, subset)
        found = []
        for person in people:
            points = [None if k is None else (float(k.x), float(k.y)) for k in person.keypoints]
            found += boxes_from_keypoints(points, picture.size, labels)
        return sorted(found, key=lambda item: (item[0] != "face", item[1][0], item[1][1]))

    def weights_folder(self, preprocessor: Preprocessor) -> str:
        """A local folder, or the hub id, that holds the preprocessor's files. AnnotatorMissing if neither can."""
        if self.annotator_dir is not None:
            local = self.annotator_dir / preprocessor.repo.split("/")[-1]
            for folder in (local, self.annotator_dir):
                if all((folder / name).is_file() for name in preprocessor.files):
                    return str(folder)
        from huggingface_hub import constants, try_to_load_from_cache

        cached = [try_to_load_from_cache(preprocessor.repo, name) for name in preprocessor.files]
        found = [path for path in cached if isinstance(path, str)]
        if len(found) == len(cached):
            return str(Path(found[0]).parent)
        if constants.HF_HUB_OFFLINE or not reachable(constants.ENDPOINT):
            where = self.annotator_dir / preprocessor.repo.split("/")[-1] if self.annotator_dir else None
            missing = [name for name, path in zip(preprocessor.files, cached, strict=True) if not isinstance(path, str)]
            place = f"into {where}" if where else "into a folder and start the studio with --annotators FOLDER"
            meanwhile = (
                "Meanwhile, mark the regions by hand: drag a box over each."
                if preprocessor is REGION_FINDER
                else "Meanwhile canny, line art (standard), content shuffle, tile and hand-made maps work."
            )
            raise AnnotatorMissing(
                f"The {preprocessor.label} {'' if preprocessor is REGION_FINDER else 'preprocessor '}needs "
                f"{', '.join(missing)} from huggingface.co/{preprocessor.repo}, and this machine cannot download "
                f"it now. Download the file{'s' if len(missing) > 1 else ''} {place}, or connect once. {meanwhile}"
            )
        return preprocessor.repo

    def _annotator(self, which: str | Preprocessor, load):
        preprocessor = which if isinstance(which, Preprocessor) else PREPROCESSORS[which]
        if preprocessor.name not in self._loaded:
            self._loaded[preprocessor.name] = load(self.weights_folder(preprocessor))
        return self._loaded[preprocessor.name]


def boxes_from_keypoints(
    points: list[tuple[float, float] | None], size: tuple[int, int], labels: tuple[str, ...]
) -> list[tuple[str, tuple[int, int, int, int]]]:
    """Face and hand boxes for one person's 18 OpenPose body keypoints (in pixels), by OpenPose's own rules."""
    from controlnet_aux.open_pose import util
    from controlnet_aux.open_pose.body import BodyResult, Keypoint

    person = BodyResult([None if p is None else Keypoint(p[0], p[1]) for p in points], 0.0, len(points))
    canvas = np.zeros((size[1], size[0], 3), dtype=np.uint8)  # the rules read only the picture's size
    boxes: list[tuple[str, tuple[int, int, int, int]]] = []
    if "face" in labels and (face := util.faceDetect(person, canvas)) is not None:
        x, y, side = face
        boxes.append(("face", (int(x), int(y), int(x + side), int(y + side))))
    if "hand" in labels:
        for x, y, side, _is_left in util.handDetect(person, canvas):
            boxes.append(("hand", (int(x), int(y), int(x + side), int(y + side))))
    width, height = size
    return [
        (label, (max(0, left), max(0, top), min(width, right), min(height, bottom)))
        for label, (left, top, right, bottom) in boxes
    ]


def _load_body(folder: str):
    """OpenPose's body network. torch reads the .pth with its weights-only unpickler (tensors only, no code)."""
    from controlnet_aux.open_pose.body import Body

    return Body(str(Path(folder) / "body_pose_model.pth"))


def _detect_resolution(picture: Image.Image) -> int:
    # controlnet-aux rescales so the short side is this; the picture's own short side keeps its detail.
    return max(64, min(picture.size))


def _canny(_: Preprocessors, picture: Image.Image, values: dict) -> Image.Image:
    from controlnet_aux.canny import CannyDetector

    side = _detect_resolution(picture)
    return CannyDetector()(
        picture,
        low_threshold=int(values["low_threshold"]),
        high_threshold=int(values["high_threshold"]),
        detect_resolution=side,
        image_resolution=side,
        output_type="pil",
    )


def _lineart_standard(_: Preprocessors, picture: Image.Image, values: dict) -> Image.Image:
    from controlnet_aux.lineart_standard import LineartStandardDetector

    return LineartStandardDetector()(
        picture,
        guassian_sigma=values["gaussian_sigma"],
        intensity_threshold=values["intensity_threshold"],
        detect_resolution=_detect_resolution(picture),
        output_type="pil",
    )


def _shuffle(_: Preprocessors, picture: Image.Image, values: dict) -> Image.Image:
    from controlnet_aux.shuffle import ContentShuffleDetector

    side = _detect_resolution(picture)
    return ContentShuffleDetector()(picture, detect_resolution=side, image_resolution=side, output_type="pil")


def _tile_resample(_: Preprocessors, picture: Image.Image, values: dict) -> Image.Image:
    rate = max(1.0, values["down_sampling_rate"])
    small = (max(8, round(picture.width / rate)), max(8, round(picture.height / rate)))
    return picture.resize(small, Image.Resampling.LANCZOS).resize(picture.size, Image.Resampling.LANCZOS)


def _with_detector(name: str, import_detector):
    def run(runner: Preprocessors, picture: Image.Image, values: dict) -> Image.Image:
        detector = runner._annotator(name, lambda folder: import_detector().from_pretrained(folder))
        side = _detect_resolution(picture)
        return detector(picture, detect_resolution=side, image_resolution=side, output_type="pil")

    return run


def _openpose_class():
    from controlnet_aux.open_pose import OpenposeDetector

    return OpenposeDetector


def _midas():
    from controlnet_aux.midas import MidasDetector

    return MidasDetector


def _zoe():
    from controlnet_aux.zoe import ZoeDetector

    return ZoeDetector


def _hed():
    from controlnet_aux.hed import HEDdetector

    return HEDdetector


def _lineart_model():
    from controlnet_aux.lineart import LineartDetector

    return LineartDetector


def _segmentation(runner: Preprocessors, picture: Image.Image, values: dict) -> Image.Image:
    """ADE20K classes per pixel (UperNet), painted in the palette the seg ControlNet reads."""

    def load(folder: str):
        from transformers import AutoImageProcessor, UperNetForSemanticSegmentation

        return AutoImageProcessor.from_pretrained(folder), UperNetForSemanticSegmentation.from_pretrained(folder)

    import torch

    processor, model = runner._annotator("seg_upernet", load)
    with torch.inference_mode():
        outputs = model(**processor(picture, return_tensors="pt"))
    classes = processor.post_process_semantic_segmentation(outputs, target_sizes=[picture.size[::-1]])[0]
    palette = np.array([c.colour for c in ade20k.CLASSES], dtype=np.uint8)
    return Image.fromarray(palette[classes.numpy()])


_RUNNERS = {
    "canny": _canny,
    "lineart_standard": _lineart_standard,
    "shuffle": _shuffle,
    "tile_resample": _tile_resample,
    "openpose": _with_detector("openpose", _openpose_class),
    "depth_midas": _with_detector("depth_midas", _midas),
    "depth_zoe": _with_detector("depth_zoe", _zoe),
    "softedge_hed": _with_detector("softedge_hed", _hed),
    "lineart": _with_detector("lineart", _lineart_model),
    "seg_upernet": _segmentation,
}
