"""Brain alignment: voxelwise encoding models of every layer of one checkpoint for one subject.

One call of :func:`run_alignment` covers every layer of a (family, variant, subject): the responses
are read once, each layer's design matrix is fitted with :func:`braintune.alignment.ridge.fit_ridge_cv`
on the same seeded splits, and the test predictions are scored against the mean of the test
story's repeats (docs/decisions.md 7):

* ``rho`` (V,): Pearson correlation of the prediction with the repeat mean on the test rows after
  ``timing.test_trim`` (the paper's rho_v);
* ``alpha`` (V,): the chosen alpha (Huth convention);
* ``nc_norm`` (V,): ``rho / NC`` where NC > 0, NaN elsewhere;
* per region: ``B`` = mean of ``nc_norm`` over the region's voxels whose NC exceeds the threshold
  (the preprocess stage's ``mask``), paper eq. (1).

Train responses are every voxel of the ``data`` rows of the design's train stories, stacked in the
design's order; the design's ``train_story`` index says which rows belong to which story, so a story
missing for a subject (``data.missing_story: skip``: the workflow gives no response file for it)
drops its rows from the design too.

The job (:func:`run_alignment`) takes explicit input and output paths and an
:class:`AlignmentSettings` built from the ``alignment`` config section.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import h5py
import numpy as np
import pandas as pd

from braintune.alignment.ridge import (
    RidgeBatches,
    RidgeSettings,
    bootstrap_chunk_splits,
    fit_ridge_cv,
)
from braintune.features.design import read_design
from braintune.preprocess.noise_ceiling import (
    pearson_columns,
    read_noise_ceiling,
    read_repeat_mean,
)
from braintune.preprocess.regions import read_regions
from braintune.preprocess.responses import n_voxels, read_repeats, read_responses
from braintune.utils import atomic_output, open_h5

log = logging.getLogger(__name__)

#: Name of the pseudo-region made of every voxel above the noise-ceiling threshold.
ALL_REGION = "all"


# --- inputs ---------------------------------------------------------------------------------


@dataclass
class Responses:
    """A subject's stacked train responses and the test story's repeat mean."""

    Y_train: np.ndarray  # (n_rows, V) float32
    Y_test: np.ndarray  # (n_test, V) float32, mean of the repeats after test_trim
    keep_rows: np.ndarray  # (n_design_rows,) bool: design rows whose story the subject has
    stories: list[str]  # the train stories actually used
    n_repeats: int

    def select(self, columns: np.ndarray | None) -> "Responses":
        """Only the voxels ``columns`` (None: all, no copy)."""
        if columns is None:
            return self
        return Responses(self.Y_train[:, columns], self.Y_test[:, columns], self.keep_rows, self.stories,
                         self.n_repeats)


def load_responses(
    response_paths: Mapping[str, str | os.PathLike],
    train_stories: Sequence[str],
    train_story: np.ndarray,
    test_story: str,
    test_trim: int,
    missing_story: str,
    noise_ceiling_path: str | os.PathLike | None = None,
) -> Responses:
    """Read the train stories' ``data`` rows (stacked in design order) and the test repeats' mean:
    the ``repeat_mean`` that the preprocess stage stored in ``noise_ceiling_path`` (None: computed
    here from the repeats, which is slow for a real subject).

    ``response_paths``: story -> response file of the subject (the test story and the train stories
    the subject has); a train story without a file is skipped (``missing_story: skip``) or an error.

    Raises:
        FileNotFoundError: a train story has no response file and ``missing_story`` is ``error``.
        KeyError: the test story has no response file.
        ValueError: a story's row count differs from the design's (names file and both counts).
    """
    if missing_story not in ("skip", "error"):
        raise ValueError(f"data.missing_story must be 'skip' or 'error', got {missing_story!r}")
    if test_story not in response_paths:
        raise KeyError(f"no response file for the test story '{test_story}' (given: {sorted(response_paths)})")
    counts = np.bincount(train_story, minlength=len(train_stories))
    keep = np.ones(len(train_story), dtype=bool)
    used = []
    for index, story in enumerate(train_stories):
        if story in response_paths:
            used.append((index, story, Path(response_paths[story])))
            continue
        if missing_story == "error":
            raise FileNotFoundError(f"train story '{story}' has no response file (given: {sorted(response_paths)})")
        log.warning("no response file for train story '%s': its %d design rows are dropped", story, counts[index])
        keep[train_story == index] = False
    if not used:
        raise ValueError(f"none of the train stories {list(train_stories)} has a response file")
    # rows of one story are contiguous in the design (per-story delays), in story order
    order = np.argsort(train_story[keep], kind="stable")
    if not np.array_equal(order, np.arange(order.size)):
        raise ValueError("design rows are not grouped by story in train_stories order")
    # one preallocated float32 matrix, filled story by story (no second copy of the responses)
    n_vox = n_voxels(used[0][2])
    Y_train = np.empty((int(keep.sum()), n_vox), dtype=np.float32)
    row = 0
    for index, story, path in used:
        data = read_responses(path)
        if data.shape[0] != counts[index]:
            raise ValueError(
                f"{path}: {data.shape[0]} response rows but the design has {counts[index]} rows for '{story}'"
            )
        if data.shape[1] != n_vox:
            raise ValueError(f"{path}: {data.shape[1]} voxels but {used[0][2]} has {n_vox}")
        Y_train[row : row + len(data)] = data
        row += len(data)
        del data
    test_path = Path(response_paths[test_story])
    if noise_ceiling_path is not None:
        Y_test, n_repeats = read_repeat_mean(noise_ceiling_path, test_path, test_trim)
    else:
        repeats = read_repeats(test_path)
        if test_trim >= repeats.shape[1]:
            raise ValueError(f"{test_path}: test_trim {test_trim} >= {repeats.shape[1]} test rows")
        Y_test, n_repeats = repeats[:, test_trim:, :].mean(axis=0), repeats.shape[0]
    if Y_test.shape[1] != Y_train.shape[1]:
        raise ValueError(f"{test_path}: {Y_test.shape[1]} voxels but the train stories have {Y_train.shape[1]}")
    return Responses(Y_train, Y_test.astype(np.float32), keep, [story for _, story, _ in used], int(n_repeats))


# --- metrics --------------------------------------------------------------------------------


def normalised_alignment(rho: np.ndarray, nc: np.ndarray) -> np.ndarray:
    """``rho / NC`` per voxel; NaN where NC <= 0 (no explainable signal)."""
    rho = np.asarray(rho, dtype=np.float32)
    nc = np.asarray(nc, dtype=np.float32)
    out = np.full(rho.shape, np.nan, dtype=np.float32)
    ok = nc > 0
    out[ok] = rho[ok] / nc[ok]
    return out


def region_mean(values: np.ndarray, region: np.ndarray, nc_mask: np.ndarray) -> tuple[float, int]:
    """Mean of ``values`` over the region's voxels above the noise-ceiling threshold (paper eq. 1).

    Returns ``(mean, n_voxels)``; the mean is NaN when no voxel qualifies.
    """
    select = np.asarray(region, dtype=bool) & np.asarray(nc_mask, dtype=bool)
    n = int(select.sum())
    if n == 0:
        return float("nan"), 0
    return float(np.mean(np.asarray(values, dtype=np.float64)[select])), n


def region_table(
    per_layer: dict[int, dict[str, np.ndarray]],
    regions: dict[str, np.ndarray],
    nc_mask: np.ndarray,
    value: str = "nc_norm",
    extra: dict | None = None,
) -> pd.DataFrame:
    """Rows (region, layer, n_voxels, B, rho_mean) for every region and layer."""
    rows = []
    regions = {**regions, ALL_REGION: np.ones_like(nc_mask, dtype=bool)}
    for layer, outputs in per_layer.items():
        for name, region in regions.items():
            b, n = region_mean(outputs[value], region, nc_mask)
            rho, _ = region_mean(outputs["rho"], region, nc_mask)
            rows.append({**(extra or {}), "region": name, "layer": int(layer), "n_voxels": n, "B": b, "rho_mean": rho})
    return pd.DataFrame(rows)


# --- fitting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CVSettings:
    """Bootstrapped chunk cross-validation (``alignment.cv``) and the seed of its chunk draw."""

    n_boots: int
    chunk_len: int
    held_out_fraction: float
    chunk_scope: str
    seed: int

    @classmethod
    def from_config(cls, section: Mapping, seed: int) -> "CVSettings":
        """``section``: the ``alignment`` section (its ``cv`` keys); ``seed``: the config's ``seed``."""
        cv = section["cv"]
        return cls(cv["n_boots"], cv["chunk_len"], cv["held_out_fraction"], cv["chunk_scope"], seed)

    def splits(self, story_index: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        return bootstrap_chunk_splits(
            len(story_index), self.n_boots, self.chunk_len, self.held_out_fraction, self.seed,
            story_index=story_index, chunk_scope=self.chunk_scope,
        )


@dataclass(frozen=True)
class AlignmentSettings:
    """Every setting an alignment (or low-level) fit depends on: the ``alignment`` section's
    result-changing keys, ``seed``, ``timing.test_trim``, ``data.missing_story`` and, for
    ``alignment.backend: auto`` only, ``compute.device``. Voxel batch sizes are not settings
    (:class:`~braintune.alignment.ridge.RidgeBatches`)."""

    ridge: RidgeSettings
    cv: CVSettings
    test_trim: int
    missing_story: str
    regions: tuple[str, ...] | None  # None: every region of regions.h5
    voxels: str

    @classmethod
    def from_config(cls, section: Mapping, seed: int, test_trim: int, missing_story: str,
                    device: str | None) -> "AlignmentSettings":
        regions = section["regions"]
        return cls(
            ridge=RidgeSettings.from_config(section, device),
            cv=CVSettings.from_config(section, seed),
            test_trim=int(test_trim),
            missing_story=missing_story,
            regions=None if regions is None else tuple(regions),
            voxels=section["voxels"],
        )


def fit_voxels(nc_mask: np.ndarray, voxels: str) -> np.ndarray | None:
    """Columns to fit for ``alignment.voxels``: ``all`` (None: every voxel, the reference) or
    ``nc_mask`` (only the voxels above the noise-ceiling threshold, i.e. every voxel that enters B)."""
    if voxels == "all":
        return None
    if voxels == "nc_mask":
        columns = np.flatnonzero(nc_mask)
        if columns.size == 0:
            raise ValueError("alignment.voxels = nc_mask, but no voxel exceeds the noise-ceiling threshold")
        return columns
    raise ValueError(f"alignment.voxels must be 'all' or 'nc_mask', got {voxels!r}")


def encode(
    X_train: np.ndarray,
    Y_train: np.ndarray,
    X_test: np.ndarray,
    Y_test: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    ridge: RidgeSettings,
    nc: np.ndarray,
    columns: np.ndarray | None = None,
    batches: RidgeBatches = RidgeBatches(),
) -> dict[str, np.ndarray]:
    """Fit one encoding model and score it: ``rho``, ``alpha``, ``nc_norm``, ``cv_score`` per voxel.

    ``columns``: the voxels (of ``nc``) that ``Y_train``/``Y_test`` hold; the others come out NaN.
    """
    if X_test.shape[0] != Y_test.shape[0]:
        raise ValueError(f"test rows differ: features {X_test.shape[0]}, responses {Y_test.shape[0]}")
    fit = fit_ridge_cv(X_train, Y_train, splits, ridge, batches)
    fitted = {
        "rho": pearson_columns(fit.predict(X_test), Y_test),
        "alpha": fit.alphas,
        "cv_score": fit.cv_scores,
    }
    if columns is not None:
        for key, values in fitted.items():
            full = np.full(nc.shape, np.nan, dtype=np.float32)
            full[columns] = values
            fitted[key] = full
    out = {key: np.asarray(values, dtype=np.float32) for key, values in fitted.items()}
    out["nc_norm"] = normalised_alignment(out["rho"], nc)
    return out


def write_layers(
    path: str | os.PathLike,
    per_layer: dict[int, dict[str, np.ndarray]],
    attrs: dict,
    layer_mean_keys: Sequence[str] = ("rho", "nc_norm"),
) -> None:
    """One group ``layer_{i}`` per layer plus ``layer_mean`` (mean over layers), atomically."""
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as handle:
        for key, value in attrs.items():
            handle.attrs[key] = value
        for layer, outputs in per_layer.items():
            group = handle.create_group(f"layer_{layer}")
            for key, value in outputs.items():
                group.create_dataset(key, data=np.asarray(value, dtype=np.float32))
        group = handle.create_group("layer_mean")
        for key in layer_mean_keys:
            stack = np.stack([outputs[key] for outputs in per_layer.values()])
            group.create_dataset(key, data=stack.mean(axis=0).astype(np.float32))


def read_layers(path: str | os.PathLike, layers: Sequence[int]) -> tuple[list[str], dict[int, dict[str, np.ndarray]]]:
    """``(train_stories, {layer: {rho, nc_norm, alpha}})`` of an alignment results file (:func:`write_layers`)."""
    with open_h5(path) as handle:
        if "train_stories" not in handle.attrs:
            raise KeyError(f"{path}: no attribute 'train_stories' (found {sorted(handle.attrs)})")
        stories = [s.decode() if isinstance(s, bytes) else str(s) for s in handle.attrs["train_stories"]]
        out = {}
        for layer in layers:
            name = f"layer_{layer}"
            if name not in handle:
                raise KeyError(f"{path}: no group '{name}' (found {sorted(handle.keys())})")
            out[layer] = {k: handle[name][k][...] for k in ("rho", "nc_norm", "alpha")}
        return stories, out


def layer_arrays(
    design_paths: Mapping[int, str | os.PathLike],
    response_paths: Mapping[str, str | os.PathLike],
    noise_ceiling_path: str | os.PathLike,
    settings: AlignmentSettings,
    nc: np.ndarray,
) -> Iterator[tuple[int, Any, Responses]]:
    """``(layer, design, responses)`` of every layer in order, as an alignment fit reads them: each layer's
    design matrix (read when its turn comes, so one is in memory at a time) and the participant's responses
    (every voxel), loaded once for the first layer; every later layer must have the same train/test stories
    and rows. ``nc``: the noise ceiling, whose voxel count the responses must have."""
    responses = None
    reference = None
    for layer, path in sorted(design_paths.items()):
        design = read_design(path)
        stories = (design.train_stories, design.test_story, design.train_story.tobytes())
        if responses is None:
            responses = load_responses(
                response_paths, design.train_stories, design.train_story, design.test_story, settings.test_trim,
                settings.missing_story, noise_ceiling_path,
            )
            reference = stories
            if responses.Y_train.shape[1] != nc.shape[0]:
                raise ValueError(
                    f"{noise_ceiling_path}: {nc.shape[0]} voxels but the responses "
                    f"({response_paths[design.test_story]}, ...) have {responses.Y_train.shape[1]}"
                )
        elif stories != reference:
            raise ValueError(f"{path}: train/test stories or rows differ from the first layer's design")
        yield layer, design, responses
    if responses is None:
        raise ValueError("no design matrices given")


def run_alignment(
    design_paths: Mapping[int, str | os.PathLike],
    response_paths: Mapping[str, str | os.PathLike],
    noise_ceiling_path: str | os.PathLike,
    regions_path: str | os.PathLike,
    settings: AlignmentSettings,
    out_h5: str | os.PathLike,
    out_tsv: str | os.PathLike,
    labels: Mapping[str, str],
    batches: RidgeBatches = RidgeBatches(),
) -> pd.DataFrame:
    """Encoding models of every layer of one (family, variant, subject); writes the h5 and TSV.

    ``design_paths``: layer -> design matrix file; ``response_paths``: story -> the subject's
    response file (see :func:`load_responses`). ``labels`` (family, variant, subject, config_hash,
    ...) go into every TSV row and the h5 attrs. ``batches`` bound memory and do not change results.
    """
    ridge, cv, voxels = settings.ridge, settings.cv, settings.voxels
    nc, nc_mask = read_noise_ceiling(noise_ceiling_path)
    region_masks = read_regions(regions_path, settings.regions)
    responses = None
    reference = None
    per_layer: dict[int, dict[str, np.ndarray]] = {}
    for layer, design, all_voxels in layer_arrays(design_paths, response_paths, noise_ceiling_path, settings, nc):
        if responses is None:
            reference = (design.train_stories, design.test_story)
            splits = cv.splits(design.train_story[all_voxels.keep_rows])
            columns = fit_voxels(nc_mask, voxels)
            responses = all_voxels.select(columns)
        log.info("%s layer %s: X_train %s, X_test %s", labels, layer, design.X_train.shape, design.X_test.shape)
        per_layer[layer] = encode(
            design.X_train[responses.keep_rows], responses.Y_train, design.X_test, responses.Y_test,
            splits, ridge, nc, columns, batches,
        )
        del design
    attrs = {
        **{k: str(v) for k, v in labels.items()},
        "layers": np.array(sorted(per_layer), dtype=np.int64),
        "train_stories": np.array(responses.stories, dtype="S"),
        "test_story": str(reference[1]),
        "n_train": responses.Y_train.shape[0],
        "n_test": responses.Y_test.shape[0],
        "n_repeats": responses.n_repeats,
        "alphas": ridge.alphas,
        "alpha_convention": ridge.alpha_convention,
        "score": ridge.score,
        "backend": ridge.backend,
        "cv": str(cv),
        "voxels": voxels,
        "nc_threshold_mask": "preprocess noise_ceiling.h5 mask",
    }
    write_layers(out_h5, per_layer, attrs)
    table = region_table(per_layer, region_masks, nc_mask, extra=labels)
    with atomic_output(out_tsv) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    return table

