"""Semantic-phonetic word set and the word occurrences to embed (appendix C)."""
from braintune.downstream import run
from braintune.utils import setup_logging

setup_logging(snakemake.log[0])
run.build_word_set({"preference": snakemake.params.preference, "seed": snakemake.params.seed},
                   snakemake.output.wordset, snakemake.output.segments)
