"""The figures stage's two jobs: every bar figure from the statistics tables, and every flatmap
figure from the statistics stage's per-voxel differences (one job: pycortex's import and flatmap
cache are paid once). Each job takes explicit paths and a frozen settings object holding exactly
the ``figures`` keys it uses.

Output keys are figure names (``fig2a``, ...); each maps to ``{"pdf": path, "png": path}``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields
from typing import Mapping, Sequence

import numpy as np

log = logging.getLogger(__name__)

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


def _from_section(cls, section: Mapping, **extra):
    """An instance of the frozen settings ``cls`` from the keys of ``section`` it declares."""
    names = [f.name for f in fields(cls) if f.name not in extra]
    missing = [name for name in names if name not in section]
    if missing:
        raise KeyError(f"figures: missing key(s) {missing} for {cls.__name__}")
    return cls(**{name: section[name] for name in names}, **extra)


@dataclass(frozen=True)
class BarSettings:
    """The ``figures`` keys the bar figures use (and nothing else: a flatmap key does not redraw them)."""

    families: tuple
    variants: tuple
    variants_random: tuple
    regions: tuple
    reference_variant: str
    baseline_variant: str
    significance_level: str
    p_column: str
    scale: Mapping
    dpi: int

    KEYS = ("families", "variants", "variants_random", "regions", "reference_variant", "baseline_variant",
            "significance_level", "p_column", "scale", "dpi")

    @classmethod
    def from_config(cls, section: Mapping) -> "BarSettings":
        return _from_section(cls, section)


@dataclass(frozen=True)
class FlatmapSettings:
    """The ``figures`` keys the flatmaps use, and ``preprocess.nc_threshold`` (fig. 13)."""

    flatmap_family: str
    baseline_variant: str
    representative_subject: str
    flatmap_subjects: tuple | None
    nc_subjects: tuple | None
    alignment_map: str
    flatmap_voxels: str
    flatmap_percentile: float
    flatmap_height: int
    dpi: int
    nc_threshold: float

    KEYS = ("flatmap_family", "baseline_variant", "representative_subject", "flatmap_subjects", "nc_subjects",
            "alignment_map", "flatmap_voxels", "flatmap_percentile", "flatmap_height", "dpi")

    @classmethod
    def from_config(cls, section: Mapping, nc_threshold: float) -> "FlatmapSettings":
        return _from_section(cls, section, nc_threshold=nc_threshold)


def _outputs(outputs: Mapping[str, Mapping[str, str]], name: str) -> list[str]:
    if name not in outputs:
        raise KeyError(f"no output paths for {name} (have {sorted(outputs)})")
    return [outputs[name][ext] for ext in ("pdf", "png")]


def make_bar_figures(tables: Mapping[str, str], outputs: Mapping[str, Mapping[str, str]],
                     settings: BarSettings) -> dict:
    """Figs. 2a/2b, 3a/3b, 6, 7 and (when ``outputs`` has it) 5.

    ``tables``: paths of ``alignment_summary``, ``lowlevel_summary``, ``wilcoxon_alignment`` and
    ``wilcoxon_lowlevel`` (statistics stage). Returns the :class:`~braintune.figures.paper.BarFigure`
    of each figure made.
    """
    from braintune.figures import paper, style
    from braintune.statistics import read_summary, read_wilcoxon

    summary = {kind: read_summary(tables[f"{kind}_summary"]) for kind in ("alignment", "lowlevel")}
    wil = {kind: read_wilcoxon(tables[f"wilcoxon_{kind}"]) for kind in ("alignment", "lowlevel")}
    sig = paper.Significance.from_config({k: getattr(settings, k) for k in (
        "reference_variant", "baseline_variant", "significance_level", "p_column")})
    regions = list(settings.regions)
    made = {}
    for name, (kind, index, variants_key) in BAR_FIGURES.items():
        if name not in outputs:
            continue
        if index is not None and index >= len(regions):
            raise ValueError(f"{name} needs figures.regions[{index}] but figures.regions is {regions}")
        panel_regions = regions if index is None else [regions[index]]
        label = paper.ALIGNMENT_LABEL if kind == "alignment" else paper.LOWLEVEL_LABEL
        fig = paper.region_bars(summary[kind], wil[kind], panel_regions, settings.families,
                                getattr(settings, variants_key), sig, ylabel=label, letters=index is None)
        style.save_figure(fig.figure, _outputs(outputs, name), dpi=settings.dpi)
        made[name] = fig
        log.info("%s: %d panel(s), %d asterisk(s)", name, len(fig.panels), sum(len(p.marks) for p in fig.panels))
    if "fig5" in outputs:
        s = settings.scale
        fig = paper.scale_figure(summary["alignment"], summary["lowlevel"], wil["alignment"], wil["lowlevel"],
                                 paper.ScaleComparison(s["base_family"], s["large_family"], s["region"]), sig)
        style.save_figure(fig.figure, _outputs(outputs, "fig5"), dpi=settings.dpi)
        made["fig5"] = fig
    return made


def flatmap_target(config: Mapping, subject: str) -> list:
    """``[filestore, pycortex subject, transform, voxel stride]`` of a participant."""
    from braintune.preprocess.regions import pycortex_target

    filestore, cx_subject, xfm = pycortex_target(config, subject)
    stride = int(config["data"]["demo"]["voxel_stride"]) if config["data"]["source"] == "demo" else 1
    return [str(filestore), cx_subject, xfm, stride]


def make_flatmap_figures(differences: Mapping[str, str], noise_ceilings: Mapping[str, str],
                         targets: Mapping[str, Sequence], outputs: Mapping[str, Mapping[str, str]],
                         settings: FlatmapSettings) -> dict[str, float]:
    """Figs. 2c, 3c (representative participant), 13 (noise ceiling), 14, 15 (per participant).

    ``differences`` (the statistics stage's per-voxel differences of ``settings.flatmap_family``),
    ``noise_ceilings`` and ``targets`` (:class:`~braintune.figures.flatmaps.Target` or the list of
    :func:`flatmap_target`) are keyed by participant. Returns the seconds each figure took.
    """
    from braintune.figures import flatmaps, paper, style
    from braintune.preprocess.noise_ceiling import read_noise_ceiling
    from braintune.statistics import read_difference

    targets = {s: t if isinstance(t, flatmaps.Target) else flatmaps.Target(*t) for s, t in targets.items()}
    style.apply_style()
    rep = settings.representative_subject
    map_subjects = list(settings.flatmap_subjects or differences)
    nc_subjects = list(settings.nc_subjects or noise_ceilings)
    for what, have, needed in (("per-voxel differences", differences, {rep, *map_subjects}),
                               ("noise ceilings", noise_ceilings, {rep, *map_subjects, *nc_subjects}),
                               ("pycortex targets", targets, {rep, *map_subjects, *nc_subjects})):
        missing = sorted(needed - set(have))
        if missing:
            raise KeyError(f"figures: no {what} for participant(s) {missing} (have {sorted(have)})")
    height, pct = settings.flatmap_height, settings.flatmap_percentile
    baseline = settings.baseline_variant
    fam = style.family_label(settings.flatmap_family)
    nc_cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def nc_of(subject):
        if subject not in nc_cache:
            nc_cache[subject] = read_noise_ceiling(noise_ceilings[subject])
        return nc_cache[subject]

    def panel(subject, title, dataset):
        d = read_difference(differences[subject], dataset)
        return flatmaps.Panel(title, paper.restrict(d, nc_of(subject)[1], settings.flatmap_voxels), targets[subject])

    def alignment_panel(subject, title):
        return panel(subject, title, f"alignment/{settings.alignment_map}/{baseline}")

    def lowlevel_panel(subject, title):
        return panel(subject, title, f"lowlevel/drop/{baseline}")

    what = "Pearson r" if settings.alignment_map == "rho" else "normalised alignment"
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
             for s in nc_subjects], settings.nc_threshold, ncols=ncols(len(nc_subjects)), height=height),
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
        style.save_figure(fig, _outputs(outputs, name), dpi=settings.dpi)
        timings[name] = time.perf_counter() - t0
        log.info("%s: %.1f s", name, timings[name])
    return timings
