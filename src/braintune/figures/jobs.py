"""The figures stage's two jobs: every bar figure from the statistics tables, and every flatmap
figure from the per-voxel files (one job: pycortex's import and flatmap cache are paid once).

Output keys are figure names (``fig2a``, ...); each maps to ``{"pdf": path, "png": path}``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

log = logging.getLogger(__name__)

ALIGNMENT_COLUMNS = ("family", "variant", "subject", "region", "B")
LOWLEVEL_COLUMNS = ("family", "variant", "subject", "region", "feature", "R")
WILCOXON_COLUMNS = ("level", "reference_family", "reference_variant", "family", "variant", "region", "feature",
                    "subject", "p", "p_holm")

#: Bar figures: name -> (kind, regions slice, variants key). fig5 is added when configured.
BAR_FIGURES = {
    "fig2a": ("alignment", 0, "variants"),
    "fig2b": ("alignment", 1, "variants"),
    "fig3a": ("lowlevel", 0, "variants"),
    "fig3b": ("lowlevel", 1, "variants"),
    "fig6": ("alignment", None, "variants_random"),
    "fig7": ("lowlevel", None, "variants_random"),
}
FLATMAP_FIGURES = ("fig2c", "fig3c", "fig13", "fig14", "fig15")


def has_scale_figure(config: Mapping) -> bool:
    """Fig. 5 exists when the config lists both the base and the large family."""
    scale = config["figures"]["scale"]
    return scale["large_family"] in config["models"] and scale["base_family"] in config["models"]


def bar_figure_names(config: Mapping) -> list[str]:
    return list(BAR_FIGURES) + (["fig5"] if has_scale_figure(config) else [])


def _outputs(outputs: Mapping[str, Mapping[str, str]], name: str) -> list[str]:
    if name not in outputs:
        raise KeyError(f"no output paths for {name} (have {sorted(outputs)})")
    return [outputs[name][ext] for ext in ("pdf", "png")]


def make_bar_figures(tables: Mapping[str, str], outputs: Mapping[str, Mapping[str, str]], figures: Mapping,
                     alpha: float) -> dict:
    """Figs. 2a/2b, 3a/3b, 6, 7 and (when ``outputs`` has it) 5.

    ``tables``: paths of ``alignment_subject``, ``lowlevel_subject``, ``wilcoxon_alignment`` and
    ``wilcoxon_lowlevel`` (statistics stage). ``figures``: the config's ``figures`` section.
    Returns the :class:`~braintune.figures.paper.BarFigure` of each figure made.
    """
    from braintune.figures import paper, style

    per = {"alignment": paper.read_table(tables["alignment_subject"], ALIGNMENT_COLUMNS),
           "lowlevel": paper.read_table(tables["lowlevel_subject"], LOWLEVEL_COLUMNS)}
    wil = {"alignment": paper.read_table(tables["wilcoxon_alignment"], WILCOXON_COLUMNS),
           "lowlevel": paper.read_table(tables["wilcoxon_lowlevel"], WILCOXON_COLUMNS)}
    sig = paper.Significance.from_config(figures, alpha)
    regions = list(figures["regions"])
    made = {}
    for name, (kind, index, variants_key) in BAR_FIGURES.items():
        if name not in outputs:
            continue
        if index is not None and index >= len(regions):
            raise ValueError(f"{name} needs figures.regions[{index}] but figures.regions is {regions}")
        panel_regions = regions if index is None else [regions[index]]
        value, label = ("B", paper.ALIGNMENT_LABEL) if kind == "alignment" else ("R", paper.LOWLEVEL_LABEL)
        fig = paper.region_bars(per[kind], value, wil[kind], panel_regions, figures["families"],
                                figures[variants_key], sig, ylabel=label, letters=index is None)
        style.save_figure(fig.figure, _outputs(outputs, name), dpi=figures["dpi"])
        made[name] = fig
        log.info("%s: %d panel(s), %d asterisk(s)", name, len(fig.panels), sum(len(p.marks) for p in fig.panels))
    if "fig5" in outputs:
        s = figures["scale"]
        fig = paper.scale_figure(per["alignment"], per["lowlevel"], wil["alignment"], wil["lowlevel"],
                                 paper.ScaleComparison(s["base_family"], s["large_family"], s["region"]), sig)
        style.save_figure(fig.figure, _outputs(outputs, "fig5"), dpi=figures["dpi"])
        made["fig5"] = fig
    return made


@dataclass
class SubjectFiles:
    """Per-voxel inputs of one participant for the flatmaps."""

    alignment_reference: str
    alignment_baseline: str
    lowlevel_reference: str
    lowlevel_baseline: str
    noise_ceiling: str


def flatmap_target(config: Mapping, subject: str) -> list:
    """``[filestore, pycortex subject, transform, voxel stride]`` of a participant (rule params)."""
    from braintune.regions import pycortex_target

    filestore, cx_subject, xfm = pycortex_target(config, subject)
    stride = int(config["demo"]["voxel_stride"]) if config["dataset"]["source"] == "demo" else 1
    return [str(filestore), cx_subject, xfm, stride]


def make_flatmap_figures(files: Mapping[str, SubjectFiles | Mapping], targets: Mapping[str, Sequence],
                         outputs: Mapping[str, Mapping[str, str]], figures: Mapping, family: str,
                         nc_threshold: float) -> dict[str, float]:
    """Figs. 2c, 3c (representative participant), 13 (noise ceiling), 14, 15 (per participant).

    ``files`` and ``targets`` (:class:`~braintune.figures.flatmaps.Target` or the list of
    :func:`flatmap_target`) are keyed by participant. Returns the seconds each figure took.
    """
    from braintune.alignment.encoding import read_noise_ceiling
    from braintune.figures import flatmaps, paper, style

    targets = {s: t if isinstance(t, flatmaps.Target) else flatmaps.Target(*t) for s, t in targets.items()}

    files = {s: f if isinstance(f, SubjectFiles) else SubjectFiles(**f) for s, f in files.items()}
    style.apply_style()
    rep = figures["representative_subject"]
    map_subjects = list(figures["flatmap_subjects"] or files)
    nc_subjects = list(figures["nc_subjects"] or files)
    needed = {rep, *map_subjects, *nc_subjects}
    missing = sorted(needed - set(files))
    if missing:
        raise KeyError(f"figures: no per-voxel files for participant(s) {missing} (have {sorted(files)})")
    height, pct = figures["flatmap_height"], figures["flatmap_percentile"]
    alignment_dataset = f"layer_mean/{figures['alignment_map']}"
    fam = style.family_label(family)
    nc_cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def nc_of(subject):
        if subject not in nc_cache:
            nc_cache[subject] = read_noise_ceiling(files[subject].noise_ceiling)
        return nc_cache[subject]

    def alignment_panel(subject, title):
        f = files[subject]
        d = paper.difference(f.alignment_reference, f.alignment_baseline, alignment_dataset)
        return flatmaps.Panel(title, paper.restrict(d, nc_of(subject)[1], figures["flatmap_voxels"]), targets[subject])

    def lowlevel_panel(subject, title):
        f = files[subject]
        d = paper.difference(f.lowlevel_reference, f.lowlevel_baseline, "layer_mean/drop")
        return flatmaps.Panel(title, paper.restrict(d, nc_of(subject)[1], figures["flatmap_voxels"]), targets[subject])

    what = "Pearson r" if figures["alignment_map"] == "rho" else "normalised alignment"
    align_label = f"Difference in brain alignment ({what})\nbrain-tuned \u2212 pretrained"
    low_label = "Difference in low-level impact (drop in normalised alignment)\nbrain-tuned \u2212 pretrained"
    ncols = lambda n: n if n <= 3 else 2  # noqa: E731

    timings = {}
    jobs = {
        "fig2c": lambda: paper.difference_flatmaps(
            [alignment_panel(rep, f"{fam}, {paper.subject_label(rep)}")], colorbar_label=align_label,
            percentile=pct, ncols=1, height=height),
        "fig3c": lambda: paper.difference_flatmaps(
            [lowlevel_panel(rep, f"{fam}, {paper.subject_label(rep)}")], colorbar_label=low_label,
            percentile=pct, ncols=1, height=height),
        "fig13": lambda: paper.noise_ceiling_flatmaps(
            [flatmaps.Panel(paper.subject_label(s), paper.nc_panel_values(*nc_of(s)), targets[s])
             for s in nc_subjects], nc_threshold, ncols=ncols(len(nc_subjects)), height=height),
        "fig14": lambda: paper.difference_flatmaps(
            [alignment_panel(s, f"({chr(97 + i)}) {paper.subject_label(s)}") for i, s in enumerate(map_subjects)],
            colorbar_label=align_label, percentile=pct, ncols=ncols(len(map_subjects)), height=height,
            suptitle=f"{fam}: difference in brain alignment"),
        "fig15": lambda: paper.difference_flatmaps(
            [lowlevel_panel(s, f"({chr(97 + i)}) {paper.subject_label(s)}") for i, s in enumerate(map_subjects)],
            colorbar_label=low_label, percentile=pct, ncols=ncols(len(map_subjects)), height=height,
            suptitle=f"{fam}: difference in low-level impact"),
    }
    for name, build in jobs.items():
        if name not in outputs:
            continue
        t0 = time.perf_counter()
        fig = build()
        style.save_figure(fig, _outputs(outputs, name), dpi=figures["dpi"])
        timings[name] = time.perf_counter() - t0
        log.info("%s: %.1f s", name, timings[name])
    return timings
