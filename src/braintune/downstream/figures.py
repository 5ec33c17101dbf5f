"""Figures 4, 8, 9, 10, 11 and 12 of the paper from the tidy downstream/preference tables.

Per-participant variants (brain-tuned, random, BigSLM-, LM-tuned) are shown as the mean across
participants with the standard error; shared variants (pretrained, stimulus-tuned) have one value.
Scores are layer averages (paper 4.3), except ASR (one fine-tuned model per checkpoint).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

log = logging.getLogger("braintune.downstream.figures")

#: fig4 panels, in the paper's order (a-f).
FIG4_TASKS = ("asr", "sentence_type", "sequence_understanding", "phonemes", "word_identity", "emotion")
TASK_TITLES = {
    "asr": "ASR (1 - WER)", "sentence_type": "Phonetic sentence type", "sequence_understanding": "Sequence understanding",
    "phonemes": "Phonemes", "word_identity": "Word identity", "emotion": "Emotion", "mfcc": "MFCC (R$^2$)",
    "fbank": "FBANK (R$^2$)",
}
VARIANT_LABELS = {
    "pretrained": "Pretrained", "braintuned": "Brain-tuned", "random": "Random brain-tuned", "bigslm": "BigSLM-tuned",
    "stimulus": "Stimulus-tuned", "lmtuned_gpt2": "GPT2-tuned", "lmtuned_llama": "Llama2-tuned",
}
FIG4_VARIANTS = ("pretrained", "bigslm", "random", "braintuned")


def _palette() -> dict[str, str]:
    """One colour per variant, shared with the other stages' figures when their style module exists."""
    try:  # the figures stage's shared palette (braintune.figures.style)
        from braintune.figures import style  # type: ignore

        colours = getattr(style, "VARIANT_COLORS", None)
        if colours:
            return dict(colours)
    except ImportError:
        pass
    return {"pretrained": "#7f7f7f", "braintuned": "#d62728", "random": "#bcbd22", "bigslm": "#ff7f0e",
            "stimulus": "#9ecae1", "lmtuned_gpt2": "#4292c6", "lmtuned_llama": "#08519c"}


def metric_of(task: str, metric: str) -> str:
    return "one_minus_wer" if task == "asr" else "r2" if task in ("mfcc", "fbank") else metric


def aggregate(summary: pd.DataFrame, task: str, metric: str) -> pd.DataFrame:
    """Mean and SE across owners of each (family, variant) for one task."""
    sub = summary[(summary.task == task) & (summary.metric == metric_of(task, metric))]
    g = sub.groupby(["family", "variant"])["layer_mean"]
    out = g.agg(["mean", "count", "std"]).reset_index()
    out["se"] = np.where(out["count"] > 1, out["std"] / np.sqrt(out["count"]), 0.0)
    return out


def _label(variant: str) -> str:
    m = re.fullmatch(r"braintuned_n(\d+)", variant)
    return f"Brain-tuned ({m.group(1)} stories)" if m else VARIANT_LABELS.get(variant, variant)


def _bars(ax, agg: pd.DataFrame, groups, variants, baseline: float | None, title: str, ylabel: str) -> None:
    colours = _palette()
    width = 0.8 / max(1, len(variants))
    for j, variant in enumerate(variants):
        xs, ys, es = [], [], []
        for i, group in enumerate(groups):
            row = agg[(agg.family == group) & (agg.variant == variant)]
            if len(row):
                xs.append(i + (j - (len(variants) - 1) / 2) * width)
                ys.append(float(row["mean"].iloc[0]))
                es.append(float(row["se"].iloc[0]))
        if xs:
            ax.bar(xs, ys, width, yerr=es, capsize=2, color=colours.get(variant, f"C{j}"), label=_label(variant))
    if baseline is not None:
        ax.axhline(baseline, color="k", ls="--", lw=1, label="Naive (majority)")
    ax.set_xticks(range(len(groups)), groups)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)


def _baseline(baselines: pd.DataFrame, task: str, metric: str) -> float | None:
    row = baselines[(baselines.task == task) & (baselines.metric == metric)]
    return float(row["value"].iloc[0]) if len(row) else None


def _save(fig, pdf: Path, png: Path) -> None:
    from braintune.utils import atomic_output

    for path in (pdf, png):
        with atomic_output(path) as tmp:
            fig.savefig(tmp, format=path.suffix[1:], dpi=150, bbox_inches="tight")
    plt.close(fig)


def _task_grid(summary, baselines, tasks, groups, variants, metric, suptitle, note=None):
    tasks = [t for t in tasks if (summary.task == t).any()]
    n = max(1, len(tasks))
    cols = min(3, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False)
    for k, task in enumerate(tasks):
        ax = axes.flat[k]
        agg = aggregate(summary, task, metric)
        present = [v for v in variants if (agg.variant == v).any()]
        base = None if task in ("asr", "mfcc", "fbank") else _baseline(baselines, task, metric)
        ylabel = "1 - WER" if task == "asr" else "R$^2$" if task in ("mfcc", "fbank") else metric.replace("_", " ").upper()
        _bars(ax, agg, groups, present, base, f"({chr(97 + k)}) {TASK_TITLES.get(task, task)}", ylabel)
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    if not tasks:
        axes.flat[0].text(0.5, 0.5, note or "no results", ha="center", va="center")
    handles, labels = [], []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)), fontsize=7, frameon=False,
                   bbox_to_anchor=(0.5, -0.02 - 0.03 * (len(labels) > 5)))
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def data_size_of(variant: str, n_train_stories: int) -> int | None:
    """Training stories of a brain-tuned variant: ``braintuned_n{K}`` -> K; ``braintuned`` -> all."""
    if variant == "braintuned":
        return n_train_stories
    m = re.fullmatch(r"braintuned_n(\d+)", variant)
    return int(m.group(1)) if m else None


def gains(summary: pd.DataFrame, family: str, variant: str, metric: str) -> pd.DataFrame:
    """Brain-tuned minus pretrained score per task (mean and SE across participants)."""
    rows = []
    for task in sorted(summary.task.unique()):
        agg = aggregate(summary, task, metric)
        pre = agg[(agg.family == family) & (agg.variant == "pretrained")]
        sub = summary[(summary.task == task) & (summary.metric == metric_of(task, metric))
                      & (summary.family == family) & (summary.variant == variant)]
        if len(pre) and len(sub):
            diff = sub["layer_mean"].to_numpy() - float(pre["mean"].iloc[0])
            se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else 0.0
            rows.append({"task": task, "gain": diff.mean(), "se": se})
    return pd.DataFrame(rows, columns=["task", "gain", "se"])


def fig12(summary: pd.DataFrame, cfg: dict, families: list[str], n_train_stories: int, pdf: Path, png: Path) -> None:
    metric = cfg["metric"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    size_fams = [f for f in (cfg["base_family"], cfg["large_family"]) if f in families]
    tasks = [t for t in FIG4_TASKS + ("mfcc", "fbank") if (summary.task == t).any()]
    ax = axes[0]
    for k, task in enumerate(tasks):
        xs, ys, es = [], [], []
        for fam in size_fams:
            g = gains(summary, fam, "braintuned", metric)
            g = g[g.task == task]
            size = summary.loc[summary.family == fam, "n_parameters"]
            if len(g) and len(size):
                xs.append(float(size.iloc[0]) / 1e6)
                ys.append(float(g.gain.iloc[0]))
                es.append(float(g.se.iloc[0]))
        if xs:
            ax.errorbar(xs, ys, es, marker="o", capsize=2, label=TASK_TITLES.get(task, task), color=f"C{k}")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("parameters (millions): " + " vs ".join(size_fams), fontsize=8)
    ax.set_ylabel("brain-tuned - pretrained", fontsize=8)
    ax.set_title("(a) Gain vs model size", fontsize=9)
    ax = axes[1]
    fam = cfg["data_size_family"]
    variants = sorted({v for v in summary.loc[summary.family == fam, "variant"] if data_size_of(v, n_train_stories)},
                      key=lambda v: data_size_of(v, n_train_stories))
    for k, task in enumerate(tasks):
        xs, ys, es = [], [], []
        for v in variants:
            g = gains(summary, fam, v, metric)
            g = g[g.task == task]
            if len(g):
                xs.append(data_size_of(v, n_train_stories))
                ys.append(float(g.gain.iloc[0]))
                es.append(float(g.se.iloc[0]))
        if xs:
            ax.errorbar(xs, ys, es, marker="o", capsize=2, label=TASK_TITLES.get(task, task), color=f"C{k}")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel(f"brain-tuning stories ({fam})", fontsize=8)
    ax.set_title(f"(b) Gain vs data size, {fam}", fontsize=9)
    for a in axes:
        a.tick_params(labelsize=7)
    handles, labels = axes[0].get_legend_handles_labels()
    if not handles:
        handles, labels = axes[1].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7, frameon=False, bbox_to_anchor=(0.5, -0.08))
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    _save(fig, pdf, png)


def downstream_figures(summary: pd.DataFrame, baselines: pd.DataFrame, cfg: dict, families: list[str],
                       n_train_stories: int, out: dict[str, Path]) -> None:
    """Write figs 4, 9, 10, 11, 12 (``out`` keys ``fig4_pdf``, ``fig4_png``, ...)."""
    metric = cfg["metric"]
    fams = [f for f in families if (summary.family == f).any()]
    main = [f for f in fams if f != cfg["large_family"]]
    fig = _task_grid(summary, baselines, FIG4_TASKS, main, FIG4_VARIANTS, metric, "Downstream performance (Fig. 4)")
    _save(fig, out["fig4_pdf"], out["fig4_png"])
    fig = _task_grid(summary, baselines, ("mfcc", "fbank"), main, ("pretrained", "bigslm", "braintuned"), metric,
                     "Low-level tasks (Fig. 9)")
    _save(fig, out["fig9_pdf"], out["fig9_png"])
    comp = cfg["comparison_family"]
    variants = [v for v in VARIANT_LABELS if ((summary.family == comp) & (summary.variant == v)).any()]
    fig = _task_grid(summary, baselines, FIG4_TASKS, [comp], variants, metric, f"All comparison models, {comp} (Fig. 10)")
    _save(fig, out["fig10_pdf"], out["fig10_png"])
    large, base = cfg["large_family"], cfg["base_family"]
    if large in fams and base in fams:
        sub = summary[((summary.family == large) & (summary.variant == "pretrained"))
                      | ((summary.family == base) & summary.variant.isin(["pretrained", "braintuned"]))].copy()
        sub["variant"] = sub["family"] + ":" + sub["variant"]
        sub["family"] = "HuBERT"
        VARIANT_LABELS.update({f"{large}:pretrained": f"{large} pretrained", f"{base}:pretrained": f"{base} pretrained",
                               f"{base}:braintuned": f"{base} brain-tuned"})
        fig = _task_grid(sub, baselines, FIG4_TASKS, ["HuBERT"],
                         [f"{base}:pretrained", f"{base}:braintuned", f"{large}:pretrained"], metric,
                         f"{large} pretrained vs brain-tuned {base} (Fig. 11)")
    else:
        fig = _task_grid(summary.iloc[:0], baselines, FIG4_TASKS, [], [], metric, "Fig. 11",
                         note=f"models.{large} is not configured")
    _save(fig, out["fig11_pdf"], out["fig11_png"])
    fig12(summary, cfg, fams, n_train_stories, out["fig12_pdf"], out["fig12_png"])


def fig8(table: pd.DataFrame, pdf: Path, png: Path) -> None:
    """d per layer: brain-tuned (mean +- SE across participants) against pretrained, one panel per family."""
    colours = _palette()
    fams = list(dict.fromkeys(table.family))
    fig, axes = plt.subplots(1, max(1, len(fams)), figsize=(3.4 * max(1, len(fams)), 2.8), squeeze=False)
    for ax, fam in zip(axes.flat, fams):
        for variant in ("pretrained", "braintuned"):
            sub = table[(table.family == fam) & (table.variant == variant)]
            if sub.empty:
                continue
            g = sub.groupby("layer")["d"].agg(["mean", "std", "count"]).reset_index()
            se = np.where(g["count"] > 1, g["std"] / np.sqrt(g["count"]), 0.0)
            ax.errorbar(g["layer"], g["mean"], se, marker="o", capsize=2, color=colours.get(variant),
                        label=VARIANT_LABELS[variant])
        ax.axhline(0, color="k", lw=0.8, ls=":")
        ax.set_title(fam, fontsize=9)
        ax.set_xlabel("layer", fontsize=8)
        ax.set_ylabel("d (semantic - phonetic distance)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle("Semantic-phonetic preference (Fig. 8)", fontsize=10)
    fig.tight_layout()
    _save(fig, pdf, png)
