"""Brain-tuning trainer (docs/decisions.md 5; docs/protocol.md 3).

The model is the backbone's last hidden state, mean-pooled over time (Whisper: over the frames
``[0, last_valid_frame)`` that cover the audio, as the reference's ``out_idx``; the padded rest of the 30-s
input is ignored), followed by one linear layer onto the targets (voxels). The CNN front end is frozen
(:func:`braintune.features.models.freeze_frontend`); MSE loss; Adam with two parameter groups (backbone, head); the
schedule of :mod:`.schedule`; gradient accumulation of ``micro_batch_size`` micro-batches up to
``batch_size``; bf16 autocast on CUDA; validation MSE after every epoch, early stopping after ``patience``
epochs without improvement, the best epoch's weights kept.

Frozen front end computed once (:mod:`.cnncache`; ``cache_cnn``): the model runs as ``trunk(frontend(waves))``;
with the cache, the front end's output of every training and validation window is computed once per run and
the steps run the trunk from it (same results: bit-identical on CPU, tests/test_braintuning_cnncache.py).

Resumability: after every epoch the model, optimiser, scheduler, RNG states, curve and early-stopping
bookkeeping are written atomically to ``state_dir/last.pt`` (and the best weights to ``state_dir/best.pt``).
A run restarted with the same arguments resumes after the last completed epoch; on CPU it ends with weights
bitwise equal to an uninterrupted run (tests/test_braintuning_trainer.py).
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from braintune.features import models
from braintune.utils import atomic_output, stable_hash

from .cnncache import FrontendCache, cache_setting, frontend, trunk
from .dataset import PairedDataset
from .schedule import make_scheduler, steps_per_epoch_is_per_step

log = logging.getLogger(__name__)

__all__ = ["BrainTuner", "TrainResult", "train", "evaluate", "optimizer_step", "build_cache", "write_curve",
           "CURVE_COLUMNS"]

CURVE_COLUMNS = ("epoch", "step", "train_mse", "val_mse", "lr_backbone", "lr_head", "seconds")


class BrainTuner(torch.nn.Module):
    """Backbone + mean pooling + linear head (docs/protocol.md 3 'Model head').

    The backbone runs in two parts (:mod:`.cnncache`): :meth:`frontend` (frozen) and the trainable rest, which
    :meth:`from_frontend` runs from the front end's output, recomputed (:meth:`forward`) or cached.
    """

    def __init__(self, backbone: torch.nn.Module, n_outputs: int, seed: int = 0):
        super().__init__()
        self.backbone = backbone
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))  # PyTorch's default Linear init, seeded
            self.head = torch.nn.Linear(models.hidden_size(backbone), int(n_outputs))
        self.architecture = models.architecture_of_model(backbone)

    def frontend(self, waves: torch.Tensor) -> torch.Tensor:
        """The frozen front end's output (B, frames, channels) of waveforms (B, n_samples)."""
        return frontend(self.backbone, waves)

    def _pool(self, features: torch.Tensor, n_samples: int) -> torch.Tensor:
        hidden = trunk(self.backbone, features)
        if self.architecture == "whisper":
            hidden = hidden[:, : models.last_valid_frame(self.backbone, n_samples)]
        return hidden.mean(dim=1)

    def pooled(self, waves: torch.Tensor) -> torch.Tensor:
        """Mean of the last hidden state over the frames that cover the audio: (B, H)."""
        return self._pool(self.frontend(waves), waves.shape[-1])

    def from_frontend(self, features: torch.Tensor, n_samples: int) -> torch.Tensor:
        """Predictions (B, n_outputs) from the front end's output of windows of ``n_samples`` samples."""
        return self.head(self._pool(features, n_samples))

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        return self.from_frontend(self.frontend(waves), waves.shape[-1])


@dataclass
class TrainResult:
    best_epoch: int
    best_val_mse: float
    final_epoch: int
    stopped_early: bool
    curve: list[dict] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)
    n_trainable: int = 0


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class Progress:
    """Where a training run stands: the next epoch, optimiser steps taken, the curve so far, early stopping."""

    start_epoch: int = 0
    step: int = 0
    curve: list = field(default_factory=list)
    best_val: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0


def resume(last_path: Path, run_key: str, device: torch.device, restore, optimizer, scheduler, seed: int) -> Progress:
    """Resume from ``last_path`` (the per-epoch state) when the same run wrote it (``run_key``): ``restore``
    loads the model's part of the state, then the optimiser, scheduler and RNG states are restored. Otherwise
    (no state, or another run's) the run starts afresh from ``seed``."""
    if last_path.exists():
        state = torch.load(last_path, map_location=device, weights_only=False)
        if state.get("run_key") == run_key:
            restore(state)
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            set_rng_state(state["rng"])
            log.info("resuming after epoch %d (best val MSE %.6f at epoch %d)", state["epoch"], state["best_val"],
                     state["best_epoch"])
            return Progress(state["epoch"] + 1, state["step"], state["curve"], state["best_val"], state["best_epoch"],
                            state["bad_epochs"])
        log.warning("%s belongs to another run (different settings or data); starting afresh", last_path)
    torch.manual_seed(seed)
    return Progress()


def save_state(obj: dict, path: Path) -> None:
    with atomic_output(path) as tmp:
        torch.save(obj, tmp)


def make_loader(dataset: PairedDataset, device: torch.device, workers: int) -> torch.utils.data.DataLoader:
    """Batches of the dataset's plan, assembled by ``workers`` background processes (windows cut from the
    memmaps) and pinned for the host-to-GPU copy. The loader has its own generator: iterating a loader draws
    a seed for its workers, which must not advance the global RNG (backbone dropout), so that runs with and
    without the front-end cache (which iterates no loader) draw the same random numbers."""
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
        generator=torch.Generator(),
    )


def iter_batches(dataset: PairedDataset, device: torch.device, workers: int, cache: FrontendCache | None):
    """(inputs, targets) of each batch of the dataset's current plan: waveforms from :func:`make_loader`, or with a
    cache the cached front-end output of the batch's windows (already on the device)."""
    if cache is None:
        return iter(make_loader(dataset, device, workers))
    return ((cache.features(index), dataset.targets(index)) for index in dataset.batches)


def build_cache(
    model: BrainTuner, dataset: PairedDataset, micro_batch: int, device: torch.device, workers: int = 0,
    setting: bool | str = "auto", desc: str = "front-end cache",
) -> FrontendCache | None:
    """The :class:`FrontendCache` of every window of ``dataset`` (micro-batches of consecutive windows cut by
    :func:`make_loader`), or None when ``setting`` (``braintuning.cache_cnn``) says to recompute. Replans the
    dataset."""
    dataset.plan(micro_batch, shuffle=False)
    waves = (w for w, _ in make_loader(dataset, device, workers))
    batches = zip(dataset.batches, waves, strict=True)
    return FrontendCache.build(model.backbone, batches, dataset.n_samples, dataset.window, device, setting, desc)


def predict(model: BrainTuner, inputs: torch.Tensor, cached_window: int | None) -> torch.Tensor:
    """The model's prediction from waveforms, or from cached front-end output of ``cached_window`` samples."""
    return model(inputs) if cached_window is None else model.from_frontend(inputs, cached_window)


def evaluate(
    model: BrainTuner, dataset: PairedDataset, micro_batch: int, device: torch.device, workers: int = 0,
    cache: FrontendCache | None = None,
) -> float:
    """Mean squared error over every sample and output of ``dataset`` (no gradients), from its waveforms or
    from ``cache`` (:func:`build_cache` of ``dataset``)."""
    model.eval()
    dataset.plan(micro_batch, shuffle=False)
    window = None if cache is None else cache.window
    total, count = torch.zeros((), dtype=torch.float64, device=device), 0  # read once, at the end
    with torch.no_grad():
        for inputs, targets in iter_batches(dataset, device, workers, cache):
            inputs = inputs.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            with models.autocast(device):
                pred = predict(model, inputs, window)
            total += F.mse_loss(pred.float(), targets, reduction="sum")
            count += targets.numel()
    return float(total) / max(count, 1)


def optimizer_step(
    model: BrainTuner, optimizer: torch.optim.Optimizer, inputs: torch.Tensor, targets: torch.Tensor, micro: int,
    device: torch.device, cached_window: int | None = None,
) -> tuple[torch.Tensor, int]:
    """One optimiser step on a batch, accumulated over micro-batches (each micro-batch's mean MSE weighted by
    its share of the batch, so the gradient equals the full batch's). Returns (sum of squared errors, count):
    the sum a 0-dim float32 tensor on the device, left unread so that the host does not wait for the step.

    ``inputs``: waveforms (B, samples); or, with ``cached_window`` (samples per window) given, the cached
    front-end output of such windows (B, frames, channels; :meth:`FrontendCache.features`).
    """
    optimizer.zero_grad(set_to_none=True)
    n = inputs.shape[0]
    losses = []
    for lo in range(0, n, micro):
        x = inputs[lo : lo + micro].to(device, non_blocking=True)
        t = targets[lo : lo + micro].to(device, non_blocking=True)
        with models.autocast(device):
            pred = predict(model, x, cached_window)
        loss = F.mse_loss(pred.float(), t)
        (loss * (t.shape[0] / n)).backward()
        losses.append(loss.detach() * t.numel())
    optimizer.step()
    return torch.stack(losses).sum(), targets.numel()


def _set_train_mode(model: BrainTuner, backbone_dropout: bool) -> None:
    """Head in train mode; the backbone stays in eval mode (dropout, LayerDrop and SpecAugment off, as in the
    reference) unless ``backbone_dropout``."""
    model.train()
    if not backbone_dropout:
        model.backbone.eval()


def train(
    model: BrainTuner,
    train_set: PairedDataset,
    val_set: PairedDataset,
    cfg: dict,
    state_dir: str | Path,
    device: torch.device | str = "cpu",
    seed: int = 0,
    on_epoch_end: Callable[[int], None] | None = None,
    cache_cnn: bool | str = "auto",
) -> TrainResult:
    """Brain-tune ``model`` in place; on return it holds the weights of the best validation epoch.

    Args:
        cfg: the ``braintuning`` config section (with any variant overrides applied): ``lr_backbone``,
            ``lr_head``, ``schedule``, ``warmup_fraction``, ``batch_size``, ``micro_batch_size``, ``max_epochs``,
            ``patience``, ``min_delta``, ``shuffle``, ``backbone_dropout``, ``num_workers``.
        state_dir: where per-epoch resumable state is kept (``last.pt``, ``best.pt``).
        on_epoch_end: called with the epoch index after its state is saved (tests use it to simulate a kill).
        cache_cnn: ``braintuning.cache_cnn`` (speed only): compute the frozen front end once per training and
            validation window (:func:`build_cache`) and train from its output (true; ``auto``: when it fits in
            memory) or recompute it every step (false). The cache is not part of the resumable state: a resumed
            run rebuilds it, and may use another setting.
    """
    device = torch.device(device)
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    batch, micro = int(cfg["batch_size"]), int(cfg["micro_batch_size"])
    if micro > batch:
        micro = batch
    max_epochs = int(cfg["max_epochs"])
    patience = int(cfg["patience"])
    min_delta = float(cfg["min_delta"])
    shuffle, workers = bool(cfg["shuffle"]), int(cfg["num_workers"])
    backbone_dropout = bool(cfg["backbone_dropout"])
    cache_cnn = cache_setting(cache_cnn)

    frozen = models.freeze_frontend(model.backbone)
    model.to(device)
    backbone_params = [p for p in model.backbone.parameters() if p.requires_grad]
    head_params = list(model.head.parameters())
    optimizer = torch.optim.Adam(
        [{"params": backbone_params, "lr": float(cfg["lr_backbone"])}, {"params": head_params, "lr": float(cfg["lr_head"])}]
    )
    steps_per_epoch = len(train_set.plan(batch, shuffle, seed, 0))
    scheduler = make_scheduler(optimizer, cfg, steps_per_epoch, max_epochs)
    per_step = steps_per_epoch_is_per_step(cfg["schedule"])
    n_trainable = sum(p.numel() for p in backbone_params + head_params)
    # A state is resumed only if it was written by the same run (same config, data sizes and model shape).
    run_key = stable_hash(
        {"cfg": cfg, "seed": seed, "n_train": train_set.n_samples, "n_val": val_set.n_samples,
         "outputs": train_set.n_outputs, "params": n_trainable}
    )

    last_path, best_path = state_dir / "last.pt", state_dir / "best.pt"
    progress = resume(last_path, run_key, device, lambda state: model.load_state_dict(state["model"]), optimizer,
                      scheduler, seed)
    start_epoch, step, curve = progress.start_epoch, progress.step, progress.curve
    best_val, best_epoch, bad_epochs = progress.best_val, progress.best_epoch, progress.bad_epochs
    log.info(
        "training %d samples in %d steps/epoch (batch %d = %d x micro-batch %d), %d validation samples, "
        "%d outputs, %.2fM trainable parameters, %d frozen tensors, device %s",
        train_set.n_samples, steps_per_epoch, batch, math.ceil(batch / micro), micro, val_set.n_samples,
        train_set.n_outputs, n_trainable / 1e6, len(frozen), device,
    )

    stopped_early = bad_epochs >= patience and start_epoch > 0
    epochs = range(start_epoch, max_epochs if not stopped_early else start_epoch)
    train_cache = val_cache = None
    if len(epochs) and cache_cnn is not False:
        train_cache = build_cache(model, train_set, micro, device, workers, cache_cnn, "front-end cache (train)")
        if train_cache is not None:
            val_cache = build_cache(model, val_set, micro, device, workers, cache_cnn, "front-end cache (validation)")
    window = None if train_cache is None else train_cache.window
    epoch = start_epoch - 1
    for epoch in epochs:
        t0 = time.perf_counter()
        _set_train_mode(model, backbone_dropout)
        train_set.plan(batch, shuffle, seed, epoch)
        lr_bb, lr_head = (group["lr"] for group in optimizer.param_groups)
        # summed on the device in float64 (as a host float would) and read once per epoch: no sync per step
        total, count = torch.zeros((), dtype=torch.float64, device=device), 0
        for inputs, targets in iter_batches(train_set, device, workers, train_cache):
            batch_sum, batch_count = optimizer_step(model, optimizer, inputs, targets, micro, device, window)
            total += batch_sum
            count += batch_count
            step += 1
            if per_step:
                scheduler.step()
        val_mse = evaluate(model, val_set, micro, device, workers, val_cache)
        if not per_step:
            scheduler.step()
        row = {
            "epoch": epoch, "step": step, "train_mse": float(total) / max(count, 1), "val_mse": val_mse,
            "lr_backbone": lr_bb, "lr_head": lr_head, "seconds": time.perf_counter() - t0,
        }
        curve.append(row)
        log.info("epoch %d: train MSE %.6f, val MSE %.6f (%.1f s)", epoch, row["train_mse"], val_mse, row["seconds"])
        if val_mse < best_val - min_delta:
            best_val, best_epoch, bad_epochs = val_mse, epoch, 0
            save_state({"model": model.state_dict(), "epoch": epoch, "run_key": run_key}, best_path)
        else:
            bad_epochs += 1
        save_state(
            {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "rng": rng_state(), "epoch": epoch, "step": step, "curve": curve, "best_val": best_val,
                "best_epoch": best_epoch, "bad_epochs": bad_epochs, "run_key": run_key,
            },
            last_path,
        )
        if on_epoch_end is not None:
            on_epoch_end(epoch)
        if bad_epochs >= patience:
            stopped_early = True
            log.info("early stop: no improvement of the validation MSE for %d epochs", bad_epochs)
            break

    if best_path.exists():
        model.load_state_dict(torch.load(best_path, map_location=device, weights_only=False)["model"])
    final_epoch = curve[-1]["epoch"] if curve else epoch
    return TrainResult(best_epoch, best_val, final_epoch, stopped_early, curve, frozen, n_trainable)


def write_curve(
    curve: list[dict], tsv_path: str | Path, png_path: str | Path | None = None, title: str = "",
    series: tuple[str, ...] = ("train_mse", "val_mse"), ylabel: str = "MSE",
) -> None:
    """A training curve as TSV (one row per epoch, the rows' keys as columns) and optionally a PNG plot of
    ``series`` against the epoch (with the best validation epoch marked when ``val_mse`` is plotted)."""
    columns = list(curve[0]) if curve else list(CURVE_COLUMNS)
    with atomic_output(tsv_path) as tmp:
        with open(tmp, "w") as handle:
            handle.write("\t".join(columns) + "\n")
            for row in curve:
                handle.write("\t".join(f"{row[c]:.8g}" if isinstance(row[c], float) else str(row[c]) for c in columns) + "\n")
    if png_path is None:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in curve]
    fig, ax = plt.subplots(figsize=(5, 3.2), constrained_layout=True)
    for key in series:
        ax.plot(epochs, [r[key] for r in curve], marker="o", label=key.replace("_mse", "").replace("val", "validation"))
    if curve and "val_mse" in series:
        best = min(curve, key=lambda r: r["val_mse"])
        ax.axvline(best["epoch"], color="grey", linestyle=":", label=f"best (epoch {best['epoch']})")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    with atomic_output(png_path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
