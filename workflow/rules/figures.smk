# Stage: figures (docs/artifacts.md): the paper's alignment and low-level impact figures (Figs. 2, 3, 5,
# 6, 7 as bars from the statistics tables; 2c, 3c, 13, 14, 15 as pycortex flatmaps of per-voxel
# results). Two jobs: every bar figure (light), every flatmap (pycortex import and its flatmap cache
# are paid once). Each PDF and PNG is a report() item with the caption workflow/report/{name}.rst.


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
