"""Mean-pooled per-layer features of every model variant for every downstream corpus.

One job (:func:`braintune.downstream.run.embed_variant`) serves one (family, variant, owner): the
checkpoint is loaded once and every utterance of every corpus index (TIMIT, Speech Commands, CREMA-D, SLURP) plus every word
occurrence of the semantic-phonetic word set is embedded. Each item's hidden states of the configured
layers are averaged over the frames that cover its audio (the reference's ``merged_strategy='mean'``
over all frames; Whisper's encoder pads to 30 s, so only its first ceil(samples / 320) frames, those
that see audio, are pooled). Items are forwarded one at a time, except items of identical length
(Speech Commands' 1-s clips), which are batched: padding would change wav2vec2/HuBERT outputs.

Output HDF5 (docs/artifacts.md, stage downstream): one group per corpus,
``{corpus}/layer_{i}`` float32 ``(N, H)`` in the row order of the corpus index, ``{corpus}/utt_id``
(strings); attrs ``layers``, ``family``, ``variant``, ``owner``, ``checkpoint``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable, Sequence

import h5py
import numpy as np
import pandas as pd
import torch

from braintune.utils import atomic_output, open_h5

log = logging.getLogger("braintune.downstream.embed")

#: ``forward(batch (B, S) float32 at 16 kHz) -> the requested layers' hidden states, each (B, T, H)``.
Forward = Callable[[np.ndarray], Sequence[torch.Tensor]]


def pooled_features(forward: Forward, audios: Iterable[np.ndarray], layers: Sequence[int],
                    n_valid: Callable[[int], int] | None = None, batch_size: int = 8) -> np.ndarray:
    """``(L, N, H)`` float32: per layer, the time average of each item's hidden states.

    ``forward(batch)`` returns the hidden states of ``layers`` (in that order); ``n_valid(n_samples)``
    gives how many leading frames see audio (default: all).
    """
    audios = list(audios)
    out: list[np.ndarray | None] = [None] * len(audios)
    groups: dict[int, list[int]] = defaultdict(list)
    for i, a in enumerate(audios):
        groups[len(a)].append(i)
    with torch.inference_mode():
        for length, idx in sorted(groups.items()):
            for start in range(0, len(idx), batch_size):
                chunk = idx[start : start + batch_size]
                batch = np.stack([audios[i] for i in chunk]).astype(np.float32)
                hidden = forward(batch)
                if len(hidden) != len(layers):
                    raise ValueError(f"forward returned {len(hidden)} hidden states for {len(layers)} layers")
                frames = hidden[0].shape[1] if n_valid is None else n_valid(length)
                pooled = torch.stack([h[:, :frames].float().mean(dim=1) for h in hidden])  # (L, B, H)
                for j, i in enumerate(chunk):
                    out[i] = pooled[:, j].cpu().numpy()
    return np.stack(out, axis=1).astype(np.float32)


def slice_segments(segments: pd.DataFrame, sample_rate: int, load) -> list[np.ndarray]:
    """Audio of each ``word, path, start_s, end_s`` row, in row order (each file is read once).

    Slices shorter than the CNN's receptive field (25 ms) are zero-padded to it.
    """
    out: list[np.ndarray | None] = [None] * len(segments)
    min_len = int(0.025 * sample_rate)
    for path, rows in segments.reset_index(drop=True).groupby("path", sort=False):
        audio = load(path)
        for i, row in rows.iterrows():
            s, e = int(round(row.start_s * sample_rate)), int(round(row.end_s * sample_rate))
            clip = audio[s:e]
            if len(clip) < min_len:
                clip = np.pad(clip, (0, min_len - len(clip)))
            out[i] = clip
    return out


def model_forward(model: torch.nn.Module, layers: Sequence[int]) -> tuple[Forward, Callable[[int], int]]:
    """The registry's forward (:func:`braintune.features.models.encoder_forward`) and valid-frame count."""
    from braintune.features import models

    def forward(batch: np.ndarray):
        return models.encoder_forward(model, batch, layers)

    def n_valid(n_samples: int) -> int:
        return models.last_valid_frame(model, n_samples) + 1

    return forward, n_valid


def write_embeddings(path: str | Path, corpora: dict[str, tuple[list[str], np.ndarray]], layers: Sequence[int],
                     attrs: dict) -> None:
    """Write ``{corpus: (ids, (L, N, H))}`` atomically in the layout of the module docstring."""
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs["layers"] = np.asarray(layers, dtype=np.int64)
        for key, value in attrs.items():
            h5.attrs[key] = value
        for corpus, (ids, feats) in corpora.items():
            grp = h5.create_group(corpus)
            grp.create_dataset("utt_id", data=np.asarray(ids, dtype=object), dtype=h5py.string_dtype())
            for li, layer in enumerate(layers):
                grp.create_dataset(f"layer_{layer}", data=feats[li], dtype="float32")


def read_embeddings(path: str | Path, corpus: str, layers: Sequence[int] | None = None) -> tuple[list[str], np.ndarray, list[int]]:
    """``(ids, (L, N, H) float32, layers)`` of one corpus of an embeddings file."""
    with open_h5(path) as h5:
        if corpus not in h5:
            raise KeyError(f"{path}: no group {corpus!r} (groups: {list(h5)})")
        layers = list(h5.attrs["layers"]) if layers is None else list(layers)
        grp = h5[corpus]
        ids = [x.decode() if isinstance(x, bytes) else str(x) for x in grp["utt_id"][()]]
        feats = np.stack([grp[f"layer_{l}"][()] for l in layers])
    return ids, feats, [int(l) for l in layers]


def read_embedding_attrs(path: str | Path) -> dict:
    """The attributes of an embeddings file (``layers``, ``checkpoint``, ``n_parameters``, the labels)."""
    with open_h5(path) as h5:
        return dict(h5.attrs)
