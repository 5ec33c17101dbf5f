# Functions and settings of the preprocess stage: paths, input functions, resources, targets.
# The rules themselves are in workflow/rules/preprocess.smk (Snakemake's linter asks to keep
# functions and rules in separate files).

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


def preprocess_targets():
    """Final outputs of this stage that the default target `all` requests."""
    return (
        [preprocess_audio_path(s) for s in STORIES]
        + [noise_ceiling_path(s) for s in SUBJECTS]
        + [regions_path(s) for s in SUBJECTS]
    )
