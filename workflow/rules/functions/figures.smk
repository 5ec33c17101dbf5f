# Functions and settings of the figures stage: paths, input functions, resources, targets.
# The rules themselves are in workflow/rules/figures.smk (Snakemake's linter asks to keep
# functions and rules in separate files).

from braintune.figures import jobs as btfigjobs


FIGURES = config["figures"]


FIGURES_REPORT_CATEGORY = "Brain alignment and low-level impact"


FIGURES_SUBCATEGORY = {
    "fig2a": "Normalised alignment",
    "fig2b": "Normalised alignment",
    "fig2c": "Voxelwise maps",
    "fig3a": "Low-level impact",
    "fig3b": "Low-level impact",
    "fig3c": "Voxelwise maps",
    "fig5": "Model scale",
    "fig6": "Normalised alignment",
    "fig7": "Low-level impact",
    "fig13": "Voxelwise maps",
    "fig14": "Voxelwise maps",
    "fig15": "Voxelwise maps",
    "curve": "Data efficiency",
}


def figure_path(name, ext):
    return f"results/figures/{name}.{ext}"


def _figure_outputs(names):
    """{name_ext: report(path)} for every figure of `names`, PDF and PNG."""
    return {
        f"{name}_{ext}": report(
            figure_path(name, ext),
            caption=f"../report/{name}.rst",
            category=FIGURES_REPORT_CATEGORY,
            subcategory=FIGURES_SUBCATEGORY[name],
            labels={"figure": name, "format": ext.upper()},
        )
        for name in names
        for ext in ("pdf", "png")
    }


BAR_FIGURE_NAMES = btfigjobs.bar_figure_names(config)


FLATMAP_FIGURE_NAMES = list(btfigjobs.FLATMAP_FIGURES)


FLATMAP_SUBJECTS = list(
    dict.fromkeys(
        [FIGURES["representative_subject"]]
        + list(FIGURES["flatmap_subjects"] or SUBJECTS)
        + list(FIGURES["nc_subjects"] or SUBJECTS)
    )
)


def figures_bars_settings():
    """The figures keys the bar figures use: the params of rule figures_bars."""
    return {k: FIGURES[k] for k in btfigjobs.BarSettings.KEYS}


def figures_flatmaps_settings():
    """The figures keys the flatmaps use, and the noise-ceiling threshold: the params of rule figures_flatmaps."""
    return {"section": {k: FIGURES[k] for k in btfigjobs.FlatmapSettings.KEYS},
            "nc_threshold": config["preprocess"]["nc_threshold"]}


def _flatmap_differences():
    """The statistics stage's per-voxel differences the flatmaps draw, in FLATMAP_SUBJECTS order."""
    return [statistics_voxels_path(FIGURES["flatmap_family"], s) for s in FLATMAP_SUBJECTS]


def _flatmap_noise_ceilings():
    return [preprocess_noise_ceiling_path(s) for s in FLATMAP_SUBJECTS]


# The data-efficiency figure of the follow-up (alignment.curve; drawn from statistics_curve's summary).
CURVE_FIGURE_NAMES = ["curve"] if alignment_curve_runs() else []


def figures_targets():
    """Final outputs of this stage that the default target `all` requests."""
    names = BAR_FIGURE_NAMES + FLATMAP_FIGURE_NAMES + CURVE_FIGURE_NAMES
    return [figure_path(n, ext) for n in names for ext in ("pdf", "png")] + figures_downstream_targets()


# --- figures of the downstream and preference stages (figs 4, 8, 9, 10, 11, 12) ------------------
# Their tables come from workflow/rules/functions/{downstream,preference}.smk, included after this file:
# the rules reach them through input functions.

from dataclasses import asdict

from braintune.figures import downstream as btfigdownstream


FIGURES_DOWNSTREAM_NAMES = list(btfigdownstream.FIGURES)


def _figures_downstream_outputs(names):
    """{name_ext: report(path)} of the downstream and preference figures (report category Downstream)."""
    return {
        f"{name}_{ext}": report(figure_path(name, ext), caption=f"../report/{name}.rst", category="Downstream")
        for name in names
        for ext in ("pdf", "png")
    }


def figures_downstream_settings():
    return asdict(btfigdownstream.DownstreamFigureSettings.from_config(config["figures"]["downstream"], families()))


def figures_downstream_targets():
    """Figs 4, 9-12 and 8 when the downstream stage evaluates any checkpoint."""
    if not downstream_models():
        return []
    return [figure_path(n, ext) for n in FIGURES_DOWNSTREAM_NAMES + ["fig8"] for ext in ("pdf", "png")]
