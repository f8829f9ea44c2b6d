import hashlib
import os

import torch
from safetensors.torch import save_file

from studio.formats.hashes import HashCache


def test_model_hash_is_a1111_autov2(tmp_path):
    checkpoint = tmp_path / "myModel_v10.safetensors"
    checkpoint.write_bytes(b"hello")
    cache = HashCache(tmp_path / "hashes.json")
    assert cache.model_hash(checkpoint) == hashlib.sha256(b"hello").hexdigest()[:10] == "2cf24dba5f"


def test_lora_hash_ignores_the_metadata_header(tmp_path):
    tensors = {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.ones(4, 8)}
    plain, annotated = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_file(tensors, str(plain))
    save_file(tensors, str(annotated), metadata={"ss_output_name": "my character", "ss_tag_frequency": "{}"})
    cache = HashCache(tmp_path / "hashes.json")
    assert cache.lora_hash(plain) == cache.lora_hash(annotated)
    assert cache.lora_hash(plain) == addnet_hash(plain)[:12]
    assert cache.model_hash(plain) != cache.model_hash(annotated)  # the whole-file hash does see it


def addnet_hash(path) -> str:
    """A1111's `addnet_hash_safetensors`: the SHA-256 of everything after the 8-byte length and the JSON header."""
    data = path.read_bytes()
    return hashlib.sha256(data[8 + int.from_bytes(data[:8], "little") :]).hexdigest()


def test_hashes_are_cached_until_the_file_changes(tmp_path):
    checkpoint = tmp_path / "m.safetensors"
    checkpoint.write_bytes(b"one")
    cache = HashCache(tmp_path / "hashes.json")
    first = cache.model_hash(checkpoint)
    assert HashCache(tmp_path / "hashes.json").model_hash(checkpoint) == first  # read back from the file
    written = checkpoint.stat().st_mtime_ns
    checkpoint.write_bytes(b"two")  # the same size: only the time tells the file changed
    os.utime(checkpoint, ns=(written, written))
    assert cache.model_hash(checkpoint) == first  # same size, same time: the cached hash (as A1111 keeps it)
    os.utime(checkpoint, ns=(written + 1_000_000_000, written + 1_000_000_000))
    assert cache.model_hash(checkpoint) == hashlib.sha256(b"two").hexdigest()[:10]


def test_a_damaged_cache_only_costs_time(tmp_path):
    (tmp_path / "hashes.json").write_text("{not json")
    checkpoint = tmp_path / "m.safetensors"
    checkpoint.write_bytes(b"x")
    assert HashCache(tmp_path / "hashes.json").model_hash(checkpoint) == hashlib.sha256(b"x").hexdigest()[:10]


def test_model_hash_only_for_single_file_models(tmp_path):
    from studio.formats.hashes import model_hash_for

    checkpoint = tmp_path / "m.safetensors"
    checkpoint.write_bytes(b"hello")
    cache = HashCache(tmp_path / "hashes.json")
    assert model_hash_for(str(checkpoint), cache) == "2cf24dba5f"
    assert model_hash_for("tiny", cache) is None
    assert model_hash_for("stable-diffusion-v1-5/stable-diffusion-v1-5", cache) is None
    assert model_hash_for(str(tmp_path), cache) is None
