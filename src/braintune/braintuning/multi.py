"""Multi-participant brain-tuning with LoRA (Moussa & Toneva, NeurIPS 2025, "Brain-tuning Improves
Generalizability and Efficiency of Brain Alignment in Speech Models"; the authors' code
``bridge-ai-neuro/multi-brain-tuning``).

ONE model is tuned jointly on several participants. Each participant's responses are projected to a common
space of K dimensions (``targets = responses @ projection``, a V_native x K matrix per participant, scipy
sparse or dense; built by :mod:`braintune.commonspace`), so that all participants share one output space:

- **Model** (:class:`MultiTuner`): braintune's :class:`~braintune.braintuning.trainer.BrainTuner` (mean of the
  last hidden state over the frames that cover the audio, one linear head onto the K outputs) on a backbone
  carrying LoRA adapters (:mod:`.lora`: r 8, alpha 32, dropout 0.1 on q/k/v/out projections of every layer).
  Every non-LoRA backbone weight is frozen; the backbone runs in eval mode (its dropout off), the LoRA dropout
  in train mode. ONE head is shared by all participants and the model is given no participant id.
- **Targets**: projected once per (participant, story) when training starts (:func:`project_dataset`; the
  product in the projection's precision, at least float32, stored float32), not per batch: the projected rows
  (K wide) are then held next to the native ones the caller loaded.
- **Batch order** (:func:`binding_order`, ``binding``): ``story`` ("binding by the shared stimulus", the
  authors' loop): per epoch, for each training story in order, for each participant in turn, all that
  participant's batches of consecutive windows of the story (the same audio every participant heard), one
  optimiser step per batch. ``shuffled``: every (participant, story, window) sample once per epoch, in a
  permutation seeded by (seed, epoch); a batch may then mix participants and stories.
- **Losses** (``loss``, :func:`per_sample_loss`): ``mse``; ``corr`` = 1 - Pearson r across outputs per sample
  (the authors' ``SpatialCorrelationLoss``, eps 1e-8 inside the square root); ``huber_cos`` = Huber loss with
  delta 0.6 averaged over outputs + (1 - cosine similarity across outputs) (the authors' ``cosl2_loss_function``:
  their ``SparseRobustLoss(delta)`` computes ``0.5 min(|e|, d)^2 + d (|e| - min(|e|, d))``, which is exactly
  :class:`torch.nn.HuberLoss` (``0.5 e^2`` for ``|e| <= d``, else ``d (|e| - d / 2)``), not SmoothL1Loss; we
  use :func:`torch.nn.functional.huber_loss`). Every loss is a mean over the batch of per-sample values, so the
  authors' batch losses are reproduced exactly and gradient accumulation over micro-batches is exact.
- **Uncovered outputs** (``uncovered``): ``mask`` (default) leaves the outputs a participant's voxels do not reach
  out of that participant's samples' losses and MSEs (each loss over the sample's covered outputs only);
  ``zero`` keeps them as 0 targets (the authors' code, whose ``nan_to_num``'d data make them 0).
- **Optimiser**: AdamW (weight decay 0.01 on both groups), LoRA lr 1e-4, head lr 1e-4; the paper's schedule
  (:func:`braintune.braintuning.schedule.make_scheduler` ``paper``: linear warm-up over 10% of the optimiser
  steps of all epochs, then linear decay to 0). ``schedule_stepping: step`` (default) steps it after every
  optimiser step. ``story`` is the authors' code: the schedule is sized in optimiser steps but stepped once per
  story (after all participants' batches of it), so it advances ``n_stories`` per epoch instead of
  ``steps_per_epoch`` and the learning rate is still warming up late in training (only with ``binding: story``).
- **Validation**: MSE on the validation stories of each participant (projected like the training targets), the
  mean over participants; the model's predictions are computed once per validation window (they do not depend
  on the participant). ``patience`` None (the authors): all epochs run and the final weights are kept;
  ``patience`` N: early stopping as braintune's trainer, the best epoch's weights kept.
- **Resumable**: after every epoch the trainable parameters (LoRA + head), optimiser, scheduler, RNG states,
  epoch/step position, curve and early-stopping bookkeeping go atomically to ``state_dir/last.pt``; a rerun with
  the same arguments resumes after the last completed epoch and, on CPU, ends bitwise equal to an uninterrupted
  run (tests/test_braintuning_multi.py).
- **Outputs** (:func:`save_multi`): ``model/`` (the backbone with the adapters merged, ``save_pretrained``:
  :func:`braintune.features.models.load_model` loads it like any brain-tuned model), ``adapter/`` (``peft``
  ``save_pretrained`` of the adapters alone) and ``head.pt`` (the head's state dict). Optional checkpoints of
  the same form after given numbers of epochs (``checkpoint_epochs``).

The frozen front end is computed once per distinct stimulus window (:mod:`.cnncache`), not once per
participant: participants who heard the same story share its windows.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from braintune.features import models
from braintune.utils import ParamsRoundTrip, atomic_directory, stable_hash

from .cnncache import FrontendCache, cache_setting
from .dataset import PairedDataset, StoryPairs, array_digest
from .lora import LORA_TARGETS, add_lora, merge_lora, set_lora_dropout
from .schedule import make_scheduler
from .trainer import (
    BrainTuner,
    build_cache,
    iter_batches,
    make_loader,
    predict,
    resume,
    rng_state,
    save_state,
)

log = logging.getLogger(__name__)

__all__ = [
    "BINDINGS",
    "LOSSES",
    "STEPPINGS",
    "UNCOVERED",
    "MultiResult",
    "MultiSettings",
    "MultiTuner",
    "Segment",
    "binding_order",
    "evaluate_multi",
    "per_sample_loss",
    "project_dataset",
    "project_targets",
    "projection_coverage",
    "save_multi",
    "scheduler_steps",
    "shared_stimulus",
    "train_multi",
]

BINDINGS = ("story", "shuffled")
LOSSES = ("mse", "corr", "huber_cos")
STEPPINGS = ("step", "story")
UNCOVERED = ("mask", "zero")

#: One run of a batch: (participant, story, window rows of that story).
Segment = tuple[str, str, np.ndarray]


@dataclass(frozen=True)
class MultiSettings(ParamsRoundTrip):
    """What a multi-participant brain-tuning run depends on (defaults: the authors' values, but ``uncovered``).

    Attributes:
        lora_rank, lora_alpha, lora_dropout, lora_targets: the LoRA adapters (:func:`.lora.add_lora`).
        binding: batch order, ``story`` or ``shuffled`` (:func:`binding_order`).
        loss: ``mse``, ``corr`` or ``huber_cos`` (:func:`per_sample_loss`); ``huber_delta`` its Huber delta.
        uncovered: the common-space outputs a participant does not cover: ``mask`` (left out of that
            participant's losses and MSEs) or ``zero`` (0 targets: the authors' code).
        lr_lora, lr_head, weight_decay: AdamW, two parameter groups.
        warmup_fraction: share of all optimiser steps spent warming up (the ``paper`` schedule).
        schedule_stepping: ``step`` (after every optimiser step) or ``story`` (the authors': once per story).
        batch_size: windows per optimiser step; micro_batch_size: windows per forward pass (None: the whole
            batch), gradients accumulated.
        epochs: epochs to run; patience: early stopping after that many epochs without a validation MSE
            improvement of more than ``min_delta`` (None: no early stopping, the final weights are kept).
        checkpoint_epochs: numbers of completed epochs (1..epochs) after which a checkpoint is saved.
        seed: LoRA and head initialisation, LoRA dropout, the shuffled order.
    """

    lora_rank: int = 8
    lora_alpha: float = 32.0
    lora_dropout: float = 0.1
    lora_targets: tuple[str, ...] = LORA_TARGETS
    binding: str = "story"
    loss: str = "mse"
    huber_delta: float = 0.6
    uncovered: str = "mask"
    lr_lora: float = 1e-4
    lr_head: float = 1e-4
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    schedule_stepping: str = "step"
    batch_size: int = 128
    micro_batch_size: int | None = None
    epochs: int = 30
    patience: int | None = None
    min_delta: float = 0.0
    checkpoint_epochs: tuple[int, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        choices = {"binding": BINDINGS, "loss": LOSSES, "schedule_stepping": STEPPINGS, "uncovered": UNCOVERED}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"multi-participant settings: {key} {getattr(self, key)!r}; expected one of {allowed}")
        if self.schedule_stepping == "story" and self.binding != "story":
            raise ValueError("multi-participant settings: schedule_stepping 'story' steps the schedule once per story "
                             "and needs binding 'story'")
        positive = {"lora_rank": self.lora_rank, "batch_size": self.batch_size, "epochs": self.epochs,
                    "micro_batch_size": 1 if self.micro_batch_size is None else self.micro_batch_size,
                    "patience": 1 if self.patience is None else self.patience}
        for key, value in positive.items():
            if int(value) < 1:
                raise ValueError(f"multi-participant settings: {key} {value}; expected an integer >= 1")
        if not 0.0 <= float(self.warmup_fraction) < 1.0:
            raise ValueError(f"multi-participant settings: warmup_fraction {self.warmup_fraction}; expected 0 <= f < 1")
        bad = [e for e in self.checkpoint_epochs if not 1 <= int(e) <= self.epochs]
        if bad:
            raise ValueError(f"multi-participant settings: checkpoint_epochs {bad} outside 1..{self.epochs} (epochs)")

    @property
    def micro(self) -> int:
        """Windows per forward pass."""
        return min(int(self.micro_batch_size or self.batch_size), int(self.batch_size))


class MultiTuner(BrainTuner):
    """:class:`BrainTuner` (mean pooling + one linear head onto the K common-space outputs) on a backbone
    carrying LoRA adapters.

    ``self.backbone`` is the adapted Hugging Face model (``peft_model.get_base_model()``: its attention
    projections are LoRA layers), so every braintune helper (front end, trunk, pooling, front-end cache)
    applies unchanged. ``self.peft_model`` is the ``peft`` wrapper of the same modules (kept out of the module
    tree: its parameters are the backbone's), used to save and merge the adapters.
    """

    def __init__(self, backbone: torch.nn.Module, n_outputs: int, settings: MultiSettings):
        peft_model = add_lora(backbone, settings.lora_rank, settings.lora_alpha, settings.lora_dropout,
                              tuple(settings.lora_targets), settings.seed)
        super().__init__(peft_model.get_base_model(), n_outputs, seed=settings.seed)
        self.settings = settings
        object.__setattr__(self, "peft_model", peft_model)

    def set_train_mode(self) -> None:
        """Head and LoRA dropout in train mode; the rest of the backbone in eval mode (dropout off)."""
        self.train()
        self.backbone.eval()
        set_lora_dropout(self.backbone, True)


@dataclass
class MultiResult:
    """Outcome of :func:`train_multi`. ``kept_epoch``: the epoch whose weights the model holds on return (the
    best one with early stopping, else the last one)."""

    best_epoch: int
    best_val_mse: float
    final_epoch: int
    kept_epoch: int
    stopped_early: bool
    steps_per_epoch: int
    n_trainable: int
    curve: list[dict] = field(default_factory=list)


# --- batch order ------------------------------------------------------------------------------


def binding_order(
    stories: Mapping[str, Mapping[str, int]], batch_size: int, mode: str = "story", seed: int = 0, epoch: int = 0
) -> list[tuple[Segment, ...]]:
    """The batches of one epoch; each batch a tuple of :data:`Segment` (participant, story, window rows).

    Args:
        stories: ``{participant: {story: number of windows}}``; stories are taken in order of first
            appearance (participants in their order), participants in their order.
        mode: ``story``: for each story, for each participant who heard it, that participant's batches of
            consecutive windows (``batch_size``, the last one of a (participant, story) smaller); each batch is
            one segment. ``shuffled``: all (participant, story, window) samples in a permutation seeded by
            (seed, epoch), cut into batches of ``batch_size``; within a batch the samples are grouped into one
            segment per (participant, story) (in participant, then story order).
    """
    if mode not in BINDINGS:
        raise ValueError(f"binding {mode!r}; expected one of {BINDINGS}")
    batch_size = int(batch_size)
    subjects = list(stories)
    story_names = list(dict.fromkeys(name for s in subjects for name in stories[s]))
    if mode == "story":
        return [
            ((subject, name, np.arange(first, min(first + batch_size, int(stories[subject][name])))),)
            for name in story_names
            for subject in subjects
            if name in stories[subject]
            for first in range(0, int(stories[subject][name]), batch_size)
        ]
    codes = [(si, ti, int(stories[s][name])) for si, s in enumerate(subjects)
             for ti, name in enumerate(story_names) if name in stories[s]]
    subject_code = np.concatenate([np.full(n, si) for si, _, n in codes])
    story_code = np.concatenate([np.full(n, ti) for _, ti, n in codes])
    rows = np.concatenate([np.arange(n) for _, _, n in codes])
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(epoch)]))
    order = rng.permutation(len(rows))
    batches = []
    for lo in range(0, len(order), batch_size):
        chosen = order[lo : lo + batch_size]
        key = subject_code[chosen] * len(story_names) + story_code[chosen]
        chosen = chosen[np.argsort(key, kind="stable")]
        bounds = np.flatnonzero(np.diff(np.sort(key))) + 1
        batches.append(tuple(
            (subjects[subject_code[part[0]]], story_names[story_code[part[0]]], rows[part])
            for part in np.split(chosen, bounds)
        ))
    return batches


def scheduler_steps(order: list[tuple[Segment, ...]], stepping: str) -> np.ndarray:
    """Whether the LR scheduler steps after each batch of ``order``: after every batch (``step``), or after the
    last batch of each story (``story``: batches of one story are consecutive with ``binding: story``)."""
    if stepping == "step":
        return np.ones(len(order), dtype=bool)
    if stepping != "story":
        raise ValueError(f"schedule_stepping {stepping!r}; expected one of {STEPPINGS}")
    if any(len(batch) != 1 for batch in order):
        raise ValueError("schedule_stepping 'story' needs batches of one story each (binding 'story')")
    names = [batch[0][1] for batch in order]
    return np.array([i + 1 == len(names) or names[i + 1] != names[i] for i in range(len(names))], dtype=bool)


# --- losses -----------------------------------------------------------------------------------


def _keep(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``x`` with the outputs outside ``mask`` set to 0 (no gradient flows to them); ``x`` itself without a mask."""
    return x if mask is None else torch.where(mask, x, 0.0)


def _mean(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over outputs (dim 1) of each sample: over all of them, or over its ``mask`` ones (``x`` 0 elsewhere)."""
    return x.mean(dim=1) if mask is None else x.sum(dim=1) / mask.sum(dim=1)


def per_sample_loss(name: str, pred: torch.Tensor, target: torch.Tensor, huber_delta: float = 0.6,
                    mask: torch.Tensor | None = None) -> torch.Tensor:
    """Loss of each sample (B,) of predictions and targets (B, K); a batch's loss is their mean.

    ``mse``: mean squared error over outputs. ``corr``: ``1 - r``, r the Pearson correlation across outputs
    (``sum(p_c t_c) / sqrt(sum(p_c^2) sum(t_c^2) + 1e-8)``, centred per sample). ``huber_cos``: Huber loss
    (:func:`torch.nn.functional.huber_loss`, ``huber_delta``) averaged over outputs + ``1 - cos(pred, target)``.

    ``mask``: None (every output counts) or boolean (B, K) or (K,): each sample's loss is then computed over its
    True outputs only, as if the others did not exist (they get no gradient); every sample needs one.
    """
    if mask is not None:
        mask = mask.expand_as(pred)
    pred, target = _keep(pred, mask), _keep(target, mask)
    if name == "mse":
        return _mean((pred - target) ** 2, mask)
    if name == "corr":
        p = _keep(pred - _mean(pred, mask).unsqueeze(1), mask)
        t = _keep(target - _mean(target, mask).unsqueeze(1), mask)
        r = (p * t).sum(dim=1) / torch.sqrt((p**2).sum(dim=1) * (t**2).sum(dim=1) + 1e-8)
        return 1.0 - r
    if name == "huber_cos":
        huber = _mean(F.huber_loss(pred, target, reduction="none", delta=float(huber_delta)), mask)
        return huber + 1.0 - F.cosine_similarity(pred, target, dim=1)
    raise ValueError(f"loss {name!r}; expected one of {LOSSES}")


# --- data -------------------------------------------------------------------------------------


def project_targets(targets: np.ndarray, projection: Any, where: str = "targets") -> np.ndarray:
    """``targets (rows, V) @ projection (V, K)`` as float32 (computed in the projection's precision, at least
    float32). ``projection``: a numpy array or a scipy.sparse matrix/array."""
    if len(getattr(projection, "shape", ())) != 2 or projection.shape[0] != targets.shape[1]:
        raise ValueError(f"{where}: projection of shape {getattr(projection, 'shape', None)} does not map the "
                         f"{targets.shape[1]} native outputs (expected shape ({targets.shape[1]}, K))")
    product = projection.T @ targets.T  # sparse.T @ dense is a dense ndarray
    return np.ascontiguousarray(np.asarray(product).T, dtype=np.float32)


def projection_coverage(projection: Any) -> np.ndarray:
    """(K,) bool: the outputs of a (V, K) projection (numpy or scipy.sparse) with a nonzero column, i.e. reached by
    some voxel (:func:`braintune.commonspace.projection.read_projection`'s ``coverage`` of a weighted-mean one)."""
    return np.asarray(abs(projection).sum(axis=0)).ravel() > 0


def project_dataset(dataset: PairedDataset, projection: Any, where: str = "dataset") -> PairedDataset:
    """The same windows with each story's targets projected (:func:`project_targets`)."""
    stories = [StoryPairs(s.name, s.audio, s.ends, project_targets(s.targets, projection, f"{where}/{s.name}"))
               for s in dataset.stories]
    return PairedDataset(stories, dataset.window)


def shared_stimulus(datasets: Mapping[str, PairedDataset]) -> tuple[PairedDataset, dict[str, int]]:
    """The distinct stories of several participants' datasets (first appearance order) as one audio-only
    :class:`PairedDataset` (targets of width 0), and each story's first sample index in it.

    Participants share a story's windows: ValueError when two datasets disagree on the window length, or on a
    story's window ends or audio length (the same story must be the same stimulus)."""
    first: dict[str, tuple[str, StoryPairs]] = {}
    windows = {ds.window for ds in datasets.values()}
    if len(windows) != 1:
        raise ValueError(f"participants' datasets disagree on the window length: {sorted(windows)} samples")
    for subject, ds in datasets.items():
        for story in ds.stories:
            if story.name not in first:
                first[story.name] = (subject, story)
                continue
            other, seen = first[story.name]
            if not np.array_equal(seen.ends, story.ends) or seen.audio.shape != story.audio.shape:
                raise ValueError(
                    f"story '{story.name}': participants {other} and {subject} have different windows "
                    f"({len(seen.ends)} vs {len(story.ends)} rows, audio {seen.audio.shape} vs {story.audio.shape})"
                )
    pairs = [StoryPairs(name, s.audio, s.ends, np.zeros((len(s.ends), 0), dtype=np.float32))
             for name, (_, s) in first.items()]
    stimulus = PairedDataset(pairs, windows.pop())
    return stimulus, {p.name: int(o) for p, o in zip(pairs, stimulus.offsets[:-1])}


def _story_offsets(dataset: PairedDataset) -> dict[str, int]:
    return {s.name: int(o) for s, o in zip(dataset.stories, dataset.offsets[:-1])}


class _BatchSource(torch.utils.data.Dataset):
    """Item ``b``: waveforms (B, window) and projected targets (B, K) of batch ``b`` of an order; :meth:`mask` its
    samples' loss masks (``masks``: ``{participant: (K,) bool or None}``, as :func:`_loss_masks`)."""

    def __init__(self, order: list[tuple[Segment, ...]], stimulus: PairedDataset, stimulus_offsets: dict[str, int],
                 datasets: Mapping[str, PairedDataset], masks: Mapping[str, np.ndarray | None]):
        self.order, self.stimulus, self.stimulus_offsets, self.datasets = order, stimulus, stimulus_offsets, datasets
        self.offsets = {subject: _story_offsets(ds) for subject, ds in datasets.items()}
        self.masks = masks

    def __len__(self) -> int:
        return len(self.order)

    def stimulus_index(self, b: int) -> np.ndarray:
        """Sample indices in the shared stimulus dataset (and its front-end cache) of batch ``b``."""
        return np.concatenate([self.stimulus_offsets[story] + rows for _, story, rows in self.order[b]])

    def targets(self, b: int) -> torch.Tensor:
        return torch.cat([self.datasets[s].targets(self.offsets[s][story] + rows) for s, story, rows in self.order[b]])

    def mask(self, b: int) -> torch.Tensor | None:
        """(B, K) bool: the outputs in each sample's loss in batch ``b`` (its participant's mask); None when every
        output of every sample is (no participant of the batch has a mask)."""
        masks = [self.masks[s] for s, _, _ in self.order[b]]
        if all(m is None for m in masks):
            return None
        n_outputs = next(m.size for m in masks if m is not None)
        return torch.from_numpy(np.concatenate([np.broadcast_to(True if m is None else m, (len(rows), n_outputs))
                                                for m, (_, _, rows) in zip(masks, self.order[b])]))

    def __getitem__(self, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        waves, _ = self.stimulus.samples(self.stimulus_index(b))
        return waves, self.targets(b)


def _order_batches(source: _BatchSource, device: torch.device, workers: int, cache: FrontendCache | None):
    """(inputs, targets) of each batch: waveforms cut by a loader, or the cached front-end output."""
    if cache is None:
        return iter(make_loader(source, device, workers))
    return ((cache.features(source.stimulus_index(b)), source.targets(b)) for b in range(len(source)))


# --- training ---------------------------------------------------------------------------------


def _step(
    model: MultiTuner, optimizer: torch.optim.Optimizer, inputs: torch.Tensor, targets: torch.Tensor,
    mask: torch.Tensor | None, device: torch.device, window: int | None,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """One optimiser step on a batch, accumulated over micro-batches (each micro-batch's per-sample losses
    summed and divided by the batch size: the gradient of the batch mean); ``mask`` (B, K): the outputs in each
    sample's loss (None: all). Returns the batch's sums of the per-sample losses and of the squared errors (over
    the masked outputs; 0-dim float32 tensors on the device, left unread so that the host does not wait for the
    step), and the number of (sample, output) pairs in the latter."""
    settings = model.settings
    optimizer.zero_grad(set_to_none=True)
    n = inputs.shape[0]
    losses, squares = [], []
    for lo in range(0, n, settings.micro):
        x = inputs[lo : lo + settings.micro].to(device, non_blocking=True)
        t = targets[lo : lo + settings.micro].to(device, non_blocking=True)
        m = None if mask is None else mask[lo : lo + settings.micro].to(device, non_blocking=True)
        with models.autocast(device):
            pred = predict(model, x, window)
        pred = pred.float()
        loss = per_sample_loss(settings.loss, pred, t, settings.huber_delta, m)
        (loss.sum() / n).backward()
        losses.append(loss.detach().sum())
        squares.append((_keep(pred.detach() - t, m) ** 2).sum())
    optimizer.step()
    n_pairs = targets.numel() if mask is None else int(mask.sum())
    return torch.stack(losses).sum(), torch.stack(squares).sum(), n_pairs


def evaluate_multi(
    model: BrainTuner, datasets: Mapping[str, PairedDataset], stimulus: PairedDataset, offsets: dict[str, int],
    micro: int, device: torch.device, workers: int = 0, cache: FrontendCache | None = None,
    masks: Mapping[str, np.ndarray | None] | None = None,
) -> dict[str, float]:
    """Each participant's MSE (over its samples and outputs) on ``datasets`` (projected targets), from the
    model's predictions of every window of the shared ``stimulus`` (:func:`shared_stimulus`), computed once
    from waveforms or from ``cache`` (:func:`braintune.braintuning.trainer.build_cache` of ``stimulus``).
    ``masks``: ``{participant: (K,) bool or None}``, the outputs its MSE is over (missing or None: all)."""
    model.eval()
    stimulus.plan(micro, shuffle=False)
    window = None if cache is None else cache.window
    preds = torch.empty((stimulus.n_samples, model.head.out_features), dtype=torch.float32)
    with torch.no_grad():
        for index, (inputs, _) in zip(stimulus.batches, iter_batches(stimulus, device, workers, cache), strict=True):
            with models.autocast(device):
                pred = predict(model, inputs.to(device, non_blocking=True), window)
            preds[torch.as_tensor(index)] = pred.float().cpu()
    scores = {}
    for subject, ds in datasets.items():
        index = np.concatenate([offsets[s.name] + np.arange(len(s.ends)) for s in ds.stories])
        pred, target = preds[torch.as_tensor(index)], ds.targets(np.arange(ds.n_samples))
        mask = None if masks is None else masks.get(subject)
        if mask is not None:
            pred, target = pred[:, torch.as_tensor(mask)], target[:, torch.as_tensor(mask)]
        scores[subject] = float(F.mse_loss(pred, target))
    return scores


def _trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}


def _load_trainable(model: torch.nn.Module, state: dict[str, torch.Tensor], where: Path) -> None:
    expected = set(_trainable_state(model))
    if set(state) != expected:
        raise ValueError(f"{where}: trainable parameters {sorted(set(state) ^ expected)} differ from the model's")
    model.load_state_dict(state, strict=False)


def _loss_masks(uncovered: str, coverage: Mapping[str, Any], subjects: list[str],
                n_outputs: int) -> dict[str, np.ndarray | None]:
    """``{participant: (K,) bool or None}``: the outputs in each participant's losses and MSEs; None where all are
    (``uncovered`` ``zero``, or a participant who covers every output). Checks ``coverage``."""
    masks = {}
    for subject in subjects:
        if subject not in coverage:
            raise KeyError(f"train_multi: no coverage for participant {subject} (expected one for every training and "
                           "validation participant)")
        covered = np.asarray(coverage[subject])
        if covered.dtype != bool or covered.shape != (n_outputs,):
            raise ValueError(f"train_multi: coverage of participant {subject} is {covered.dtype} {covered.shape}; "
                             f"expected bool ({n_outputs},), one per common-space output")
        if uncovered == "mask" and not covered.any():
            raise ValueError(f"train_multi: participant {subject} covers none of the {n_outputs} outputs: nothing "
                             "to train on with uncovered 'mask' (braintuning.multi.uncovered)")
        masks[subject] = None if uncovered == "zero" or covered.all() else covered
    return masks


def _sizes(datasets: Mapping[str, PairedDataset]) -> dict[str, dict[str, int]]:
    return {subject: {s.name: len(s.ends) for s in ds.stories} for subject, ds in datasets.items()}


def train_multi(
    model: MultiTuner,
    train_sets: Mapping[str, PairedDataset],
    projections: Mapping[str, Any],
    val_sets: Mapping[str, PairedDataset],
    state_dir: str | Path,
    device: torch.device | str = "cpu",
    checkpoint_dir: str | Path | None = None,
    workers: int = 0,
    cache_cnn: bool | str = "auto",
    on_epoch_end: Callable[[int], None] | None = None,
    coverage: Mapping[str, np.ndarray] | None = None,
) -> MultiResult:
    """Brain-tune ``model`` jointly on several participants (``model.settings``), in place.

    Args:
        train_sets, val_sets: ``{participant: PairedDataset}`` of native targets (responses on each
            participant's voxels); every participant of ``val_sets`` must have a projection.
        projections: ``{participant: (V_native, K) matrix}`` (numpy or scipy.sparse), K = the model's outputs.
        state_dir: resumable per-epoch state (``last.pt``; ``best.pt`` with early stopping).
        checkpoint_dir: where :func:`save_multi` writes ``epoch_{NNN}/`` after ``settings.checkpoint_epochs``.
        workers, cache_cnn: speed only (background batch assembly; the front-end cache, as
            :func:`braintune.braintuning.trainer.train`), as is ``device``'s choice of memory.
        on_epoch_end: called with the epoch index after its state is saved (tests simulate a kill with it).
        coverage: ``{participant: (K,) bool}``, the outputs some voxel of the participant reaches (``read_projection``'s
            ``coverage``); None: each projection's nonzero columns (:func:`projection_coverage`). With
            ``settings.uncovered`` ``mask`` the others are left out of that participant's losses and MSEs.
    """
    settings = model.settings
    device = torch.device(device)
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    cache_cnn = cache_setting(cache_cnn)
    if not train_sets or not val_sets:
        raise ValueError("train_multi: needs at least one participant's training and validation data")
    missing = sorted((set(train_sets) | set(val_sets)) - set(projections))
    if missing:
        raise KeyError(f"train_multi: no projection for participant(s) {missing}")
    if settings.checkpoint_epochs and checkpoint_dir is None:
        raise ValueError(f"train_multi: checkpoint_epochs {list(settings.checkpoint_epochs)} need a checkpoint_dir")
    n_outputs = model.head.out_features
    train_sets = {s: project_dataset(ds, projections[s], f"participant {s} (training)") for s, ds in train_sets.items()}
    val_sets = {s: project_dataset(ds, projections[s], f"participant {s} (validation)") for s, ds in val_sets.items()}
    widths = {s: ds.n_outputs for s, ds in {**train_sets, **val_sets}.items() if ds.n_outputs != n_outputs}
    if widths:
        raise ValueError(f"train_multi: projections give {widths} outputs, the model's head has {n_outputs}")
    subjects = list(dict.fromkeys([*train_sets, *val_sets]))
    if coverage is None:
        coverage = {s: projection_coverage(projections[s]) for s in subjects}
    masks = _loss_masks(settings.uncovered, coverage, subjects, n_outputs)
    train_stim, train_offsets = shared_stimulus(train_sets)
    val_stim, val_offsets = shared_stimulus(val_sets)
    sizes = _sizes(train_sets)

    model.to(device)
    lora_params = [p for p in model.backbone.parameters() if p.requires_grad]
    head_params = list(model.head.parameters())
    optimizer = torch.optim.AdamW(
        [{"params": lora_params, "lr": settings.lr_lora}, {"params": head_params, "lr": settings.lr_head}],
        weight_decay=settings.weight_decay,
    )
    steps_per_epoch = len(binding_order(sizes, settings.batch_size, settings.binding, settings.seed, 0))
    schedule = {"schedule": "paper", "warmup_fraction": settings.warmup_fraction}
    scheduler = make_scheduler(optimizer, schedule, steps_per_epoch, settings.epochs)
    n_trainable = sum(p.numel() for p in lora_params + head_params)
    # A state is resumed only if it was written by the same run (settings, data, projected targets, model).
    digests = {part: {s: [array_digest(p.targets) for p in ds.stories] for s, ds in sets.items()}
               for part, sets in (("train", train_sets), ("val", val_sets))}
    run_key = stable_hash({"settings": settings.params(), "train": sizes, "val": _sizes(val_sets),
                           "outputs": n_outputs, "params": n_trainable, "targets": digests,
                           "coverage": {s: array_digest(np.asarray(coverage[s])) for s in subjects}})

    last_path, best_path = state_dir / "last.pt", state_dir / "best.pt"
    progress = resume(last_path, run_key, device, lambda state: _load_trainable(model, state["trainable"], last_path),
                      optimizer, scheduler, settings.seed)
    start_epoch, step, curve = progress.start_epoch, progress.step, progress.curve
    best_val, best_epoch, bad_epochs = progress.best_val, progress.best_epoch, progress.bad_epochs
    log.info(
        "multi-participant tuning of %d participants (%s), %d training windows (%d distinct), %d steps/epoch "
        "(binding %s, batch %d, micro-batch %d), %d outputs (uncovered ones: %s), %.3fM trainable parameters, "
        "loss %s, device %s",
        len(train_sets), ", ".join(train_sets), sum(ds.n_samples for ds in train_sets.values()), train_stim.n_samples,
        steps_per_epoch, settings.binding, settings.batch_size, settings.micro, n_outputs, settings.uncovered,
        n_trainable / 1e6, settings.loss, device,
    )

    patience = settings.patience
    stopped_early = patience is not None and bad_epochs >= patience and start_epoch > 0
    epochs = range(start_epoch, start_epoch if stopped_early else settings.epochs)
    train_cache = val_cache = None
    if len(epochs) and cache_cnn is not False:
        train_cache = build_cache(model, train_stim, settings.micro, device, workers, cache_cnn, "front-end cache (train)")
        if train_cache is not None:
            val_cache = build_cache(model, val_stim, settings.micro, device, workers, cache_cnn,
                                    "front-end cache (validation)")
    window = None if train_cache is None else train_cache.window
    epoch = start_epoch - 1
    for epoch in epochs:
        t0 = time.perf_counter()
        model.set_train_mode()
        order = binding_order(sizes, settings.batch_size, settings.binding, settings.seed, epoch)
        steps_after = scheduler_steps(order, settings.schedule_stepping)
        source = _BatchSource(order, train_stim, train_offsets, train_sets, masks)
        lr_lora, lr_head = (group["lr"] for group in optimizer.param_groups)
        # summed on the device in float64 (as host floats would) and read once per epoch: no sync per step
        loss_sum, square_sum = (torch.zeros((), dtype=torch.float64, device=device) for _ in range(2))
        n_samples, n_pairs = 0, 0
        for b, (inputs, targets) in enumerate(_order_batches(source, device, workers, train_cache)):
            batch_loss, batch_squares, batch_pairs = _step(model, optimizer, inputs, targets, source.mask(b), device,
                                                           window)
            loss_sum += batch_loss
            square_sum += batch_squares
            n_samples += targets.shape[0]
            n_pairs += batch_pairs
            step += 1
            if steps_after[b]:
                scheduler.step()
        val = evaluate_multi(model, val_sets, val_stim, val_offsets, settings.micro, device, workers, val_cache, masks)
        val_mse = float(np.mean(list(val.values())))
        row = {
            "epoch": epoch, "step": step, "train_loss": float(loss_sum) / max(n_samples, 1),
            "train_mse": float(square_sum) / max(n_pairs, 1), "val_mse": val_mse,
            **{f"val_mse_{s}": v for s, v in val.items()},
            "lr_lora": lr_lora, "lr_head": lr_head, "seconds": time.perf_counter() - t0,
        }
        curve.append(row)
        log.info("epoch %d: train %s %.6f, val MSE %.6f (%.1f s)", epoch, settings.loss, row["train_loss"], val_mse,
                 row["seconds"])
        if val_mse < best_val - settings.min_delta:
            best_val, best_epoch, bad_epochs = val_mse, epoch, 0
            if patience is not None:
                save_state({"trainable": _trainable_state(model), "epoch": epoch, "run_key": run_key}, best_path)
        else:
            bad_epochs += 1
        if epoch + 1 in settings.checkpoint_epochs:
            save_multi(model, Path(checkpoint_dir) / f"epoch_{epoch + 1:03d}")
        save_state(
            {
                "trainable": _trainable_state(model), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "rng": rng_state(), "epoch": epoch, "step": step,
                "curve": curve, "best_val": best_val, "best_epoch": best_epoch, "bad_epochs": bad_epochs,
                "run_key": run_key,
            },
            last_path,
        )
        if on_epoch_end is not None:
            on_epoch_end(epoch)
        if patience is not None and bad_epochs >= patience:
            stopped_early = True
            log.info("early stop: no improvement of the validation MSE for %d epochs", bad_epochs)
            break

    final_epoch = curve[-1]["epoch"] if curve else epoch
    kept_epoch = final_epoch
    if patience is not None and best_path.exists():
        _load_trainable(model, torch.load(best_path, map_location=device, weights_only=False)["trainable"], best_path)
        kept_epoch = best_epoch
    model.eval()
    return MultiResult(best_epoch, best_val, final_epoch, kept_epoch, stopped_early, steps_per_epoch, n_trainable,
                       curve)


def save_multi(model: MultiTuner, out_dir: str | os.PathLike) -> None:
    """Write ``out_dir/model/`` (the backbone with the adapters merged, ``save_pretrained`` safetensors: what
    :func:`braintune.features.models.load_model` reads), ``out_dir/adapter/`` (``peft`` ``save_pretrained`` of
    the adapters alone) and ``out_dir/head.pt`` (the head's state dict, CPU tensors). The directory appears
    whole: it is written as a temporary sibling and renamed into place."""
    with atomic_directory(out_dir) as tmp:
        merge_lora(model.peft_model).save_pretrained(tmp / "model", safe_serialization=True)
        model.peft_model.save_pretrained(tmp / "adapter")
        (tmp / "adapter" / "README.md").unlink(missing_ok=True)  # peft's empty model-card template
        torch.save({k: v.detach().cpu() for k, v in model.head.state_dict().items()}, tmp / "head.pt")
