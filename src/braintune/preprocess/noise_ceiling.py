"""Noise ceiling of the test story: cc_max (Schoppe et al. 2016) from individual repeats.

docs/protocol.md 1.3 (the reference's ``spe_and_cc_norm``), per voxel, with N repeats Y_r (T x V), variances
over time with ddof = 1, ybar the mean over repeats:

* TP (total power) = 1 when ``data_norm`` (repeats z-scored, the reference), else mean_r var(Y_r);
* SP (signal power) = (N var(ybar) - TP) / (N - 1);
* cc_max = 1 / sqrt(1 + (1/N) (TP/SP - 1)), NaN (and inf, SP <= 0) -> 0.

cc_max is the highest Pearson correlation any prediction can reach with the N-repeat mean, so
alignment normalises rho_v / NC_v (docs/decisions.md 7). Computed in float64 over voxel chunks so that a
subject's (10, 291, 95k) repeats are never in memory at once. :func:`pearson_columns` is the column-wise
correlation every stage uses.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import h5py
import numpy as np

from braintune.preprocess.responses import read_repeats, repeats_shape
from braintune.utils import atomic_output, open_h5, portable_path

log = logging.getLogger(__name__)


def cc_max(repeats: np.ndarray, data_norm: bool = True) -> np.ndarray:
    """Schoppe cc_max per column of ``repeats`` (N, T, V); float64 (V,), NaN/inf -> 0.

    Raises:
        ValueError: when fewer than 2 repeats or 2 time points are given.
    """
    y = np.asarray(repeats, dtype=np.float64)
    if y.ndim == 2:
        y = y[:, :, None]
    if y.ndim != 3:
        raise ValueError(f"repeats must be (N, T, V), got shape {np.shape(repeats)}")
    n, t = y.shape[:2]
    if n < 2 or t < 2:
        raise ValueError(f"cc_max needs at least 2 repeats and 2 time points, got {n} x {t}")
    mean_var = y.mean(axis=0).var(axis=0, ddof=1)
    tp = np.ones_like(mean_var) if data_norm else y.var(axis=1, ddof=1).mean(axis=0)
    sp = (n * mean_var - tp) / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 1.0 / np.sqrt(1.0 + (tp / sp - 1.0) / n)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def pearson_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each column of ``a`` with the same column of ``b`` (T, V) -> (V,).

    Accumulates in float64; a constant column gives 0 (not NaN).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"pearson_columns: shapes differ, {a.shape} vs {b.shape}")
    if a.ndim == 1:
        a, b = a[:, None], b[:, None]
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    denom = np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (a * b).sum(axis=0) / denom
    return np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0)


def nc_row_slice(n_rows: int, nc_rows: str, test_trim: int) -> slice:
    """Rows of the test story the noise ceiling uses: ``all`` or ``trimmed`` (``[test_trim:]``, the rows
    that alignment scores)."""
    if nc_rows == "all":
        return slice(0, n_rows)
    if nc_rows == "trimmed":
        if test_trim >= n_rows - 1:
            raise ValueError(f"timing.test_trim={test_trim} leaves fewer than 2 of the {n_rows} test rows")
        return slice(test_trim, n_rows)
    raise ValueError(f"preprocess.nc_rows must be 'all' or 'trimmed', got {nc_rows!r}")


def noise_ceiling_from_file(
    path: str | os.PathLike,
    rows: slice | None = None,
    data_norm: bool = True,
    chunk_voxels: int = 8192,
    repeat_mean=None,
) -> tuple[np.ndarray, int]:
    """cc_max of every voxel of a test-story hf5 (``individual_repeats``), streamed over voxel chunks.

    ``repeat_mean``: an array or HDF5 dataset of shape (T, V) (every row, not only ``rows``) that
    receives the mean over repeats in the same pass, so that later stages never read the repeats.
    Returns ``(nc float32 (V,), n_repeats)``.
    """
    path = Path(path)
    n_rep, n_rows, n_vox = repeats_shape(path)
    rows = slice(0, n_rows) if rows is None else rows
    if repeat_mean is not None and tuple(repeat_mean.shape) != (n_rows, n_vox):
        raise ValueError(f"{path}: repeat_mean has shape {tuple(repeat_mean.shape)}, expected {(n_rows, n_vox)}")
    out = np.empty(n_vox, dtype=np.float32)
    for start in range(0, n_vox, chunk_voxels):
        stop = min(start + chunk_voxels, n_vox)
        block = read_repeats(path, columns=slice(start, stop))
        out[start:stop] = cc_max(block[:, rows, :], data_norm=data_norm)
        if repeat_mean is not None:
            repeat_mean[:, start:stop] = block.mean(axis=0, dtype=np.float64).astype(np.float32)
    return out, int(n_rep)


def read_noise_ceiling(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """``(nc, mask)`` of a ``noise_ceiling.h5`` (mask = NC above threshold)."""
    path = Path(path)
    with open_h5(path) as handle:
        for key in ("nc", "mask"):
            if key not in handle:
                raise KeyError(f"{path}: no dataset '{key}' (found {sorted(handle.keys())})")
        return handle["nc"][...].astype(np.float32), handle["mask"][...].astype(bool)


def read_repeat_mean(path: str | os.PathLike, test_path: str | os.PathLike, first_row: int = 0) -> tuple[np.ndarray, int]:
    """``(repeat_mean[first_row:] float32 (T - first_row, V), n_repeats)`` of a ``noise_ceiling.h5``,
    checked against the shape of the test story's repeats in ``test_path`` (metadata only)."""
    path = Path(path)
    n_rep, n_rows, n_vox = repeats_shape(test_path)
    with open_h5(path) as handle:
        if "repeat_mean" not in handle:
            raise KeyError(f"{path}: no dataset 'repeat_mean' (rerun the preprocess_noise_ceiling rule; found {sorted(handle.keys())})")
        data = handle["repeat_mean"]
        if tuple(data.shape) != (n_rows, n_vox) or int(handle.attrs["n_repeats"]) != n_rep:
            raise ValueError(
                f"{path}: repeat_mean {tuple(data.shape)} of {int(handle.attrs['n_repeats'])} repeats does not match "
                f"{test_path} ({n_rep} repeats of {(n_rows, n_vox)}); rerun the preprocess_noise_ceiling rule"
            )
        if first_row >= n_rows:
            raise ValueError(f"{test_path}: test_trim {first_row} >= {n_rows} test rows")
        return data[first_row:].astype(np.float32), n_rep


def load_override(path: str | os.PathLike, n_voxels: int) -> np.ndarray:
    """A published noise-ceiling ``.npy`` (1-D, one value per voxel), checked against the responses."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"preprocess.nc_override: {path} does not exist")
    values = np.load(path)
    if values.ndim != 1 or values.shape[0] != n_voxels:
        raise ValueError(f"preprocess.nc_override: {path} has shape {values.shape}, expected ({n_voxels},) (the response voxels)")
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
        raise ValueError(f"preprocess.nc_override: {path} must hold finite values in [0, 1]")
    return values.astype(np.float32)


@dataclass(frozen=True)
class NoiseCeilingSettings:
    """Settings that change ``noise_ceiling.h5`` (``preprocess.nc_*`` and ``timing.test_trim``);
    ``preprocess.chunk_voxels`` only bounds memory and is passed to the job separately."""

    threshold: float
    nc_rows: str
    data_norm: bool
    test_trim: int

    @classmethod
    def from_config(cls, preprocess: dict, timing: dict) -> "NoiseCeilingSettings":
        return cls(
            threshold=float(preprocess["nc_threshold"]),
            nc_rows=str(preprocess["nc_rows"]),
            data_norm=bool(preprocess["nc_data_norm"]),
            test_trim=int(timing["test_trim"]),
        )

    def params(self) -> dict:
        return asdict(self)


def noise_ceiling_job(
    settings: NoiseCeilingSettings,
    test_path: str | os.PathLike,
    out_path: str | os.PathLike,
    override: str | os.PathLike | None,
    chunk_voxels: int,
) -> np.ndarray:
    """The noise-ceiling job of one subject (:func:`write_noise_ceiling`); ``chunk_voxels`` changes
    memory use only, never the result."""
    return write_noise_ceiling(test_path, out_path, settings.threshold, settings.nc_rows, settings.test_trim,
                               data_norm=settings.data_norm, override=override, chunk_voxels=chunk_voxels)


def write_noise_ceiling(
    test_path: str | os.PathLike,
    out_path: str | os.PathLike,
    threshold: float,
    nc_rows: str,
    test_trim: int,
    data_norm: bool = True,
    override: str | os.PathLike | None = None,
    chunk_voxels: int = 8192,
) -> np.ndarray:
    """Compute (or take the published override of) a subject's NC and write ``noise_ceiling.h5``.

    Datasets ``nc`` float32 (V,) and ``mask`` bool (V,) = nc > threshold; ``repeat_mean`` float32
    (T, V), the mean of the repeats over every test row (what alignment scores against, read once
    here instead of once per encoding job); attrs ``n_repeats``, ``threshold``, ``source`` (``cc_max``
    or the override path), ``rows``, ``data_norm``. When an override is given the computed cc_max is
    still stored as ``nc_computed`` for comparison.
    """
    test_path = Path(test_path)
    _, n_rows, n_vox = repeats_shape(test_path)
    rows = nc_row_slice(n_rows, nc_rows, test_trim)
    with atomic_output(out_path) as tmp:
        with h5py.File(tmp, "w") as handle:
            repeat_mean = handle.create_dataset(
                "repeat_mean", shape=(n_rows, n_vox), dtype=np.float32, chunks=(n_rows, min(n_vox, 4096))
            )
            computed, n_rep = noise_ceiling_from_file(test_path, rows, data_norm, chunk_voxels, repeat_mean)
            source = "cc_max"
            nc = computed
            if override:
                nc = load_override(override, computed.shape[0])
                source = portable_path(override)
                log.info("%s: using the published noise ceiling %s (r with computed = %.3f)", test_path, override, float(pearson_columns(nc, computed)[0]))
            mask = nc > threshold
            handle.create_dataset("nc", data=nc.astype(np.float32))
            handle.create_dataset("mask", data=mask)
            if override:
                handle.create_dataset("nc_computed", data=computed)
            handle.attrs.update(
                n_repeats=n_rep,
                threshold=float(threshold),
                source=source,
                rows=f"{rows.start}:{rows.stop}",
                nc_rows=nc_rows,
                data_norm=bool(data_norm),
                test_file=portable_path(test_path),
            )
    log.info(
        "%s: NC from %d repeats over rows %d:%d: median %.3f, max %.3f, %d of %d voxels > %.2f",
        test_path, n_rep, rows.start, rows.stop, float(np.median(nc)), float(nc.max()), int(mask.sum()), nc.shape[0], threshold,
    )
    return nc
