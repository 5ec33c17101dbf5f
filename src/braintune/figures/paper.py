"""The paper's alignment and low-level impact figures, drawn from the statistics stage's tables.

Bar figures (2a/b, 3a/b, 5, 6, 7) draw the summary tables (``alignment_summary.tsv``: B;
``lowlevel_summary.tsv``: R, ``feature == "all"``: averaged over layers and low-level features):
each bar is the ``mean`` across participants with its standard error ``se``; an asterisk marks the
reference variant (brain-tuned) when its Wilcoxon test against the baseline (pretrained) is flagged
``significant`` (or ``significant_holm``) in the Wilcoxon tables (docs/decisions.md 10).

Flatmap figures (2c, 3c, 13, 14, 15) draw the per-voxel differences of the statistics stage
(``results/statistics/voxels``: alignment ``{rho|nc_norm}`` and low-level ``drop``, reference minus
variant) and the noise ceilings. Nothing here computes a number the figures show.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from braintune.figures import bars, flatmaps, style  # noqa: E402

log = logging.getLogger(__name__)

ALL = "all"  # the statistics tables' feature/subject value for "averaged"/"across participants"

ALIGNMENT_LABEL = "Normalised brain alignment"
LOWLEVEL_LABEL = "Low-level impact (% drop in alignment)"


# --- significance ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Significance:
    """Which Wilcoxon flag an asterisk shows (``figures`` config section)."""

    reference_variant: str
    baseline_variant: str
    level: str  # participants | voxels (then: significant in every participant)
    p_column: str  # p (the paper) | p_holm: the flag column significant | significant_holm

    @classmethod
    def from_config(cls, figures: Mapping) -> "Significance":
        sig = cls(figures["reference_variant"], figures["baseline_variant"], figures["significance_level"],
                  figures["p_column"])
        if sig.level not in ("participants", "voxels"):
            raise ValueError(f"figures.significance_level must be participants or voxels, got {sig.level!r}")
        if sig.p_column not in FLAG_COLUMNS:
            raise ValueError(f"figures.p_column must be one of {sorted(FLAG_COLUMNS)}, got {sig.p_column!r}")
        return sig

    @property
    def flag(self) -> str:
        return FLAG_COLUMNS[self.p_column]


#: p column of the Wilcoxon tables -> the statistics stage's flag of p < statistics.alpha.
FLAG_COLUMNS = {"p": "significant", "p_holm": "significant_holm"}


def is_significant(wilcoxon: pd.DataFrame, region: str, reference: tuple[str, str], other: tuple[str, str],
                   sig: Significance, feature: str = ALL) -> bool:
    """The flag of the test ``reference`` vs ``other`` (each (family, variant)) in ``region``.

    ``level == participants``: the across-participant test. ``level == voxels``: the participants'
    across-voxel tests, all flagged (an asterisk then means: significant in every participant).
    False when the table has no such test.
    """
    if wilcoxon is None or wilcoxon.empty:
        return False
    need = {"level", "reference_family", "reference_variant", "family", "variant", "region", "feature", "subject",
            sig.flag}
    missing = need - set(wilcoxon.columns)
    if missing:
        raise KeyError(f"Wilcoxon table lacks column(s) {sorted(missing)}")
    rows = wilcoxon[(wilcoxon.level == sig.level) & (wilcoxon.region == region) & (wilcoxon.feature == feature)
                    & (wilcoxon.reference_family == reference[0]) & (wilcoxon.reference_variant == reference[1])
                    & (wilcoxon.family == other[0]) & (wilcoxon.variant == other[1])]
    if sig.level == "participants":
        rows = rows[rows.subject == ALL]
    else:
        rows = rows[rows.subject != ALL]
    flags = rows[sig.flag].astype(str).str.lower() == "true"
    return bool(len(flags) and flags.all())


def reference_marks(wilcoxon: pd.DataFrame, region: str, families: Sequence[str], sig: Significance,
                    feature: str = ALL) -> dict[tuple[str, str], bool]:
    """(family, reference variant) -> whether its test against the baseline is flagged."""
    return {(f, sig.reference_variant): is_significant(wilcoxon, region, (f, sig.reference_variant),
                                                       (f, sig.baseline_variant), sig, feature)
            for f in families}


# --- tables ---------------------------------------------------------------------------------


def select(summary: pd.DataFrame, region: str, families: Sequence[str], variants: Sequence[str],
           feature: str = ALL) -> pd.DataFrame:
    """Bars of one region and feature for the given families and variants."""
    keep = (summary.region == region) & summary.family.isin(families) & summary.variant.isin(variants)
    return summary[keep & (summary.feature == feature)]


def n_participants(bars_rows: pd.DataFrame) -> int:
    """Participants behind a panel's bars (the largest ``n`` of the summary rows)."""
    return int(bars_rows["n"].max())


# --- bar figures ----------------------------------------------------------------------------


@dataclass
class BarFigure:
    """A figure and the :class:`~braintune.figures.bars.BarPlot` of each panel."""

    figure: object
    panels: list = field(default_factory=list)


def region_bars(summary: pd.DataFrame, wilcoxon: pd.DataFrame, regions: Sequence[str], families: Sequence[str],
                variants: Sequence[str], sig: Significance, *, ylabel: str, letters: bool = False,
                panel_size=(4.2, 3.2)) -> BarFigure:
    """One panel per region: families x variants, mean +- SE across participants, asterisks.

    Figs. 2a/2b (one region each), 3a/3b, 6 and 7 (two regions, panels (a), (b)). ``summary``: a
    summary table of the statistics stage (family, variant, region, feature, mean, se, n).
    """
    style.apply_style()
    families = [f for f in style.order_families(families) if f in set(summary.family)]
    variants = [v for v in style.order_variants(variants) if v in set(summary.variant)]
    if not families or not variants:
        raise ValueError(f"no rows for families {families} / variants {variants} in the summary table")
    fig, axes = plt.subplots(1, len(regions), figsize=(panel_size[0] * len(regions), panel_size[1]), squeeze=False)
    out = BarFigure(fig)
    for i, (ax, region) in enumerate(zip(axes[0], regions)):
        rows = select(summary, region, families, variants)
        if rows.empty:
            raise ValueError(f"no summary rows for region '{region}' (regions: {sorted(set(summary.region))})")
        title = f"{style.region_label(region)} (n = {n_participants(rows)})"
        if letters:
            title = f"({chr(ord('a') + i)}) {title}"
        plot = bars.grouped_bars(ax, rows, families, variants, marks=reference_marks(wilcoxon, region, families, sig),
                                 ylabel=ylabel if i == 0 else None, title=title)
        out.panels.append(plot)
    bars.add_legend(fig, variants, loc="upper center", ncol=len(variants), bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return out


@dataclass(frozen=True)
class ScaleComparison:
    """Fig. 5: a base family's pretrained and brain-tuned models against a large family's pretrained
    (``figures.scale``)."""

    base_family: str
    large_family: str
    region: str


def _model_key(family: str, variant: str) -> str:
    return f"{family}/{variant}"


def scale_figure(alignment: pd.DataFrame, lowlevel: pd.DataFrame, wilcoxon_alignment: pd.DataFrame,
                 wilcoxon_lowlevel: pd.DataFrame, comparison: ScaleComparison, sig: Significance) -> BarFigure:
    """Fig. 5: (a) normalised alignment and (b) low-level impact in one region for base pretrained,
    base brain-tuned and large pretrained; brackets with asterisks for brain-tuned base vs each.
    ``alignment``, ``lowlevel``: the statistics stage's summary tables."""
    style.apply_style()
    base, large = comparison.base_family, comparison.large_family
    models = [(base, sig.baseline_variant), (base, sig.reference_variant), (large, sig.baseline_variant)]
    keys = [_model_key(*m) for m in models]
    sizes = {base: "base", large: "large"}
    labels = {_model_key(f, v): f"{style.family_label(base)} {sizes[f]} {style.variant_label(v).lower()}"
              for f, v in models}
    colors = {_model_key(f, v): style.variant_color(v) for f, v in models}
    colors[_model_key(large, sig.baseline_variant)] = "#404040"
    hatches = {k: None for k in keys}
    hatches[_model_key(large, sig.baseline_variant)] = "//"
    ref = (base, sig.reference_variant)
    fig, axes = plt.subplots(1, 2, figsize=(7.0, 3.3))
    out = BarFigure(fig)
    panels = [("a", alignment, "B", wilcoxon_alignment, ALIGNMENT_LABEL, "Normalised alignment"),
              ("b", lowlevel, "R", wilcoxon_lowlevel, LOWLEVEL_LABEL, "Low-level impact")]
    for ax, (letter, table, value, wilcoxon, ylabel, name) in zip(axes, panels):
        rows = table[(table.region == comparison.region) & (table.feature == ALL)]
        rows = rows.assign(model=[_model_key(f, v) for f, v in zip(rows.family, rows.variant)])
        rows = rows[rows.model.isin(keys)].assign(group=comparison.region)
        missing = [k for k in keys if k not in set(rows.model)]
        if missing:
            raise ValueError(f"fig5: no {value} rows for {missing} in region '{comparison.region}'")
        brackets = [(comparison.region, _model_key(*ref), _model_key(*other),
                     is_significant(wilcoxon, comparison.region, ref, other, sig))
                    for other in (models[0], models[2])]
        plot = bars.grouped_bars(
            ax, rows, [comparison.region], keys, group_col="group", hue_col="model", brackets=brackets,
            group_label=lambda r: style.region_label(r), hue_label=labels.get,
            hue_color=colors.get, hue_hatch=hatches.get, ylabel=ylabel,
            title=f"({letter}) {name} (n = {n_participants(rows)})")
        out.panels.append(plot)
    bars.add_legend(fig, keys, hue_label=labels.get, hue_color=colors.get, hue_hatch=hatches.get,
                    loc="upper center", ncol=3, bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    return out


# --- per-voxel values -----------------------------------------------------------------------


def restrict(values: np.ndarray, nc_mask: np.ndarray | None, voxels: str) -> np.ndarray:
    """NaN outside the noise-ceiling mask when ``voxels == "nc_mask"`` (``all``: unchanged)."""
    values = np.asarray(values, dtype=np.float32).copy()
    if voxels == "nc_mask":
        if nc_mask is None or nc_mask.shape != values.shape:
            raise ValueError(f"noise-ceiling mask of shape {getattr(nc_mask, 'shape', None)} does not match "
                             f"{values.shape} voxel values")
        values[~nc_mask] = np.nan
    elif voxels != "all":
        raise ValueError(f"figures.flatmap_voxels must be 'all' or 'nc_mask', got {voxels!r}")
    return values


def nc_panel_values(nc: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fig. 13: the noise ceiling of the voxels above the threshold, NaN elsewhere."""
    out = np.asarray(nc, dtype=np.float32).copy()
    out[~np.asarray(mask, dtype=bool)] = np.nan
    return out


def subject_label(subject: str) -> str:
    """``UTS02`` -> ``Participant 2`` (the paper's naming)."""
    if subject.startswith("UTS") and subject[3:].isdigit():
        return f"Participant {int(subject[3:])}"
    return subject


def difference_flatmaps(panels: Sequence[flatmaps.Panel], *, colorbar_label: str, percentile: float, ncols: int = 2,
                        suptitle: str | None = None, height: int = 1024):
    return flatmaps.difference_figure(panels, colorbar_label=colorbar_label, percentile=percentile, ncols=ncols,
                                      suptitle=suptitle, height=height)


def noise_ceiling_flatmaps(panels: Sequence[flatmaps.Panel], threshold: float, *, ncols: int = 2,
                           height: int = 1024):
    """Fig. 13: voxels above the noise-ceiling threshold, coloured by their noise ceiling."""
    finite = np.concatenate([p.values[np.isfinite(p.values)] for p in panels] + [np.array([threshold + 1e-3])])
    vmax = float(max(np.percentile(finite, 99.5), threshold + 1e-3))
    return flatmaps.flatmap_figure(panels, cmap=style.SEQUENTIAL_CMAP, vmin=threshold, vmax=vmax,
                                   colorbar_label=f"Noise ceiling (cc_max) of voxels above {threshold:g}",
                                   ncols=ncols, height=height, extend="max")
