"""Data-efficiency curve of brain alignment (the follow-up: Moussa & Toneva, NeurIPS 2025).

For one model and participant, the alignment stage's encoding model is refitted on nested subsets of
the alignment train stories (the first ``k`` stories of ``alignment.curve.order``, by default the order
of ``stories.alignment_train``, for every ``k`` in ``alignment.curve.sizes``: :func:`nested_subsets`)
and scored exactly like the full fit: same test story and repeats, ridge and CV settings, seed, noise
ceiling and regions. The region's B against the minutes of training data (:func:`minutes`) is the curve.
A subset's fit does not depend on the order: its rows keep the design's order.

**One point** (:func:`curve_point`): the rows of the subset's stories of one layer's train design and of
the participant's responses, fitted by :func:`braintune.alignment.encoding.encode` on the splits
:meth:`~braintune.alignment.encoding.CVSettings.splits` draws for those rows (seeded as the full fit),
the fitted voxels of :func:`~braintune.alignment.encoding.fit_voxels`, and B per region by
:func:`~braintune.alignment.encoding.region_table` (mean of rho/NC over the region's voxels above the
noise-ceiling threshold). It is the alignment stage's computation on fewer rows; with every story it
gives :func:`~braintune.alignment.encoding.run_alignment`'s table bit for bit (same arrays, same code).

**Cross-validation on short subsets.** The alpha is chosen on ``int(alignment.cv.held_out_fraction *
rows / alignment.cv.chunk_len)`` held-out chunks of ``chunk_len`` rows; a subset with too few rows
has none, and :func:`curve_splits` (every point) and :func:`check_sizes` (all sizes at once, before any
fit) then fail naming ``alignment.curve.sizes`` and ``alignment.cv.chunk_len``. The demo's stories
have 24-38 rows (29, 27, 38, 32, 33, 38, 24 in ``stories.alignment_train`` order) and ``chunk_len`` is
20 (the reference's): 1 or 2 stories hold out no chunk, 3 stories (94 rows) are the smallest subset
that works; ``chunk_len`` 5 makes every single story work.

**Fold reduction** (:func:`fold_reduction`): how much less data model A needs to reach the reference
model's full-data B. Along A's curve in increasing data, the first point whose B reaches (>=) the
reference's full-data B and the point before it are joined by a straight line in (minutes, B); where it
crosses the reference's B is the data A needs (linear interpolation). ``fold = full minutes / needed
minutes`` (full: the largest subset's minutes). When the smallest subset already reaches it there is
nothing to interpolate from (B at zero data is undefined): the smallest subset's minutes are taken and
the fold is flagged as a lower bound. When A never reaches it, when the reference's B is not above 0 (no
alignment to reach: the demo's tiny models), or when a value is NaN (a region without voxels above the
noise-ceiling threshold), the fold is NaN with the reason.

**Paired tests** (:func:`curve_tests`): at every size, A against the reference across participants, with
:func:`braintune.statistics.paired_wilcoxon` (``scipy.stats.wilcoxon`` on A - reference, NaN pairs
dropped) and Holm-corrected p-values over the sizes of the comparison (:func:`braintune.statistics.holm`).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from braintune.alignment.encoding import (
    AlignmentSettings,
    CVSettings,
    encode,
    fit_voxels,
    layer_arrays,
    region_table,
)
from braintune.alignment.ridge import RidgeBatches
from braintune.preprocess.noise_ceiling import read_noise_ceiling
from braintune.preprocess.regions import read_regions
from braintune.statistics import holm, paired_wilcoxon
from braintune.utils import atomic_output

log = logging.getLogger(__name__)

SIZES_KEY = "alignment.curve.sizes"
ORDER_KEY = "alignment.curve.order"
CHUNK_KEY = "alignment.cv.chunk_len"


# --- subsets --------------------------------------------------------------------------------


def nested_subsets(stories: Sequence[str], sizes: Sequence[int]) -> dict[int, list[str]]:
    """``{k: the first k stories}`` for every ``k`` in ``sizes`` (``alignment.curve.sizes``: sorted, unique,
    ``1 <= k <= len(stories)``); each subset holds every smaller one. ``stories``: the fixed order
    (``stories.alignment_train``)."""
    stories = list(stories)
    if len(set(stories)) != len(stories):
        raise ValueError(f"{SIZES_KEY}: the story order {stories} repeats a story")
    sizes = list(sizes)
    if not sizes:
        raise ValueError(f"{SIZES_KEY}: no sizes given")
    if any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) for k in sizes):
        raise ValueError(f"{SIZES_KEY}: sizes must be integers (numbers of stories), got {sizes}")
    if sizes != sorted(set(sizes)):
        raise ValueError(f"{SIZES_KEY}: sizes must be sorted and unique, got {sizes}")
    if sizes[0] < 1 or sizes[-1] > len(stories):
        raise ValueError(f"{SIZES_KEY}: sizes must lie in 1..{len(stories)} (the alignment train stories), got {sizes}")
    return {int(k): stories[:k] for k in sizes}


def story_order(stories: Sequence[str], order: Sequence[str] | None) -> list[str]:
    """The order in which the curve adds the design's train ``stories``: ``order`` (``alignment.curve.order``),
    which must hold each of them once, or None for their own order."""
    if order is None:
        return list(stories)
    if sorted(order) != sorted(stories):
        raise ValueError(f"{ORDER_KEY}: {list(order)} must hold every train story of the design once "
                         f"({sorted(stories)})")
    return list(order)


def subset_rows(story_index: np.ndarray, stories: Sequence[str], subset: Sequence[str]) -> np.ndarray:
    """Boolean mask of the rows whose story (``stories[story_index[row]]``) is in ``subset``."""
    stories = list(stories)
    unknown = [s for s in subset if s not in stories]
    if unknown:
        raise KeyError(f"{SIZES_KEY}: subset stories {unknown} are not train stories of the design ({stories})")
    return np.isin(np.asarray(story_index), [stories.index(s) for s in subset])


def curve_splits(cv: CVSettings, story_index: np.ndarray, n_stories: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The alignment stage's CV splits of a subset's rows (``story_index``: the story of each row);
    a subset too short to hold out a chunk raises an error naming the config keys."""
    try:
        return cv.splits(np.asarray(story_index))
    except ValueError as err:
        raise ValueError(
            f"{SIZES_KEY}: the {n_stories}-story subset ({len(story_index)} train rows) is too short for the "
            f"alignment cross-validation ({err}); use larger sizes or a smaller {CHUNK_KEY} (now {cv.chunk_len})"
        ) from err


def check_sizes(cv: CVSettings, rows_per_story: Sequence[int], sizes: Sequence[int]) -> dict[int, int]:
    """Check before any fit that every subset of ``sizes`` (stories in order, ``rows_per_story`` train rows
    each) has CV splits (:func:`curve_splits`); returns ``{k: rows}``."""
    rows = [int(r) for r in rows_per_story]
    out = {}
    for k in nested_subsets([str(i) for i in range(len(rows))], sizes):
        curve_splits(cv, np.repeat(np.arange(k), rows[:k]), k)
        out[k] = sum(rows[:k])
    return out


# --- one point of the curve -----------------------------------------------------------------


def curve_point(
    X_train: np.ndarray,
    Y_train: np.ndarray,
    story_index: np.ndarray,
    stories: Sequence[str],
    subset: Sequence[str],
    X_test: np.ndarray,
    Y_test: np.ndarray,
    nc: np.ndarray,
    nc_mask: np.ndarray,
    region_masks: Mapping[str, np.ndarray],
    settings: AlignmentSettings,
    layer: int,
    batches: RidgeBatches | None = None,
    extra: Mapping | None = None,
) -> pd.DataFrame:
    """B per region of one layer's encoding model fitted on the rows of ``subset``'s stories only.

    The arrays are what :func:`~braintune.alignment.encoding.run_alignment` fits for the layer: ``X_train``
    (n, F) = ``design.X_train[responses.keep_rows]``, ``Y_train`` (n, V) = ``responses.Y_train`` (every
    voxel; ``settings.voxels`` is applied here), ``story_index`` (n,) = ``design.train_story[keep_rows]``
    (indices into ``stories`` = ``design.train_stories``), ``X_test``, ``Y_test`` = ``responses.Y_test``,
    ``nc``/``nc_mask`` of the noise ceiling and ``region_masks`` of ``read_regions``.

    Returns :func:`~braintune.alignment.encoding.region_table`'s rows (region, layer, n_voxels, B,
    rho_mean) with ``extra`` and ``n_stories``, ``n_rows`` (the subset's train rows) in every row.
    """
    story_index = np.asarray(story_index)
    if not X_train.shape[0] == Y_train.shape[0] == story_index.shape[0]:
        raise ValueError(f"curve_point: X_train {X_train.shape[0]}, Y_train {Y_train.shape[0]} and story_index "
                         f"{story_index.shape[0]} rows differ")
    rows = subset_rows(story_index, stories, subset)
    present = {stories[i] for i in np.unique(story_index[rows])}
    absent = [s for s in subset if s not in present]
    if len(absent) == len(subset):
        raise ValueError(f"{SIZES_KEY}: the participant has no train rows for any of the stories {list(subset)}")
    if absent:
        log.warning("subset of %d stories: no rows for %s (missing for this participant)", len(subset), absent)
    splits = curve_splits(settings.cv, story_index[rows], len(subset))
    columns = fit_voxels(nc_mask, settings.voxels)
    Y = Y_train[rows] if columns is None else Y_train[np.ix_(rows, columns)]
    Y_held = Y_test if columns is None else Y_test[:, columns]
    fitted = encode(X_train[rows], Y, X_test, Y_held, splits, settings.ridge, nc, columns, batches or RidgeBatches())
    labels = {**(extra or {}), "n_stories": len(subset), "n_rows": int(rows.sum())}
    return region_table({layer: fitted}, dict(region_masks), nc_mask, extra=labels)


def run_curve(
    design_paths: Mapping[int, str | os.PathLike],
    response_paths: Mapping[str, str | os.PathLike],
    noise_ceiling_path: str | os.PathLike,
    regions_path: str | os.PathLike,
    settings: AlignmentSettings,
    sizes: Sequence[int],
    tr_s: float,
    out_tsv: str | os.PathLike,
    labels: Mapping[str, str],
    batches: RidgeBatches | None = None,
    order: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The data-efficiency curve of one (family, variant, subject): :func:`curve_point` of every layer and
    every nested subset of ``sizes`` (the first k stories of ``order``, ``alignment.curve.order``; None: the
    design's train stories in order), read as the alignment stage reads them
    (:func:`~braintune.alignment.encoding.layer_arrays`); every size is checked (:func:`check_sizes`) before
    the first fit. Writes and returns one row per (layer, size, region): ``labels``, region, layer, n_voxels,
    B, rho_mean, n_stories, n_rows and ``minutes`` (:func:`minutes` of ``tr_s``-second rows)."""
    nc, nc_mask = read_noise_ceiling(noise_ceiling_path)
    region_masks = read_regions(regions_path, settings.regions)
    tables = []
    for layer, design, responses in layer_arrays(design_paths, response_paths, noise_ceiling_path, settings, nc):
        stories = list(design.train_stories)
        ordered = story_order(stories, order)
        story_index = design.train_story[responses.keep_rows]
        if not tables:
            counts = np.bincount(story_index, minlength=len(stories))
            check_sizes(settings.cv, [counts[stories.index(s)] for s in ordered], sizes)
        X_train = design.X_train[responses.keep_rows]
        for k, subset in nested_subsets(ordered, sizes).items():
            log.info("%s layer %s: %d stories", dict(labels), layer, k)
            tables.append(curve_point(X_train, responses.Y_train, story_index, stories, subset, design.X_test,
                                      responses.Y_test, nc, nc_mask, region_masks, settings, layer, batches, labels))
        del design, X_train
    table = pd.concat(tables, ignore_index=True)
    table["minutes"] = [minutes(int(r), tr_s) for r in table["n_rows"]]
    with atomic_output(out_tsv) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    return table


def minutes(rows: int, tr_s: float) -> float:
    """Minutes of training data in ``rows`` response rows of ``tr_s`` seconds (``timing.tr_s``)."""
    if rows < 0 or not tr_s > 0:
        raise ValueError(f"minutes: need rows >= 0 and timing.tr_s > 0, got {rows}, {tr_s}")
    return float(rows) * float(tr_s) / 60.0


# --- fold reduction -------------------------------------------------------------------------


@dataclass(frozen=True)
class FoldReduction:
    """How much less data a model needs to reach a reference B (:func:`fold_reduction`)."""

    minutes_needed: float  # NaN when never reached
    full_minutes: float  # the largest subset's minutes
    fold: float  # full_minutes / minutes_needed; NaN when never reached
    lower_bound: bool  # reached at the smallest subset already: the fold is at least `fold`
    reason: str  # '' for an interpolated crossing; otherwise what happened


def fold_reduction(curve: Mapping[int, float], reference_full: float, minutes_of: Mapping[int, float]) -> FoldReduction:
    """Data model A needs (``curve``: size -> B) to reach the reference model's full-data B
    (``reference_full``), linearly interpolated in (minutes, B) between the curve points (module docstring);
    ``minutes_of``: size -> minutes of training data of that subset."""
    sizes = sorted(curve)
    if not sizes:
        raise ValueError("fold_reduction: empty curve")
    missing = [k for k in sizes if k not in minutes_of]
    if missing:
        raise KeyError(f"fold_reduction: no minutes for sizes {missing}")
    m = np.array([float(minutes_of[k]) for k in sizes])
    b = np.array([float(curve[k]) for k in sizes])
    if np.any(np.diff(m) < 0) or m[0] <= 0:
        raise ValueError(f"fold_reduction: minutes must be positive and grow with the size, got {dict(zip(sizes, m, strict=True))}")
    full = float(m[-1])
    nan = float("nan")
    if math.isnan(reference_full) or np.any(np.isnan(b)):
        bad = [k for k, v in zip(sizes, b, strict=True) if np.isnan(v)]
        return FoldReduction(nan, full, nan, False, f"NaN B (reference full-data {reference_full}, sizes {bad})")
    if reference_full <= 0:
        return FoldReduction(nan, full, nan, False,
                             f"the reference's full-data B {reference_full:.4g} is not above 0: no alignment to reach")
    reached = np.flatnonzero(b >= reference_full)
    if reached.size == 0:
        return FoldReduction(nan, full, nan, False,
                             f"never reached: the curve's largest B {b.max():.4g} stays below the reference's {reference_full:.4g}")
    i = int(reached[0])
    if i == 0:
        return FoldReduction(float(m[0]), full, full / float(m[0]), True,
                             f"reached at the smallest subset ({sizes[0]} stories): the fold is a lower bound")
    needed = m[i - 1] + (reference_full - b[i - 1]) * (m[i] - m[i - 1]) / (b[i] - b[i - 1])
    return FoldReduction(float(needed), full, full / float(needed), False, "")


# --- paired tests ---------------------------------------------------------------------------


def curve_tests(
    curves: Mapping[str, Mapping[int, float]],
    reference: Mapping[str, Mapping[int, float]],
    alternative: str = "two-sided",
) -> pd.DataFrame:
    """At every size, model A (``curves``: participant -> size -> B) against the reference model (same
    layout) across participants: one row per size with ``n``, ``statistic``, ``p`` (Wilcoxon signed-rank
    of A - reference, ``statistics.alternative``), ``p_holm`` (over the sizes), ``mean_model``,
    ``mean_reference`` and ``median_difference``."""
    if set(curves) != set(reference):
        raise ValueError(
            f"curve tests: participants differ: model only {sorted(set(curves) - set(reference))}, "
            f"reference only {sorted(set(reference) - set(curves))}"
        )
    if not curves:
        raise ValueError("curve tests: no participants")
    participants = sorted(curves)
    sizes = sorted(next(iter(curves.values())))
    for name, table in (("model", curves), ("reference", reference)):
        for subject in participants:
            if sorted(table[subject]) != sizes:
                raise ValueError(f"curve tests: {name} curve of {subject} has sizes {sorted(table[subject])}, expected {sizes}")
    rows = []
    for k in sizes:
        # paired_wilcoxon's first sample is its "reference": here model A, so mean_reference is A's mean
        res = paired_wilcoxon([curves[s][k] for s in participants], [reference[s][k] for s in participants], alternative)
        rows.append({"size": k, "n": res.n, "statistic": res.statistic, "p": res.p, "mean_model": res.mean_reference,
                     "mean_reference": res.mean_other, "median_difference": res.median_difference})
    table = pd.DataFrame(rows)
    table["p_holm"] = holm(table["p"].to_numpy())
    return table
