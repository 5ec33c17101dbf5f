"""Every probe task x layer for one (family, variant, owner) from its cached features."""
from braintune.downstream import run
from braintune.utils import setup_logging

setup_logging(snakemake.log[0])
w = snakemake.wildcards
config = {"downstream": {"tasks": snakemake.params.tasks, "probe": snakemake.params.probe}, "seed": snakemake.params.seed}
index = {c: f"results/downstream/index/{c}.tsv" for c in snakemake.params.corpora}
run.probe_variant(config, w.family, w.variant, w.owner, snakemake.input.embeddings, index, snakemake.input.targets,
                  snakemake.output[0])
