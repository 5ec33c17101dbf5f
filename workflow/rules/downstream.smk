# Stage: downstream (docs/artifacts.md; braintune.downstream). Paper 3.4.3, appendices B, D, E.
#
#   downstream_demo_data | downstream_download_<corpus>  ->  downstream_index
#   -> downstream_embed (one job per family x variant x owner: features of every corpus and word occurrence,
#      cached as HDF5) -> downstream_probe (one job per family x variant x owner: every task x layer)
#   and downstream_asr (CTC fine-tuning of the whole model, one job per family x variant x owner)
#   -> downstream_collect -> downstream_figures (figs 4, 9, 10, 11, 12)


rule downstream_demo_data:
    """Stand-ins of TIMIT, Speech Commands, CREMA-D, SLURP and the preference word corpus, written
    with the synthesiser in each real corpus' layout (demo only)."""
    output:
        touch(f"{DS.get('demo', {}).get('root', 'resources/demo/downstream')}/.complete"),
    params:
        demo=DS.get("demo"),
        preference=lambda w: {k: (config.get("preference") or {}).get(k) for k in ("max_phonetic_distance", "max_neighbours")},
        seed=config["seed"],
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
            touch(f"{DS_DATA.get(_corpus, {}).get('path', f'resources/downstream/{_corpus}')}/.complete"),
        params:
            corpus=_corpus,
            cfg=DS_DATA.get(_corpus),
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
    """Corpus indices (tidy TSV, standard speaker-disjoint splits), TIMIT's MFCC/FBANK targets and the
    majority-class baselines."""
    input:
        lambda w: [m for c in DS_CORPORA for m in [downstream_corpus_ready(c)] if m],
    output:
        index=list(DS_INDEX.values()),
        targets="results/downstream/index/timit_targets.h5",
        baselines="results/downstream/baselines.tsv",
    params:
        downstream=lambda w: {k: DS.get(k) for k in ("tasks", "datasets", "acoustic", "max_items")},
        seed=config["seed"],
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
        unpack(lambda w: {"checkpoint": downstream_checkpoint(w)} if downstream_checkpoint(w) else {}),
        index=list(DS_INDEX.values()),
        segments="results/preference/segments.tsv",
    output:
        downstream_embeddings_path("{family}", "{variant}", "{owner}"),
    params:
        embed=lambda w: {k: DS.get(k) for k in ("layers", "embed_batch_size", "max_audio_s")},
        model=lambda w: config["models"][w.family],
        compute=config.get("compute"),
        seed=config["seed"],
        corpora=DS_CORPORA,
    threads: 1
    resources:
        mem_mb=8000,
        gpu=1 if config.get("compute", {}).get("device") == "cuda" else 0,
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
        index=list(DS_INDEX.values()),
        targets="results/downstream/index/timit_targets.h5",
    output:
        downstream_probe_path("{family}"),
    params:
        tasks=DS.get("tasks"),
        probe=DS.get("probe"),
        seed=config["seed"],
        corpora=DS_CORPORA,
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
        unpack(lambda w: {"checkpoint": downstream_checkpoint(w)} if downstream_checkpoint(w) else {}),
        timit="results/downstream/index/timit.tsv",
    output:
        scores="results/downstream/asr/{family}/{variant}/{owner}.tsv",
        curve="results/downstream/asr/{family}/{variant}/{owner}.json",
    params:
        asr=DS.get("asr"),
        model=lambda w: config["models"][w.family],
        compute=config.get("compute"),
        seed=config["seed"],
    threads: 1
    resources:
        mem_mb=16000,
        gpu=1 if config.get("compute", {}).get("device") == "cuda" else 0,
    log:
        "logs/downstream_asr/{family}/{variant}/{owner}.log",
    benchmark:
        "benchmarks/downstream_asr/{family}/{variant}/{owner}.tsv"
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/downstream_asr.py"


rule downstream_collect:
    """All scores in one long table, per-(model, owner) layer means in a summary table."""
    input:
        probes=[downstream_probe_path(f) for f in sorted({m[0] for m in downstream_models()})],
        asr=[f"results/downstream/asr/{f}/{v}/{o}.tsv" for f, v, o in downstream_asr_models()],
        baselines="results/downstream/baselines.tsv",
    output:
        scores="results/downstream/scores.tsv",
        summary="results/downstream/summary.tsv",
    log:
        "logs/downstream_collect/collect.log",
    benchmark:
        "benchmarks/downstream_collect/collect.tsv"
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/downstream_collect.py"


rule downstream_figures:
    """Figures 4 (a-f), 9, 10, 11 and 12 of the paper from the tidy tables."""
    input:
        summary="results/downstream/summary.tsv",
        baselines="results/downstream/baselines.tsv",
    output:
        **{
            f"{name}_{ext}": report(f"results/figures/{name}.{ext}", caption=f"../report/{rst}", category="Downstream")
            for name, rst in DS_FIGS.items()
            for ext in ("pdf", "png")
        },
    params:
        figures=DS.get("figures"),
        families=list(config.get("models") or {}),
        n_train_stories=len(config["stories"]["braintuning_train"]),
    log:
        "logs/downstream_figures/figures.log",
    benchmark:
        "benchmarks/downstream_figures/figures.tsv"
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/downstream_figures.py"
