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


def _figure_paths(names):
    return {name: {ext: figure_path(name, ext) for ext in ("pdf", "png")} for name in names}


def _figures_check():
    """Fail at DAG time, naming the key, when the flatmap settings cannot be met."""
    family = FIGURES["flatmap_family"]
    if family not in config["models"]:
        raise ValueError(f"figures.flatmap_family '{family}' is not a family of models ({families()})")
    for stage, select in (("alignment", alignment_variants), ("lowlevel", lowlevel_variants)):
        have = select(family)
        for variant in (FIGURES["reference_variant"], FIGURES["baseline_variant"]):
            if variant not in have:
                raise ValueError(f"figures: {stage} of {family} has no variant '{variant}' (variants: {have})")
    for key in ("representative_subject",):
        if FIGURES[key] not in SUBJECTS:
            raise ValueError(f"figures.{key} '{FIGURES[key]}' is not in dataset.subjects {SUBJECTS}")
    for key in ("flatmap_subjects", "nc_subjects"):
        extra = sorted(set(FIGURES[key] or []) - set(SUBJECTS))
        if extra:
            raise ValueError(f"figures.{key}: {extra} not in dataset.subjects {SUBJECTS}")


_figures_check()


BAR_FIGURE_NAMES = btfigjobs.bar_figure_names(config)


FLATMAP_FIGURE_NAMES = list(btfigjobs.FLATMAP_FIGURES)


FLATMAP_SUBJECTS = list(
    dict.fromkeys(
        [FIGURES["representative_subject"]]
        + list(FIGURES["flatmap_subjects"] or SUBJECTS)
        + list(FIGURES["nc_subjects"] or SUBJECTS)
    )
)


def _flatmap_files():
    """Per-participant per-voxel inputs of the flatmaps (reference and baseline variants)."""
    family = FIGURES["flatmap_family"]
    ref, base = FIGURES["reference_variant"], FIGURES["baseline_variant"]
    return {
        s: {
            "alignment_reference": alignment_path(family, ref, s),
            "alignment_baseline": alignment_path(family, base, s),
            "lowlevel_reference": lowlevel_path(family, ref, s),
            "lowlevel_baseline": lowlevel_path(family, base, s),
            "noise_ceiling": noise_ceiling_path(s),
        }
        for s in FLATMAP_SUBJECTS
    }


def figures_targets():
    """Final outputs of this stage that the default target `all` requests."""
    return [figure_path(n, ext) for n in BAR_FIGURE_NAMES + FLATMAP_FIGURE_NAMES for ext in ("pdf", "png")]
