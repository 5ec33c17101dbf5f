"""Snakemake script of rule `statistics_curve`: the tables of the data-efficiency figure."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.statistics import run_curve_tables
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
start_job(smk.log[0])
settings = smk.params.settings
run_curve_tables(
    list(smk.input),
    settings["reference_variant"],
    list(settings["seen_subjects"]),
    outputs=dict(smk.output.items()),
    alternative=settings["alternative"],
)
