from PIL import Image

from studio import metadata
from studio.recipe import InpaintArea, Mode, Recipe


def test_parameters_text_is_a1111_shaped():
    recipe = Recipe(
        prompt="a cat\non a mat",
        negative_prompt="dog",
        sampler="DPM++ 2M Karras",
        steps=30,
        cfg_scale=7.5,
        seed=5,
        width=512,
        height=768,
        batch_size=2,
        model="tiny",
    )
    text = metadata.a1111_parameters(recipe, index=1)
    assert text.splitlines() == [
        "a cat",
        "on a mat",
        "Negative prompt: dog",
        "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7.5, Seed: 6, Size: 512x768, Model: tiny",
    ]


def test_parameters_for_inpaint_and_variations():
    recipe = Recipe(
        prompt="p",
        seed=1,
        mode=Mode.INPAINT,
        inpaint_area=InpaintArea.ONLY_MASKED,
        variation_seed=9,
        variation_strength=0.3,
        batch_size=2,
    )
    last_line = metadata.a1111_parameters(recipe, index=1).splitlines()[-1]
    assert "Seed: 1," in last_line and "Denoising strength: 0.75" in last_line
    assert "Inpaint area: Only masked, Masked area padding: 32" in last_line
    assert last_line.endswith("Variation seed: 10, Variation seed strength: 0.3")


def test_png_keeps_its_texts(tmp_path):
    path = tmp_path / "picture.png"
    metadata.write_png(Image.new("RGB", (8, 8), "red"), path, {"studio": '{"a": 1}', "parameters": "x"})
    assert metadata.read_texts(path) == {"studio": '{"a": 1}', "parameters": "x"}
    assert metadata.read_studio_json(path) == {"a": 1}
    assert not list(tmp_path.glob(".*.tmp"))


def test_unreadable_png_has_no_studio_json(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n half a file")
    assert metadata.read_studio_json(path) is None
