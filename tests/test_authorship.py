"""Authorship on the tiny model: a picture's lineage measured from the saved files, its report, its signed credentials."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
from PIL import Image

from launch import build_sessions, parse_args
from studio.authorship import credentials
from studio.authorship.lineage import file_sha256
from studio.finish.outpaint import Extension
from studio.history import Mark
from studio.recipe import LoraRef, Recipe
from tests.loras import make_lora

SMALL = Recipe(model="tiny", steps=2, width=64, height=64, sampler="Euler a")


@pytest.fixture
def studio(engine, tmp_path):
    return build_sessions(
        engine, tmp_path / "outputs", defaults=SMALL, signing=credentials.Signing(tmp_path / "keys")
    ).open()


@pytest.fixture
def made(studio):
    """generate (2 pictures) -> pick the second, mask a quarter, inpaint -> paint over a quarter, repaint -> mark it."""
    first = studio.generate(SMALL.replace(prompt="a castle", seed=1, batch_size=2))
    picked = Image.open(studio.history.path(first.outputs[1])).convert("RGB")
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 32))
    inpainted = studio.inpaint(
        picked, mask, SMALL.replace(prompt="a castle at dusk", seed=2), parent_id=first.id, source_index=1
    )
    painted = Image.open(studio.history.path(inpainted.outputs[0])).convert("RGB")
    painted.paste((255, 0, 255), (0, 48, 64, 64))
    repainted = studio.repaint(
        painted,
        SMALL.replace(prompt="a castle at dusk", seed=3, denoising_strength=0.5),
        parent_id=inpainted.id,
        source_index=0,
    )
    studio.set_mark(repainted.id, 0, Mark.KEEP)
    return first, inpainted, repainted


def test_the_lineage_tells_each_step_with_figures_measured_from_the_saved_inputs(studio, made):
    first, inpainted, repainted = made
    steps = studio.lineage(repainted.id, 0)
    assert [step.node_id for step in steps] == [first.id, inpainted.id, repainted.id]
    assert [step.output_index for step in steps] == [1, 0, 0]
    acts = [{act.kind: act for act in step.by_hand} for step in steps]
    assert acts[0]["prompt"].words == "wrote the prompt “a castle”"
    assert acts[1]["pick"].figures == {"picked": 2, "of": 2}
    assert acts[1]["mask"].figures["area_percent"] == 25.0
    assert acts[1]["prompt"].figures["added"] == "at dusk"
    assert acts[1]["prompt"].words == "changed the prompt: added “at dusk”"  # the words, as the README promises
    assert abs(acts[2]["paint-over"].figures["changed_percent"] - 25.0) < 0.5
    assert acts[2]["mark"].words == "marked the picture 'keep'"
    machine = [act for act in steps[2].acts if act.by == "machine"][0]
    assert (machine.figures["seed"], machine.figures["strength"], machine.figures["model"]) == (3, 0.5, "tiny")
    # The machine's part in words too: model and hash, sampler and schedule, steps (one is "1 step"), seed, strength.
    assert machine.figures["model_hash"] == "unknown"  # A1111's hash is a checkpoint file's; tiny is a folder
    assert machine.words == (
        f"repainted (img2img) with tiny (no file hash: a folder or hub id), {SMALL.sampler}, "
        f"{SMALL.scheduler.lower()} schedule, "
        f"{SMALL.steps} step{'' if SMALL.steps == 1 else 's'}, seed 3, strength 0.5"
    )

    data, page = studio.authorship_report(repainted.id, 0)
    assert data["summary"]["steps"] == 3 and data["summary"]["steps_by_hand"] == 2
    # Steps are counted, acts listed: the two are never one count.
    assert data["story"].startswith(
        "3 steps, 2 of them shaped by hand: picked picture 2 of 2; masked 25.0 % of the picture"
    )
    assert page.count("data:image/png;base64,") == 3 and str(studio.history.folder) not in page


def test_an_export_carries_signed_credentials_that_a_changed_pixel_breaks(studio, made, tmp_path):
    first, inpainted, repainted = made
    exported = studio.export_with_credentials(repainted.id, 0, tmp_path / "export" / "castle.png")
    check = studio.services.authorship.verify(exported)
    assert check.valid and not check.changed_after_signing and "signingCredential.untrusted" in check.codes
    assert check.signer == credentials.SELF_ISSUED, check.manifest.get("signature_info")  # labelled as self-issued
    manifest = check.manifest
    actions = next(a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    assert [action["action"] for action in actions] == ["c2pa.created", "c2pa.edited", "c2pa.edited"]
    assert actions[0]["digitalSourceType"].endswith("trainedAlgorithmicMedia")
    assert {i["title"] for i in manifest["ingredients"]} == {first.outputs[1], inpainted.outputs[0]}
    # Nothing of this computer leaves with it: no folder in the manifest, no text chunk of ours in the file.
    assert str(tmp_path) not in json.dumps(manifest)
    with Image.open(exported) as picture:
        assert "parameters" not in picture.info and "studio" not in picture.info
        pixels = np.asarray(picture.convert("RGB"))
    assert np.array_equal(pixels, np.asarray(Image.open(studio.history.path(repainted.outputs[0])).convert("RGB")))

    # One pixel changed after signing: the credentials no longer hold.
    with Image.open(exported) as picture:
        changed = picture.convert("RGB")
    changed.putpixel((5, 5), (0, 0, 0) if changed.getpixel((5, 5)) != (0, 0, 0) else (255, 255, 255))
    tampered = _with_the_same_manifest(exported, changed, tmp_path / "tampered.png")
    verdict = studio.services.authorship.verify(tampered)
    assert not verdict.valid and verdict.changed_after_signing
    assert studio.services.authorship.verify(studio.history.path(first.outputs[0])).state == "none"


def _with_the_same_manifest(signed, picture: Image.Image, path):
    """The signed file with its image data replaced and its C2PA chunk kept: what an edit after export leaves."""
    data = signed.read_bytes()
    chunks, position = [], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        chunks.append((kind, data[position : position + 12 + length]))
        position += 12 + length
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    fresh, position, new_idat = buffer.getvalue(), 8, []
    while position < len(fresh):
        (length,) = struct.unpack(">I", fresh[position : position + 4])
        if fresh[position + 4 : position + 8] == b"IDAT":
            new_idat.append(fresh[position : position + 12 + length])
        position += 12 + length
    out, placed = [data[:8]], False
    for kind, raw in chunks:
        if kind == b"IDAT":
            if not placed:
                out += new_idat
                placed = True
            continue
        out.append(raw)
    path.write_bytes(b"".join(out))
    return path


def test_the_artists_own_certificate_signs_and_jpeg_works(studio, made, tmp_path):
    _, _, repainted = made
    chain, key = credentials._self_issued_chain()
    (tmp_path / "me.pem").write_bytes(chain)
    (tmp_path / "me.key").write_bytes(key)
    studio.signing = credentials.Signing(tmp_path / "unused", certificate=tmp_path / "me.pem", key=tmp_path / "me.key")
    exported = studio.export_with_credentials(repainted.id, 0, tmp_path / "mine.jpg", kind="jpeg")
    check = studio.services.authorship.verify(exported)
    assert check.valid and Image.open(exported).format == "JPEG"
    assert not (tmp_path / "unused").exists()  # the studio's own key was not made


def test_the_artists_own_lora_is_named_with_the_hash_of_its_training_folder(engine, tmp_path, model_cache):
    loras = tmp_path / "loras"
    loras.mkdir()
    make_lora(loras / "mira.safetensors", model_cache, seed=1, metadata={"studio_dataset_sha256": "ab" * 32})
    make_lora(loras / "someone-elses.safetensors", model_cache, seed=2)
    studio = build_sessions(engine, tmp_path / "outputs", defaults=SMALL, lora_dir=loras).open()
    chosen_loras = (
        LoraRef(str(loras / "mira.safetensors"), 0.8),
        LoraRef(str(loras / "someone-elses.safetensors"), 0.5),
    )
    node = studio.generate(SMALL.replace(prompt="a portrait", seed=1, loras=chosen_loras))
    (step,) = studio.lineage(node.id, 0)
    chosen = {act.figures["lora"]: act for act in step.by_hand if act.kind == "lora"}
    assert chosen["mira"].figures["training_folder_sha256"] == "ab" * 32
    assert "your own, trained on folder abababababab" in chosen["mira"].words
    assert "training_folder_sha256" not in chosen["someone-elses"].figures
    assert str(loras) not in json.dumps([act.words for act in step.acts])  # a LoRA given by path: its name only


def test_an_outpaint_widens_the_canvas_by_hand_and_its_new_area_is_no_mask_of_the_artists(studio):
    first = studio.generate(SMALL.replace(prompt="a road", seed=6))
    widened = studio.outpaint(first.id, Extension(right=32), SMALL.replace(prompt="a road", seed=7))
    kinds = [act.kind for act in studio.lineage(widened.id, 0)[-1].by_hand]
    assert "outpaint" in kinds and "mask" not in kinds and "paint-over" not in kinds


def test_an_uploaded_picture_is_an_outside_ingredient_by_hash(studio, tmp_path):
    upload = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    stated = {"image": {"origin": "a friend's photo", "licence": "CC BY"}}
    node = studio.repaint(upload, SMALL.replace(prompt="redone", seed=4, denoising_strength=0.6), sources=stated)
    (step,) = studio.lineage(node.id, 0)
    (outside,) = step.outside
    assert outside.sha256 == file_sha256(studio.history.path(node.inputs["image"]))
    assert (outside.origin, outside.licence) == ("a friend's photo", "CC BY")
    exported = studio.export_with_credentials(node.id, 0, tmp_path / "redone.png")
    manifest = studio.services.authorship.verify(exported).manifest
    assert [i["title"] for i in manifest["ingredients"]] == [f"outside picture {outside.sha256[:16]}"]
    (action,) = next(a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    assert action["parameters"]["studio.outside"] == [
        {"sha256": outside.sha256, "origin": "a friend's photo", "licence": "CC BY"}
    ]
    # Nothing stated: shown as unknown. A variation of it keeps what was stated.
    plain = studio.repaint(upload, SMALL.replace(prompt="again", seed=5))
    assert studio.lineage(plain.id, 0)[0].outside[0].licence == "unknown"
    assert studio.vary(node.id, count=1).sources == node.sources


def test_signing_is_set_on_the_command_line(tmp_path):
    args = parse_args(["--sign-cert", "me.pem", "--sign-key", "me.key", "--signing", str(tmp_path / "keys")])
    assert (args.sign_cert.name, args.sign_key.name, args.signing) == ("me.pem", "me.key", tmp_path / "keys")
    with pytest.raises(SystemExit):
        parse_args(["--sign-cert", "me.pem"])  # a certificate without its key signs nothing
    with pytest.raises(credentials.CredentialsError, match="certificate/key"):
        credentials.Signing(tmp_path, certificate=tmp_path / "none.pem", key=tmp_path / "none.key").identity()


def test_a_plain_upscale_is_credited_to_its_upscaler_not_to_a_sampler(fake_engine, tmp_path):
    """A Lanczos enlargement runs no diffusion model: the record names no sampler, steps or seed for it."""
    from launch import build_sessions
    from studio.recipe import UpscaleRef

    session = build_sessions(fake_engine, tmp_path / "outputs").open("upscaled")
    root = session.generate(SMALL.replace(prompt="a bay", seed=4))
    enlarged = session.upscale(root.id, UpscaleRef(factor=2.0, upscaler="Lanczos"), SMALL)
    machine = [act for act in session.lineage(enlarged.id, 0)[-1].acts if act.by == "machine"]
    assert [act.words for act in machine] == ["enlarged it 2x with Lanczos"]
    assert "seed" not in machine[0].figures and "sampler" not in machine[0].figures
