# Stage: commonspace (docs/artifacts.md): the shared space of the multi-participant brain-tuning and each
# training participant's projection to it (braintune.commonspace; Moussa & Toneva, NeurIPS 2025).
# fsaverage: vertices of commonspace.parcels reached through each participant's surface; identity (the
# demo): the voxels of the miniature's undilated planted regions, every participant's responses being in
# one voxel space. Paths, settings and input functions: workflow/rules/functions/commonspace.smk.
# Library: braintune.commonspace (tests/test_commonspace.py).


rule commonspace_space:
    """The K outputs shared by every participant."""
    input:
        unpack(_commonspace_space_inputs),
    output:
        commonspace_space_path(),
    params:
        settings=COMMONSPACE_SETTINGS.params(),
    log:
        "logs/commonspace_space/space.log",
    benchmark:
        "benchmarks/commonspace_space/space.tsv"
    resources:
        mem_mb=2000,
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/commonspace_space.py"


rule commonspace_projection:
    """One participant's sparse projection (native voxels x K) to the shared space."""
    input:
        unpack(_commonspace_projection_inputs),
    output:
        commonspace_projection_path("{subject}"),
    params:
        settings=COMMONSPACE_SETTINGS.params(),
    log:
        "logs/commonspace_projection/{subject}.log",
    benchmark:
        "benchmarks/commonspace_projection/{subject}.tsv"
    resources:
        mem_mb=4000,
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/commonspace_projection.py"
