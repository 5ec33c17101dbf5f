# Stage: statistics (docs/artifacts.md): tidy tables of brain alignment and low-level impact, the mean
# and standard error across participants of every bar the figures draw, and the paired Wilcoxon
# signed-rank tests of docs/decisions.md 10 (one job for the whole config); the per-voxel
# differences between variants that the flatmaps draw (one job per family and participant drawn).


rule statistics:
    """Tidy alignment / low-level tables, their means +- SE across participants and Wilcoxon tests
    (brain-tuned vs each other variant, across participants per region and across voxels per
    participant; Holm beside raw p)."""
    input:
        alignment=[alignment_path(*r) for r in statistics_runs("alignment")],
        alignment_tables=[alignment_table_path(*r) for r in statistics_runs("alignment")],
        lowlevel=[lowlevel_path(*r) for r in statistics_runs("lowlevel")],
        lowlevel_tables=[lowlevel_table_path(*r) for r in statistics_runs("lowlevel")],
        noise_ceiling=[preprocess_noise_ceiling_path(s) for s in SUBJECTS],
        regions=[preprocess_regions_path(s) for s in SUBJECTS],
    output:
        **STATISTICS_TABLES,
    params:
        # the settings (hashed into config_hash) and which input is which run, subject and feature
        settings=statistics_settings(),
        config_hash=statistics_config_hash(),
        alignment_runs=statistics_runs("alignment"),
        lowlevel_runs=statistics_runs("lowlevel"),
        subjects=SUBJECTS,
        features=lowlevel_feature_names(),
    log:
        "logs/statistics/all.log",
    benchmark:
        "benchmarks/statistics/all.tsv"
    threads: 1
    resources:
        mem_mb=4000,
    conda:
        "../envs/ridge.yaml"
    script:
        "../scripts/statistics_tables.py"


rule statistics_voxels:
    """Per-voxel reference-minus-variant differences of the layer-mean alignment (rho, rho/NC) and
    low-level drop of one family and participant."""
    input:
        unpack(_statistics_voxels_inputs),
    output:
        statistics_voxels_path("{family}", "{subject}"),
    params:
        # the settings (hashed into labels.config_hash) and which input is which variant
        settings=statistics_voxels_settings(),
        alignment_variants=lambda w: alignment_variants(w.family),
        lowlevel_variants=lambda w: lowlevel_variants(w.family),
        labels=_statistics_voxels_labels,
    log:
        "logs/statistics_voxels/{family}/{subject}.log",
    benchmark:
        "benchmarks/statistics_voxels/{family}/{subject}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../envs/ridge.yaml"
    script:
        "../scripts/statistics_voxels.py"


rule statistics_curve:
    """The tables of the data-efficiency figure: B per subject and size (mean over layers, seen / new), its mean
    +- SE, paired Wilcoxon tests against alignment.curve.reference_variant per size and fold reductions."""
    input:
        [alignment_curve_path(*run) for run in alignment_curve_runs()],
    output:
        **STATISTICS_CURVE_TABLES,
    params:
        settings=statistics_curve_settings(),
    log:
        "logs/statistics/curve.log",
    benchmark:
        "benchmarks/statistics/curve.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../envs/ridge.yaml"
    script:
        "../scripts/statistics_curve.py"
