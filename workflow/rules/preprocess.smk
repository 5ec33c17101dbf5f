# Stage: preprocess (see docs/artifacts.md): audio cache with the per-story consistency check, noise
# ceilings and regions per subject. Few jobs on purpose: one audio job for every story (import costs
# dominate the demo), one noise-ceiling job and one regions job per subject. Paths, settings and
# input functions: workflow/rules/functions/preprocess.smk.


rule preprocess_audio:
    input:
        wav=[data_stimulus_path(s) for s in PREPROCESS_STORIES],
        textgrid=[data_textgrid_path(s) for s in PREPROCESS_STORIES],
        respdict=data_respdict_path(),
    output:
        audio=[preprocess_audio_path(s) for s in PREPROCESS_STORIES],
        table=preprocess_audio_table_path(),
    params:
        stories=PREPROCESS_STORIES,
        settings=PREPROCESS_AUDIO.params(),
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


rule preprocess_noise_ceiling:
    input:
        unpack(_nc_inputs),
    output:
        preprocess_noise_ceiling_path("{subject}"),
    params:
        settings=PREPROCESS_NOISE_CEILING.params(),
    log:
        "logs/preprocess_noise_ceiling/{subject}.log",
    benchmark:
        "benchmarks/preprocess_noise_ceiling/{subject}.tsv"
    resources:
        mem_mb=4000,
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/preprocess_noise_ceiling.py"


rule preprocess_regions:
    input:
        unpack(_regions_inputs),
    output:
        h5=preprocess_regions_path("{subject}"),
        table=preprocess_regions_table_path("{subject}"),
    params:
        settings=PREPROCESS_REGIONS.params(),
    log:
        "logs/preprocess_regions/{subject}.log",
    benchmark:
        "benchmarks/preprocess_regions/{subject}.tsv"
    resources:
        mem_mb=4000,
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/preprocess_regions.py"


if DOWNLOAD_ACTIVE:

    rule preprocess_pycortex:
        """Writable copy of the subject's pycortex-db (pycortex writes caches into it)."""
        input:
            data_pycortex_db_path("{subject}"),
        output:
            directory(preprocess_pycortex_path("{subject}")),
        log:
            "logs/preprocess_pycortex/{subject}.log",
        benchmark:
            "benchmarks/preprocess_pycortex/{subject}.tsv"
        conda:
            "../envs/data.yaml"
        shell:
            "cp -r {input} {output} 2> {log} && chmod -R u+w {output}"

    localrules:
        preprocess_pycortex,
