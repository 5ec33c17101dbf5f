"""d per layer for every evaluated model and its mean across participants (appendix C)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.preference import run
from braintune.utils import start_job

start_job(snakemake.log[0])
embeddings = dict(zip([tuple(m) for m in snakemake.params.models], snakemake.input.embeddings, strict=True))
run.preference_table(run.PreferenceSettings(**snakemake.params.settings), embeddings, snakemake.input.wordset,
                     snakemake.output.table, snakemake.output.means)
