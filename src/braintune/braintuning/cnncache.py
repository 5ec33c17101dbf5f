"""The frozen front end of brain-tuning, split from the trainable rest, and a cache of its output per window.

Brain-tuning freezes the front end (:data:`braintune.features.models.FROZEN_PREFIXES`; docs/decisions.md 5).
It is deterministic: no dropout, masking or normalisation statistics in it, the same output in train and eval
mode (tested). A training window is always the same audio for a given dataset index (the dataset cuts it from
the story's audio, no augmentation), so the front end's output is a pure function of the sample index and can
be computed once per run instead of once per epoch.

The backbone's forward is split in two at the output of its frozen layers:

- :func:`frontend`: waveforms (B, L) -> (B, frames, channels). wav2vec2/HuBERT: per-window normalisation
  (``normalize``) and the CNN feature encoder (``feature_extractor``: 499 x 512 for 10 s). Whisper: the log-mel
  of the audio padded to 30 s, conv1 + GELU, conv2 + GELU (``max_source_positions`` x ``d_model``; 1500 x 768
  for whisper-small). The frozen positional embedding of Whisper is added in :func:`trunk` instead: under bf16
  autocast the convolutions produce bf16 but the sum with the float32 table is float32, so caching before the
  sum keeps the cache bf16 and the result exact.
- :func:`trunk`: the rest of the HF forward, the trainable part (wav2vec2/HuBERT: ``feature_projection``,
  SpecAugment masking (off: :func:`braintune.features.models.build_model`), ``encoder``, ``adapter``; Whisper:
  positions, dropout, the layers, the final LayerNorm) -> the last hidden state, equal to the HF forward's (tested,
  bit-identical on CPU, also with dropout on under the same seed).

:class:`braintune.braintuning.trainer.BrainTuner` always runs ``trunk(frontend(waves))``, so cached and
recomputed runs share one code path for the trainable part. A :class:`FrontendCache` holds the front end's output
of every window of a dataset, indexed by global sample index, in the dtype the forward produces it in (float32 on
CPU; bf16 under CUDA autocast, float32 for a LayerNorm CNN such as HuBERT-large's): on the training device when it
fits, else in host memory (gathered per batch and copied over). It is rebuilt by every :func:`train
<braintune.braintuning.trainer.train>` call (it is not part of the resumable state). Size of a subject's 8,738
training windows of 10 s in bf16: 4.5 GB for a base wav2vec2/HuBERT, 20.1 GB for whisper-small's encoder.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from braintune.features import models

log = logging.getLogger(__name__)

__all__ = ["MEMORY_FRACTION", "FrontendCache", "cache_device", "cache_setting", "frontend", "frontend_parameters",
           "host_free_bytes", "trunk"]

#: Largest share of the free memory (device, else host) one cache may take; the rest is left to training.
MEMORY_FRACTION = 0.5


def frontend_parameters(backbone: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The parameters :func:`frontend` uses (a subset of the frozen ones, :func:`models.frozen_parameter_names`)."""
    if models.architecture_of_model(backbone) == "whisper":
        return [*backbone.conv1.parameters(), *backbone.conv2.parameters()]
    return list(backbone.feature_extractor.parameters())


def frontend(backbone: torch.nn.Module, waves: torch.Tensor) -> torch.Tensor:
    """The frozen front end's output (B, frames, channels) for waveforms (B, L) on the backbone's device.

    Input preprocessing runs in float32 as in :func:`models.encoder_forward`; the convolutions run under the
    caller's autocast. Without gradients when the front end is frozen (its parameters do not require grad), so
    that no graph is kept for it even in train mode.
    """
    waves = waves.to(device=next(backbone.parameters()).device, dtype=torch.float32)
    trainable = any(p.requires_grad for p in frontend_parameters(backbone))
    with torch.set_grad_enabled(torch.is_grad_enabled() and trainable):
        if models.architecture_of_model(backbone) == "whisper":
            mel = models.whisper_log_mel(backbone, waves)
            hidden = F.gelu(backbone.conv1(mel))
            hidden = F.gelu(backbone.conv2(hidden))
        else:
            if getattr(backbone, "_braintune_normalize", True):
                waves = models.normalize_waveforms(waves)
            hidden = backbone.feature_extractor(waves)
        return hidden.transpose(1, 2)


def trunk(backbone: torch.nn.Module, features: torch.Tensor) -> torch.Tensor:
    """The backbone's last hidden state (B, frames, hidden) from its front end's output (:func:`frontend`):
    the steps of the HF forward after the frozen layers, in the same order (dropout and masking included)."""
    if models.architecture_of_model(backbone) == "whisper":
        if backbone.training and backbone.layerdrop > 0:
            raise ValueError("whisper: encoder_layerdrop > 0 is not supported (models.build_model sets it to 0)")
        hidden = features + backbone.embed_positions.weight  # = embed_positions(arange(max_source_positions))
        hidden = F.dropout(hidden, p=backbone.dropout, training=backbone.training)
        for layer in backbone.layers:
            hidden = layer(hidden, None)
        return backbone.layer_norm(hidden)
    hidden = backbone.feature_projection(features)
    if isinstance(hidden, tuple):  # wav2vec2 also returns the normalised features (for its quantiser)
        hidden = hidden[0]
    hidden = backbone._mask_hidden_states(hidden)
    hidden = backbone.encoder(hidden).last_hidden_state
    if getattr(backbone, "adapter", None) is not None:
        hidden = backbone.adapter(hidden)
    return hidden


def cache_setting(value: bool | str) -> bool | str:
    """``braintuning.cache_cnn``: true, false or ``auto``."""
    if value in (True, False, "auto"):
        return value
    raise ValueError(f"braintuning.cache_cnn: {value!r}; expected true, false or auto")


def host_free_bytes() -> int:
    """Free host memory (bytes; POSIX ``SC_AVPHYS_PAGES``, without the reclaimable page cache)."""
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def cache_device(nbytes: int, device: torch.device, setting: bool | str) -> torch.device | None:
    """Where a cache of ``nbytes`` goes: ``device`` when it fits in :data:`MEMORY_FRACTION` of the device's
    free memory, else the host when it fits there; None (recompute) with ``setting`` false, or ``auto`` when it
    fits nowhere; MemoryError with ``setting`` true when it fits nowhere."""
    if cache_setting(setting) is False:
        return None
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if nbytes <= MEMORY_FRACTION * free:
            return device
    host = host_free_bytes()
    if nbytes <= MEMORY_FRACTION * host:
        return torch.device("cpu")
    message = (f"front-end cache of {nbytes / 1e9:.2f} GB does not fit in {MEMORY_FRACTION:.0%} of the free "
               f"memory of {device} or of the host ({host / 1e9:.2f} GB free)")
    if setting is True:
        raise MemoryError(f"braintuning.cache_cnn: true, but the {message}")
    log.warning("%s: recomputing the front end every step (braintuning.cache_cnn: auto)", message)
    return None


class FrontendCache:
    """The front end's output of every window of a dataset (``store[i]`` = window ``i``), built once.

    Attributes:
        store: (n_samples, frames, channels) on ``store.device`` (the training device, or the host).
        window: samples per window (the Whisper pooling needs it: :meth:`BrainTuner.from_frontend
            <braintune.braintuning.trainer.BrainTuner.from_frontend>`).
        device: the training device, where :meth:`features` delivers.
    """

    def __init__(self, store: torch.Tensor, window: int, device: torch.device):
        self.store, self.window, self.device = store, int(window), torch.device(device)

    @property
    def nbytes(self) -> int:
        return self.store.numel() * self.store.element_size()

    def features(self, index: np.ndarray) -> torch.Tensor:
        """The cached front-end output (B, frames, channels) of global sample indices, on the training device."""
        idx = torch.from_numpy(np.asarray(index, dtype=np.int64))
        if self.store.device.type == "cuda":  # pinned and asynchronous: a pageable copy would wait for the GPU
            idx = idx.pin_memory().to(self.store.device, non_blocking=True)
        batch = self.store.index_select(0, idx)
        if batch.device.type != self.device.type:  # a host-memory cache of a GPU run: pinned for the copy
            batch = batch.pin_memory().to(self.device, non_blocking=True)
        return batch

    @classmethod
    def build(
        cls, backbone: torch.nn.Module, batches: Iterable[tuple[np.ndarray, torch.Tensor]], n_samples: int,
        window: int, device: torch.device, setting: bool | str = "auto", desc: str = "front-end cache",
    ) -> FrontendCache | None:
        """Run :func:`frontend` once over ``batches`` of (global sample indices, waveforms (B, window)) that cover
        all ``n_samples`` windows, under no_grad and the trainer's autocast, and store the outputs where
        :func:`cache_device` says. Returns None when ``setting`` (``braintuning.cache_cnn``) says to recompute."""
        device = torch.device(device)
        if cache_setting(setting) is False:
            return None
        if any(p.requires_grad for p in frontend_parameters(backbone)):
            raise RuntimeError("the front end is trainable: its output changes every step and cannot be cached "
                               "(braintune.features.models.freeze_frontend freezes it)")
        t0 = time.perf_counter()
        store, filled = None, np.zeros(int(n_samples), dtype=bool)
        bar = tqdm(total=int(n_samples), desc=desc, unit="win", file=sys.stderr, mininterval=5, disable=None)
        for index, waves in batches:
            index = np.asarray(index, dtype=np.int64)
            with torch.no_grad(), models.autocast(device):
                out = frontend(backbone, waves.to(device, non_blocking=True))
            if store is None:
                nbytes = int(n_samples) * out[0].numel() * out.element_size()
                where = cache_device(nbytes, device, setting)
                if where is None:
                    bar.close()
                    return None
                store = torch.empty((int(n_samples), *out.shape[1:]), dtype=out.dtype, device=where)
            store[torch.as_tensor(index, device=store.device)] = out.to(store.device)
            filled[index] = True
            bar.update(len(index))
        bar.close()
        if store is None or not filled.all():
            raise ValueError(f"{desc}: the batches covered {int(filled.sum())} of {n_samples} windows")
        cache = cls(store, window, device)
        log.info("%s: %d windows x %s %s = %.2f GB on %s, built in %.1f s", desc, n_samples, tuple(store.shape[1:]),
                 str(store.dtype).removeprefix("torch."), cache.nbytes / 1e9, store.device, time.perf_counter() - t0)
        return cache
