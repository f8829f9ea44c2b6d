"""The preprocessors a control unit can make its map with: names, settings, and the weights each needs.

Pure data. Running them (controlnet-aux annotators, which load weights) is studio/engine/annotators.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

ANNOTATORS_REPO = "lllyasviel/Annotators"
SEGMENTATION_REPO = "openmmlab/upernet-convnext-small"


@dataclass(frozen=True)
class Preprocessor:
    name: str
    label: str
    settings: Mapping[str, float] = field(default_factory=dict)  # name -> default value
    repo: str = ""  # where its weights come from; "" when it needs none
    files: tuple[str, ...] = ()


PREPROCESSORS: dict[str, Preprocessor] = {
    p.name: p
    for p in (
        Preprocessor("canny", "Canny edges", {"low_threshold": 100, "high_threshold": 200}),
        Preprocessor("lineart_standard", "Line art (standard)", {"gaussian_sigma": 6.0, "intensity_threshold": 8}),
        Preprocessor("shuffle", "Content shuffle"),
        Preprocessor("tile_resample", "Tile resample", {"down_sampling_rate": 1.0}),
        Preprocessor(
            "openpose",
            "OpenPose (body)",
            repo=ANNOTATORS_REPO,
            files=("body_pose_model.pth", "hand_pose_model.pth", "facenet.pth"),
        ),
        Preprocessor("depth_midas", "Depth (MiDaS)", repo=ANNOTATORS_REPO, files=("dpt_hybrid-midas-501f0c75.pt",)),
        Preprocessor("depth_zoe", "Depth (Zoe)", repo=ANNOTATORS_REPO, files=("ZoeD_M12_N.pt",)),
        Preprocessor("softedge_hed", "Soft edges (HED)", repo=ANNOTATORS_REPO, files=("ControlNetHED.pth",)),
        Preprocessor("lineart", "Line art (model)", repo=ANNOTATORS_REPO, files=("sk_model.pth", "sk_model2.pth")),
        Preprocessor(
            "seg_upernet",
            "Segmentation (UperNet, ADE20K)",
            repo=SEGMENTATION_REPO,
            files=("config.json", "preprocessor_config.json", "model.safetensors"),
        ),
    )
}


# Finding faces and hands to fix: OpenPose's body network, and OpenPose's own rules for where a hand (past
# the wrist, along the forearm) and a face (around nose, eyes and ears) are. Only the body file is needed.
REGION_FINDER = Preprocessor(
    "openpose_regions", "Face and hand finder (OpenPose body)", repo=ANNOTATORS_REPO, files=("body_pose_model.pth",)
)
