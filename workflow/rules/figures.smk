# Stage: figures (docs/artifacts.md): the paper's alignment and low-level impact figures (Figs. 2, 3, 5,
# 6, 7 as bars from the statistics tables; 2c, 3c, 13, 14, 15 as pycortex flatmaps of per-voxel
# results). Two jobs: every bar figure (light), every flatmap (pycortex import and its flatmap cache
# are paid once). Each PDF and PNG is a report() item with the caption workflow/report/{name}.rst.


rule figures_bars:
    """Figs. 2a/b, 3a/b, 5 (when the large family is configured), 6 and 7: families x variants,
    mean +- standard error across participants and asterisks, as the statistics tables give them."""
    input:
        alignment_summary=statistics_table_path("alignment_summary"),
        lowlevel_summary=statistics_table_path("lowlevel_summary"),
        wilcoxon_alignment=statistics_table_path("wilcoxon_alignment"),
        wilcoxon_lowlevel=statistics_table_path("wilcoxon_lowlevel"),
    output:
        **_figure_outputs(BAR_FIGURE_NAMES),
    params:
        settings=figures_bars_settings(),
        names=BAR_FIGURE_NAMES,
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
    """Figs. 2c, 3c, 13, 14, 15: pycortex flatmaps of brain-tuned minus pretrained per voxel (the
    statistics stage's differences) and of the voxels above the noise-ceiling threshold."""
    input:
        differences=_flatmap_differences(),
        noise_ceiling=_flatmap_noise_ceilings(),
        pycortex=sorted({p for s in FLATMAP_SUBJECTS for p in preprocess_pycortex_inputs(s)}),
    output:
        **_figure_outputs(FLATMAP_FIGURE_NAMES),
    params:
        # the pycortex filestore of each participant is read from the config by the script (no path here)
        settings=figures_flatmaps_settings(),
        subjects=FLATMAP_SUBJECTS,
        names=FLATMAP_FIGURE_NAMES,
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


# --- figures of the downstream and preference stages (figs 4, 8, 9, 10, 11, 12) ------------------


rule figures_downstream:
    """Figures 4 (a-f), 9, 10, 11 and 12 of the paper from the downstream stage's participant means."""
    input:
        means=lambda w: downstream_table_path("means"),
    output:
        **_figures_downstream_outputs(FIGURES_DOWNSTREAM_NAMES),
    params:
        settings=figures_downstream_settings(),
    log:
        "logs/figures_downstream/figures.log",
    benchmark:
        "benchmarks/figures_downstream/figures.tsv"
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/figures_downstream.py"


rule figures_preference:
    """Figure 8: d per layer, brain-tuned (mean and SE across participants) against pretrained."""
    input:
        means=lambda w: preference_table_path("means"),
    output:
        **_figures_downstream_outputs(["fig8"]),
    log:
        "logs/figures_preference/fig8.log",
    benchmark:
        "benchmarks/figures_preference/fig8.tsv"
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/figures_preference.py"


rule figures_curve:
    """The follow-up's data-efficiency figure: normalised alignment against minutes of alignment training data,
    per variant, the multi-participant checkpoint's seen and new participants apart."""
    input:
        summary=STATISTICS_CURVE_TABLES["curve_summary"],
    output:
        **_figure_outputs(["curve"]),
    params:
        region=FIGURES["curve_region"],
    log:
        "logs/figures_curve/all.log",
    benchmark:
        "benchmarks/figures_curve/all.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../envs/figures.yaml"
    script:
        "../scripts/figures_curve.py"
