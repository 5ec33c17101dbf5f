"""d per layer for every evaluated model (appendix C)."""
from braintune.downstream import run
from braintune.utils import setup_logging

setup_logging(snakemake.log[0])
paths = dict(zip([tuple(m) for m in snakemake.params.models], snakemake.input.embeddings))
run.preference_table({"preference": snakemake.params.preference, "seed": snakemake.params.seed}, paths,
                     snakemake.input.wordset, snakemake.output[0])
