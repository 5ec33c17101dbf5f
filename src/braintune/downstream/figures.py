"""Figures 4, 8, 9, 10, 11 and 12 of the paper from the tidy downstream/preference tables.

Drawn with the figures stage's shared style and bar helpers (:mod:`braintune.figures.style`,
:mod:`braintune.figures.bars`), so every figure of the project uses one palette and one variant order.
Per-participant variants (brain-tuned, random, BigSLM-, LM-tuned) are the mean across participants with
the standard error; shared variants (pretrained, stimulus-tuned) have one value. Scores are layer
averages (paper 4.3), except ASR (one fine-tuned model per checkpoint).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from braintune.figures import bars, style

log = logging.getLogger("braintune.downstream.figures")

#: fig4 panels, in the paper's order (a-f).
FIG4_TASKS = ("asr", "sentence_type", "sequence_understanding", "phonemes", "word_identity", "emotion")
TASK_TITLES = {
    "asr": "ASR", "sentence_type": "Phonetic sentence type", "sequence_understanding": "Sequence understanding",
    "phonemes": "Phonemes", "word_identity": "Word identity", "emotion": "Emotion", "mfcc": "MFCC prediction",
    "fbank": "FBANK prediction",
}
FIG4_VARIANTS = ("pretrained", "bigslm", "random", "braintuned")
REGRESSION = ("mfcc", "fbank")


def metric_of(task: str, metric: str) -> str:
    """The metric column of a task: 1 - WER (ASR), R^2 (MFCC/FBANK) or the plotted F1."""
    return "one_minus_wer" if task == "asr" else "r2" if task in REGRESSION else metric


def ylabel_of(task: str, metric: str) -> str:
    return "1 - WER" if task == "asr" else "R$^2$" if task in REGRESSION else metric.replace("_", " ")


def aggregate(summary: pd.DataFrame, task: str, metric: str) -> pd.DataFrame:
    """Mean, SE and n across owners (participants) of each (family, variant) for one task."""
    sub = summary[(summary.task == task) & (summary.metric == metric_of(task, metric))]
    return bars.summarise(sub, "layer_mean", ("family", "variant"), unit="owner")


def _baseline(baselines: pd.DataFrame, task: str, metric: str) -> float | None:
    row = baselines[(baselines.task == task) & (baselines.metric == metric)]
    return float(row["value"].iloc[0]) if len(row) else None


def _task_grid(summary, baselines, tasks, groups, variants, metric, suptitle, note=None, **bar_kwargs):
    """One panel per task: x = ``groups`` (families), one bar per variant, naive baseline dashed."""
    style.apply_style()
    tasks = [t for t in tasks if (summary.task == t).any()]
    n = max(1, len(tasks))
    cols = min(3, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.8 * cols, 2.9 * rows), squeeze=False)
    shown: list[str] = []
    for k, task in enumerate(tasks):
        ax = axes.flat[k]
        agg = aggregate(summary, task, metric)
        present = [v for v in variants if (agg.variant == v).any()]
        shown += [v for v in present if v not in shown]
        bars.grouped_bars(ax, agg, groups, present, ylabel=ylabel_of(task, metric),
                          title=f"({chr(97 + k)}) {TASK_TITLES.get(task, task)}", **bar_kwargs)
        base = None if task == "asr" or task in REGRESSION else _baseline(baselines, task, metric)
        if base is not None:
            ax.axhline(base, color="black", ls="--", lw=1, zorder=4)
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    if not tasks:
        axes.flat[0].text(0.5, 0.5, note or "no results", ha="center", va="center", transform=axes.flat[0].transAxes)
    if shown:
        legend_kwargs = {k: bar_kwargs[k] for k in ("hue_label", "hue_color") if k in bar_kwargs}
        leg = bars.add_legend(fig, shown, loc="lower center", ncol=min(5, len(shown) + 1),
                              bbox_to_anchor=(0.5, -0.01), **legend_kwargs)
        if any(t not in REGRESSION and t != "asr" for t in tasks):
            from matplotlib.lines import Line2D

            handles = list(leg.legend_handles) + [Line2D([], [], color="black", ls="--", lw=1)]
            labels = [t.get_text() for t in leg.get_texts()] + ["Naive (majority class)"]
            leg.remove()
            fig.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)), bbox_to_anchor=(0.5, -0.01),
                       frameon=False)
    fig.suptitle(suptitle)
    fig.tight_layout(rect=(0, 0.07 + 0.03 * (len(shown) > 4), 1, 1))
    return fig


def data_size_of(variant: str, n_train_stories: int) -> int | None:
    """Training stories of a brain-tuned variant: ``braintuned_n{K}`` -> K; ``braintuned`` -> all."""
    if variant == "braintuned":
        return n_train_stories
    m = re.fullmatch(r"braintuned_n(\d+)", variant)
    return int(m.group(1)) if m else None


def gains(summary: pd.DataFrame, family: str, variant: str, metric: str) -> pd.DataFrame:
    """Brain-tuned minus pretrained score per task: mean and SE across participants."""
    rows = []
    for task in summary.task.unique():
        sel = (summary.task == task) & (summary.metric == metric_of(task, metric)) & (summary.family == family)
        pre = summary.loc[sel & (summary.variant == "pretrained"), "layer_mean"]
        tuned = summary.loc[sel & (summary.variant == variant), "layer_mean"].to_numpy()
        if len(pre) and len(tuned):
            diff = tuned - float(pre.mean())
            se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else 0.0
            rows.append({"task": task, "gain": diff.mean(), "se": se})
    return pd.DataFrame(rows, columns=["task", "gain", "se"])


def _gain_lines(ax, summary, points, metric, tasks):
    """``points``: (x, family, variant); one line per task."""
    for k, task in enumerate(tasks):
        xs, ys, es = [], [], []
        for x, family, variant in points:
            g = gains(summary, family, variant, metric)
            g = g[g.task == task]
            if len(g):
                xs.append(x)
                ys.append(float(g.gain.iloc[0]))
                es.append(float(g.se.iloc[0]))
        if xs:
            ax.errorbar(xs, ys, es, marker="o", capsize=2.5, label=TASK_TITLES.get(task, task), color=f"C{k}")
    ax.axhline(0, color="black", lw=0.6)
    ax.yaxis.grid(True, linewidth=0.4, alpha=0.5)


def fig12(summary: pd.DataFrame, cfg: dict, families: list[str], n_train_stories: int, pdf: Path, png: Path) -> None:
    """Gain from brain-tuning against model size (a) and brain-tuning data size (b)."""
    style.apply_style()
    metric = cfg["metric"]
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6))
    tasks = [t for t in (*FIG4_TASKS, *REGRESSION) if (summary.task == t).any()]
    size_points = []
    for fam in (cfg["base_family"], cfg["large_family"]):
        size = summary.loc[summary.family == fam, "n_parameters"]
        if fam in families and len(size):
            size_points.append((float(size.iloc[0]) / 1e6, fam, "braintuned"))
    _gain_lines(axes[0], summary, size_points, metric, tasks)
    axes[0].set_xlabel("parameters (millions): " + ", ".join(style.family_label(p[1]) for p in size_points))
    axes[0].set_ylabel("brain-tuned - pretrained")
    axes[0].set_title("(a) Gain vs model size")
    fam = cfg["data_size_family"]
    variants = [v for v in summary.loc[summary.family == fam, "variant"].unique() if data_size_of(v, n_train_stories)]
    points = sorted((data_size_of(v, n_train_stories), fam, v) for v in variants)
    _gain_lines(axes[1], summary, points, metric, tasks)
    axes[1].set_xlabel("brain-tuning training stories")
    axes[1].set_title(f"(b) Gain vs data size, {style.family_label(fam)}")
    handles, labels = axes[0].get_legend_handles_labels()
    if not handles:
        handles, labels = axes[1].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=4, frameon=False, bbox_to_anchor=(0.5, -0.02))
    for ax, points_ in zip(axes, (size_points, points)):
        if not points_:
            ax.text(0.5, 0.5, "not configured", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    style.save_figure(fig, [pdf, png])


def downstream_figures(summary: pd.DataFrame, baselines: pd.DataFrame, cfg: dict, families: list[str],
                       n_train_stories: int, out: dict[str, Path]) -> None:
    """Write figs 4, 9, 10, 11, 12 (``out`` keys ``fig4_pdf``, ``fig4_png``, ...)."""
    metric = cfg["metric"]
    fams = style.order_families(f for f in families if (summary.family == f).any())
    main = [f for f in fams if f != cfg["large_family"]]
    fig = _task_grid(summary, baselines, FIG4_TASKS, main, FIG4_VARIANTS, metric, "Downstream task performance")
    style.save_figure(fig, [out["fig4_pdf"], out["fig4_png"]])
    fig = _task_grid(summary, baselines, REGRESSION, main, ("pretrained", "bigslm", "braintuned"), metric,
                     "Low-level task performance")
    style.save_figure(fig, [out["fig9_pdf"], out["fig9_png"]])
    comp = cfg["comparison_family"]
    variants = style.order_variants(summary.loc[summary.family == comp, "variant"])
    fig = _task_grid(summary, baselines, (*FIG4_TASKS, *REGRESSION), [comp], variants, metric,
                     f"All comparison models, {style.family_label(comp)}")
    style.save_figure(fig, [out["fig10_pdf"], out["fig10_png"]])
    large, base = cfg["large_family"], cfg["base_family"]
    if large in fams and base in fams:
        keep = ((summary.family == large) & (summary.variant == "pretrained")) | (
            (summary.family == base) & summary.variant.isin(["pretrained", "braintuned"]))
        sub = summary[keep].copy()
        sub["variant"] = sub["family"] + ":" + sub["variant"]
        sub["family"] = "hubert_sizes"
        hues = [f"{base}:pretrained", f"{base}:braintuned", f"{large}:pretrained"]

        def label(h):
            fam, var = h.split(":")
            return f"{style.family_label(fam)} {style.variant_label(var).lower()}"

        def colour(h):
            fam, var = h.split(":")
            return "#1f3a5f" if fam == large else style.variant_color(var)

        fig = _task_grid(sub, baselines, FIG4_TASKS, ["hubert_sizes"], hues, metric,
                         f"{style.family_label(large)} pretrained vs brain-tuned {style.family_label(base)}",
                         hue_label=label, hue_color=colour, group_label=lambda g: "")
    else:
        fig = _task_grid(summary.iloc[:0], baselines, FIG4_TASKS, [], [], metric, "HuBERT large comparison",
                         note=f"models.{large} is not configured")
    style.save_figure(fig, [out["fig11_pdf"], out["fig11_png"]])
    fig12(summary, cfg, fams, n_train_stories, out["fig12_pdf"], out["fig12_png"])


def fig8(table: pd.DataFrame, pdf: Path, png: Path) -> None:
    """d per layer: brain-tuned (mean +- SE across participants) against pretrained, one panel per family."""
    style.apply_style()
    fams = style.order_families(table.family)
    fig, axes = plt.subplots(1, max(1, len(fams)), figsize=(3.4 * max(1, len(fams)), 3.0), squeeze=False)
    for ax, fam in zip(axes.flat, fams):
        for variant in ("pretrained", "braintuned"):
            sub = table[(table.family == fam) & (table.variant == variant)]
            if sub.empty:
                continue
            g = bars.summarise(sub, "d", ("layer",), unit="owner").sort_values("layer")
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
