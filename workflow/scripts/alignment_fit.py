"""Snakemake script of rule `alignment`: every layer of one (family, variant, subject)."""

from threadpoolctl import threadpool_limits

from braintune.alignment.encoding import job_arguments, run_alignment
from braintune.utils import setup_logging

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = setup_logging(smk.log[0])
with threadpool_limits(smk.threads):
    table = run_alignment(**job_arguments(smk))
log.info("B per region and layer:\n%s", table.to_string(index=False))
