"""Snakemake script of rule `statistics_voxels`: per-voxel differences between variants (the flatmaps)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.statistics import run_voxel_differences
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
start_job(smk.log[0])
run_voxel_differences(
    alignment=dict(zip(smk.params.alignment_variants, smk.input.alignment, strict=True)),
    lowlevel=dict(zip(smk.params.lowlevel_variants, smk.input.lowlevel, strict=True)),
    reference_variant=smk.params.settings["reference_variant"],
    out_h5=smk.output[0],
    labels=smk.params.labels,
)
