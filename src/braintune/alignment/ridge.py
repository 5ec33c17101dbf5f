"""Voxelwise ridge with one alpha per voxel, chosen by bootstrapped chunk cross-validation.

This is docs/decisions.md 7, computed with himalaya's backends (numpy, torch or torch_cuda; float32
data, voxels in batches):

* **Alpha grid, Huth convention.** The reference's ``bootstrap_ridge`` weights the singular values as
  ``s / (s**2 + a**2)``; himalaya as ``s / (s**2 + alpha)``. The grid ``logspace(1, 4, 15)`` is
  therefore used squared (himalaya's penalty), and the chosen alphas are reported back in the Huth
  convention (:func:`to_himalaya_alphas` / :func:`from_himalaya_alphas`).
* **Splits.** :func:`bootstrap_chunk_splits` draws, per bootstrap, ``int(held_out_fraction * n /
  chunk_len)`` consecutive ``chunk_len``-row chunks (seeded), held out together; rows past the last
  whole chunk are never held out (as the reference). ``chunk_scope="stacked"`` chunks the stacked
  train matrix as the reference does (a chunk may straddle two stories); ``"story"`` chunks each
  story separately so that no held-out chunk straddles a story boundary.
* **Score.** :func:`reference_score` is the reference's ``use_corr=False`` selection score:
  ``R2 = 1 - var(y - y_hat) / ((1 + var(y)) / 2)``, ``sign(R2) * sqrt(|R2|)``, NaN set to 0, per held-out
  set; it is averaged over the bootstraps and the argmax taken per voxel (the first of equal scores, as
  the reference). ``"r2"`` and ``"correlation"`` select himalaya's own scores instead.
* **Precision.** Weights and predictions are float32, but every selection score is computed from
  float64 copies of one alpha's predictions and accumulated over the bootstraps in float64
  (docs/decisions.md 16): on noise voxels the alphas' scores nearly tie, and float32 scores flip the
  argmax on about 5% of them. himalaya's ``RidgeCV`` keeps its scores in the data's dtype, so the
  selection loop is written here (:func:`selection_scores`) and the refit per chosen alpha follows it.
* No intercept: features and responses are z-scored per story.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)

BACKENDS = ("numpy", "torch", "torch_cuda")
SCORES = ("reference", "r2", "correlation")


# --- alpha grid -----------------------------------------------------------------------------


def huth_alphas(log10_min: float, log10_max: float, n: int) -> np.ndarray:
    """The alpha grid (``alignment.alphas``; the reference's is ``logspace(1, 4, 15)``), Huth convention."""
    if n < 1 or log10_max < log10_min:
        raise ValueError(f"alpha grid: need n >= 1 and max >= min (got n={n}, {log10_min}..{log10_max})")
    return np.logspace(log10_min, log10_max, n)


def to_himalaya_alphas(alphas: np.ndarray, convention: str = "huth") -> np.ndarray:
    """Alphas as himalaya's penalty (``alpha ||b||^2``): squared in the Huth convention."""
    alphas = np.asarray(alphas, dtype=np.float64)
    if convention == "huth":
        return alphas**2
    if convention == "himalaya":
        return alphas
    raise ValueError(f"alpha convention must be 'huth' or 'himalaya', got {convention!r}")


def from_himalaya_alphas(alphas: np.ndarray, convention: str = "huth") -> np.ndarray:
    """Inverse of :func:`to_himalaya_alphas`."""
    alphas = np.asarray(alphas, dtype=np.float64)
    if convention == "huth":
        return np.sqrt(alphas)
    if convention == "himalaya":
        return alphas
    raise ValueError(f"alpha convention must be 'huth' or 'himalaya', got {convention!r}")


# --- cross-validation splits ----------------------------------------------------------------


def _chunks(starts_and_lengths: Sequence[tuple[int, int]], chunk_len: int) -> np.ndarray:
    """Start rows of every whole ``chunk_len``-row chunk of each (start, length) segment."""
    starts = [start + np.arange(length // chunk_len) * chunk_len for start, length in starts_and_lengths]
    return np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)


def bootstrap_chunk_splits(
    n_samples: int,
    n_boots: int = 3,
    chunk_len: int = 20,
    held_out_fraction: float = 0.25,
    seed: int = 0,
    story_index: np.ndarray | None = None,
    chunk_scope: str = "stacked",
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded bootstrapped chunk splits, as explicit ``(train_rows, held_out_rows)`` pairs.

    Args:
        n_samples: rows of the stacked train matrix.
        n_boots: number of bootstraps (one split each).
        chunk_len: rows per chunk.
        held_out_fraction: ``n_chunks_held = int(held_out_fraction * n_samples / chunk_len)``
            (the reference's ``nchunks``).
        seed: seed of the chunk draw (numpy ``default_rng``); equal seeds give equal splits.
        story_index: story of each row (needed for ``chunk_scope="story"``; rows of one story contiguous).
        chunk_scope: ``"stacked"`` (reference) or ``"story"`` (chunks never straddle stories).

    Returns:
        ``n_boots`` pairs of sorted int64 index arrays; each pair partitions ``range(n_samples)``.
    """
    if n_boots < 1 or chunk_len < 1 or not 0 < held_out_fraction < 1:
        raise ValueError(
            f"bootstrap splits: need n_boots >= 1, chunk_len >= 1, 0 < held_out_fraction < 1 "
            f"(got {n_boots}, {chunk_len}, {held_out_fraction})"
        )
    if chunk_scope == "stacked":
        segments = [(0, n_samples)]
    elif chunk_scope == "story":
        if story_index is None or len(story_index) != n_samples:
            raise ValueError("chunk_scope='story' needs a story_index with one entry per train row")
        story_index = np.asarray(story_index)
        change = np.flatnonzero(np.diff(story_index)) + 1
        bounds = np.concatenate([[0], change, [n_samples]])
        if len(np.unique(story_index)) != len(bounds) - 1:
            raise ValueError("story_index: the rows of each story must be contiguous")
        segments = [(int(a), int(b - a)) for a, b in zip(bounds[:-1], bounds[1:])]
    else:
        raise ValueError(f"chunk_scope must be 'stacked' or 'story', got {chunk_scope!r}")

    chunk_starts = _chunks(segments, chunk_len)
    n_held = int(held_out_fraction * n_samples / chunk_len)
    if n_held < 1 or n_held >= len(chunk_starts):
        raise ValueError(
            f"bootstrap splits: {n_samples} rows give {len(chunk_starts)} chunks of {chunk_len}; "
            f"holding out {n_held} of them leaves no train or no held-out rows"
        )
    rng = np.random.default_rng(seed)
    all_rows = np.arange(n_samples)
    splits = []
    for _ in range(n_boots):
        held_starts = rng.permutation(chunk_starts)[:n_held]
        held = np.sort((held_starts[:, None] + np.arange(chunk_len)[None, :]).ravel())
        mask = np.ones(n_samples, dtype=bool)
        mask[held] = False
        splits.append((all_rows[mask], held))
    return splits


# --- scores ---------------------------------------------------------------------------------


def reference_score(y_true, y_pred):
    """The reference's alpha-selection score (``bootstrap_ridge(use_corr=False)``), per target.

    ``R2 = 1 - var(y - y_hat) / ((1 + var(y)) / 2)`` (variances over the held-out rows, ddof 0),
    ``score = sign(R2) * sqrt(|R2|)``, NaN set to 0. Works on any himalaya backend and on himalaya's
    stacked predictions: ``y_true`` (n, targets), ``y_pred`` (n, targets) or (n_alphas, n, targets).
    """
    from himalaya.backend import get_backend

    backend = get_backend()
    y_true, y_pred = backend.check_arrays(y_true, y_pred)
    stacked = len(y_pred.shape) > len(y_true.shape)
    axis = 1 if stacked else 0

    # in place: one temporary of the predictions' size (alphas x held-out rows x voxel batch)
    resid = y_true - y_pred
    resid_mean = resid.mean(axis)
    resid -= resid_mean[:, None] if stacked else resid_mean
    resid *= resid
    resid_var = resid.mean(axis)
    del resid
    y_var = ((y_true - y_true.mean(0)) ** 2).mean(0)
    r2 = 1.0 - resid_var / ((1.0 + y_var) / 2.0)
    score = backend.sign(r2) * backend.sqrt(backend.abs(r2))
    score[backend.isnan(score)] = 0
    return score


def get_score(name: str) -> Callable:
    """The selection score named in the config: ``reference``, ``r2`` or ``correlation``."""
    from himalaya.scoring import correlation_score, r2_score

    scores = {"reference": reference_score, "r2": r2_score, "correlation": correlation_score}
    if name not in scores:
        raise ValueError(f"alignment.score must be one of {SCORES}, got {name!r}")
    return scores[name]


# --- backend --------------------------------------------------------------------------------


def resolve_backend(name: str, device: str | None) -> str:
    """The himalaya backend for ``alignment.backend`` (``auto``: torch_cuda when a GPU is usable and
    ``device``, the ``compute.device``, is not ``cpu``; ``device`` is only read for ``auto``)."""
    if name == "auto":
        if device is None:
            raise ValueError("alignment.backend 'auto' needs compute.device")
        if device == "cpu":
            return "numpy"
        try:
            import torch
        except ImportError:  # pragma: no cover - torch is a dependency
            return "numpy"
        if torch.cuda.is_available():
            return "torch_cuda"
        if device == "cuda":
            raise RuntimeError("compute.device is 'cuda' and alignment.backend 'auto', but no CUDA device")
        return "numpy"
    if name not in BACKENDS:
        raise ValueError(f"alignment.backend must be one of {BACKENDS} or 'auto', got {name!r}")
    return name


def use_backend(name: str):
    """Activate a himalaya backend; fail (not fall back) when it is unavailable."""
    from himalaya.backend import set_backend

    return set_backend(name, on_error="raise")


# --- the fit --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RidgeSettings:
    """What defines one encoding fit (the result-changing keys of the ``alignment:`` config section)."""

    alphas: np.ndarray
    alpha_convention: str
    score: str
    backend: str
    dtype: str = "float32"  # not a config key: float64 only for tests against closed forms

    @classmethod
    def from_config(cls, section: dict, device: str | None) -> "RidgeSettings":
        """``section``: the ``alignment`` keys ``alphas``, ``alpha_convention``, ``score``, ``backend``;
        ``device``: ``compute.device`` (only read when ``backend`` is ``auto``)."""
        grid = section["alphas"]
        return cls(
            alphas=huth_alphas(grid["log10_min"], grid["log10_max"], grid["n"]),
            alpha_convention=section["alpha_convention"],
            score=section["score"],
            backend=resolve_backend(section["backend"], device),
        )


#: ``n_targets_batch: auto`` on a CUDA backend: the voxel batch whose buffers take at most this share of
#: the card's free memory (measured once X and Y are on the card; the rest is headroom for the allocator)
AUTO_MEMORY_FRACTION = 0.5
#: ``n_targets_batch: auto`` elsewhere: a fixed batch, so that a CPU fit does not depend on free memory
AUTO_CPU_TARGETS = 5000


@dataclass(frozen=True)
class RidgeBatches:
    """Voxel and alpha batch sizes of the fit (``alignment.n_targets_batch``,
    ``n_alphas_batch``, ``n_targets_batch_refit``; None: one batch; ``n_targets`` ``"auto"``: from the
    free memory of a CUDA card, :meth:`resolve`). They bound memory and never change a result, so they
    are not part of a job's settings (nor of its params or config hash)."""

    n_targets: int | str | None = None
    n_alphas: int | None = None
    n_targets_refit: int | None = None

    @classmethod
    def from_config(cls, section: dict) -> "RidgeBatches":
        return cls(section["n_targets_batch"], section["n_alphas_batch"], section["n_targets_batch_refit"])

    def resolve(self, backend_name: str, n_rows: int, n_features: int, n_held: int, n_alphas: int, itemsize: int,
                free_bytes: int | None = None) -> "RidgeBatches":
        """The batches with ``"auto"`` replaced by a number: on a ``torch_cuda`` backend the largest voxel
        batch whose buffers (:func:`selection_bytes_per_voxel`) fit in :data:`AUTO_MEMORY_FRACTION` of the
        card's free memory (``free_bytes``, else measured now), elsewhere :data:`AUTO_CPU_TARGETS`."""
        if self.n_targets != "auto":
            return self
        if not backend_name.startswith("torch_cuda"):
            return replace(self, n_targets=AUTO_CPU_TARGETS)
        if free_bytes is None:
            import torch

            free_bytes = torch.cuda.mem_get_info()[0]
        per_voxel = selection_bytes_per_voxel(n_rows, n_features, n_held, self.n_alphas or n_alphas, itemsize)
        n_targets = max(1, int(AUTO_MEMORY_FRACTION * free_bytes) // per_voxel)
        log.info("n_targets_batch auto: %d voxels (%.1f GiB free, %d bytes per voxel)", n_targets, free_bytes / 2**30,
                 per_voxel)
        return replace(self, n_targets=n_targets)


def selection_bytes_per_voxel(n_rows: int, n_features: int, n_held: int, n_alphas: int, itemsize: int) -> int:
    """Device memory one voxel of a batch takes in :func:`selection_scores`: its train responses and
    ``U' y`` (``n_rows``, ``min(n_rows, F)`` values), its held-out responses in float64, a batch of
    ``n_alphas`` held-out predictions, and one alpha's float64 copies for the score."""
    return itemsize * (n_rows + min(n_rows, n_features) + n_alphas * n_held) + 8 * 3 * n_held


@dataclass
class RidgeFit:
    """One fit: per-voxel alphas (the settings' convention), CV scores and weights (numpy)."""

    alphas: np.ndarray  # (V,) float32
    cv_scores: np.ndarray  # (V,) float32, best alpha's score averaged over the splits
    coef: np.ndarray  # (F, V) float32

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=self.coef.dtype) @ self.coef


def selection_scores(
    X,
    Y,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    alphas: np.ndarray,
    score_func: Callable,
    batches: RidgeBatches,
) -> np.ndarray:
    """Each alpha's held-out score averaged over the splits, ``(n_alphas, V)`` float64 (numpy).

    ``X`` (n, F), ``Y`` (n, V): arrays of the active himalaya backend (any float dtype); ``alphas``:
    himalaya penalties. Per split, the train rows' SVD gives every alpha's held-out predictions
    ``X_held V diag(s / (s**2 + alpha)) U' Y_train`` in the data's dtype; ``score_func`` sees float64
    copies of one alpha's predictions (and of the held-out responses) and the scores are summed in float64.
    """
    from himalaya.backend import get_backend

    backend = get_backend()
    n_alphas, n_targets = len(alphas), Y.shape[1]
    n_alphas_batch = batches.n_alphas or n_alphas
    n_targets_batch = batches.n_targets or max(n_targets, 1)
    alphas = backend.asarray_like(np.asarray(alphas), X)
    total = np.zeros((n_alphas, n_targets))
    for train, held in splits:
        train, held = backend.asarray(np.asarray(train)), backend.asarray(np.asarray(held))
        U, s, Vt = backend.svd(X[train], full_matrices=False)
        held_V = X[held] @ Vt.T  # (held rows, k)
        for t0 in range(0, n_targets, n_targets_batch):
            batch = slice(t0, t0 + n_targets_batch)
            UtY = U.T @ Y[:, batch][train]  # (k, voxels): shared by every alpha
            y_held = backend.asarray(Y[:, batch][held], dtype="float64")
            for a0 in range(0, n_alphas, n_alphas_batch):
                filters = s[None, :] / (s[None, :] ** 2 + alphas[a0 : a0 + n_alphas_batch, None])
                predictions = (held_V[None] * filters[:, None, :]) @ UtY  # (alphas, held rows, voxels)
                for i in range(predictions.shape[0]):
                    score = score_func(y_held, backend.asarray(predictions[i], dtype="float64"))
                    total[a0 + i, batch] += backend.to_numpy(score)
                del predictions
            del UtY, y_held
    return total / len(splits)


def refit_ridge(X, Y, alphas: np.ndarray, chosen: np.ndarray, n_targets_batch: int | None = None) -> np.ndarray:
    """Weights ``(F, V)`` (numpy, the data's dtype) of each voxel's ridge on all rows at its chosen
    alpha: ``V diag(s / (s**2 + alpha)) U' y`` from one SVD of ``X``; ``chosen``: indices into
    ``alphas`` (himalaya penalties). ``X``, ``Y``: arrays of the active himalaya backend."""
    from himalaya.backend import get_backend

    backend = get_backend()
    U, s, Vt = backend.svd(X, full_matrices=False)
    coef = np.zeros((X.shape[1], Y.shape[1]), dtype=backend.to_numpy(s).dtype)  # the data's dtype
    for i in np.unique(chosen):
        voxels = np.flatnonzero(chosen == i)
        step = n_targets_batch or len(voxels)
        for start in range(0, len(voxels), step):
            vox = voxels[start : start + step]
            UtY = U.T @ Y[:, backend.asarray(vox)]
            coef[:, vox] = backend.to_numpy(Vt.T @ ((s / (s**2 + float(alphas[i])))[:, None] * UtY))
    return coef


def fit_ridge_cv(
    X: np.ndarray,
    Y: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    settings: RidgeSettings,
    batches: RidgeBatches = RidgeBatches(),
) -> RidgeFit:
    """Per-voxel alpha by :func:`selection_scores` (the configured score), then :func:`refit_ridge`.

    ``X`` (n, F) and ``Y`` (n, V) must already be centred (no intercept is fitted). Memory beyond
    ``Y`` and the (F, V) weights is bounded by ``batches``, not by V; the fit does not depend on them.
    """
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"ridge: X has {X.shape[0]} rows but Y has {Y.shape[0]}")
    for train, held in splits:
        if len(train) == 0 or len(held) == 0:
            raise ValueError("ridge: a cross-validation split has no train or no held-out rows")
    backend = use_backend(settings.backend)
    dtype = np.dtype(settings.dtype)
    X = backend.asarray(np.ascontiguousarray(X, dtype=dtype))
    Y = backend.asarray(np.asarray(Y, dtype=dtype))
    penalties = to_himalaya_alphas(settings.alphas, settings.alpha_convention)
    batches = batches.resolve(settings.backend, max(len(t) for t, _ in splits), X.shape[1],
                              max(len(h) for _, h in splits), len(penalties), dtype.itemsize)
    start = time.perf_counter()
    scores = selection_scores(X, Y, splits, penalties, get_score(settings.score), batches)
    best = scores.argmax(axis=0)
    fit = RidgeFit(
        alphas=np.asarray(settings.alphas, dtype=np.float64)[best].astype(np.float32),
        cv_scores=scores[best, np.arange(scores.shape[1])].astype(np.float32),
        coef=refit_ridge(X, Y, penalties, best, batches.n_targets_refit or batches.n_targets),
    )
    log.info(
        "ridge %s: X %s, Y %s, %d splits, %d alphas, backend %s: %.1f s",
        settings.score, tuple(X.shape), tuple(Y.shape), len(splits), len(settings.alphas), settings.backend,
        time.perf_counter() - start,
    )
    return fit
