# Stage: alignment (docs/artifacts.md): voxelwise encoding models of every layer of a checkpoint
# (docs/decisions.md 7). One job per (family, variant, subject) covers every layer: the subject's
# responses are read once and every layer uses the same seeded bootstrap splits.
# Pretrained (shared) checkpoints are aligned for every subject; subject-specific variants use the
# subject's own checkpoint (braintune.config.checkpoint_owner).


rule alignment:
    """Encoding models of every layer of one checkpoint for one subject: rho, alpha, rho/NC per
    voxel and B per region (docs/decisions.md 7)."""
    input:
        unpack(_alignment_inputs),
    output:
        h5=alignment_path("{family}", "{variant}", "{subject}"),
        tsv=alignment_table_path("{family}", "{variant}", "{subject}"),
    params:
        # the settings (hashed into labels.config_hash) and which input is which layer and story;
        # batch sizes are speed-only: the script reads them from the config
        settings=alignment_settings(),
        layers=_alignment_layers,
        stories=_alignment_response_stories,
        labels=_alignment_labels,
    log:
        "logs/alignment/{family}/{variant}/{subject}.log",
    benchmark:
        "benchmarks/alignment/{family}/{variant}/{subject}.tsv"
    threads: ALIGNMENT["threads"]
    resources:
        gpu=_alignment_backend_gpu(),
        # responses (float64 on disk -> float32), weights and himalaya's batches
        mem_mb=lambda w, input: int(ALIGNMENT["mem_mb"] + input.size_mb),
        # minutes, for cluster executors: a real layer takes ~1 min on a GPU, 15-40 min on 8 cores
        runtime=lambda w: (2 if _alignment_backend_gpu() else 45) * len(config["models"][w.family]["layers"]),
    conda:
        "../envs/ridge.yaml"
    script:
        "../scripts/alignment_fit.py"


rule alignment_curve:
    """Data-efficiency curve of one checkpoint for one subject: the encoding model of every layer refitted on
    nested subsets of the alignment train stories (alignment.curve.sizes; braintune.alignment.curve)."""
    input:
        unpack(_alignment_inputs),
    output:
        alignment_curve_path("{family}", "{variant}", "{subject}"),
    params:
        settings=alignment_settings(),
        curve=alignment_curve_settings(),
        layers=_alignment_layers,
        stories=_alignment_response_stories,
        labels=_alignment_labels,
    log:
        "logs/alignment_curve/{family}/{variant}/{subject}.log",
    benchmark:
        "benchmarks/alignment_curve/{family}/{variant}/{subject}.tsv"
    threads: ALIGNMENT["threads"]
    resources:
        gpu=_alignment_backend_gpu(),
        mem_mb=lambda w, input: int(ALIGNMENT["mem_mb"] + input.size_mb),
        runtime=lambda w: (2 if _alignment_backend_gpu() else 45) * len(config["models"][w.family]["layers"])
        * len(ALIGNMENT["curve"]["sizes"]),
    conda:
        "../envs/ridge.yaml"
    script:
        "../scripts/alignment_curve.py"
