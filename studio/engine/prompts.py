"""Prompts to CLIP embeddings as A1111 makes them: weighted tokens in 75-token chunks.

Why not compel: compel speaks its own syntax (`word++`, `(word)1.3`), while artists paste A1111's.
Doing A1111's steps here (parse, chunk by 75 tokens with BOS/EOS around each, break at a recent
comma, encode each chunk, scale by weight, restore the mean) reads the same prompt the same way,
and a prompt without syntax gives exactly the embeddings diffusers itself would make.

SDXL has two text encoders (CLIP ViT-L and OpenCLIP bigG). As in A1111/Forge, each encodes the same
chunks on its own (weights and mean restoration per encoder), their hidden states are joined side by
side, and the pooled embedding is bigG's projection of the first chunk, unweighted. An empty negative
prompt is all zeros, as SDXL was trained (A1111's and diffusers' `force_zeros_for_empty_prompt`).

Textual-inversion embeddings are placed as A1111 places them: an embedding's name in the prompt takes as
many places in its chunk as it has vectors (starting a new chunk when they would not fit), and the text
encoder's token embedding gives its vectors there instead of any word's (each encoder its own: `clip_l`,
`clip_g`); weights apply to them like to words.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from studio.embedding_library import EmbeddingError, name_pattern, split_on_names
from studio.engine.embeddings import Embedding
from studio.errors import InputError
from studio.recipe.prompt_syntax import parse

Embeddings = Mapping[str, Embedding]

CHUNK = 75  # tokens per chunk, plus BOS and EOS = CLIP's 77
COMMA_BACKTRACK = 20  # A1111's `comma_padding_backtrack` default
MAX_MEAN_CORRECTION = (0.5, 2.0)


PLACEHOLDER = 0  # the token id under an embedding's vectors, as A1111 writes it (its vectors replace it)


@dataclass
class _Chunk:
    tokens: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    fixes: list[tuple[int, Embedding]] = field(default_factory=list)  # (place in the chunk, embedding)


def encode(
    pipe, prompt: str, negative_prompt: str, clip_skip: int = 1, embeddings: Embeddings | None = None
) -> dict[str, torch.Tensor]:
    """The pipeline's embedding arguments: prompt and negative embeds, each 1 x 77·n x width, padded to the
    same n (and on SDXL their pooled embeddings).

    `embeddings`: the textual-inversion embeddings a name in either prompt stands for (the model's family's).
    `clip_skip` is A1111's "Clip skip". SD 1.5: 1 takes CLIP's last layer, 2 the one before it (what
    anime models are trained on), each through CLIP's final layer norm, as A1111 does. (diffusers
    counts the layers skipped: its clip_skip=1 is A1111's 2.) SDXL is trained on the layer before
    the last, without the norm, so 1 and 2 both take that one and 3 the one before it, as in Forge
    (A1111 ignores clip skip on SDXL; diffusers' clip_skip=1 is the studio's 3).
    """
    embeddings = embeddings or {}
    if getattr(pipe, "text_encoder_2", None) is not None:
        return _encode_sdxl(pipe, prompt, negative_prompt, clip_skip, embeddings)
    positive, negative = _padded_chunks(pipe.tokenizer, prompt, negative_prompt, embeddings)
    layer = _sd15_layer(clip_skip)
    return {
        "prompt_embeds": _embed(pipe, pipe.tokenizer, pipe.text_encoder, positive, layer, "clip_l")[0],
        "negative_prompt_embeds": _embed(pipe, pipe.tokenizer, pipe.text_encoder, negative, layer, "clip_l")[0],
    }


def _encode_sdxl(
    pipe, prompt: str, negative_prompt: str, clip_skip: int, embeddings: Embeddings
) -> dict[str, torch.Tensor]:
    layer = _sdxl_layer(clip_skip)
    positive_l, negative_l = _padded_chunks(pipe.tokenizer, prompt, negative_prompt, embeddings)
    positive_g, negative_g = _padded_chunks(pipe.tokenizer_2, prompt, negative_prompt, embeddings)

    def both(chunks_l: list[_Chunk], chunks_g: list[_Chunk]) -> tuple[torch.Tensor, torch.Tensor]:
        """The joined hidden states, and bigG's pooled embedding of the first chunk (from the same pass)."""
        hidden_l, _ = _embed(pipe, pipe.tokenizer, pipe.text_encoder, chunks_l, layer, "clip_l")
        hidden_g, first = _embed(pipe, pipe.tokenizer_2, pipe.text_encoder_2, chunks_g, layer, "clip_g")
        pooled = first[0].to(dtype=pipe.text_encoder_2.dtype)  # `text_embeds`: projected, unweighted
        return torch.cat([hidden_l, hidden_g], dim=-1), pooled

    prompt_embeds, pooled = both(positive_l, positive_g)
    if negative_prompt == "" and pipe.config.get("force_zeros_for_empty_prompt", False):
        negative_embeds, negative_pooled = torch.zeros_like(prompt_embeds), torch.zeros_like(pooled)
    else:
        negative_embeds, negative_pooled = both(negative_l, negative_g)
    return {
        "prompt_embeds": prompt_embeds,
        "negative_prompt_embeds": negative_embeds,
        "pooled_prompt_embeds": pooled,
        "negative_pooled_prompt_embeds": negative_pooled,
    }


def _padded_chunks(
    tokenizer, prompt: str, negative_prompt: str, embeddings: Embeddings
) -> tuple[list[_Chunk], list[_Chunk]]:
    positive = _chunks(tokenizer, prompt, embeddings)
    negative = _chunks(tokenizer, negative_prompt, embeddings)
    empty = _chunks(tokenizer, "", {})[0]
    count = max(len(positive), len(negative))
    positive += [empty] * (count - len(positive))
    negative += [empty] * (count - len(negative))
    return positive, negative


def _chunks(tokenizer, prompt: str, embeddings: Embeddings | None = None) -> list[_Chunk]:
    embeddings = embeddings or {}
    chunks: list[_Chunk] = []
    current = _Chunk()
    comma = tokenizer.convert_tokens_to_ids(",</w>")
    last_comma = -1
    names = list(embeddings)
    pattern = name_pattern(names)

    def close() -> None:
        nonlocal current, last_comma
        chunks.append(current)
        current, last_comma = _Chunk(), -1

    def make_room(token: int | None) -> None:
        # The steps of A1111's `tokenize_line` before each token, in its order: a comma is remembered (and
        # never triggers the look-back itself); any other token arriving at a full chunk moves the words after
        # a comma at most COMMA_BACKTRACK tokens back to the next chunk (an embedding's places move with them).
        nonlocal current, last_comma
        if token == comma:
            last_comma = len(current.tokens)
        elif len(current.tokens) == CHUNK and last_comma != -1 and len(current.tokens) - last_comma <= COMMA_BACKTRACK:
            keep = last_comma + 1
            moved = _Chunk(
                current.tokens[keep:],
                current.weights[keep:],
                [(place - keep, embedding) for place, embedding in current.fixes if place >= keep],
            )
            current.tokens, current.weights = current.tokens[:keep], current.weights[:keep]
            current.fixes = [(place, embedding) for place, embedding in current.fixes if place < keep]
            close()
            current = moved
        if len(current.tokens) == CHUNK:
            close()

    for run in parse(prompt):
        if run.is_break:
            close()
            continue
        for text, name in split_on_names(run.text, pattern, names):
            if name is None:
                for token in tokenizer(text, add_special_tokens=False, truncation=False).input_ids:
                    make_room(token)
                    current.tokens.append(token)
                    current.weights.append(run.weight)
                continue
            embedding = embeddings[name]
            if embedding.count > CHUNK:
                raise EmbeddingError(f"embedding {name} has {embedding.count} vectors; a prompt chunk holds {CHUNK}")
            make_room(None)
            if len(current.tokens) + embedding.count > CHUNK:  # an embedding is never split between chunks
                close()
            current.fixes.append((len(current.tokens), embedding))
            current.tokens += [PLACEHOLDER] * embedding.count
            current.weights += [run.weight] * embedding.count
    if current.tokens or not chunks:
        close()
    return chunks


# (encoder, token ids) -> (the hidden states the model reads, the encoder's whole output)
Layer = Callable[[Any, torch.Tensor], tuple[torch.Tensor, Any]]


def _layers(encoder) -> int:
    return encoder.config.num_hidden_layers


def _check_depth(encoder, depth: int, clip_skip: int) -> None:
    if depth > _layers(encoder):
        raise InputError(
            f"clip_skip: {clip_skip} skips more layers than this model's text encoder has ({_layers(encoder)}); "
            f"choose at most {_layers(encoder)}"
        )


def _sd15_layer(clip_skip: int) -> Layer:
    def hidden(encoder, ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
        if clip_skip <= 1:
            output = encoder(ids)
            return output[0], output
        _check_depth(encoder, clip_skip, clip_skip)
        output = encoder(ids, output_hidden_states=True)
        # transformers 5 keeps the final layer norm on the model itself; 4 kept it on `text_model`.
        return getattr(encoder, "text_model", encoder).final_layer_norm(output.hidden_states[-clip_skip]), output

    return hidden


def _sdxl_layer(clip_skip: int) -> Layer:
    depth = max(clip_skip, 2)

    def hidden(encoder, ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
        _check_depth(encoder, depth, clip_skip)
        output = encoder(ids, output_hidden_states=True)
        return output.hidden_states[-depth], output

    return hidden


def _ids(tokenizer, chunk: _Chunk) -> list[int]:
    padding = CHUNK - len(chunk.tokens)
    return [tokenizer.bos_token_id, *chunk.tokens, tokenizer.eos_token_id, *[tokenizer.pad_token_id] * padding]


# diffusers' `_execution_device` walks every module of every component each time it is asked: 13 ms a call on the
# tiny model with a LoRA, asked for twice per prompt (LoRA training spent half its time there). A loaded pipeline
# stays on its device (the engine places a model once, as it loads), so each pipeline is asked once.
_EXECUTION_DEVICES: weakref.WeakKeyDictionary[Any, torch.device] = weakref.WeakKeyDictionary()


def execution_device(pipe) -> torch.device:
    """Where `pipe` runs (the GPU also when its parts wait on the CPU between uses), asked once per pipeline."""
    try:
        return _EXECUTION_DEVICES[pipe]
    except KeyError:
        device = _EXECUTION_DEVICES[pipe] = pipe._execution_device
        return device


@contextlib.contextmanager
def _vectors_in_place(encoder, chunk: _Chunk, key: str) -> Iterator[None]:
    """While inside, the encoder's token embedding gives each of the chunk's embeddings' vectors at its places."""
    if not chunk.fixes:
        yield
        return
    table = encoder.get_input_embeddings()
    for _, embedding in chunk.fixes:
        width = embedding.vectors[key].shape[1]
        if width != table.embedding_dim:
            raise EmbeddingError(
                f"embedding {embedding.name}'s vectors are {width} wide; this model's text encoder takes "
                f"{table.embedding_dim} (is it made for another model family, such as SD 2?)"
            )

    def place(module, inputs, output: torch.Tensor) -> torch.Tensor:
        output = output.clone()
        for place, embedding in chunk.fixes:
            vectors = embedding.vectors[key].to(device=output.device, dtype=output.dtype)
            start = 1 + place  # after the chunk's BOS
            output[0, start : start + vectors.shape[0]] = vectors
        return output

    handle = table.register_forward_hook(place)
    try:
        yield
    finally:
        handle.remove()


def _embed(pipe, tokenizer, encoder, chunks: list[_Chunk], layer: Layer, key: str) -> tuple[torch.Tensor, Any]:
    """The weighted hidden states of every chunk, side by side, and the encoder's output for the first."""
    device = execution_device(pipe)
    embeddings = []
    first = None
    for chunk in chunks:
        padding = CHUNK - len(chunk.tokens)
        weights = [1.0, *chunk.weights, 1.0, *[1.0] * padding]
        with _vectors_in_place(encoder, chunk, key):
            hidden, output = layer(encoder, torch.tensor([_ids(tokenizer, chunk)], device=device))
        first = output if first is None else first
        if any(weight != 1.0 for weight in weights):
            original_mean = hidden.mean()
            hidden = hidden * torch.tensor(weights, device=device, dtype=hidden.dtype).reshape(1, -1, 1)
            correction = original_mean / hidden.mean()
            # A1111 restores the mean: a small correction with CLIP. When the mean is near zero the
            # ratio turns into noise (even flips signs), so it is applied only where it is small.
            if MAX_MEAN_CORRECTION[0] <= correction <= MAX_MEAN_CORRECTION[1]:
                hidden = hidden * correction
        embeddings.append(hidden)
    return torch.cat(embeddings, dim=1).to(dtype=encoder.dtype), first
