"""Statistics of brain alignment and low-level impact (paper 3.4.1-3.4.2, docs/decisions.md 10).

Paired Wilcoxon signed-rank tests (``scipy.stats.wilcoxon``) of the reference variant (brain-tuned)
against every other variant of the same family, plus configured cross-family pairs (HuBERT base
brain-tuned vs HuBERT large pretrained, paper Fig. 5):

* ``level = participants``: per region, the per-participant value (B, or R) averaged over layers
  (and, for ``feature = all``, over the low-level features), paired across participants;
* ``level = voxels``: per participant and region, the per-voxel value averaged over layers
  (``nc_norm``; low-level: ``drop`` = nc_norm_o - nc_norm_r), paired across the region's voxels
  above the noise-ceiling threshold.

Holm-corrected p-values sit beside the raw ones. A Holm family is every comparison that shares
``level``, ``region``, ``feature`` and ``subject``: one panel of a figure (one region, one level)
shows a subset of these comparisons, so the correction is the panel's or slightly more conservative.
``significant`` flags raw p < alpha (the paper's asterisk), ``significant_holm`` the corrected one.

Beside the tests, :func:`summarise` gives every bar of the figures: the mean across participants and
its standard error per (family, variant, region, feature) (``alignment_summary``,
``lowlevel_summary``), and :func:`run_voxel_differences` every flatmap: the per-voxel difference
of the reference variant and each other variant of a family for one participant. The jobs take
explicit paths and a frozen :class:`StatisticsSettings` built from the ``statistics`` config section.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import h5py
import numpy as np
import pandas as pd
from scipy import stats

from braintune.utils import read_dataset, read_tsv

log = logging.getLogger(__name__)

ALL = "all"
HOLM_KEYS = ("level", "region", "feature", "subject")


# --- primitives -----------------------------------------------------------------------------


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1); NaN stays NaN and
    does not count as a test."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


@dataclass
class WilcoxonResult:
    n: int
    statistic: float
    p: float
    mean_reference: float
    mean_other: float
    median_difference: float


def paired_wilcoxon(reference: Sequence[float], other: Sequence[float], alternative: str = "two-sided") -> WilcoxonResult:
    """Wilcoxon signed-rank test of paired samples (``reference - other``); pairs with a NaN are dropped.

    ``p`` is NaN when fewer than one non-zero difference remains (no test possible).
    """
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(other, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired_wilcoxon: samples differ in shape {a.shape} vs {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    n = int(a.size)
    diff = a - b
    mean_a = float(a.mean()) if n else float("nan")
    mean_b = float(b.mean()) if n else float("nan")
    median = float(np.median(diff)) if n else float("nan")
    if n == 0 or not np.any(diff != 0):
        return WilcoxonResult(n, float("nan"), float("nan"), mean_a, mean_b, median)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)  # small n: exact distribution notes
        result = stats.wilcoxon(a, b, alternative=alternative)
    return WilcoxonResult(n, float(result.statistic), float(result.pvalue), mean_a, mean_b, median)


# --- comparisons ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """``reference`` (family, variant) tested against ``other`` (family, variant)."""

    reference_family: str
    reference_variant: str
    family: str
    variant: str


def comparisons(
    available: Iterable[tuple[str, str]],
    reference_variant: str,
    cross_family: Sequence[Comparison] = (),
) -> list[Comparison]:
    """Reference variant vs each other variant within a family, plus the configured cross pairs
    whose both sides are available (a configured family without results is skipped, logged).

    Raises:
        ValueError: no available (family, variant) has ``reference_variant`` (statistics.reference_variant).
    """
    available = list(dict.fromkeys(available))
    have = set(available)
    if not any(variant == reference_variant for _, variant in available):
        raise ValueError(
            f"statistics.reference_variant '{reference_variant}' has no results "
            f"(variants with results: {sorted({v for _, v in available})})"
        )
    out = []
    for family, variant in available:
        if variant != reference_variant and (family, reference_variant) in have:
            out.append(Comparison(family, reference_variant, family, variant))
    for c in cross_family:
        if (c.reference_family, c.reference_variant) in have and (c.family, c.variant) in have:
            out.append(c)
        else:
            log.info("cross-family comparison %s skipped: a side has no results", c)
    return out


def _add_holm(table: pd.DataFrame, alpha: float) -> pd.DataFrame:
    if table.empty:
        return table
    table = table.copy()
    table["p_holm"] = np.nan
    for _, index in table.groupby(list(HOLM_KEYS), dropna=False).groups.items():
        table.loc[index, "p_holm"] = holm(table.loc[index, "p"].to_numpy())
    table["significant"] = table["p"] < alpha
    table["significant_holm"] = table["p_holm"] < alpha
    return table


def _row(level: str, comp: Comparison, region: str, feature: str, subject: str, res: WilcoxonResult) -> dict:
    return {
        "level": level,
        "reference_family": comp.reference_family,
        "reference_variant": comp.reference_variant,
        "family": comp.family,
        "variant": comp.variant,
        "region": region,
        "feature": feature,
        "subject": subject,
        "n": res.n,
        "statistic": res.statistic,
        "p": res.p,
        "mean_reference": res.mean_reference,
        "mean_other": res.mean_other,
        "median_difference": res.median_difference,
    }


def participant_tests(
    per_subject: pd.DataFrame,
    value: str,
    comps: Sequence[Comparison],
    alternative: str,
) -> list[dict]:
    """Across participants: ``per_subject`` has family, variant, subject, region, feature and ``value``."""
    rows = []
    for (region, feature), block in per_subject.groupby(["region", "feature"], sort=False):
        wide = block.pivot_table(index="subject", columns=["family", "variant"], values=value, aggfunc="mean")
        for comp in comps:
            ref_key, other_key = (comp.reference_family, comp.reference_variant), (comp.family, comp.variant)
            if ref_key not in wide.columns or other_key not in wide.columns:
                continue
            res = paired_wilcoxon(wide[ref_key].to_numpy(), wide[other_key].to_numpy(), alternative)
            rows.append(_row("participants", comp, region, feature, ALL, res))
    return rows


# --- tables ---------------------------------------------------------------------------------


def read_tables(paths: Iterable[str | os.PathLike], required: Sequence[str]) -> pd.DataFrame:
    """Concatenate per-job TSVs (alignment or low-level rows) that have the columns ``required``."""
    frames = [read_tsv(path, required) for path in paths]
    if not frames:
        raise ValueError("statistics: no input tables")
    return pd.concat(frames, ignore_index=True)


def summarise(
    table: pd.DataFrame,
    value: str,
    groups: Sequence[str] = ("family", "variant"),
    unit: str = "subject",
) -> pd.DataFrame:
    """Mean, standard error and count of ``value`` across ``unit`` (participants) per ``groups``.

    Rows sharing (groups, unit) are first averaged (e.g. several layers of one participant), so
    each participant counts once. ``se`` = sample standard deviation (ddof 1) / sqrt(n): the
    standard error of the mean across participants; NaN when n < 2. Non-finite values are dropped.
    """
    missing = [c for c in (*groups, unit, value) if c not in table.columns]
    if missing:
        raise KeyError(f"summarise: table lacks column(s) {missing}; has {list(table.columns)}")
    data = table[list(groups) + [unit, value]].copy()
    data[value] = pd.to_numeric(data[value], errors="coerce")
    data = data[np.isfinite(data[value])]
    per_unit = data.groupby(list(groups) + [unit], sort=False)[value].mean().reset_index()
    g = per_unit.groupby(list(groups), sort=False)[value]
    out = g.agg(mean="mean", std=lambda x: x.std(ddof=1) if len(x) > 1 else np.nan, n="count").reset_index()
    out["se"] = out["std"] / np.sqrt(out["n"])
    return out.drop(columns="std")


SUMMARY_GROUPS = ("family", "variant", "region", "feature")


def summary_table(per_subject: pd.DataFrame, value: str) -> pd.DataFrame:
    """Every bar of the figures: ``mean``, ``se`` and ``n`` of ``value`` across participants per
    (family, variant, region, feature) of a per-participant table."""
    return summarise(per_subject, value, SUMMARY_GROUPS)


def alignment_per_subject(table: pd.DataFrame) -> pd.DataFrame:
    """B averaged over layers per (family, variant, subject, region); ``feature`` = ``all``."""
    keys = ["family", "variant", "subject", "region"]
    out = table.groupby(keys, sort=False).agg(B=("B", "mean"), n_layers=("layer", "nunique"),
                                              n_voxels=("n_voxels", "first")).reset_index()
    out["feature"] = ALL
    return out


def lowlevel_per_subject(table: pd.DataFrame) -> pd.DataFrame:
    """R, B_o and B_r averaged over layers per feature, and over layers and features (``all``)."""
    keys = ["family", "variant", "subject", "region"]
    agg = dict(R=("R", "mean"), B_o=("B_o", "mean"), B_r=("B_r", "mean"), n_layers=("layer", "nunique"),
               n_voxels=("n_voxels", "first"))
    per_feature = table.groupby(keys + ["feature"], sort=False).agg(**agg).reset_index()
    overall = table.groupby(keys, sort=False).agg(**agg).reset_index()
    overall["feature"] = ALL
    return pd.concat([per_feature, overall], ignore_index=True)


@dataclass
class VoxelSource:
    """Per-voxel results of one (family, variant, subject) and the subject's masks."""

    family: str
    variant: str
    subject: str
    path: str
    noise_ceiling: str
    regions: str


def _read_masks(source: VoxelSource) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    from braintune.alignment.encoding import ALL_REGION
    from braintune.preprocess.noise_ceiling import read_noise_ceiling
    from braintune.preprocess.regions import read_regions

    _, mask = read_noise_ceiling(source.noise_ceiling)
    regions = read_regions(source.regions)
    regions[ALL_REGION] = np.ones_like(mask)
    return mask, regions


def voxel_tests(
    sources: Sequence[VoxelSource],
    datasets: dict[str, str],
    comps: Sequence[Comparison],
    alternative: str,
) -> list[dict]:
    """Across voxels within each participant and region.

    ``datasets`` maps a ``feature`` label to the HDF5 dataset holding the per-voxel value (e.g.
    ``{"all": "layer_mean/nc_norm"}``).
    """
    index = {(s.family, s.variant, s.subject): s for s in sources}
    subjects = list(dict.fromkeys(s.subject for s in sources))
    rows = []
    for subject in subjects:
        masks = None
        cache: dict[tuple[str, str, str], np.ndarray] = {}

        def values(family: str, variant: str, dataset: str) -> np.ndarray | None:
            source = index.get((family, variant, subject))
            if source is None:
                return None
            key = (family, variant, dataset)
            if key not in cache:
                cache[key] = read_voxels(source.path, dataset).astype(np.float64)
            return cache[key]

        for comp in comps:
            for feature, dataset in datasets.items():
                ref = values(comp.reference_family, comp.reference_variant, dataset)
                other = values(comp.family, comp.variant, dataset)
                if ref is None or other is None:
                    continue
                if masks is None:
                    masks = _read_masks(index[(comp.family, comp.variant, subject)])
                nc_mask, regions = masks
                for region, voxels in regions.items():
                    select = voxels & nc_mask
                    res = paired_wilcoxon(ref[select], other[select], alternative)
                    rows.append(_row("voxels", comp, region, feature, subject, res))
    return rows


def wilcoxon_table(rows: list[dict], alpha: float, config_hash: str) -> pd.DataFrame:
    """Tidy Wilcoxon table with Holm-corrected p-values and flags."""
    columns = list(_row("x", Comparison("", "", "", ""), "", "", "", WilcoxonResult(0, 0, 0, 0, 0, 0)))
    table = pd.DataFrame(rows, columns=columns)
    table = _add_holm(table, alpha)
    if table.empty:
        table = pd.DataFrame(columns=columns + ["p_holm", "significant", "significant_holm"])
    table["config_hash"] = config_hash
    return table


#: Columns the summary and Wilcoxon tables always have (what the figures read).
SUMMARY_COLUMNS = ("family", "variant", "region", "feature", "mean", "se", "n")
WILCOXON_COLUMNS = ("level", "reference_family", "reference_variant", "family", "variant", "region", "feature",
                    "subject", "significant", "significant_holm")


def read_summary(path: str | os.PathLike) -> pd.DataFrame:
    """An ``alignment_summary`` or ``lowlevel_summary`` table (mean +- SE across participants)."""
    return read_tsv(path, SUMMARY_COLUMNS)


def read_wilcoxon(path: str | os.PathLike) -> pd.DataFrame:
    """A ``wilcoxon_alignment`` or ``wilcoxon_lowlevel`` table."""
    return read_tsv(path, WILCOXON_COLUMNS)


def write_tsv(table: pd.DataFrame, path: str | os.PathLike, float_format: str | None = "%.6g") -> None:
    """A TSV, atomically (``float_format`` None: every float to full precision)."""
    from braintune.utils import atomic_output

    with atomic_output(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format=float_format)


#: Tables written to full float precision: the figures draw their numbers as they are.
FULL_PRECISION = ("alignment_summary", "lowlevel_summary")


# --- settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatisticsSettings:
    """The ``statistics`` config section: every key changes the tables."""

    reference_variant: str
    cross_family: tuple[Comparison, ...]
    alpha: float
    alternative: str
    voxel_level: bool

    @classmethod
    def from_config(cls, section: Mapping) -> "StatisticsSettings":
        keys = ("reference_family", "reference_variant", "family", "variant")
        cross = []
        for i, pair in enumerate(section["cross_family"] or []):
            missing = [k for k in keys if k not in pair]
            if missing:
                raise KeyError(f"statistics.cross_family[{i}]: missing key(s) {missing} (needs {list(keys)})")
            cross.append(Comparison(*(pair[k] for k in keys)))
        if section["alternative"] not in ("two-sided", "greater", "less"):
            raise ValueError(
                f"statistics.alternative must be two-sided, greater or less, got {section['alternative']!r}"
            )
        return cls(section["reference_variant"], tuple(cross), float(section["alpha"]), section["alternative"],
                   bool(section["voxel_level"]))


# --- the job --------------------------------------------------------------------------------


def _with_hash(summary: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Carry each (family, variant, subject)'s config hash from the per-job rows to a summary."""
    keys = ["family", "variant", "subject"]
    if "config_hash" not in rows:
        return summary
    return summary.merge(rows.drop_duplicates(keys)[keys + ["config_hash"]], on=keys, how="left")


def _analysis(
    name: str,
    rows_table: pd.DataFrame,
    summarise_subjects,
    value: str,
    sources: Sequence[VoxelSource],
    datasets: dict[str, str],
    settings: StatisticsSettings,
    config_hash: str,
) -> dict[str, pd.DataFrame]:
    """The per-job rows, their per-subject summary, the summary across participants and the
    Wilcoxon table of one analysis."""
    per_subject = _with_hash(summarise_subjects(rows_table), rows_table)
    available = list(per_subject[["family", "variant"]].drop_duplicates().itertuples(index=False, name=None))
    comps = comparisons(available, settings.reference_variant, settings.cross_family)
    rows = participant_tests(per_subject, value, comps, settings.alternative)
    if settings.voxel_level:
        rows += voxel_tests(sources, datasets, comps, settings.alternative)
    log.info("%s: %d rows, %d comparisons, %d tests", name, len(rows_table), len(comps), len(rows))
    return {
        name: rows_table,
        f"{name}_subject": per_subject,
        f"{name}_summary": summary_table(per_subject, value),
        f"wilcoxon_{name}": wilcoxon_table(rows, settings.alpha, config_hash),
    }


def run_statistics(
    alignment: Sequence[VoxelSource],
    alignment_tables: Sequence[str | os.PathLike],
    lowlevel: Sequence[VoxelSource],
    lowlevel_tables: Sequence[str | os.PathLike],
    lowlevel_features: Sequence[str],
    outputs: Mapping[str, str | os.PathLike],
    settings: StatisticsSettings,
    config_hash: str,
) -> dict[str, pd.DataFrame]:
    """Every statistics table of the alignment and low-level analyses (docs/artifacts.md).

    ``outputs`` maps ``alignment``, ``alignment_subject``, ``alignment_summary``,
    ``wilcoxon_alignment`` and, when low-level results are given, ``lowlevel``, ``lowlevel_subject``,
    ``lowlevel_summary``, ``wilcoxon_lowlevel`` to TSV paths.
    """
    keys = ("family", "variant", "subject", "region", "layer")
    tables: dict[str, pd.DataFrame] = {}
    tables.update(_analysis("alignment", read_tables(alignment_tables, (*keys, "n_voxels", "B")),
                            alignment_per_subject, "B", alignment, {ALL: "layer_mean/nc_norm"}, settings,
                            config_hash))
    if lowlevel_tables:
        datasets = {ALL: "layer_mean/drop", **{f: f"{f}/layer_mean/drop" for f in lowlevel_features}}
        rows = read_tables(lowlevel_tables, (*keys, "feature", "n_voxels", "B_o", "B_r", "R"))
        tables.update(_analysis("lowlevel", rows, lowlevel_per_subject, "R", lowlevel, datasets, settings, config_hash))
    for name, table in tables.items():
        if name in outputs:
            write_tsv(table, outputs[name], None if name in FULL_PRECISION else "%.6g")
    return tables


# --- per-voxel differences (the flatmaps) -----------------------------------------------------

#: Per-voxel values whose reference-minus-variant difference the flatmaps draw: dataset of the
#: alignment / low-level file -> group of the differences file.
VOXEL_DIFFERENCES = {
    "alignment": {"layer_mean/rho": "alignment/rho", "layer_mean/nc_norm": "alignment/nc_norm"},
    "lowlevel": {"layer_mean/drop": "lowlevel/drop"},
}


def read_voxels(path: str | os.PathLike, dataset: str) -> np.ndarray:
    """A per-voxel float32 vector (e.g. ``layer_mean/nc_norm``) of an alignment or low-level HDF5 file."""
    return read_dataset(path, dataset).astype(np.float32)


def read_difference(path: str | os.PathLike, dataset: str) -> np.ndarray:
    """A per-voxel difference (e.g. ``alignment/nc_norm/{variant}``) of a ``voxels/{family}/{subject}.h5``
    written by :func:`run_voxel_differences`."""
    return read_dataset(path, dataset).astype(np.float32)


def voxel_difference(reference_path: str | os.PathLike, other_path: str | os.PathLike, dataset: str) -> np.ndarray:
    """Per-voxel ``reference - other`` of ``dataset`` (float32; NaN where either is NaN)."""
    a, b = read_voxels(reference_path, dataset), read_voxels(other_path, dataset)
    if a.shape != b.shape:
        raise ValueError(f"{reference_path} and {other_path}: '{dataset}' shapes differ ({a.shape} vs {b.shape})")
    return a - b


def run_voxel_differences(
    alignment: Mapping[str, str | os.PathLike],
    lowlevel: Mapping[str, str | os.PathLike],
    reference_variant: str,
    out_h5: str | os.PathLike,
    labels: Mapping[str, str],
) -> list[str]:
    """Per-voxel differences of one family and participant (``results/statistics/voxels``): for each
    variant ``v`` other than ``reference_variant``, ``alignment/{rho,nc_norm}/{v}`` and
    ``lowlevel/drop/{v}`` = reference minus ``v`` of the layer-mean values. ``alignment`` and
    ``lowlevel`` map each variant to its result file. Returns the datasets written."""
    from braintune.utils import atomic_output

    written = []
    with atomic_output(out_h5) as tmp, h5py.File(tmp, "w") as handle:
        for key, value in labels.items():
            handle.attrs[key] = str(value)
        handle.attrs["reference_variant"] = reference_variant
        for kind, files in (("alignment", alignment), ("lowlevel", lowlevel)):
            if reference_variant not in files:
                raise KeyError(f"statistics.reference_variant '{reference_variant}': no {kind} file "
                               f"(variants: {sorted(files)})")
            for variant, path in files.items():
                if variant == reference_variant:
                    continue
                for dataset, group in VOXEL_DIFFERENCES[kind].items():
                    name = f"{group}/{variant}"
                    handle.create_dataset(name, data=voxel_difference(files[reference_variant], path, dataset))
                    written.append(name)
    return written


# --- data-efficiency curve (the follow-up: Moussa & Toneva, NeurIPS 2025) ----------------------

#: Columns of the curve rows of braintune.alignment.curve.run_curve that the curve tables read.
CURVE_COLUMNS = ("family", "variant", "subject", "region", "layer", "B", "n_stories", "n_rows", "minutes")


def curve_group(variant: str, subject: str, seen_subjects: Sequence[str]) -> str:
    """``seen`` / ``new`` for the multi-participant variant (whether ``subject`` is one of its training
    participants), ``other`` for a donor variant (``braintuned_<donor>``: another participant's checkpoint),
    ``own`` for a per-subject checkpoint (tuned on that subject), ``none`` for a shared one."""
    from braintune.config import MULTI_VARIANT, is_shared_variant, variant_donor

    if variant == MULTI_VARIANT:
        return "seen" if subject in seen_subjects else "new"
    donor = variant_donor(variant)
    if donor is not None:
        return "own" if subject == donor else "other"
    return "none" if is_shared_variant(variant) else "own"


def run_curve_tables(
    curve_paths: Iterable[str | os.PathLike],
    reference_variant: str,
    seen_subjects: Sequence[str],
    outputs: Mapping[str, str | os.PathLike],
    alternative: str = "two-sided",
) -> dict[str, pd.DataFrame]:
    """The tables of the data-efficiency figure from every curve TSV, written to ``outputs``:

    * ``curve``: per (family, variant, subject, region, n_stories) B averaged over layers, the minutes and the
      participant's ``group`` (:func:`curve_group`);
    * ``curve_summary``: the mean and standard error across the participants of each (family, variant, group,
      region, n_stories) and, for every variant, the group ``all`` (every participant);
    * ``curve_tests``: per family, region and variant other than ``reference_variant`` (pretrained), the paired
      Wilcoxon test at every size across participants (:func:`braintune.alignment.curve.curve_tests`, Holm over
      the sizes);
    * ``curve_folds``: per family, variant, group and region, the fold reduction of the group's mean curve
      against the reference variant's mean full-data B over the same participants
      (:func:`braintune.alignment.curve.fold_reduction`).
    """
    from braintune.alignment.curve import curve_tests, fold_reduction

    rows = read_tables(curve_paths, CURVE_COLUMNS)
    keys = ["family", "variant", "subject", "region", "n_stories"]
    per_subject = rows.groupby(keys, sort=False).agg(B=("B", "mean"), minutes=("minutes", "first")).reset_index()
    per_subject["group"] = [curve_group(v, s, seen_subjects) for v, s in zip(per_subject["variant"], per_subject["subject"], strict=True)]
    grouped = pd.concat([per_subject, per_subject.assign(group="all")], ignore_index=True)
    summary = (grouped.groupby(["family", "variant", "group", "region", "n_stories"], sort=False)
               .agg(mean=("B", "mean"), se=("B", lambda b: stats.sem(b) if len(b) > 1 else np.nan),
                    n=("B", "size"), minutes=("minutes", "mean"))
               .reset_index())
    tests, folds = [], []
    for (family, region), part in per_subject.groupby(["family", "region"], sort=False):
        reference = part[part["variant"] == reference_variant]
        if reference.empty:
            raise ValueError(f"curve tables: no {reference_variant} curve of {family} (the reference of the tests)")
        ref_curves = {s: dict(zip(g["n_stories"], g["B"], strict=True)) for s, g in reference.groupby("subject")}
        full = int(reference["n_stories"].max())
        for variant, vpart in part[part["variant"] != reference_variant].groupby("variant", sort=False):
            curves = {s: dict(zip(g["n_stories"], g["B"], strict=True)) for s, g in vpart.groupby("subject")}
            table = curve_tests(curves, {s: ref_curves[s] for s in curves}, alternative)
            tests.append(table.assign(family=family, region=region, variant=variant, reference_variant=reference_variant))
            for group in ["all", *dict.fromkeys(vpart["group"])]:
                members = vpart if group == "all" else vpart[vpart["group"] == group]
                subjects = sorted(set(members["subject"]))
                mean_curve = members.groupby("n_stories")["B"].mean().to_dict()
                minutes_of = members.groupby("n_stories")["minutes"].mean().to_dict()
                ref_full = float(reference[(reference["n_stories"] == full) & reference["subject"].isin(subjects)]["B"].mean())
                fold = fold_reduction(mean_curve, ref_full, minutes_of)
                folds.append({"family": family, "variant": variant, "group": group, "region": region,
                              "subjects": ",".join(subjects), "reference_variant": reference_variant,
                              "reference_full_B": ref_full, **fold.__dict__})
    front = ["family", "variant", "reference_variant", "region"]
    tables = {
        "curve": per_subject,
        "curve_summary": summary,
        "curve_tests": pd.concat(tests, ignore_index=True)[front + ["size", "n", "statistic", "p", "p_holm", "mean_model",
                                                                     "mean_reference", "median_difference"]]
        if tests else pd.DataFrame(columns=front + ["size", "n", "statistic", "p", "p_holm"]),
        "curve_folds": pd.DataFrame(folds),
    }
    for name, table in tables.items():
        write_tsv(table, outputs[name], float_format=None if name == "curve_summary" else "%.6g")
    return tables
