"""Snakemake script of rule `statistics`: tidy tables and Wilcoxon tests of alignment and low-level impact."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.statistics import VoxelSource, run_statistics
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
start_job(smk.log[0])
section = smk.params.statistics
run_statistics(
    alignment=[VoxelSource(**s) for s in smk.params.alignment_sources],
    alignment_tables=list(smk.input.alignment_tables),
    lowlevel=[VoxelSource(**s) for s in smk.params.lowlevel_sources],
    lowlevel_tables=list(smk.input.lowlevel_tables),
    lowlevel_features=smk.params.features,
    outputs=dict(smk.output.items()),
    reference_variant=section["reference_variant"],
    cross_family=section.get("cross_family") or [],
    alpha=section["alpha"],
    alternative=section["alternative"],
    voxel_level=section["voxel_level"],
    config_hash=smk.params.config_hash,
)
