"""Features of every corpus and word occurrence for one (family, variant, owner)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.downstream import run
from braintune.utils import start_job

start_job(snakemake.log[0])
w = snakemake.wildcards
config = {"downstream": snakemake.params.embed, "seed": snakemake.params.seed, "compute": snakemake.params.compute,
          "models": {w.family: snakemake.params.model}}
index = {c: f"results/downstream/index/{c}.tsv" for c in snakemake.params.corpora}
run.embed_variant(config, w.family, w.variant, w.owner, snakemake.input.get("checkpoint") or None, index,
                  snakemake.input.segments, snakemake.output[0])
