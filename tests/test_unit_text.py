"""The steering units of an A1111 text read back: sd-webui-controlnet's `ControlNet N` fields and the studio's
area prompts, from texts as those tools write them and from the studio's own."""

from __future__ import annotations

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from studio.formats.a1111 import format_parameters, parse_parameters
from studio.formats.unit_text import AreaWords, UnitSettings, read_units
from studio.recipe import AreaPromptRef, ControlMode, ControlRef, Recipe, ReferenceKind, ReferenceRef
from studio.services.picture_info import read_picture_info

# As sd-webui-controlnet 1.1.4xx writes its units (its `infotext.py`): every setting, the model with its hash.
WEBUI_TEXT = (
    "a dancer on a rooftop\nNegative prompt: blurry\n"
    "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 512x768, Model: v1-5, "
    'ControlNet 0: "Module: openpose_full, Model: control_v11p_sd15_openpose [cab727d4], Weight: 0.85, '
    "Resize Mode: Crop and Resize, Processor Res: 512, Threshold A: 0.5, Threshold B: 0.5, Guidance Start: 0.1, "
    'Guidance End: 0.9, Pixel Perfect: False, Control Mode: My prompt is more important, Save Detected Map: True", '
    'ControlNet 1: "Module: ip-adapter_clip_sd15, Model: ip-adapter-plus_sd15 [c817b455], Weight: 0.6, '
    'Resize Mode: Crop and Resize, Guidance Start: 0, Guidance End: 1, Pixel Perfect: False, Control Mode: Balanced", '
    'ControlNet 2: "Module: none, Model: None, Weight: 1, Guidance Start: 0, Guidance End: 1", '
    'ControlNet 3: "Module: reference_only, Model: some_model_of_no_known_kind, Weight: 1", '
    "Version: v1.10.1"
)


def test_sd_webui_controlnet_units_are_read_with_their_kind_and_mode():
    units, areas, used = read_units(parse_parameters(WEBUI_TEXT).fields)
    pose, reference = units
    assert pose == UnitSettings(
        0, "openpose_full", "control_v11p_sd15_openpose", 0.85, 0.1, 0.9, ControlMode.PROMPT, kind="openpose"
    )
    assert pose.control_model == "lllyasviel/control_v11p_sd15_openpose"  # the known model's id again
    assert pose.preprocessor == "none"  # openpose_full is not one of the studio's preprocessors
    assert reference.is_reference and reference.model == "ip-adapter-plus_sd15" and reference.weight == 0.6
    assert reference.reference_kind is ReferenceKind.STYLE_CONTENT
    # An empty unit is no unit; a unit of a kind the studio lacks stays among the fields kept, not applied.
    assert used == {"ControlNet 0", "ControlNet 1"} and areas == ()


def test_the_studios_own_text_reads_back_its_units_references_and_area_prompts(tmp_path):
    recipe = Recipe(
        prompt="two friends",
        seed=3,
        controls=(
            ControlRef("canny", "lllyasviel/control_v11p_sd15_canny", "control-0", 0.7, 0.0, 0.8, "canny"),
            ControlRef("depth", "/models/depth.safetensors", "control-1", 1.0, 0.2, 1.0, "none", control_mode=2),
        ),
        references=(
            ReferenceRef("ip-adapter-plus_sd15.safetensors", "reference-1", 0.5, 0.0, 0.6),
            ReferenceRef("ip-adapter-faceid_sd15.bin", "reference-2", 0.9, kind=ReferenceKind.FACE),
        ),
        area_prompts=(AreaPromptRef("a girl with red hair", "area-1", 0.7),),
    )
    text = format_parameters(recipe)
    units, areas, _ = read_units(parse_parameters(text).fields)
    assert units == (
        UnitSettings(0, "canny", "lllyasviel/control_v11p_sd15_canny", 0.7, 0.0, 0.8, kind="canny"),
        UnitSettings(1, "none", "depth", 1.0, 0.2, 1.0, ControlMode.CONTROL, kind="depth"),  # the file's stem
        UnitSettings(2, "ip-adapter-auto", "ip-adapter-plus_sd15", 0.5, 0.0, 0.6),
        UnitSettings(3, "ip-adapter_face_id", "ip-adapter-faceid_sd15", 0.9, 0.0, 1.0),  # sd-webui-controlnet's
    )
    assert [unit.reference_kind for unit in units[2:]] == [ReferenceKind.STYLE_CONTENT, ReferenceKind.FACE]
    assert areas == (AreaWords(1, "a girl with red hair", 0.7),)
    # Through a PNG that holds only the text (as another tool would pass it on): the units, not among the unknown.
    info = PngInfo()
    info.add_text("parameters", text)
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png", pnginfo=info)
    read = read_picture_info(tmp_path / "a.png")
    assert read.units == units and read.areas == areas
    assert not [key for key in read.unknown if key.startswith(("ControlNet", "Area"))]
