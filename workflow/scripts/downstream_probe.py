"""Every probe task x layer of every checkpoint of one family from their cached features."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.downstream import run
from braintune.utils import start_job

start_job(snakemake.log[0])
p = snakemake.params
config = {"downstream": {"tasks": p.tasks, "probe": p.probe}, "seed": p.seed}
index = {c: f"results/downstream/index/{c}.tsv" for c in p.corpora}
checkpoints = [(variant, owner, path) for (variant, owner), path in zip(p.checkpoints, snakemake.input.embeddings)]
run.probe_family(config, snakemake.wildcards.family, checkpoints, index, snakemake.input.targets, snakemake.output[0])
