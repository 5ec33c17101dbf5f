"""Write the demo stand-ins of the downstream corpora (braintune.downstream.demo)."""
from pathlib import Path

from braintune.downstream import demo, preference
from braintune.utils import setup_logging

setup_logging(snakemake.log[0])
cfg = snakemake.params.demo
root = Path(snakemake.output[0]).parent
pref = snakemake.params.preference
ws = preference.demo_word_set(cfg["preference_words"], len(cfg["preference_words"]), pref["max_phonetic_distance"],
                              pref["max_neighbours"], snakemake.params.seed)
words = sorted(set(ws.target) | set(ws.neighbour))
demo.write_all(root, cfg, snakemake.params.seed, words=words)
