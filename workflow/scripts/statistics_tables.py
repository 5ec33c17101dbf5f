"""Snakemake script of rule `statistics`: tidy tables and Wilcoxon tests of alignment and low-level impact."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.statistics import StatisticsSettings, VoxelSource, run_statistics
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
start_job(smk.log[0])
masks = dict(zip(smk.params.subjects, zip(smk.input.noise_ceiling, smk.input.regions, strict=True), strict=True))


def sources(runs, paths):
    return [VoxelSource(f, v, s, path, *masks[s]) for (f, v, s), path in zip(runs, paths, strict=True)]


run_statistics(
    alignment=sources(smk.params.alignment_runs, smk.input.alignment),
    alignment_tables=list(smk.input.alignment_tables),
    lowlevel=sources(smk.params.lowlevel_runs, smk.input.lowlevel),
    lowlevel_tables=list(smk.input.lowlevel_tables),
    lowlevel_features=smk.params.features,
    outputs=dict(smk.output.items()),
    settings=StatisticsSettings.from_config(smk.params.settings),
    config_hash=smk.params.config_hash,
)
