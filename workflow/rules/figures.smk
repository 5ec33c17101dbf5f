# Stage: figures (docs/artifacts.md): the paper's alignment and low-level impact figures (Figs. 2, 3, 5,
# 6, 7 as bars from the statistics tables; 2c, 3c, 13, 14, 15 as pycortex flatmaps of per-voxel
# results). Two jobs: every bar figure (light), every flatmap (pycortex import and its flatmap cache
# are paid once). Each PDF and PNG is a report() item with the caption workflow/report/{name}.rst.

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


rule figures_bars:
    """Figs. 2a/b, 3a/b, 5 (when the large family is configured), 6 and 7: families x variants,
    mean +- standard error across participants, asterisks from the Wilcoxon tables."""
    input:
        alignment_subject=STATISTICS_TABLES["alignment_subject"],
        lowlevel_subject=STATISTICS_TABLES["lowlevel_subject"],
        wilcoxon_alignment=STATISTICS_TABLES["wilcoxon_alignment"],
        wilcoxon_lowlevel=STATISTICS_TABLES["wilcoxon_lowlevel"],
    output:
        **_figure_outputs(BAR_FIGURE_NAMES),
    params:
        figures=FIGURES,
        alpha=config["statistics"]["alpha"],
        paths=_figure_paths(BAR_FIGURE_NAMES),
    log:
        "logs/figures_bars/all.log",
    benchmark:
        "benchmarks/figures_bars/all.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/figures_bars.py"


rule figures_flatmaps:
    """Figs. 2c, 3c, 13, 14, 15: pycortex flatmaps of brain-tuned minus pretrained per voxel and of
    the voxels above the noise-ceiling threshold."""
    input:
        voxels=[path for files in _flatmap_files().values() for path in files.values()],
        pycortex=sorted({p for s in FLATMAP_SUBJECTS for p in pycortex_inputs(s)}),
    output:
        **_figure_outputs(FLATMAP_FIGURE_NAMES),
    params:
        figures=FIGURES,
        family=FIGURES["flatmap_family"],
        files=_flatmap_files(),
        pycortex={s: btfigjobs.flatmap_target(config, s) for s in FLATMAP_SUBJECTS},
        nc_threshold=config["preprocess"]["nc_threshold"],
        paths=_figure_paths(FLATMAP_FIGURE_NAMES),
    log:
        "logs/figures_flatmaps/all.log",
    benchmark:
        "benchmarks/figures_flatmaps/all.tsv"
    threads: 1
    resources:
        mem_mb=3000,
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/figures_flatmaps.py"


def figures_targets():
    """Final outputs of this stage that `rule all` requests."""
    return [figure_path(n, ext) for n in BAR_FIGURE_NAMES + FLATMAP_FIGURE_NAMES for ext in ("pdf", "png")]
