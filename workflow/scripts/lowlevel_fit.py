"""Snakemake script of rule `lowlevel`: every low-level feature x layer of one (family, variant, subject)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from threadpoolctl import threadpool_limits

from braintune.alignment.encoding import AlignmentSettings
from braintune.alignment.ridge import RidgeBatches
from braintune.lowlevel.impact import LowlevelSettings, run_lowlevel
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = start_job(smk.log[0])
settings = dict(smk.params.settings)
settings["alignment"] = AlignmentSettings.from_config(**settings["alignment"])
with threadpool_limits(smk.threads):
    table = run_lowlevel(
        design_paths=dict(zip(smk.params.layers, smk.input.designs, strict=True)),
        lowlevel_paths=dict(zip(smk.params.features, smk.input.lowlevel, strict=True)),
        response_paths=dict(zip(smk.params.stories, smk.input.responses, strict=True)),
        noise_ceiling_path=smk.input.noise_ceiling,
        regions_path=smk.input.regions,
        settings=LowlevelSettings.from_config(**settings),
        out_h5=smk.output.h5,
        out_tsv=smk.output.tsv,
        labels=smk.params.labels,
        alignment_path=smk.input.get("alignment"),
        batches=RidgeBatches.from_config(smk.config["alignment"]),  # speed only, not in params
    )
log.info("low-level impact R per region, layer and feature:\n%s", table.to_string(index=False))
