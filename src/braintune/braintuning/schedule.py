"""Learning-rate schedules of brain-tuning (docs/decisions.md 5; docs/protocol.md 3).

``paper`` (default): both parameter groups warm up linearly over the first ``warmup_fraction`` (10%) of the
optimiser steps of ``max_epochs`` epochs, then decay linearly to 0 at the last step; stepped after every
optimiser step (``transformers.get_linear_schedule_with_warmup``).

``reference``: the authors' code, a ``LambdaLR`` stepped once per epoch after validation: backbone factor
``e / w`` for ``e < w`` (``w = reference_warmup_epochs``, 5; factor 0 in epoch 0, so the backbone does not
move in the first epoch) then ``1 - (e - w) / (E - w)``; head factor ``max(d ** e, floor)`` (d = 0.8,
floor = 0.1).
"""

from __future__ import annotations

import math

import torch
from transformers import get_linear_schedule_with_warmup

__all__ = ["make_scheduler", "steps_per_epoch_is_per_step", "warmup_steps"]


def warmup_steps(total_steps: int, fraction: float) -> int:
    """Optimiser steps of linear warm-up: ``ceil(fraction * total_steps)`` (at least 1 when fraction > 0)."""
    return int(math.ceil(fraction * total_steps)) if fraction > 0 else 0


def steps_per_epoch_is_per_step(kind: str) -> bool:
    """Whether the scheduler is stepped after every optimiser step (else once per epoch)."""
    return kind == "paper"


def make_scheduler(
    optimizer: torch.optim.Optimizer, cfg: dict, steps_per_epoch: int, max_epochs: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """The configured schedule for an optimiser whose groups are (backbone, head)."""
    kind = cfg["schedule"]
    if kind == "paper":
        total = steps_per_epoch * max_epochs
        return get_linear_schedule_with_warmup(optimizer, warmup_steps(total, cfg["warmup_fraction"]), total)
    if kind == "reference":
        w = int(cfg["reference_warmup_epochs"])
        decay = float(cfg["reference_head_decay"])
        floor = float(cfg["reference_head_floor"])
        span = max(max_epochs - w, 1)

        def backbone(epoch: int) -> float:
            return epoch / w if epoch < w else 1.0 - (epoch - w) / span

        def head(epoch: int) -> float:
            return max(decay**epoch, floor)

        lambdas = [backbone, head][: len(optimizer.param_groups)]
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)
    raise ValueError(f"braintuning.schedule: {kind!r}; expected 'paper' or 'reference'")
