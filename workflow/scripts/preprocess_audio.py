"""Rule preprocess_audio: check every story's audio/TextGrid/TR lengths and cache 16 kHz mono float32."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.preprocess.stories import AudioSettings, preprocess_audio
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (snakemake injects it)
start_job(smk.log[0])
stories = list(smk.params.stories)
preprocess_audio(
    AudioSettings(**smk.params.settings),
    wavs=dict(zip(stories, smk.input.wav)),
    textgrids=dict(zip(stories, smk.input.textgrid)),
    respdict_path=smk.input.respdict,
    outputs=dict(zip(stories, smk.output.audio)),
    table=smk.output.table,
)
