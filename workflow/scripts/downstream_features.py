"""Features of every corpus for one (family, variant, owner), then every probe task x layer."""
from braintune.downstream import run
from braintune.utils import setup_logging

setup_logging(snakemake.log[0])
w = snakemake.wildcards
config = {"downstream": snakemake.params.downstream, "seed": snakemake.params.seed,
          "models": {w.family: snakemake.params.model}}
index = {c: f"results/downstream/index/{c}.tsv" for c in snakemake.params.corpora}
checkpoint = snakemake.input.get("checkpoint") or None
run.embed_variant(config, w.family, w.variant, w.owner, checkpoint, index, snakemake.input.segments,
                  snakemake.output.embeddings)
run.probe_variant(config, w.family, w.variant, w.owner, snakemake.output.embeddings, index, snakemake.input.targets,
                  snakemake.output.probes)
