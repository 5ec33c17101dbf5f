"""Snakemake script of rule `alignment`: every layer of one (family, variant, subject)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from threadpoolctl import threadpool_limits

from braintune.alignment.encoding import AlignmentSettings, run_alignment
from braintune.alignment.ridge import RidgeBatches
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = start_job(smk.log[0])
with threadpool_limits(smk.threads):
    table = run_alignment(
        design_paths=dict(zip(smk.params.layers, smk.input.designs, strict=True)),
        response_paths=dict(zip(smk.params.stories, smk.input.responses, strict=True)),
        noise_ceiling_path=smk.input.noise_ceiling,
        regions_path=smk.input.regions,
        settings=AlignmentSettings.from_config(**smk.params.settings),
        out_h5=smk.output.h5,
        out_tsv=smk.output.tsv,
        labels=smk.params.labels,
        batches=RidgeBatches.from_config(smk.config["alignment"]),  # speed only, not in params
    )
log.info("B per region and layer:\n%s", table.to_string(index=False))
