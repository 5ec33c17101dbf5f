"""d per layer for every evaluated model (appendix C)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.downstream import run
from braintune.utils import start_job

start_job(snakemake.log[0])
paths = dict(zip([tuple(m) for m in snakemake.params.models], snakemake.input.embeddings))
run.preference_table({"preference": snakemake.params.preference, "seed": snakemake.params.seed}, paths,
                     snakemake.input.wordset, snakemake.output[0])
