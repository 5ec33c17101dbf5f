"""Rule preprocess_audio: check every story's audio/TextGrid/TR lengths and cache 16 kHz mono float32."""

from braintune.preprocess import preprocess_audio
from braintune.utils import setup_logging

setup_logging(snakemake.log[0])
p = snakemake.params
preprocess_audio(p.root, list(p.stories), list(snakemake.output.audio), dict(p.timing), dict(p.preprocess),
                 table=snakemake.output.table)
