"""Features of every corpus and word occurrence for one (family, variant, owner)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.downstream import run
from braintune.utils import start_job

start_job(snakemake.log[0])
settings = run.EmbedSettings(**snakemake.params.settings)
# downstream.embed_batch_size only sets the speed: read from the config, not a param (no rerun when it changes)
run.embed_variant(settings, run.corpus_paths(settings.corpora, snakemake.input.index), snakemake.input.segments,
                  snakemake.input.get("checkpoint"), snakemake.output[0], dict(snakemake.wildcards.items()),
                  snakemake.config["downstream"]["embed_batch_size"])
