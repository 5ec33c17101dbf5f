"""The data-efficiency figure of the follow-up (Moussa & Toneva, NeurIPS 2025): normalised alignment (B,
rho / noise ceiling) against the minutes of alignment training data, one panel per family, one line per
variant and participant group (the multi-participant checkpoint's ``seen`` and ``new`` participants apart),
mean +- standard error across the group's participants.

Drawn from the statistics stage's ``curve_summary`` table only (:func:`braintune.statistics.run_curve_tables`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd

from braintune.figures import style

__all__ = ["GROUP_STYLES", "curve_figure", "make_curve_figure"]

#: Line style and label suffix of each participant group (``none``/``own``: every participant of the variant).
GROUP_STYLES = {"seen": ("-", "seen participants"), "new": ("--", "new participants"), "none": ("-", ""),
                "own": ("-", ""), "other": (":", "other participants")}

SUMMARY_COLUMNS = ("family", "variant", "group", "region", "n_stories", "mean", "se", "minutes")


def curve_figure(summary: pd.DataFrame, region: str):
    """The figure (one panel per family) of ``region``'s rows of ``summary`` (``curve_summary``)."""
    import matplotlib.pyplot as plt

    rows = summary[(summary["region"] == region) & (summary["group"] != "all")]
    if rows.empty:
        raise ValueError(f"curve figure: no curve rows of region '{region}' (regions: {sorted(set(summary['region']))})")
    families = style.order_families(rows["family"])
    fig, axes = plt.subplots(1, len(families), figsize=(max(4.8, 3.6 * len(families)), 3.8), squeeze=False,
                             sharey=True)
    for ax, family in zip(axes[0], families, strict=True):
        part = rows[rows["family"] == family]
        for variant in style.order_variants(part["variant"]):
            for group, (linestyle, suffix) in GROUP_STYLES.items():
                line = part[(part["variant"] == variant) & (part["group"] == group)].sort_values("minutes")
                if line.empty:
                    continue
                label = style.variant_label(variant) + (f", {suffix}" if suffix else "")
                color = style.variant_color(variant)
                ax.plot(line["minutes"], line["mean"], linestyle, marker="o", color=color, label=label)
                ax.fill_between(line["minutes"], line["mean"] - line["se"].fillna(0), line["mean"] + line["se"].fillna(0),
                                color=color, alpha=0.15, linewidth=0)
        ax.set_title(style.family_label(family))
        ax.set_xlabel("Minutes of alignment training data")
    axes[0][0].set_ylabel(f"Normalised alignment\n({style.region_label(region)})")
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes[0][1:]:  # a line only another family has
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    fig.legend(handles, labels, loc="upper center", ncol=2, frameon=False, fontsize="small", bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.07 * ((len(labels) + 1) // 2)))
    return fig


def make_curve_figure(summary_path: str | os.PathLike, region: str, outputs: Sequence[str | os.PathLike]) -> None:
    """Read ``curve_summary`` and write the figure of ``region`` to every path of ``outputs`` (PDF, PNG)."""
    from braintune.utils import read_tsv

    style.apply_style()
    summary = read_tsv(summary_path, SUMMARY_COLUMNS)
    style.save_figure(curve_figure(summary, region), outputs)
