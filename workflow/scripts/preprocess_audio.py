"""Rule preprocess_audio: check every story's audio/TextGrid/TR lengths and cache 16 kHz mono float32."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.preprocess import preprocess_audio
from braintune.utils import start_job

start_job(snakemake.log[0])
p = snakemake.params
preprocess_audio(p.root, list(p.stories), list(snakemake.output.audio), dict(p.timing), dict(p.preprocess),
                 table=snakemake.output.table)
