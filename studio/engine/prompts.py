"""Prompts to CLIP embeddings as A1111 makes them: weighted tokens in 75-token chunks.

Why not compel: compel speaks its own syntax (`word++`, `(word)1.3`), while artists paste A1111's.
Doing A1111's steps here (parse, chunk by 75 tokens with BOS/EOS around each, break at a recent
comma, encode each chunk, scale by weight, restore the mean) reads the same prompt the same way,
and a prompt without syntax gives exactly the embeddings diffusers itself would make.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from studio.prompt_syntax import parse

CHUNK = 75  # tokens per chunk, plus BOS and EOS = CLIP's 77
COMMA_BACKTRACK = 20  # A1111's `comma_padding_backtrack` default
MAX_MEAN_CORRECTION = (0.5, 2.0)


@dataclass
class _Chunk:
    tokens: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)


def encode(pipe, prompt: str, negative_prompt: str, clip_skip: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(prompt_embeds, negative_prompt_embeds), each 1 x 77·n x width, padded to the same n.

    `clip_skip` is A1111's "Clip skip": 1 takes CLIP's last layer, 2 the one before it (what anime
    models are trained on), each through CLIP's final layer norm, as A1111 does. (diffusers counts
    the layers skipped: its clip_skip=1 is A1111's 2.)
    """
    positive = _chunks(pipe.tokenizer, prompt)
    negative = _chunks(pipe.tokenizer, negative_prompt)
    empty = _chunks(pipe.tokenizer, "")[0]
    count = max(len(positive), len(negative))
    positive += [empty] * (count - len(positive))
    negative += [empty] * (count - len(negative))
    return _embed(pipe, positive, clip_skip), _embed(pipe, negative, clip_skip)


def _chunks(tokenizer, prompt: str) -> list[_Chunk]:
    chunks: list[_Chunk] = []
    current = _Chunk()
    comma = tokenizer.convert_tokens_to_ids(",</w>")
    last_comma = -1

    def close() -> None:
        nonlocal current, last_comma
        chunks.append(current)
        current, last_comma = _Chunk(), -1

    for run in parse(prompt):
        if run.is_break:
            close()
            continue
        for token in tokenizer(run.text, add_special_tokens=False, truncation=False).input_ids:
            # The steps of A1111's `tokenize_line`, in its order: a comma is remembered (and never
            # triggers the look-back itself); any other token arriving at a full chunk moves the words
            # after a comma at most COMMA_BACKTRACK tokens back to the next chunk.
            if token == comma:
                last_comma = len(current.tokens)
            elif (
                len(current.tokens) == CHUNK
                and last_comma != -1
                and len(current.tokens) - last_comma <= COMMA_BACKTRACK
            ):
                keep = last_comma + 1
                moved = _Chunk(current.tokens[keep:], current.weights[keep:])
                current.tokens, current.weights = current.tokens[:keep], current.weights[:keep]
                close()
                current = moved
            if len(current.tokens) == CHUNK:
                close()
            current.tokens.append(token)
            current.weights.append(run.weight)
    if current.tokens or not chunks:
        close()
    return chunks


def _hidden(encoder, ids: torch.Tensor, clip_skip: int) -> torch.Tensor:
    if clip_skip <= 1:
        return encoder(ids)[0]
    states = encoder(ids, output_hidden_states=True).hidden_states
    # transformers 5 keeps the final layer norm on the model itself; 4 kept it on `text_model`.
    return getattr(encoder, "text_model", encoder).final_layer_norm(states[-clip_skip])


def _embed(pipe, chunks: list[_Chunk], clip_skip: int = 1) -> torch.Tensor:
    tokenizer, encoder = pipe.tokenizer, pipe.text_encoder
    device = pipe._execution_device
    embeddings = []
    for chunk in chunks:
        padding = CHUNK - len(chunk.tokens)
        ids = [tokenizer.bos_token_id, *chunk.tokens, tokenizer.eos_token_id, *[tokenizer.pad_token_id] * padding]
        weights = [1.0, *chunk.weights, 1.0, *[1.0] * padding]
        hidden = _hidden(encoder, torch.tensor([ids], device=device), clip_skip)
        if any(weight != 1.0 for weight in weights):
            original_mean = hidden.mean()
            hidden = hidden * torch.tensor(weights, device=device, dtype=hidden.dtype).reshape(1, -1, 1)
            correction = original_mean / hidden.mean()
            # A1111 restores the mean: a small correction with CLIP. When the mean is near zero the
            # ratio turns into noise (even flips signs), so it is applied only where it is small.
            if MAX_MEAN_CORRECTION[0] <= correction <= MAX_MEAN_CORRECTION[1]:
                hidden = hidden * correction
        embeddings.append(hidden)
    return torch.cat(embeddings, dim=1).to(dtype=encoder.dtype)
