# Stage: data (see docs/artifacts.md): the ds003020 files under data.root, generated (demo) or
# downloaded (openneuro); every path comes from workflow/rules/functions/data.smk.
#
# demo (braintune.data.demo), in two jobs so that a change of the response model does not rerun what
# reads only the stimuli:
#   data_demo_stimuli:   stories -> stimuli/*.wav, TextGrids, respdict.json (+ the stories' metadata)
#   data_demo_responses: stimuli -> preprocessed_data/*/*.hf5 of every subject + the ground truth
# Both depend on the set of story names and the test story, not on the other roles of a story.
#
# openneuro (braintune.data.download):
# 1. data_manifest: the dataset's git tree at data.download.tag (shallow clone, no checkout) gives every
#    file's size and MD5 (git-annex MD5E keys) -> data.download.manifest (TSV).
# 2. One data_download_<job> job per group of files (stimuli, transcripts, each subject's responses,
#    pycortex-db folder and FreeSurfer spheres) and data_atlas (the Glasser atlas): their outputs are
#    exactly the files the config needs, so `snakemake -n` lists them. Files are streamed from the
#    public S3 export, resumed, retried and verified against the manifest's MD5s, so the network
#    settings (data.download.base_url, max_parallel, retries, backoff_s, timeout_s, min_free_gb) change no
#    result: the scripts read them from the config, they are not params.
# The file list depends on the config alone; the manifest adds sizes and tells which stories exist.
# It is a plain rule, not a checkpoint: once it has been fetched (one quick job), every later
# invocation, dry runs included, prints the plan's total size and skips stories the dataset lacks
# (data.missing_story); before that, data.download.known_missing lists them.


if DEMO:

    rule data_demo_stimuli:
        """Synthesise every story (espeak-ng), write its 44.1 kHz WAV, its Praat TextGrid and respdict.json."""
        output:
            wav=_demo_stimulus_files("wav"),
            textgrid=_demo_stimulus_files("textgrid"),
            respdict=_demo_stimulus_files("respdict"),
            metadata=data_demo_metadata_path(),
        params:
            settings=DEMO_STIMULI.params(),
        log:
            "logs/data_demo_stimuli/data_demo_stimuli.log",
        benchmark:
            "benchmarks/data_demo_stimuli/data_demo_stimuli.tsv"
        threads: 1
        resources:
            mem_mb=1500,
            runtime=10,
        conda:
            "../envs/data.yaml"
        script:
            "../scripts/data_demo_stimuli.py"

    rule data_demo_responses:
        """Sample every subject's responses from the generative model (pycortex S1 voxels, planted
        regions) and write the ground truth. data.demo.pycortex_filestore receives a writable copy of S1
        (the script reads the path from the config: pycortex caches land there, it is no output)."""
        input:
            wav=_demo_stimulus_files("wav"),
            textgrid=_demo_stimulus_files("textgrid"),
            respdict=_demo_stimulus_files("respdict"),
            metadata=data_demo_metadata_path(),
        output:
            ground_truth=data_demo_ground_truth_path(),
            responses=_demo_response_files(),
        params:
            settings=DEMO_RESPONSES.params(),
        log:
            "logs/data_demo_responses/data_demo_responses.log",
        benchmark:
            "benchmarks/data_demo_responses/data_demo_responses.tsv"
        threads: 1
        resources:
            mem_mb=3000,
            runtime=15,
        conda:
            "../envs/data.yaml"
        script:
            "../scripts/data_demo_responses.py"


if DOWNLOAD_ACTIVE:
    _PLAN = download_plan()
    if os.path.exists(DOWNLOAD["manifest"]):
        _MANIFEST = bt_read_manifest(DOWNLOAD["manifest"])
    else:
        _MANIFEST = None
    print(
        btdownload.plan_summary(_PLAN, _MANIFEST, DATASET, tuple(DOWNLOAD["exclude"])),
        file=sys.stderr,
    )

    rule data_manifest:
        output:
            DOWNLOAD["manifest"],
        params:
            repo=DOWNLOAD["repository"],
            tag=DOWNLOAD["tag"],
        log:
            "logs/data_manifest/manifest.log",
        benchmark:
            "benchmarks/data_manifest/manifest.tsv"
        conda:
            "../envs/data.yaml"
        script:
            "../scripts/data_manifest.py"

    for _job, _paths in _PLAN.items():

        rule:
            name:
                f"data_download_{_job}"
            input:
                manifest=DOWNLOAD["manifest"],
            output:
                [_download_output(p) for p in _paths],
            params:
                exclude=DOWNLOAD["exclude"],
            threads: int(DOWNLOAD["max_parallel"])
            log:
                f"logs/data_download_{_job}/{_job}.log",
            benchmark:
                f"benchmarks/data_download_{_job}/{_job}.tsv"
            conda:
                "../envs/data.yaml"
            script:
                "../scripts/data_download.py"

        DOWNLOAD_RULES.append(f"data_download_{_job}")

    if data_atlas_files():

        rule data_atlas:
            output:
                list(data_atlas_files()),
            params:
                urls=list(data_atlas_files().values()),
                md5=DOWNLOAD["atlas"].get("md5", {}),
            log:
                "logs/data_atlas/atlas.log",
            benchmark:
                "benchmarks/data_atlas/atlas.tsv"
            conda:
                "../envs/data.yaml"
            script:
                "../scripts/data_atlas.py"

        DOWNLOAD_RULES.append("data_atlas")

    # Downloads run on the submitting host (no compute node needs internet): localrules.
    workflow.localrules("data_manifest", *DOWNLOAD_RULES)
