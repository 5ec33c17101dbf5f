"""Semantic-phonetic word set and the word occurrences to embed (appendix C)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.preference import run
from braintune.utils import start_job

start_job(snakemake.log[0])
run.build_word_set(run.WordSetSettings(**snakemake.params.settings), snakemake.output.wordset, snakemake.output.segments)
