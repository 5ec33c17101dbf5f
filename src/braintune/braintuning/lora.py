"""LoRA adapters on a speech backbone's self-attention (multi-participant brain-tuning; Moussa & Toneva,
NeurIPS 2025), through ``peft``.

The authors' code wraps the backbone with ``peft.get_peft_model(LoraConfig(r=8, lora_alpha=32,
lora_dropout=0.1, bias="none"))`` on the attention projections of every transformer layer. The Hugging Face
module names are the same suffixes in all three architectures of the registry:

- wav2vec2 / HuBERT: ``encoder.layers.{i}.attention.{q,k,v,out}_proj``;
- Whisper (:class:`~transformers.models.whisper.modeling_whisper.WhisperEncoder` alone):
  ``layers.{i}.self_attn.{q,k,v,out}_proj``.

``peft`` matches ``target_modules`` entries as name suffixes, so :data:`LORA_TARGETS` adapts exactly these
``4 x num_layers`` modules; :func:`add_lora` checks that count. ``peft`` freezes every other parameter of the
backbone (the CNN/conv front end included), so only the ``lora_A``/``lora_B`` matrices train.

Train/eval mode: the backbone stays in eval mode during training (its own dropout off, as in braintune's
single-participant trainer), while the LoRA dropout modules are switched to train mode
(:func:`set_lora_dropout`), so the adapters see dropout as in the authors' setup.

:func:`merge_lora` folds the adapters into the base weights (``merge_and_unload``) on a copy: the result is
a plain backbone that ``save_pretrained``/:func:`braintune.features.models.load_model` handle like any
brain-tuned model.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from peft.tuners.lora import LoraLayer

from braintune.features import models
from braintune.utils import portable_path

__all__ = ["LORA_TARGETS", "add_lora", "lora_layers", "merge_lora", "set_lora_dropout"]

#: Attention projections adapted in every transformer layer (name suffixes; the authors' targets).
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")


def add_lora(
    backbone: torch.nn.Module, rank: int = 8, alpha: float = 32, dropout: float = 0.1,
    targets: tuple[str, ...] = LORA_TARGETS, seed: int = 0,
) -> PeftModel:
    """Wrap a registry backbone with LoRA adapters (``peft``) on ``targets`` of every transformer layer.

    ``lora_A`` is drawn from torch's RNG seeded with ``seed`` (the global RNG is left untouched; ``lora_B``
    starts at zero, so the wrapped model computes exactly the backbone's function). The backbone is modified
    in place (its target modules are replaced by LoRA layers) and is ``peft_model.get_base_model()``.

    Raises ValueError when the targets do not name ``len(targets)`` modules in each transformer layer
    (a wrong name or an architecture whose modules are named otherwise).
    """
    architecture = models.architecture_of_model(backbone)
    config = LoraConfig(r=int(rank), lora_alpha=alpha, lora_dropout=float(dropout), bias="none",
                        target_modules=list(targets))
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        torch.manual_seed(int(seed))
        # peft 0.21 asks transformers 5 for `is_gradient_checkpointing`, which warns about its new name
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        peft_model = get_peft_model(backbone, config)
    # the adapter's config records the backbone's source; a local checkpoint directory is kept portable
    saved = peft_model.peft_config["default"]
    if saved.base_model_name_or_path and Path(saved.base_model_name_or_path).is_absolute():
        saved.base_model_name_or_path = portable_path(saved.base_model_name_or_path)
    adapted = [name for name, _ in lora_layers(peft_model.get_base_model())]
    expected = len(targets) * models.num_layers(backbone)
    if len(adapted) != expected:
        raise ValueError(
            f"LoRA targets {list(targets)} matched {len(adapted)} modules of the {architecture} backbone, expected "
            f"{expected} ({len(targets)} per transformer layer): {adapted}"
        )
    trainable = [name for name, p in peft_model.named_parameters() if p.requires_grad and "lora_" not in name]
    if trainable:
        raise RuntimeError(f"peft left non-LoRA parameters trainable: {trainable}")
    return peft_model


def lora_layers(backbone: torch.nn.Module) -> list[tuple[str, LoraLayer]]:
    """(name, module) of every LoRA-adapted module of a backbone."""
    return [(name, module) for name, module in backbone.named_modules() if isinstance(module, LoraLayer)]


def set_lora_dropout(backbone: torch.nn.Module, training: bool) -> None:
    """Switch only the LoRA dropout modules to train (``training``) or eval mode; the rest keeps its mode."""
    for _, layer in lora_layers(backbone):
        layer.lora_dropout.train(training)


def merge_lora(peft_model: PeftModel) -> torch.nn.Module:
    """A plain backbone (on the CPU, eval mode) whose weights are the base weights plus the merged LoRA
    updates (``merge_and_unload`` of a copy; ``peft_model`` keeps its adapters and device)."""
    merged = copy.deepcopy(peft_model).to("cpu").merge_and_unload()
    return merged.eval()
