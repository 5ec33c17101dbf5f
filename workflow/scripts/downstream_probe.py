"""Every probe task x layer of every checkpoint of one family from their cached features."""
from braintune.downstream import run
from braintune.utils import setup_logging

setup_logging(snakemake.log[0])
p = snakemake.params
config = {"downstream": {"tasks": p.tasks, "probe": p.probe}, "seed": p.seed}
index = {c: f"results/downstream/index/{c}.tsv" for c in p.corpora}
checkpoints = [(variant, owner, path) for (variant, owner), path in zip(p.checkpoints, snakemake.input.embeddings)]
run.probe_family(config, snakemake.wildcards.family, checkpoints, index, snakemake.input.targets, snakemake.output[0])
