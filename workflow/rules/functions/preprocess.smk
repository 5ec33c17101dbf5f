# Functions and settings of the preprocess stage: paths, input functions, settings, targets.
# The rules are in workflow/rules/preprocess.smk (Snakemake's linter asks to keep functions and rules
# in separate files). Speed- and memory-only settings (preprocess.chunk_voxels) are no params: the
# scripts read them from the config, so changing them reruns nothing.

from braintune.preprocess.noise_ceiling import NoiseCeilingSettings
from braintune.preprocess.regions import RegionSettings
from braintune.preprocess.stories import AudioSettings


PREPROCESS = config["preprocess"]


REGIONS = PREPROCESS["regions"]


PREPROCESS_AUDIO = AudioSettings.from_config(PREPROCESS, config["timing"])


PREPROCESS_NOISE_CEILING = NoiseCeilingSettings.from_config(PREPROCESS, config["timing"])


PREPROCESS_REGIONS = RegionSettings.from_config(REGIONS)


# Per-story lists in name order: moving a story between roles changes no list.
PREPROCESS_STORIES = sorted(STORIES)


def preprocess_audio_path(story):
    """Cached float32 mono audio of a story at preprocess.sample_rate."""
    return f"results/preprocess/audio/{story}.npy"


def preprocess_audio_table_path():
    return "results/preprocess/audio/timing.tsv"


def preprocess_noise_ceiling_path(subject):
    return f"results/preprocess/{subject}/noise_ceiling.h5"


def preprocess_regions_path(subject):
    return f"results/preprocess/{subject}/regions.h5"


def preprocess_regions_table_path(subject):
    return f"results/preprocess/{subject}/regions.tsv"


def preprocess_pycortex_path(subject):
    """Writable copy of a subject's pycortex-db (real data; pycortex writes caches into it)."""
    return f"{PREPROCESS['pycortex_filestore']}/{subject}"


def preprocess_pycortex_inputs(subject):
    """Files a rule that draws `subject` with pycortex must depend on (the writable filestore copy)."""
    if DEMO:
        return [data_demo_ground_truth_path()]  # the generator copies S1 into data.demo.pycortex_filestore
    return [preprocess_pycortex_path(subject)]


def _regions_inputs(wildcards):
    subject = wildcards.subject
    inputs = {"test": data_response_path(subject, TEST_STORY)}
    if REGIONS["source"] == "demo":
        inputs["ground_truth"] = data_demo_ground_truth_path()
        return inputs
    if REGIONS["source"] != "glasser":
        return {**inputs, "pycortex": preprocess_pycortex_path(subject)}
    inputs.update({f"annot_{hemi}": data_atlas_annot_path(hemi) for hemi in ("lh", "rh")})
    return {**inputs, **preprocess_surface_inputs(subject)}


def preprocess_surface_inputs(subject):
    """What maps `subject`'s voxels to fsaverage (Glasser regions, the fsaverage common space): its writable
    pycortex folder (`pycortex`), the fsaverage spheres (`fsaverage_<hemi>`) and its sphere.reg (`sphere_<hemi>`)."""
    inputs = {"pycortex": preprocess_pycortex_path(subject)}
    for hemi in ("lh", "rh"):
        inputs[f"fsaverage_{hemi}"] = data_atlas_sphere_path(hemi)
        inputs[f"sphere_{hemi}"] = data_sphere_reg_path(subject, hemi)
    return inputs


def _nc_inputs(wildcards):
    inputs = {"test": data_response_path(wildcards.subject, TEST_STORY)}
    override = PREPROCESS["nc_override"].get(wildcards.subject)
    if override:
        inputs["override"] = override
    return inputs


def preprocess_targets():
    """Final outputs of this stage that the default target `all` requests."""
    return (
        [preprocess_audio_path(s) for s in PREPROCESS_STORIES]
        + [preprocess_noise_ceiling_path(s) for s in SUBJECTS]
        + [preprocess_regions_path(s) for s in SUBJECTS]
    )
