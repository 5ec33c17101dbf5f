"""Low-level impact (paper 3.4.2, docs/decisions.md 8, after Oota et al. 2024a).

For each low-level feature (power spectrum, diphones, triphones, articulation):

1. :func:`fit_residualiser`: a ridge from the low-level feature (undelayed, per-story z-scored, TR
   resolution) to the model features, fitted on the low-level train stories with 10-fold contiguous
   cross-validation and one lambda per model feature from ``logspace(-6, 9, 16)`` (plain lambda, not
   squared; the reference's ``cross_val_ridge``: cost ``1 - R2`` summed over folds, argmin, refit on
   all train rows). Closed form through one SVD per fold, vectorised over every output (all layers
   of a checkpoint at once) and every lambda; float64.
2. The residual (model features minus their prediction) of each story is re-delayed within the story
   and encoded with the same voxelwise ridge and splits as the alignment (:mod:`.encoding`), giving
   B_r per region.
3. ``R = 100 (B_o - B_r) / B_o`` with B_o from the same train set: the alignment results when the
   low-level train set is the alignment train set (the default), else refitted here on the
   low-level train set.

The job (:func:`run_lowlevel`) takes explicit input and output paths and a :class:`LowlevelSettings`
built from the ``lowlevel`` config section and the alignment's settings.

Per-voxel outputs (``rho``, ``nc_norm`` of the residual model and ``drop = nc_norm_o - nc_norm_r``)
support flatmaps of the impact.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Mapping, Sequence

import h5py
import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from braintune.alignment.encoding import (
    ALL_REGION,
    AlignmentSettings,
    encode,
    fit_voxels,
    load_responses,
    read_layers,
    region_mean,
)
from braintune.alignment.ridge import RidgeBatches
from braintune.features.design import make_delayed, read_zscored
from braintune.preprocess.noise_ceiling import read_noise_ceiling
from braintune.preprocess.regions import read_regions
from braintune.utils import atomic_output

log = logging.getLogger(__name__)


# --- residualisation ------------------------------------------------------------------------


def residual_lambdas(log10_min: float, log10_max: float, n: int) -> np.ndarray:
    """The lambda grid of the low-level -> model-feature ridge (``lowlevel.lambdas``; the
    reference's is 10^-6 .. 10^9, 16 values)."""
    return np.logspace(log10_min, log10_max, n)


@dataclass(frozen=True)
class LowlevelSettings:
    """Every setting a low-level impact result depends on: the ``lowlevel`` section's
    ``lambdas`` and ``n_folds``, the low-level train stories (``stories.lowlevel_train``, null
    resolved), the test story and the alignment's settings (the residual models are fitted as the
    alignment's)."""

    alignment: AlignmentSettings
    lambdas: np.ndarray
    n_folds: int
    train_stories: tuple[str, ...]
    test_story: str

    @classmethod
    def from_config(cls, section: Mapping, alignment: AlignmentSettings, train_stories: Sequence[str],
                    test_story: str) -> "LowlevelSettings":
        grid = section["lambdas"]
        return cls(alignment, residual_lambdas(grid["log10_min"], grid["log10_max"], grid["n"]),
                   int(section["n_folds"]), tuple(train_stories), test_story)


@dataclass
class Residualiser:
    """Ridge weights from a low-level feature to model features, one lambda per output."""

    weights: np.ndarray  # (d_lowlevel, n_outputs) float64
    lambdas: np.ndarray  # (n_outputs,) chosen lambda per output
    cv_cost: np.ndarray  # (n_lambdas, n_outputs) summed 1 - R2 over folds

    def residual(self, L: np.ndarray, F: np.ndarray) -> np.ndarray:
        """``F - L @ weights`` as float32."""
        return (np.asarray(F, np.float64) - np.asarray(L, np.float64) @ self.weights).astype(np.float32)


def _svd_ridge_weights(L: np.ndarray, F: np.ndarray, lambdas: np.ndarray, per_output: np.ndarray | None):
    """Closed-form ridge ``(L'L + lam I)^-1 L'F`` through one SVD, for each lambda (or per output)."""
    U, s, Vt = np.linalg.svd(L, full_matrices=False)
    UtF = U.T @ F
    if per_output is None:  # every lambda for every output: (n_lambdas, d, n_outputs)
        return np.stack([Vt.T @ ((s / (s**2 + lam))[:, None] * UtF) for lam in lambdas])
    W = np.zeros((L.shape[1], F.shape[1]))
    for k in np.unique(per_output):
        cols = np.flatnonzero(per_output == k)
        W[:, cols] = Vt.T @ ((s / (s**2 + lambdas[k]))[:, None] * UtF[:, cols])
    return W


def fit_residualiser(L: np.ndarray, F: np.ndarray, lambdas: np.ndarray, n_folds: int) -> Residualiser:
    """10-fold contiguous CV ridge from ``L`` (n, d) to ``F`` (n, outputs), one lambda per output.

    Per fold and lambda the cost of an output is ``1 - R2`` = SSE / SST on the held-out fold
    (constant held-out outputs cost 1); costs are summed over folds, the argmin (smallest lambda on
    ties) is refitted on all rows.
    """
    L = np.asarray(L, dtype=np.float64)
    F = np.asarray(F, dtype=np.float64)
    if L.shape[0] != F.shape[0]:
        raise ValueError(f"residualiser: low-level features have {L.shape[0]} rows, model features {F.shape[0]}")
    if n_folds < 2 or n_folds > L.shape[0]:
        raise ValueError(f"residualiser: n_folds must be in [2, {L.shape[0]}], got {n_folds}")
    lambdas = np.asarray(lambdas, dtype=np.float64)
    cost = np.zeros((len(lambdas), F.shape[1]))
    for train, val in KFold(n_splits=n_folds, shuffle=False).split(L):
        U, s, Vt = np.linalg.svd(L[train], full_matrices=False)
        UtF = U.T @ F[train]
        LV = L[val] @ Vt.T
        target = F[val]
        sst = ((target - target.mean(0)) ** 2).sum(0)
        for k, lam in enumerate(lambdas):
            pred = LV @ ((s / (s**2 + lam))[:, None] * UtF)
            sse = ((target - pred) ** 2).sum(0)
            with np.errstate(divide="ignore", invalid="ignore"):
                cost[k] += np.where(sst > 0, sse / sst, 1.0)
    best = np.argmin(cost, axis=0)
    weights = _svd_ridge_weights(L, F, lambdas, best)
    return Residualiser(weights=weights, lambdas=lambdas[best], cv_cost=cost)


def lowlevel_impact(b_original: float, b_residual: float) -> float:
    """``R = 100 (B_o - B_r) / B_o`` (paper eq. 2); NaN when B_o is 0 or either is NaN."""
    if not np.isfinite(b_original) or not np.isfinite(b_residual) or b_original == 0:
        return float("nan")
    return 100.0 * (b_original - b_residual) / b_original


# --- stories -> designs ---------------------------------------------------------------------


def stack_delayed(
    per_story: dict[str, np.ndarray], stories: Sequence[str], delays: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Delay each story's matrix within the story and stack: ``(X, story_index)``."""
    blocks = [make_delayed(per_story[s], list(delays)) for s in stories]
    index = np.concatenate([np.full(len(b), i, dtype=np.int64) for i, b in enumerate(blocks)])
    return np.concatenate(blocks, axis=0).astype(np.float32), index


# --- the job --------------------------------------------------------------------------------


def run_lowlevel(
    design_paths: Mapping[int, str | os.PathLike],
    lowlevel_paths: Mapping[str, str | os.PathLike],
    response_paths: Mapping[str, str | os.PathLike],
    noise_ceiling_path: str | os.PathLike,
    regions_path: str | os.PathLike,
    settings: LowlevelSettings,
    out_h5: str | os.PathLike,
    out_tsv: str | os.PathLike,
    labels: Mapping[str, str],
    alignment_path: str | os.PathLike | None = None,
    batches: RidgeBatches = RidgeBatches(),
) -> pd.DataFrame:
    """Low-level impact of every (feature, layer) of one (family, variant, subject).

    ``design_paths``: layer -> the checkpoint's design file; ``lowlevel_paths``: feature -> the
    low-level feature's design file; ``response_paths``: story -> the subject's response file.
    ``alignment_path``: the alignment results of the same checkpoint and subject, reused as the
    original model when their train stories equal the low-level train stories; otherwise (or when
    None) the original model is refitted here. ``batches`` bound memory and do not change results.
    """
    align = settings.alignment
    ridge, cv, test_trim, voxels = align.ridge, align.cv, align.test_trim, align.voxels
    lambdas, n_folds, test_story = settings.lambdas, settings.n_folds, settings.test_story
    nc, nc_mask = read_noise_ceiling(noise_ceiling_path)
    region_masks = {**read_regions(regions_path, align.regions), ALL_REGION: np.ones_like(nc_mask)}
    layers = sorted(design_paths)
    stories = list(settings.train_stories)
    all_stories = stories + [test_story]

    # responses: keep the stories this subject has
    model_z = {}
    for layer in layers:  # every layer's design has the same delays (features.delays)
        model_z[layer], delays = read_zscored(design_paths[layer], stories, test_story)
    lengths = np.array([len(model_z[layers[0]][s]) for s in stories])
    story_index = np.repeat(np.arange(len(stories)), lengths)
    responses = load_responses(
        response_paths, stories, story_index, test_story, test_trim, align.missing_story, noise_ceiling_path
    )
    stories = responses.stories
    columns = fit_voxels(nc_mask, voxels)
    responses = responses.select(columns)
    splits = cv.splits(np.repeat(np.arange(len(stories)), [len(model_z[layers[0]][s]) for s in stories]))

    def design(per_story: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        X_train, _ = stack_delayed(per_story, stories, delays)
        X_test = make_delayed(per_story[test_story], list(delays)).astype(np.float32)
        if X_test.shape[0] != responses.Y_test.shape[0]:
            raise ValueError(
                f"test story '{test_story}': {X_test.shape[0]} feature rows vs {responses.Y_test.shape[0]} "
                f"response rows after test_trim={test_trim}"
            )
        return X_train, X_test

    # original alignment on the same train set
    original: dict[int, dict[str, np.ndarray]]
    reuse = False
    if alignment_path is not None:
        used, _ = read_layers(alignment_path, ())
        reuse = used == stories
    if reuse:
        log.info("B_o from %s (same train stories)", alignment_path)
        _, original = read_layers(alignment_path, layers)
    else:
        log.info("B_o refitted on the low-level train stories %s", stories)
        original = {}
        for layer in layers:
            X_train, X_test = design(model_z[layer])
            original[layer] = encode(X_train, responses.Y_train, X_test, responses.Y_test, splits, ridge, nc, columns,
                                     batches)

    # model features of every layer side by side: one residualiser per low-level feature
    widths = [model_z[layer][stories[0]].shape[1] for layer in layers]
    edges = np.concatenate([[0], np.cumsum(widths)])
    F = {s: np.concatenate([model_z[layer][s] for layer in layers], axis=1) for s in all_stories}
    del model_z
    F_train = np.concatenate([F[s] for s in stories], axis=0)

    results: dict[str, dict[int, dict[str, np.ndarray]]] = {}
    chosen_lambdas: dict[str, np.ndarray] = {}
    rows = []
    for feature, path in lowlevel_paths.items():
        low, _ = read_zscored(path, stories, test_story)
        for s in all_stories:
            if len(low[s]) != len(F[s]):
                raise ValueError(f"{path}: zscored/{s} has {len(low[s])} rows, the model features {len(F[s])}")
        L_train = np.concatenate([low[s] for s in stories], axis=0)
        residualiser = fit_residualiser(L_train, F_train, lambdas, n_folds)
        chosen_lambdas[feature] = residualiser.lambdas
        residual = {s: residualiser.residual(low[s], F[s]) for s in all_stories}
        results[feature] = {}
        for i, layer in enumerate(layers):
            cols = slice(edges[i], edges[i + 1])
            X_train, X_test = design({s: residual[s][:, cols] for s in all_stories})
            out = encode(X_train, responses.Y_train, X_test, responses.Y_test, splits, ridge, nc, columns, batches)
            out["drop"] = (np.asarray(original[layer]["nc_norm"]) - out["nc_norm"]).astype(np.float32)
            results[feature][layer] = out
            for name, region in region_masks.items():
                b_o, n = region_mean(original[layer]["nc_norm"], region, nc_mask)
                b_r, _ = region_mean(out["nc_norm"], region, nc_mask)
                rows.append({
                    **labels, "region": name, "layer": int(layer), "feature": feature, "n_voxels": n,
                    "B_o": b_o, "B_r": b_r, "R": lowlevel_impact(b_o, b_r),
                })
            log.info("%s %s layer %s: done", labels, feature, layer)

    with atomic_output(out_h5) as tmp, h5py.File(tmp, "w") as handle:
        for key, value in labels.items():
            handle.attrs[key] = str(value)
        handle.attrs["layers"] = np.array(layers, dtype=np.int64)
        handle.attrs["features"] = np.array(list(lowlevel_paths), dtype="S")
        handle.attrs["train_stories"] = np.array(stories, dtype="S")
        handle.attrs["test_story"] = test_story
        handle.attrs["original_from"] = "alignment" if reuse else "refit"
        handle.attrs["residual_lambdas"] = np.asarray(lambdas)
        handle.attrs["n_folds"] = n_folds
        handle.attrs["voxels"] = voxels
        for layer in layers:
            group = handle.create_group(f"original/layer_{layer}")
            for key in ("rho", "nc_norm", "alpha"):
                group.create_dataset(key, data=np.asarray(original[layer][key], dtype=np.float32))
        drops = []
        for feature, per_layer in results.items():
            handle.create_dataset(f"{feature}/lambda", data=chosen_lambdas[feature].astype(np.float64))
            for layer, out in per_layer.items():
                group = handle.create_group(f"{feature}/layer_{layer}")
                for key, value in out.items():
                    group.create_dataset(key, data=np.asarray(value, dtype=np.float32))
            stack = np.stack([out["drop"] for out in per_layer.values()])
            handle.create_dataset(f"{feature}/layer_mean/drop", data=stack.mean(0).astype(np.float32))
            handle.create_dataset(
                f"{feature}/layer_mean/nc_norm",
                data=np.stack([out["nc_norm"] for out in per_layer.values()]).mean(0).astype(np.float32),
            )
            drops.append(stack.mean(0))
        handle.create_dataset("layer_mean/drop", data=np.mean(drops, axis=0).astype(np.float32))
    table = pd.DataFrame(rows)
    with atomic_output(out_tsv) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    return table
