"""Dropping any picture reads back how it was made."""

import json

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from launch import build_sessions
from studio.recipe import Recipe
from studio.services.picture_info import Source, read_picture_info

A1111_TEXT = (
    "portrait of a knight, (detailed armour:1.2)\nNegative prompt: blurry\n"
    "Steps: 24, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6, Seed: 777, Size: 512x640, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.10.1"
)


def png_with(path, **texts):
    info = PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    Image.new("RGB", (64, 64), "gray").save(path, pnginfo=info)
    return path


def test_our_own_png_gives_back_the_exact_recipe_and_node(engine, tmp_path):
    studio = build_sessions(engine, tmp_path / "outputs").open()
    recipe = Recipe(
        prompt="a fox", negative_prompt="dog", model="tiny", steps=3, width=64, height=64, seed=5, batch_size=2
    )
    root = studio.generate(recipe)
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (10, 10, 30, 30))
    child = studio.inpaint(
        studio.restore(root.id).outputs[1],
        mask,
        recipe.replace(prompt="a fox, red scarf"),
        parent_id=root.id,
        source_index=1,
    )

    info = read_picture_info(studio.history.path(root.outputs[1]))
    assert info.source is Source.STUDIO and info.unknown == {}
    assert info.recipe(Recipe()) == recipe.replace(seed=6)  # the picture's own seed
    info = read_picture_info(studio.history.path(child.outputs[0]))
    assert info.node == child and info.session == studio.history.id
    assert info.node.parent_id == root.id and set(info.node.inputs) == {"image", "mask"}
    assert info.recipe(Recipe()) == child.recipe


def test_a1111_png(tmp_path):
    info = read_picture_info(png_with(tmp_path / "a.png", parameters=A1111_TEXT, extra="kept"))
    assert info.source is Source.A1111
    recipe = info.recipe(Recipe(model="tiny"))
    assert (recipe.prompt, recipe.sampler, recipe.steps, recipe.seed, recipe.width, recipe.height) == (
        "portrait of a knight, (detailed armour:1.2)",
        "DPM++ 2M",
        24,
        777,
        512,
        640,
    )
    assert recipe.model == "tiny"  # A1111's model name is shown, not applied
    assert info.unknown["Model"] == "v1-5-pruned-emaonly" and info.unknown["text: extra"] == "kept"


@pytest.mark.parametrize(("suffix", "encoding"), [(".jpg", "utf-16-be"), (".webp", "utf-16-le"), (".jpeg", "ascii")])
def test_jpeg_and_webp_with_exif_user_comment(tmp_path, suffix, encoding):
    path = tmp_path / f"a{suffix}"
    exif = Image.Exif()
    code = b"ASCII\x00\x00\x00" if encoding == "ascii" else b"UNICODE\x00"
    exif.get_ifd(0x8769)[0x9286] = code + A1111_TEXT.encode(encoding)
    Image.new("RGB", (64, 64), "gray").save(path, exif=exif)
    info = read_picture_info(path)
    assert info.source is Source.A1111 and info.changes["seed"] == 777 and info.changes["negative_prompt"] == "blurry"


def test_comfyui_prompt_graph(tmp_path):
    graph = {
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 156680208700286,
                "steps": 20,
                "cfg": 8,
                "sampler_name": "dpmpp_2m",
                "scheduler": "karras",
                "denoise": 1,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 768, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "beautiful scenery, glass bottle", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["4", 1]}},
    }
    info = read_picture_info(png_with(tmp_path / "c.png", prompt=json.dumps(graph), workflow="{}"))
    assert info.source is Source.COMFYUI
    assert info.changes == {
        "steps": 20,
        "cfg_scale": 8.0,
        "sampler": "DPM++ 2M",
        "scheduler": "Karras",
        "prompt": "beautiful scenery, glass bottle",
        "negative_prompt": "text, watermark",
        "width": 512,
        "height": 768,
    }
    assert info.unknown["checkpoint"] == "v1-5-pruned-emaonly.safetensors"
    # ComfyUI's seeds go to 2**64: one above ours is shown with a word why, and the rest still applies.
    assert info.unknown["seed"].startswith("156680208700286 (ComfyUI's; this studio's seeds go from 0 to 4294967295")
    assert info.recipe(Recipe()).steps == 20


def test_comfyui_workflow_only(tmp_path):
    workflow = {
        "nodes": [
            {"id": 3, "type": "KSampler", "widgets_values": [42, "fixed", 25, 7.5, "euler_ancestral", "normal", 1]},
            {"id": 6, "type": "CLIPTextEncode", "widgets_values": ["a lighthouse"]},
        ]
    }
    info = read_picture_info(png_with(tmp_path / "w.png", workflow=json.dumps(workflow)))
    assert info.changes == {"seed": 42, "steps": 25, "cfg_scale": 7.5, "sampler": "Euler a", "scheduler": "Uniform"}
    assert info.unknown == {"text (node 6)": "a lighthouse"}


def test_a_picture_without_metadata_says_so(tmp_path):
    path = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(path)
    info = read_picture_info(path)
    assert info.source is Source.NONE and info.changes == {} and info.unknown == {}


def test_not_a_picture(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("hello")
    with pytest.raises(ValueError, match="not a picture"):
        read_picture_info(path)
