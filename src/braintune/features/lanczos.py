"""Lanczos resampling from stimulus times (windows, phones) to TR times.

The reference (docs/protocol.md 2; Huth et al.'s ``lanczosinterp2D``) uses the 3-lobe kernel
``L(u) = a sin(pi u) sin(pi u / a) / (pi^2 u^2)`` with ``u = cutoff * (t_new - t_old)`` and
``cutoff = 1 / TR``: a low-pass that passes roughly < 0.25 Hz and reaches 0 at |dt| = a TR.
Its weights are not normalised, so a regularly sampled signal comes out multiplied by about
(sampling rate / cutoff); that is harmless after per-story z-scoring except at the story edges.

Here ``normalize=True`` divides each output row by its weight sum (unit DC gain: a constant is
reproduced exactly, whatever the window stride), which is what the features stage uses for
regularly sampled window features. Events (phones) are resampled with ``normalize=False``:
the output is then a smoothed event rate, as in the reference's articulation features.
"""

from __future__ import annotations

import numpy as np


def lanczos_kernel(u: np.ndarray, window: int = 3) -> np.ndarray:
    """``L(u)``; ``L(0) = 1``, ``L(u) = 0`` for ``|u| > window``."""
    u = np.asarray(u, dtype=np.float64)
    out = np.ones_like(u)
    nz = u != 0
    pu = np.pi * u[nz]
    out[nz] = window * np.sin(pu) * np.sin(pu / window) / (pu * pu)
    out[np.abs(u) > window] = 0.0
    return out


def lanczos_matrix(
    new_times: np.ndarray, old_times: np.ndarray, cutoff_hz: float, window: int = 3, normalize: bool = True
) -> np.ndarray:
    """Resampling matrix (len(new_times), len(old_times)), float64.

    With ``normalize``, rows sum to one where any sample is in reach; rows with no sample within
    ``window / cutoff_hz`` seconds stay zero.
    """
    if cutoff_hz <= 0:
        raise ValueError(f"Lanczos cutoff must be positive, got {cutoff_hz}")
    new_times = np.asarray(new_times, dtype=np.float64)
    old_times = np.asarray(old_times, dtype=np.float64)
    weights = lanczos_kernel(cutoff_hz * (new_times[:, None] - old_times[None, :]), window)
    if normalize:
        sums = weights.sum(axis=1, keepdims=True)
        np.divide(weights, sums, out=weights, where=np.abs(sums) > 1e-12)
        weights[np.abs(sums[:, 0]) <= 1e-12] = 0.0
    return weights


def lanczos_resample(
    data: np.ndarray,
    old_times: np.ndarray,
    new_times: np.ndarray,
    cutoff_hz: float,
    window: int = 3,
    normalize: bool = True,
) -> np.ndarray:
    """Resample ``data`` (len(old_times), F) sampled at ``old_times`` to ``new_times``; float64 (callers
    cast when they store: rounding to float32 before z-scoring costs up to ~2e-5 on columns whose mean
    is hundreds of times their sd, as some Whisper units have)."""
    data = np.asarray(data)
    if data.shape[0] != len(old_times):
        raise ValueError(f"Lanczos: {data.shape[0]} rows of data but {len(old_times)} sample times")
    weights = lanczos_matrix(new_times, old_times, cutoff_hz, window, normalize)
    return weights @ data.astype(np.float64, copy=False)
