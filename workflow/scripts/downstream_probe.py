"""Every probe task x layer of every checkpoint of one family from their cached features."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.downstream import run
from braintune.utils import start_job

start_job(snakemake.log[0])
settings = run.ProbeSettings(**snakemake.params.settings)
checkpoints = [(variant, owner, path) for (variant, owner), path in zip(snakemake.params.checkpoints,
                                                                         snakemake.input.embeddings, strict=True)]
run.probe_family(settings, snakemake.wildcards.family, checkpoints,
                 run.corpus_paths(settings.corpora, snakemake.input.index), snakemake.input.targets, snakemake.output[0])
