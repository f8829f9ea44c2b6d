"""Train a LoRA with peft on the loaded model (SD 1.5 or SDXL), holding the GPU lane, and save it in kohya's naming.

The adapter is added to the model's own (shared) UNet and text encoders for the run and removed at
the end, so no second copy of the model is made and nothing of it stays behind. Memory: the latents
are encoded once before the first step (the VAE never runs in the loop), the model stays in its
half precision on a GPU while the LoRA weights train in fp32 (mixed precision), and gradient
checkpointing is there for SDXL at 1024 px.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.tuners_utils import BaseTunerLayer
from PIL import Image
from safetensors.torch import save_file

from studio.engine.engine import Engine
from studio.engine.prompts import encode
from studio.errors import GenerationStopped, InputError
from studio.lora_library import TRAINING_FOLDER_KEY
from studio.progress import TrainingProgress, TrainingResult
from studio.train.dataset import Example, folder_sha256, load_examples
from studio.train.settings import TrainingSettings

ADAPTER = "studio_training"


def train_lora(
    engine: Engine,
    settings: TrainingSettings,
    output_dir: Path,
    *,
    on_progress: Callable[[TrainingProgress], None] | None = None,
) -> TrainingResult:
    """Train, saving every `save_every` steps and at the end. A stop keeps the last saved file."""
    examples = load_examples(settings)
    total = (
        settings.steps if settings.epochs is None else max(1, settings.epochs * len(examples) // settings.batch_size)
    )
    target = output_dir / f"{settings.name}.safetensors"
    with engine.lane() as pipelines:
        if pipelines.family.is_flux:
            raise InputError(
                "model: training a Flux.1 LoRA is not in the studio; train it with kohya's sd-scripts or ai-toolkit "
                "and put the file in the LoRA folder, or load an SD 1.5 or SDXL model to train here"
            )
        pipe = pipelines.base
        text_encoders = _text_encoders(pipe)
        # peft and training freeze the model's own weights; the flag changes which kernels run even without
        # gradients (the UNet's output moves by ~1e-6), so each weight gets its own flag back at the end.
        flags = {weight: weight.requires_grad for model in (pipe.unet, *text_encoders) for weight in model.parameters()}
        pipelines.loras.activate(pipe, [])  # library LoRAs off: train against the base model
        torch.manual_seed(settings.seed)
        config = LoraConfig(
            r=settings.rank,
            lora_alpha=settings.alpha,  # pyright: ignore[reportArgumentType] (peft takes any number)
            init_lora_weights="gaussian",
            target_modules=list(settings.target_layers),
        )
        pipe.unet.add_adapter(config, adapter_name=ADAPTER)
        pipe.unet.set_adapters([ADAPTER])
        pipe.unet.enable_adapters()  # library LoRAs were disabled above; the new one must run
        trained = [pipe.unet]
        if settings.train_text_encoder:
            text_config = LoraConfig(
                r=settings.rank,
                lora_alpha=settings.alpha,  # pyright: ignore[reportArgumentType] (peft takes any number)
                init_lora_weights="gaussian",
                target_modules=["q_proj", "k_proj", "v_proj", "out_proj"],
            )
            for encoder in text_encoders:
                # peft directly: transformers' own adapter API wants a newer peft than diffusers pins.
                inject_adapter_in_model(text_config, encoder, adapter_name=ADAPTER)
                for layer in _tuner_layers(encoder):
                    layer.enable_adapters(True)
                    layer.set_adapter([ADAPTER])
                trained.append(encoder)
        if settings.gradient_checkpointing:
            pipe.unet.enable_gradient_checkpointing()
        try:
            return _run(engine, pipe, trained, examples, settings, total, target, on_progress)
        finally:
            for parameter, flag in flags.items():
                parameter.requires_grad_(flag)
            pipe.unet.delete_adapters([ADAPTER])
            for encoder in text_encoders:
                for layer in _tuner_layers(encoder):
                    if ADAPTER in layer.lora_A:  # pyright: ignore[reportAttributeAccessIssue] (LoRA layers have it)
                        layer.delete_adapter(ADAPTER)
                encoder.train(False)
            if settings.gradient_checkpointing:
                pipe.unet.disable_gradient_checkpointing()
            pipe.unet.train(False)


def _text_encoders(pipe) -> list:
    """SD 1.5's text encoder, or SDXL's two."""
    second = getattr(pipe, "text_encoder_2", None)
    return [pipe.text_encoder] if second is None else [pipe.text_encoder, second]


def _tuner_layers(model) -> list[BaseTunerLayer]:
    return [module for module in model.modules() if isinstance(module, BaseTunerLayer)]


def _run(engine, pipe, trained, examples: list[Example], settings, total, target, on_progress) -> TrainingResult:
    device, dtype = pipe.unet.device, pipe.unet.dtype
    parameters = [p for model in trained for name, p in model.named_parameters() if ADAPTER in name]
    for model in trained:
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(ADAPTER in name)
        model.train(True)
    # Trainable LoRA weights in fp32 even on an fp16 model: fp16 Adam steps underflow.
    for parameter in parameters:
        parameter.data = parameter.data.float()
    optimizer = torch.optim.AdamW(parameters, lr=settings.learning_rate)
    noise_scheduler: DDPMScheduler = DDPMScheduler.from_config(pipe.scheduler.config)  # pyright: ignore[reportAssignmentType] (typed as a tuple)
    rng = random.Random(settings.seed)
    generator = torch.Generator("cpu").manual_seed(settings.seed)
    with torch.no_grad():
        latents = [picture_latents(pipe, example.picture) for example in examples]
    by_size: dict[tuple[int, int], list[int]] = {}
    for index, example in enumerate(examples):
        by_size.setdefault(example.picture.size, []).append(index)
    saved: Path | None = None
    loss_value = 0.0
    for step in range(1, total + 1):
        if engine.stop_requested:
            if saved is None:
                raise GenerationStopped("training stopped before its first checkpoint; nothing was saved")
            return TrainingResult(saved, step - 1, stopped=True)
        bucket = rng.choice(sorted(by_size))
        batch = [rng.choice(by_size[bucket]) for _ in range(settings.batch_size)]
        clean = torch.cat([latents[i] for i in batch]).to(device, dtype)
        noise = torch.randn(clean.shape, generator=generator).to(device, dtype)
        timesteps = torch.randint(
            0, noise_scheduler.config["num_train_timesteps"], (len(batch),), generator=generator
        ).to(device)
        noisy = noise_scheduler.add_noise(clean, noise, timesteps)  # pyright: ignore[reportArgumentType] (any int tensor)
        with torch.set_grad_enabled(True):
            text, added = _conditioning(pipe, [examples[i] for i in batch], settings.train_text_encoder)
            prediction = pipe.unet(noisy, timesteps, text, added_cond_kwargs=added).sample
            # What the model learns to predict is what it predicts when it runs: the noise, or v.
            if noise_scheduler.config["prediction_type"] == "v_prediction":
                target_value = noise_scheduler.get_velocity(clean, noise, timesteps)  # pyright: ignore[reportArgumentType]
            else:
                target_value = noise
            loss = F.mse_loss(prediction.float(), target_value.float())
            loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = float(loss.detach())
        sample = saved_now = None
        if step % settings.save_every == 0 or step == total:
            saved = saved_now = save_kohya_lora(
                pipe, trained, settings, len(examples), step, target, examples, base_model=engine.model or ""
            )
        if settings.sample_prompt and (step % settings.sample_every == 0 or step == total):
            sample = _sample(pipe, settings, examples[0].picture.size)
        if on_progress:
            on_progress(TrainingProgress(step, total, loss_value, sample, saved_now))
    return TrainingResult(target, total, stopped=False)


def _adapter_weights(model) -> dict[str, torch.Tensor]:
    """The training adapter's weights as {"<module path>.lora_A.weight": tensor, ...}."""
    weights = {}
    for name, parameter in model.named_parameters():
        for kind in ("lora_A", "lora_B"):
            marker = f".{kind}.{ADAPTER}."
            if marker in name:
                module = name.split(marker)[0].replace(".base_layer", "")
                weights[f"{module}.{kind}.weight"] = parameter
    return weights


def picture_latents(pipe, picture: Image.Image) -> torch.Tensor:
    """A picture as the diffusion sees it: VAE latents, scaled by the VAE's scaling factor."""
    pixels = torch.from_numpy(np.asarray(picture, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
    vae = pipe.vae
    dtype = vae.dtype
    # SDXL's VAE overflows in fp16 (its config says `force_upcast`): it encodes in fp32, as diffusers does.
    upcast = dtype == torch.float16 and vae.config.get("force_upcast", False)
    if upcast:
        vae.to(torch.float32)
    try:
        pixels = pixels.to(vae.device, vae.dtype)
        return (vae.encode(pixels).latent_dist.mean * vae.config.scaling_factor).to(dtype)
    finally:
        if upcast:
            vae.to(dtype)


def _conditioning(pipe, batch: list[Example], with_grad: bool) -> tuple[torch.Tensor, dict | None]:
    """The UNet's text conditioning for a batch; on SDXL also its pooled text and size conditioning."""
    with torch.set_grad_enabled(with_grad):
        encoded = [encode(pipe, example.caption, "") for example in batch]
    text = torch.cat([embeddings["prompt_embeds"] for embeddings in encoded])
    if "pooled_prompt_embeds" not in encoded[0]:
        return text, None
    pooled = torch.cat([embeddings["pooled_prompt_embeds"] for embeddings in encoded])
    # SDXL's size conditioning: trained at the picture's own size, uncropped (original = target).
    sizes = [(example.picture.height, example.picture.width) for example in batch]
    time_ids = torch.tensor([[h, w, 0, 0, h, w] for h, w in sizes], device=text.device, dtype=text.dtype)
    return text, {"text_embeds": pooled, "time_ids": time_ids}


def _sample(pipe, settings: TrainingSettings, size: tuple[int, int]) -> Image.Image:
    was_training = pipe.unet.training
    pipe.unet.train(False)
    try:
        with torch.inference_mode():
            return pipe(
                **encode(pipe, settings.sample_prompt, ""),
                num_inference_steps=20,
                width=size[0],
                height=size[1],
                generator=torch.Generator("cpu").manual_seed(settings.seed),
            ).images[0]
    finally:
        pipe.unet.train(was_training)


def save_kohya_lora(
    pipe, trained, settings: TrainingSettings, image_count: int, step: int, target: Path, examples, *, base_model: str
) -> Path:
    """The adapter as one .safetensors in kohya's naming (A1111, ComfyUI and diffusers load it)."""
    tensors: dict[str, torch.Tensor] = {}
    sdxl = len(_text_encoders(pipe)) == 2
    # kohya names SD 1.5's text encoder te, SDXL's two te1 and te2.
    prefixes = ("lora_unet_", "lora_te1_", "lora_te2_") if sdxl else ("lora_unet_", "lora_te_")
    for model, prefix in zip(trained, prefixes, strict=False):
        for key, value in _adapter_weights(model).items():
            module, _, kind = key.rpartition(".lora_")
            if prefix.startswith("lora_te") and not module.startswith("text_model."):
                module = f"text_model.{module}"  # kohya names CLIP's layers as in transformers 4
            name = prefix + module.replace(".", "_")
            tensors[f"{name}.lora_{'down' if kind.startswith('A') else 'up'}.weight"] = (
                value.detach().float().cpu().contiguous()
            )
            tensors[f"{name}.alpha"] = torch.tensor(float(settings.alpha))
    tags = Counter(tag.strip() for example in examples for tag in example.caption.split(",") if tag.strip())
    metadata = {
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(settings.rank),
        "ss_network_alpha": str(settings.alpha),
        "ss_learning_rate": str(settings.learning_rate),
        "ss_num_train_images": str(image_count),
        "ss_steps": str(step),
        "ss_max_train_steps": str(settings.steps if settings.epochs is None else step),
        "ss_resolution": str(settings.resolution),
        "ss_seed": str(settings.seed),
        "ss_base_model_version": "sdxl_base_v1-0" if sdxl else "sd_v1",
        "ss_tag_frequency": json.dumps({Path(settings.dataset).name: dict(tags)}),
        "modelspec.architecture": "stable-diffusion-xl-v1-base/lora" if sdxl else "stable-diffusion-v1/lora",
        # The model as the artist named it ("tiny", a hub id, a file), never the cache folder it was read from.
        "studio_base_model": base_model,
        "studio_trigger_word": settings.trigger_word,
        "studio_training": json.dumps(settings.to_dict()),
        TRAINING_FOLDER_KEY: folder_sha256(settings),
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.tmp")
    save_file(tensors, str(staging), metadata=metadata)
    staging.replace(target)  # atomic: a stop or a crash never leaves half a LoRA
    return target
