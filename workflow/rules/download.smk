# Stage: download (see docs/artifacts.md). Active only when dataset.source == openneuro.
#
# 1. download_manifest: the dataset's git tree at download.tag (shallow clone, no checkout) gives every
#    file's size and MD5 (git-annex MD5E keys) -> download.manifest (TSV).
# 2. One download job per group of files (stimuli, transcripts, each subject's responses, pycortex-db
#    folder and FreeSurfer spheres, the Glasser atlas): its outputs are exactly the files the config
#    needs, so `snakemake -n` lists them. Files are streamed from the public S3 export, resumed,
#    retried and verified (braintune.data.download).
# The file list depends on the config alone; the manifest adds sizes and tells which stories exist.
# It is a plain rule, not a checkpoint: once it has been fetched (one quick job), every later
# invocation, dry runs included, prints the plan's total size and skips stories the dataset lacks
# (dataset.missing_story); before that, download.known_missing lists them.


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

    rule download_manifest:
        output:
            DOWNLOAD["manifest"],
        params:
            repo=DOWNLOAD["repository"],
            tag=DOWNLOAD["tag"],
        log:
            "logs/download_manifest/manifest.log",
        benchmark:
            "benchmarks/download_manifest/manifest.tsv"
        conda:
            "../envs/data.yaml"
        script:
            "../scripts/download_manifest.py"

    for _job, _paths in _PLAN.items():

        rule:
            name:
                f"download_{_job}"
            input:
                manifest=DOWNLOAD["manifest"],
            output:
                [_download_output(p) for p in _paths],
            params:
                paths=_paths,
                root=DATASET,
                download={k: v for k, v in DOWNLOAD.items() if k != "atlas"},
            threads: int(DOWNLOAD["max_parallel"])
            log:
                f"logs/download/{_job}.log",
            benchmark:
                f"benchmarks/download/{_job}.tsv"
            conda:
                "../envs/data.yaml"
            script:
                "../scripts/download_files.py"

        DOWNLOAD_RULES.append(f"download_{_job}")

    if atlas_files():

        rule download_atlas:
            output:
                list(atlas_files()),
            params:
                urls=list(atlas_files().values()),
                download={k: v for k, v in DOWNLOAD.items() if k != "atlas"},
                md5=DOWNLOAD["atlas"].get("md5", {}),
            log:
                "logs/download_atlas/atlas.log",
            benchmark:
                "benchmarks/download_atlas/atlas.tsv"
            conda:
                "../envs/data.yaml"
            script:
                "../scripts/download_atlas.py"

        DOWNLOAD_RULES.append("download_atlas")

    # Downloads run on the submitting host (no compute node needs internet): localrules.
    workflow.localrules("download_manifest", *DOWNLOAD_RULES)
