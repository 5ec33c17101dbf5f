# Stage: preprocess (see docs/artifacts.md): audio cache with the per-story consistency check, noise
# ceilings and regions per subject. Few jobs on purpose: one audio job for every story (import costs
# dominate the demo), one noise-ceiling job and one regions job per subject.
#
# Other stages list a subject's stories with braintune.preprocess.available_stories(config, subject,
# split) (dataset.missing_story applied) and use the path helpers below.


rule preprocess_audio:
    input:
        wav=[f"{DATASET}/stimuli/{s}.wav" for s in STORIES],
        textgrid=[f"{DATASET}/derivative/TextGrids/{s}.TextGrid" for s in STORIES],
        respdict=f"{DATASET}/derivative/respdict.json",
    output:
        audio=[preprocess_audio_path(s) for s in STORIES],
        table="results/preprocess/audio/timing.tsv",
    params:
        root=lambda w: DATASET,
        stories=STORIES,
        timing=config["timing"],
        preprocess={k: PREPROCESS[k] for k in ("sample_rate", "grid_tolerance_trs", "textgrid_tolerance_s")},
    log:
        "logs/preprocess_audio/all.log",
    benchmark:
        "benchmarks/preprocess_audio/all.tsv"
    resources:
        mem_mb=2000,
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/preprocess_audio.py"


rule noise_ceiling:
    input:
        unpack(_nc_inputs),
    output:
        noise_ceiling_path("{subject}"),
    params:
        threshold=PREPROCESS["nc_threshold"],
        nc_rows=PREPROCESS["nc_rows"],
        data_norm=PREPROCESS["nc_data_norm"],
        chunk_voxels=PREPROCESS["chunk_voxels"],
        test_trim=config["timing"]["test_trim"],
    log:
        "logs/noise_ceiling/{subject}.log",
    benchmark:
        "benchmarks/noise_ceiling/{subject}.tsv"
    resources:
        mem_mb=4000,
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/preprocess_noise_ceiling.py"


rule regions:
    input:
        unpack(_regions_inputs),
    output:
        h5=regions_path("{subject}"),
        table="results/preprocess/{subject}/regions.tsv",
    params:
        regions=REGIONS,
        pycortex_filestore=PREPROCESS.get("pycortex_filestore"),
    log:
        "logs/regions/{subject}.log",
    benchmark:
        "benchmarks/regions/{subject}.tsv"
    resources:
        mem_mb=4000,
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/preprocess_regions.py"


if config["dataset"]["source"] == "openneuro":

    rule pycortex_filestore:
        """Writable copy of the subject's pycortex-db (pycortex writes caches into it)."""
        input:
            f"{DATASET}/derivative/pycortex-db/{{subject}}",
        output:
            directory(f"{PREPROCESS['pycortex_filestore']}/{{subject}}"),
        log:
            "logs/pycortex_filestore/{subject}.log",
        benchmark:
            "benchmarks/pycortex_filestore/{subject}.tsv"
        conda:
            "../envs/data.yaml"
        shell:
            "cp -r {input} {output} 2> {log} && chmod -R u+w {output}"

    localrules:
        pycortex_filestore,
