# Functions and settings of the commonspace stage: paths, input functions, settings, targets.
# The rules are in workflow/rules/commonspace.smk. The stage exists only when a family lists the
# multi-participant variant (multibraintuned): its projections are that training's targets.

from braintune.commonspace.run import CommonSpaceSettings


COMMONSPACE = config["commonspace"]


COMMONSPACE_SETTINGS = CommonSpaceSettings.from_config(COMMONSPACE, REGIONS)


# Participants whose responses are projected: those the group model is tuned on.
COMMONSPACE_SUBJECTS = list(config["braintuning"]["multi"]["train_subjects"]) if btconfig.multi_families(config) else []


def commonspace_space_path():
    """The shared space (HDF5, braintune.commonspace.projection.write_space)."""
    return "results/commonspace/space.h5"


def commonspace_projection_path(subject):
    """One participant's projection to the shared space (HDF5, write_projection)."""
    return f"results/commonspace/{subject}/projection.h5"


def _commonspace_space_inputs(wildcards):
    if COMMONSPACE["method"] == "identity":
        return {"ground_truth": data_demo_ground_truth_path()}
    return {f"annot_{hemi}": data_atlas_annot_path(hemi) for hemi in ("lh", "rh")}


def _commonspace_projection_inputs(wildcards):
    inputs = {"space": commonspace_space_path(), "test": data_response_path(wildcards.subject, TEST_STORY)}
    if COMMONSPACE["method"] == "fsaverage":
        inputs.update(preprocess_surface_inputs(wildcards.subject))
    return inputs


def commonspace_targets():
    """Final outputs of this stage that the default target `all` requests (none without multibraintuned)."""
    if not COMMONSPACE_SUBJECTS:
        return []
    return [commonspace_space_path()] + [commonspace_projection_path(s) for s in COMMONSPACE_SUBJECTS]
