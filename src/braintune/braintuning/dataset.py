"""Paired (audio window, target) samples for brain-tuning (docs/decisions.md 4; docs/protocol.md 2.2).

One sample per response row ``j`` of a story: the ``context_trs`` TRs of 16 kHz mono audio that end at the
end of that TR's acquisition (:attr:`braintune.preprocess.timing.TRGrid.row_end_times`), zero-padded where the window
reaches before the story's audio starts (or past its end), paired with that row's targets (the responses on
the voxels with NC > threshold, or a comparison model's targets). With ``tr_s = 2.0`` row ``j`` pairs with
audio ``[2j + 2, 2j + 12)`` s: the reference's pairing without its 20-s misalignment.

Memory: the audio stays a read-only memmap of ``results/preprocess/audio/{story}.npy`` and windows are cut
when a batch is assembled; only the (rows x voxels) float32 targets are held in memory.

Batch order (``shuffle``): ``false`` follows the reference: stories in their configured order, each batch
consecutive rows of one story (the last batch of a story may be smaller); ``true`` draws a fresh seeded
permutation of all samples every epoch (seed, epoch), so that a resumed run sees the same batches.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import numpy as np
import torch

from braintune.preprocess.timing import TRGrid

log = logging.getLogger(__name__)

__all__ = ["StoryPairs", "PairedDataset", "window_ends", "window_samples", "cut_windows", "array_digest"]


def window_samples(tr_s: float, context_trs: int, sample_rate: int) -> int:
    """Samples per input window: ``context_trs`` TRs of audio (160,000 for 5 x 2.0 s at 16 kHz)."""
    return int(round(context_trs * float(tr_s) * sample_rate))


def window_ends(grid: TRGrid, sample_rate: int) -> np.ndarray:
    """End sample (exclusive) of every response row's window: the end of its TR's acquisition."""
    return np.round(grid.row_end_times * sample_rate).astype(np.int64)


def cut_windows(audio: np.ndarray, ends: np.ndarray, length: int, out: np.ndarray | None = None) -> np.ndarray:
    """Windows ``audio[end - length : end]`` (float32, (len(ends), length)), zero-padded outside the audio."""
    ends = np.asarray(ends, dtype=np.int64)
    if out is None:
        out = np.zeros((len(ends), length), dtype=np.float32)
    else:
        out[...] = 0.0
    n = audio.shape[0]
    for i, end in enumerate(ends):
        start = end - length
        lo, hi = max(start, 0), min(end, n)
        if hi > lo:
            out[i, lo - start : hi - start] = audio[lo:hi]
    return out


def array_digest(array: np.ndarray) -> str:
    """SHA-256 (first 16 hex digits) of an array's dtype, shape and bytes: the data hash in training.json."""
    digest = hashlib.sha256(f"{array.dtype}{array.shape}".encode())
    flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    step = 1 << 26
    for i in range(0, flat.size, step):
        digest.update(flat[i : i + step].tobytes())
    return digest.hexdigest()[:16]


@dataclass
class StoryPairs:
    """One story's samples: the audio (memmap), each row's window end and each row's target."""

    name: str
    audio: np.ndarray
    ends: np.ndarray
    targets: np.ndarray

    def __post_init__(self) -> None:
        if self.targets.ndim != 2:
            raise ValueError(f"{self.name}: targets must be 2-D (rows, outputs), got shape {self.targets.shape}")
        if len(self.ends) != self.targets.shape[0]:
            raise ValueError(
                f"{self.name}: {self.targets.shape[0]} target rows but the TR grid gives {len(self.ends)} "
                "response rows"
            )

    @classmethod
    def from_grid(
        cls, name: str, audio: np.ndarray, grid: TRGrid, targets: np.ndarray, sample_rate: int, window: int
    ) -> "StoryPairs":
        grid.check_rows(targets.shape[0], f"story '{name}' targets")
        ends = window_ends(grid, sample_rate)
        past = int(np.sum(ends > audio.shape[0]))
        if past:
            log.info("%s: %d windows end after the audio (%.2f s); zero-padded", name, past, audio.shape[0] / sample_rate)
        if ends[-1] - window >= audio.shape[0]:
            raise ValueError(
                f"story '{name}': the last window starts at {(ends[-1] - window) / sample_rate:.1f} s, after the "
                f"audio ends ({audio.shape[0] / sample_rate:.1f} s): audio and respdict disagree"
            )
        return cls(name, audio, ends, np.ascontiguousarray(targets, dtype=np.float32))


class PairedDataset(torch.utils.data.Dataset):
    """Samples of several stories; item ``i`` is one *batch* of a fixed batch plan (see :meth:`plan`)."""

    def __init__(self, stories: list[StoryPairs], window: int):
        if not stories:
            raise ValueError("no stories to pair")
        widths = {s.targets.shape[1] for s in stories}
        if len(widths) != 1:
            raise ValueError(f"stories disagree on the number of target columns: {sorted(widths)}")
        self.stories = stories
        self.window = int(window)
        self.n_outputs = widths.pop()
        sizes = np.array([len(s.ends) for s in stories])
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        self._batches: list[np.ndarray] = []

    def __len__(self) -> int:
        """Number of batches of the current plan."""
        return len(self._batches)

    @property
    def n_samples(self) -> int:
        return int(self.offsets[-1])

    def plan(self, batch_size: int, shuffle: bool = False, seed: int = 0, epoch: int = 0) -> "PairedDataset":
        """Fix the batches of one epoch: consecutive rows per story, or a seeded shuffle of all samples."""
        if shuffle:
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(epoch)]))
            order = rng.permutation(self.n_samples)
            self._batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        else:
            self._batches = [
                np.arange(first, min(first + batch_size, stop))
                for begin, stop in zip(self.offsets[:-1], self.offsets[1:])
                for first in range(begin, stop, batch_size)
            ]
        return self

    @property
    def batches(self) -> list[np.ndarray]:
        """Global sample indices of each batch of the current plan (item ``b`` is ``samples(batches[b])``)."""
        return list(self._batches)

    def _by_story(self, index: np.ndarray):
        """(positions in ``index``, story, rows of that story) for each story that ``index`` touches."""
        story = np.searchsorted(self.offsets, index, side="right") - 1
        for s in np.unique(story):
            sel = np.flatnonzero(story == s)
            yield sel, self.stories[s], index[sel] - self.offsets[s]

    def targets(self, index: np.ndarray) -> torch.Tensor:
        """Targets (B, n_outputs) of global sample indices."""
        index = np.asarray(index)
        targets = np.empty((len(index), self.n_outputs), dtype=np.float32)
        for sel, pairs, rows in self._by_story(index):
            targets[sel] = pairs.targets[rows]
        return torch.from_numpy(targets)

    def samples(self, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Waveforms (B, window) and targets (B, n_outputs) of global sample indices."""
        index = np.asarray(index)
        waves = np.zeros((len(index), self.window), dtype=np.float32)
        for sel, pairs, rows in self._by_story(index):
            waves[sel] = cut_windows(pairs.audio, pairs.ends[rows], self.window)
        return torch.from_numpy(waves), self.targets(index)

    def __getitem__(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.samples(self._batches[batch])
