"""Grouped bar plots (groups x hues, e.g. model families x variants) with the standard error
across participants and significance asterisks: the paper's Figs. 2a/b, 3a/b, 5, 6, 7 (and reused
by the downstream figures). The numbers come from tables (mean and standard error:
:func:`braintune.statistics.summarise`; significance: the Wilcoxon tables' flags).

Stable API: :func:`grouped_bars` (draws one panel and returns a :class:`BarPlot` with every bar
patch and asterisk text), :func:`add_legend`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from braintune.figures import style


@dataclass
class BarPlot:
    """What :func:`grouped_bars` drew: the axes, bar patches and error bars by (group, hue), and
    the significance texts (``marks``: (group, hue) -> Text; ``bracket_marks``: (group, hue_a,
    hue_b) -> Text)."""

    ax: object
    bars: dict = field(default_factory=dict)
    errorbars: dict = field(default_factory=dict)
    marks: dict = field(default_factory=dict)
    bracket_marks: dict = field(default_factory=dict)
    hues: list = field(default_factory=list)


def _lookup(summary: pd.DataFrame, group_col: str, hue_col: str) -> dict:
    return {(row[group_col], row[hue_col]): row for _, row in summary.iterrows()}


def grouped_bars(
    ax,
    summary: pd.DataFrame,
    groups: Sequence[str] | None = None,
    hues: Sequence[str] | None = None,
    *,
    group_col: str = "family",
    hue_col: str = "variant",
    value: str = "mean",
    err: str | None = "se",
    marks: Mapping[tuple[str, str], bool] | None = None,
    brackets: Sequence[tuple[str, str, str, bool]] = (),
    group_label: Callable[[str], str] = style.family_label,
    hue_label: Callable[[str], str] = style.variant_label,
    hue_color: Callable[[str], str] = style.variant_color,
    hue_hatch: Callable[[str], str | None] | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    width: float = 0.8,
    legend: bool = False,
) -> BarPlot:
    """Draw one panel of bars: x = ``groups`` (families), one bar per hue (variant) in each group.

    ``summary`` has ``group_col``, ``hue_col``, ``value`` and (unless ``err`` is None) ``err``
    (e.g. a summary table of the statistics stage). Missing (group, hue) pairs leave a gap. ``marks``
    maps a bar (group, hue) to a significance flag: an asterisk is drawn above that bar when True
    (the paper: ``*`` on the brain-tuned bar when it differs from pretrained). ``brackets`` are
    ``(group, hue_a, hue_b, significant)``: a bracket joining the two bars of a group with an
    asterisk when significant. Bars with negative values get their asterisk below.
    """
    missing = [c for c in (group_col, hue_col, value, *([err] if err else [])) if c not in summary.columns]
    if missing:
        raise KeyError(f"grouped_bars: the table lacks column(s) {missing}; has {list(summary.columns)}")
    lookup = _lookup(summary, group_col, hue_col)
    if groups is None:
        groups = style.order_families(summary[group_col])
    if hues is None:
        hues = style.order_variants(summary[hue_col])
    groups, hues = list(groups), list(hues)
    plot = BarPlot(ax=ax, hues=hues)
    n = max(len(hues), 1)
    bar_w = width / n
    x0 = np.arange(len(groups), dtype=float)
    tops: dict[tuple[str, str], float] = {}
    for j, hue in enumerate(hues):
        offset = (j - (n - 1) / 2) * bar_w
        for i, group in enumerate(groups):
            row = lookup.get((group, hue))
            if row is None or not np.isfinite(row[value]):
                continue
            height = float(row[value])
            error = float(row[err]) if err is not None and np.isfinite(row[err]) else 0.0
            (patch,) = ax.bar(x0[i] + offset, height, bar_w * 0.95, color=hue_color(hue), edgecolor="black",
                              linewidth=0.5, label=hue_label(hue), zorder=2,
                              hatch=hue_hatch(hue) if hue_hatch else None)
            plot.bars[(group, hue)] = patch
            if err is not None and error > 0:
                plot.errorbars[(group, hue)] = ax.errorbar(
                    x0[i] + offset, height, yerr=error, fmt="none", ecolor="black", elinewidth=0.8, capsize=2.5,
                    zorder=3)
            tops[(group, hue)] = height + error if height >= 0 else height - error
    finite = [abs(v) for v in tops.values()] or [1.0]
    pad = 0.04 * max(finite) if max(finite) > 0 else 0.01

    for key, significant in (marks or {}).items():
        text = style.asterisk(significant)
        if not text or key not in plot.bars:
            continue
        patch = plot.bars[key]
        top = tops[key]
        below = top < 0
        plot.marks[key] = ax.text(patch.get_x() + patch.get_width() / 2, top + (-pad if below else pad), text,
                                  ha="center", va="top" if below else "bottom", fontsize=12, fontweight="bold",
                                  zorder=4)

    stacked: dict[str, float] = {}  # brackets of one group are stacked, never overlapping
    for group, hue_a, hue_b, significant in brackets:
        text = style.asterisk(significant)
        if not text or (group, hue_a) not in plot.bars or (group, hue_b) not in plot.bars:
            continue
        pa, pb = plot.bars[(group, hue_a)], plot.bars[(group, hue_b)]
        xa, xb = pa.get_x() + pa.get_width() / 2, pb.get_x() + pb.get_width() / 2
        y = max(max(tops[(group, hue_a)], tops[(group, hue_b)]), 0) + 2 * pad
        if group in stacked:
            y = max(y, stacked[group] + 4 * pad)
        stacked[group] = y
        ax.plot([xa, xa, xb, xb], [y, y + pad, y + pad, y], color="black", linewidth=0.8, zorder=4)
        plot.bracket_marks[(group, hue_a, hue_b)] = ax.text(
            (xa + xb) / 2, y + pad, text, ha="center", va="bottom", fontsize=12, fontweight="bold", zorder=4)

    ax.set_xticks(x0)
    ax.set_xticklabels([group_label(g) for g in groups])
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.axhline(0, color="black", linewidth=0.6, zorder=1)
    ax.yaxis.grid(True, linewidth=0.4, alpha=0.5, zorder=0)
    ax.set_axisbelow(True)
    # headroom for the asterisks and brackets
    ymin, ymax = ax.get_ylim()
    ax.set_ylim(ymin, max([ymax, *(y + 5 * pad for y in stacked.values())]) + 4 * pad)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if legend:
        add_legend(ax, hues, hue_label=hue_label, hue_color=hue_color, hue_hatch=hue_hatch)
    return plot


def add_legend(target, hues: Sequence[str], *, hue_label=style.variant_label, hue_color=style.variant_color,
               hue_hatch=None, **kwargs):
    """One legend entry per hue (variant), in order, on an axes or a figure."""
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=hue_color(h), edgecolor="black", linewidth=0.5, label=hue_label(h),
                     hatch=hue_hatch(h) if hue_hatch else None) for h in hues]
    options = dict(loc="best", frameon=False)
    options.update(kwargs)
    return target.legend(handles=handles, **options)
