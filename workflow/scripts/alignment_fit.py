"""Snakemake script of rule `alignment`: every layer of one (family, variant, subject)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from threadpoolctl import threadpool_limits

from braintune.alignment.encoding import job_arguments, run_alignment
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = start_job(smk.log[0])
with threadpool_limits(smk.threads):
    table = run_alignment(**job_arguments(smk))
log.info("B per region and layer:\n%s", table.to_string(index=False))
