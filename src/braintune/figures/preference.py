"""Figure 8 of the paper, drawn from the preference stage's table of participant means (``preference_d``:
d per family x variant x layer, mean and SE across participants). This module only draws."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from braintune.figures import style


def fig8(means: pd.DataFrame, pdf: Path, png: Path) -> None:
    """d per layer: brain-tuned (mean +- SE across participants) against pretrained, one panel per family."""
    style.apply_style()
    fams = style.order_families(means.family)
    fig, axes = plt.subplots(1, max(1, len(fams)), figsize=(3.4 * max(1, len(fams)), 3.0), squeeze=False)
    for ax, fam in zip(axes.flat, fams):
        for variant in ("pretrained", "braintuned"):
            g = means[(means.family == fam) & (means.variant == variant)].sort_values("layer")
            if g.empty:
                continue
            ax.errorbar(g["layer"], g["mean"], g["se"].fillna(0), marker="o", capsize=2.5,
                        color=style.variant_color(variant), label=style.variant_label(variant))
        ax.axhline(0, color="black", lw=0.6, ls=":")
        ax.set_title(style.family_label(fam))
        ax.set_xlabel("layer")
        ax.set_ylabel("d (semantic - phonetic distance)")
        ax.legend()
    fig.suptitle("Semantic-phonetic preference")
    fig.tight_layout()
    style.save_figure(fig, [pdf, png])
