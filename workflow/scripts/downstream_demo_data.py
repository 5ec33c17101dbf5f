"""Write the demo stand-ins of the downstream corpora (braintune.downstream.demo)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from pathlib import Path

from braintune.downstream import demo, preference
from braintune.utils import start_job

start_job(snakemake.log[0])
cfg = snakemake.params.demo
root = Path(snakemake.output[0]).parent
pref = snakemake.params.preference
ws = preference.demo_word_set(cfg["preference_words"], len(cfg["preference_words"]), pref["max_phonetic_distance"],
                              pref["max_neighbours"], snakemake.params.seed)
words = sorted(set(ws.target) | set(ws.neighbour))
demo.write_all(root, cfg, snakemake.params.seed, words=words)
