"""Figures 4, 9, 10, 11 and 12 of the paper, drawn from the downstream stage's table of participant means
(``downstream_collect``: per family x variant x task the plotted metric's mean, SE and n across
participants, the majority-class baseline, the gain over pretrained, the family's size and the variant's
brain-tuning data size). This module only draws.

Drawn with the figures stage's shared style and bar helpers (:mod:`braintune.figures.style`,
:mod:`braintune.figures.bars`), so every figure of the project uses one palette and one variant order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from braintune.figures import bars, style

log = logging.getLogger("braintune.figures.downstream")

#: fig4 panels, in the paper's order (a-f).
FIG4_TASKS = ("asr", "sentence_type", "sequence_understanding", "phonemes", "word_identity", "emotion")
REGRESSION = ("mfcc", "fbank")
TASK_TITLES = {
    "asr": "ASR", "sentence_type": "Phonetic sentence type", "sequence_understanding": "Sequence understanding",
    "phonemes": "Phonemes", "word_identity": "Word identity", "emotion": "Emotion", "mfcc": "MFCC prediction",
    "fbank": "FBANK prediction",
}
METRIC_LABELS = {"one_minus_wer": "1 - WER", "r2": "R$^2$"}
FIG4_VARIANTS = ("pretrained", "bigslm", "random", "braintuned")
FIGURES = ("fig4", "fig9", "fig10", "fig11", "fig12")


@dataclass(frozen=True)
class DownstreamFigureSettings:
    """What the downstream figures show (``figures.downstream``; the metric, ``downstream.metric``, is applied by
    the downstream stage when it writes the table) and the configured families (``models``), whose order breaks
    ties of the paper's family order."""

    comparison_family: str
    large_family: str
    base_family: str
    data_size_family: str
    families: tuple[str, ...]

    @classmethod
    def from_config(cls, section: dict, families) -> "DownstreamFigureSettings":
        return cls(section["comparison_family"], section["large_family"], section["base_family"],
                   section["data_size_family"], tuple(families))


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def _task_grid(means, tasks, groups, variants, suptitle, note=None, **bar_kwargs):
    """One panel per task: x = ``groups`` (families), one bar per variant, naive baseline dashed."""
    style.apply_style()
    tasks = [t for t in tasks if (means.task == t).any()]
    n = max(1, len(tasks))
    cols = min(3, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.8 * cols, 2.9 * rows), squeeze=False)
    shown: list[str] = []
    with_baseline = False
    for k, task in enumerate(tasks):
        ax = axes.flat[k]
        agg = means[means.task == task]
        present = [v for v in variants if (agg.variant == v).any()]
        shown += [v for v in present if v not in shown]
        bars.grouped_bars(ax, agg, groups, present, ylabel=metric_label(agg.metric.iloc[0]),
                          title=f"({chr(97 + k)}) {TASK_TITLES.get(task, task)}", **bar_kwargs)
        base = agg.baseline.iloc[0]
        if np.isfinite(base):
            ax.axhline(base, color="black", ls="--", lw=1, zorder=4)
            with_baseline = True
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    if not tasks:
        axes.flat[0].text(0.5, 0.5, note or "no results", ha="center", va="center", transform=axes.flat[0].transAxes)
    if shown:
        legend_kwargs = {k: bar_kwargs[k] for k in ("hue_label", "hue_color") if k in bar_kwargs}
        leg = bars.add_legend(fig, shown, loc="lower center", ncol=min(5, len(shown) + 1),
                              bbox_to_anchor=(0.5, -0.01), **legend_kwargs)
        if with_baseline:
            from matplotlib.lines import Line2D

            handles = list(leg.legend_handles) + [Line2D([], [], color="black", ls="--", lw=1)]
            labels = [t.get_text() for t in leg.get_texts()] + ["Naive (majority class)"]
            leg.remove()
            fig.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)), bbox_to_anchor=(0.5, -0.01),
                       frameon=False)
    fig.suptitle(suptitle)
    fig.tight_layout(rect=(0, 0.07 + 0.03 * (len(shown) > 4), 1, 1))
    return fig


def _gain_lines(ax, means, points, tasks):
    """``points``: (x, family, variant); one line per task."""
    for k, task in enumerate(tasks):
        xs, ys, es = [], [], []
        for x, family, variant in points:
            g = means[(means.task == task) & (means.family == family) & (means.variant == variant)
                      & np.isfinite(means.gain)]
            if len(g):
                xs.append(x)
                ys.append(float(g.gain.iloc[0]))
                es.append(float(g.gain_se.iloc[0]))
        if xs:
            ax.errorbar(xs, ys, es, marker="o", capsize=2.5, label=TASK_TITLES.get(task, task), color=f"C{k}")
    ax.axhline(0, color="black", lw=0.6)
    ax.yaxis.grid(True, linewidth=0.4, alpha=0.5)


def fig12(means: pd.DataFrame, settings: DownstreamFigureSettings, pdf: Path, png: Path) -> None:
    """Gain from brain-tuning against model size (a) and brain-tuning data size (b)."""
    style.apply_style()
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6))
    tasks = [t for t in (*FIG4_TASKS, *REGRESSION) if (means.task == t).any()]
    size_points = []
    for fam in (settings.base_family, settings.large_family):
        size = means.loc[means.family == fam, "n_parameters"]
        if len(size):
            size_points.append((float(size.iloc[0]) / 1e6, fam, "braintuned"))
    _gain_lines(axes[0], means, size_points, tasks)
    axes[0].set_xlabel("parameters (millions): " + ", ".join(style.family_label(p[1]) for p in size_points))
    axes[0].set_ylabel("brain-tuned - pretrained")
    axes[0].set_title("(a) Gain vs model size")
    fam = settings.data_size_family
    sized = means[(means.family == fam) & means.train_stories.notna()].drop_duplicates("variant")
    points = sorted((int(k), fam, v) for k, v in zip(sized.train_stories, sized.variant))
    _gain_lines(axes[1], means, points, tasks)
    axes[1].set_xlabel("brain-tuning training stories")
    axes[1].set_title(f"(b) Gain vs data size, {style.family_label(fam)}")
    handles, labels = axes[0].get_legend_handles_labels()
    if not handles:
        handles, labels = axes[1].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=4, frameon=False, bbox_to_anchor=(0.5, -0.02))
    notes = (f"no brain-tuned scores of figures.downstream.base_family '{settings.base_family}' "
             f"or large_family '{settings.large_family}'",
             f"no brain-tuned scores of figures.downstream.data_size_family '{fam}'")
    for ax, points_, note in zip(axes, (size_points, points), notes):
        if not points_:
            ax.text(0.5, 0.5, note, ha="center", va="center", wrap=True, transform=ax.transAxes)
            log.warning("fig12: %s", note)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    style.save_figure(fig, [pdf, png])


def downstream_figures(means: pd.DataFrame, settings: DownstreamFigureSettings, out: dict[str, dict[str, Path]]) -> None:
    """Write figs 4, 9, 10, 11, 12 (``out[name][ext]``, ext ``pdf`` and ``png``)."""
    fams = style.order_families(f for f in settings.families if (means.family == f).any())
    comp = settings.comparison_family
    if comp not in fams:
        raise ValueError(f"figures.downstream.comparison_family '{comp}' has no downstream scores "
                         f"(families with scores: {fams})")
    main = [f for f in fams if f != settings.large_family]
    fig = _task_grid(means, FIG4_TASKS, main, FIG4_VARIANTS, "Downstream task performance")
    style.save_figure(fig, [out["fig4"]["pdf"], out["fig4"]["png"]])
    fig = _task_grid(means, REGRESSION, main, ("pretrained", "bigslm", "braintuned"), "Low-level task performance")
    style.save_figure(fig, [out["fig9"]["pdf"], out["fig9"]["png"]])
    variants = style.order_variants(means.loc[means.family == comp, "variant"])
    fig = _task_grid(means, (*FIG4_TASKS, *REGRESSION), [comp], variants,
                     f"All comparison models, {style.family_label(comp)}")
    style.save_figure(fig, [out["fig10"]["pdf"], out["fig10"]["png"]])
    large, base = settings.large_family, settings.base_family
    if large in fams and base in fams:
        keep = ((means.family == large) & (means.variant == "pretrained")) | (
            (means.family == base) & means.variant.isin(["pretrained", "braintuned"]))
        sub = means[keep].copy()
        sub["variant"] = sub["family"] + ":" + sub["variant"]
        sub["family"] = "hubert_sizes"
        hues = [f"{base}:pretrained", f"{base}:braintuned", f"{large}:pretrained"]

        def label(h):
            fam, var = h.split(":")
            return f"{style.family_label(fam)} {style.variant_label(var).lower()}"

        def colour(h):
            fam, var = h.split(":")
            return "#1f3a5f" if fam == large else style.variant_color(var)

        fig = _task_grid(sub, FIG4_TASKS, ["hubert_sizes"], hues,
                         f"{style.family_label(large)} pretrained vs brain-tuned {style.family_label(base)}",
                         hue_label=label, hue_color=colour, group_label=lambda g: "")
    else:
        fig = _task_grid(means.iloc[:0], FIG4_TASKS, [], [], "HuBERT large comparison",
                         note=f"models.{large} is not configured")
    style.save_figure(fig, [out["fig11"]["pdf"], out["fig11"]["png"]])
    fig12(means, settings, out["fig12"]["pdf"], out["fig12"]["png"])
