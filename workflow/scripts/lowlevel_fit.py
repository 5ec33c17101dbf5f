"""Snakemake script of rule `lowlevel`: every low-level feature x layer of one (family, variant, subject)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from threadpoolctl import threadpool_limits

from braintune.alignment.encoding import job_arguments
from braintune.alignment.lowlevel import residual_lambdas, run_lowlevel
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = start_job(smk.log[0])
section = smk.params.lowlevel
grid = section["lambdas"]
with threadpool_limits(smk.threads):
    table = run_lowlevel(
        **job_arguments(smk),
        lowlevel_paths=dict(zip(smk.params.features, smk.input.lowlevel)),
        train_stories=smk.params.train_stories,
        test_story=smk.params.test_story,
        lambdas=residual_lambdas(grid["log10_min"], grid["log10_max"], grid["n"]),
        n_folds=section["n_folds"],
        alignment_path=smk.input.get("alignment"),
    )
log.info("low-level impact R per region, layer and feature:\n%s", table.to_string(index=False))
