# Stage: downstream (docs/artifacts.md; braintune.downstream). Paper 3.4.3, appendices B, D, E.
#
#   downstream_demo_data | downstream_download_<corpus>  ->  downstream_index
#   -> downstream_embed (one job per family x variant x owner: features of every corpus and word occurrence,
#      cached as HDF5) -> downstream_probe (one job per family x variant x owner: every task x layer)
#   and downstream_asr (CTC fine-tuning of the whole model, one job per family x variant x owner)
#   -> downstream_collect (scores, layer means, participant means) -> figures_downstream (figs 4, 9-12)
#
# Paths: workflow/rules/functions/downstream.smk. Params hold exactly the settings that change a result
# (braintune.downstream.run.*Settings); downstream.embed_batch_size only sets the speed and is read from
# the config by the script.


rule downstream_demo_data:
    """Stand-ins of TIMIT, Speech Commands, CREMA-D, SLURP and the preference word corpus, written
    with the synthesiser in each real corpus' layout (demo only)."""
    output:
        touch(downstream_demo_marker()),
    params:
        settings=downstream_demo_settings(),
    log:
        "logs/downstream_demo_data/demo.log",
    benchmark:
        "benchmarks/downstream_demo_data/demo.tsv"
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/downstream_demo_data.py"


for _corpus in DS_PUBLIC:

    rule:
        name:
            f"downstream_download_{_corpus}"
        output:
            touch(downstream_download_marker(_corpus)),
        params:
            corpus=_corpus,
            download=DS_DATA[_corpus]["download"],
        log:
            f"logs/downstream_download/{_corpus}.log",
        benchmark:
            f"benchmarks/downstream_download/{_corpus}.tsv"
        resources:
            downloads=1,
        conda:
            "../envs/torch.yaml"
        script:
            "../scripts/downstream_download.py"


localrules:
    downstream_download_speech_commands,
    downstream_download_crema_d,
    downstream_download_slurp,


rule downstream_index:
    """Corpus indices (tidy TSV, standard speaker-disjoint splits, audio paths as the corpus directory is
    configured), TIMIT's MFCC/FBANK targets and the majority-class baselines."""
    input:
        lambda w: sorted({m for c in DS_CORPORA for m in downstream_corpus_ready(c)}),
    output:
        index=[downstream_index_path(c) for c in DS_CORPORA],
        targets=downstream_acoustic_targets_path(),
        baselines=downstream_baselines_path(),
    params:
        settings=downstream_index_settings(),
    log:
        "logs/downstream_index/index.log",
    benchmark:
        "benchmarks/downstream_index/index.tsv"
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/downstream_index.py"


rule downstream_embed:
    """Mean-pooled features of every corpus and word occurrence for one checkpoint (HDF5 cache)."""
    input:
        unpack(downstream_checkpoint),
        index=[downstream_index_path(c) for c in DS_CORPORA],
        segments=lambda w: preference_segments_path(),  # functions/preference.smk is included later
    output:
        downstream_embeddings_path("{family}", "{variant}", "{owner}"),
    params:
        settings=downstream_embed_settings,
    threads: 1
    resources:
        mem_mb=8000,
        gpu=downstream_gpu(),
    log:
        "logs/downstream_embed/{family}/{variant}/{owner}.log",
    benchmark:
        "benchmarks/downstream_embed/{family}/{variant}/{owner}.tsv"
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/downstream_embed.py"


rule downstream_probe:
    """Every probe task x layer of every checkpoint of one family, from their cached features (one
    job per family: a probe on pooled features is far cheaper than starting a job)."""
    input:
        embeddings=downstream_family_embeddings,
        index=[downstream_index_path(c) for c in DS_PROBE_CORPORA],
        targets=downstream_acoustic_targets_path(),
    output:
        downstream_probe_path("{family}"),
    params:
        settings=downstream_probe_settings(),
        checkpoints=downstream_family_checkpoints,
    threads: 1
    resources:
        runtime=downstream_probe_runtime,
    log:
        "logs/downstream_probe/{family}.log",
    benchmark:
        "benchmarks/downstream_probe/{family}.tsv"
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/downstream_probe.py"


rule downstream_asr:
    """CTC fine-tuning of the whole model on TIMIT train; 1 - WER on TIMIT test."""
    input:
        unpack(downstream_checkpoint),
        timit=downstream_index_path("timit"),
    output:
        scores=downstream_asr_path("{family}", "{variant}", "{owner}", "tsv"),
        curve=downstream_asr_path("{family}", "{variant}", "{owner}", "json"),
    params:
        settings=downstream_asr_settings,
    threads: 1
    resources:
        mem_mb=16000,
        gpu=downstream_gpu(),
    log:
        "logs/downstream_asr/{family}/{variant}/{owner}.log",
    benchmark:
        "benchmarks/downstream_asr/{family}/{variant}/{owner}.tsv"
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/downstream_asr.py"


rule downstream_collect:
    """All scores in one long table, per-(model, owner) layer means in a summary table, and what the
    figures show: per family x variant x task the plotted metric's mean +- SE across participants, the
    majority baseline, the gain over pretrained, the model size and the brain-tuning data size."""
    input:
        probes=[downstream_probe_path(f) for f in sorted({m[0] for m in downstream_models()})],
        asr=[downstream_asr_path(f, v, o, "tsv") for f, v, o in downstream_asr_models()],
        baselines=downstream_baselines_path(),
    output:
        scores=downstream_table_path("scores"),
        summary=downstream_table_path("summary"),
        means=downstream_table_path("means"),
    params:
        settings=downstream_collect_settings(),
    log:
        "logs/downstream_collect/collect.log",
    benchmark:
        "benchmarks/downstream_collect/collect.tsv"
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/downstream_collect.py"
