"""Snakemake script of rule `alignment_curve`: the data-efficiency curve of one (family, variant, subject)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from threadpoolctl import threadpool_limits

from braintune.alignment.curve import run_curve
from braintune.alignment.encoding import AlignmentSettings
from braintune.alignment.ridge import RidgeBatches
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = start_job(smk.log[0])
with threadpool_limits(smk.threads):
    table = run_curve(
        design_paths=dict(zip(smk.params.layers, smk.input.designs, strict=True)),
        response_paths=dict(zip(smk.params.stories, smk.input.responses, strict=True)),
        noise_ceiling_path=smk.input.noise_ceiling,
        regions_path=smk.input.regions,
        settings=AlignmentSettings.from_config(**smk.params.settings),
        sizes=list(smk.params.curve["sizes"]),
        order=smk.params.curve["order"],
        tr_s=float(smk.params.curve["tr_s"]),
        out_tsv=smk.output[0],
        labels=smk.params.labels,
        batches=RidgeBatches.from_config(smk.config["alignment"]),  # speed only, not in params
    )
log.info("B per size, region and layer:\n%s", table.to_string(index=False))
