# Stage: preprocess (see docs/artifacts.md): audio cache with the per-story consistency check, noise
# ceilings and regions per subject. Few jobs on purpose: one audio job for every story (import costs
# dominate the demo), one noise-ceiling job and one regions job per subject.
#
# Other stages list a subject's stories with braintune.preprocess.available_stories(config, subject,
# split) (dataset.missing_story applied) and use the path helpers below.

from braintune import preprocess as btpreprocess
from braintune.responses import response_path as bt_response_path

PREPROCESS = config["preprocess"]
REGIONS = PREPROCESS["regions"]


def preprocess_audio_path(story):
    """Cached float32 mono audio of a story at preprocess.sample_rate."""
    return f"results/preprocess/audio/{story}.npy"


def noise_ceiling_path(subject):
    return f"results/preprocess/{subject}/noise_ceiling.h5"


def regions_path(subject):
    return f"results/preprocess/{subject}/regions.h5"


def available_stories(subject, split):
    """Stories of `split` that `subject` has (dataset.missing_story applied; see braintune.preprocess)."""
    return btpreprocess.available_stories(config, subject, split)


def pycortex_inputs(subject):
    """Files a rule that draws `subject` with pycortex must depend on (the writable filestore copy)."""
    if config["dataset"]["source"] == "demo":
        return [config["demo"]["ground_truth"]]  # the generator copies S1 into demo.pycortex_filestore
    return [f"{PREPROCESS['pycortex_filestore']}/{subject}"]


def _regions_inputs(wildcards):
    subject = wildcards.subject
    inputs = {"test": str(bt_response_path(DATASET, subject, TEST_STORY))}
    if REGIONS["source"] == "demo":
        inputs["ground_truth"] = config["demo"]["ground_truth"]
        return inputs
    inputs["pycortex"] = f"{PREPROCESS['pycortex_filestore']}/{subject}"
    if REGIONS["source"] == "glasser":
        atlas = config["download"]["atlas"]["dir"]
        for hemi in ("lh", "rh"):
            inputs[f"annot_{hemi}"] = f"{atlas}/{hemi}.HCP-MMP1.annot"
            inputs[f"fsaverage_{hemi}"] = f"{atlas}/{hemi}.fsaverage.sphere.surf.gii"
            inputs[f"sphere_{hemi}"] = f"{DATASET}/derivative/freesurfer_subjdir/{subject}/surf/{hemi}.sphere.reg"
    return inputs


def _nc_inputs(wildcards):
    inputs = {"test": str(bt_response_path(DATASET, wildcards.subject, TEST_STORY))}
    override = (PREPROCESS.get("nc_override") or {}).get(wildcards.subject)
    if override:
        inputs["override"] = override
    return inputs


rule preprocess_audio:
    input:
        wav=[f"{DATASET}/stimuli/{s}.wav" for s in STORIES],
        textgrid=[f"{DATASET}/derivative/TextGrids/{s}.TextGrid" for s in STORIES],
        respdict=f"{DATASET}/derivative/respdict.json",
    output:
        audio=[preprocess_audio_path(s) for s in STORIES],
        table="results/preprocess/audio/timing.tsv",
    params:
        root=DATASET,
        stories=STORIES,
        timing=config["timing"],
        preprocess={k: PREPROCESS[k] for k in ("sample_rate", "grid_tolerance_trs", "textgrid_tolerance_s")},
    log:
        "logs/preprocess_audio/all.log",
    benchmark:
        "benchmarks/preprocess_audio/all.tsv"
    resources:
        mem_mb=2000,
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
        shell:
            "cp -r {input} {output} 2> {log} && chmod -R u+w {output}"

    localrules:
        pycortex_filestore,


def preprocess_targets():
    """Final outputs of this stage that `rule all` requests."""
    return (
        [preprocess_audio_path(s) for s in STORIES]
        + [noise_ceiling_path(s) for s in SUBJECTS]
        + [regions_path(s) for s in SUBJECTS]
    )
