"""Rule braintuning_stimulus: self-supervised stimulus-tuning of a wav2vec2 family; see braintune.braintuning.stimulus."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.braintuning.run import StimulusTuningSettings, run_stimulus
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (snakemake injects it)
start_job(smk.log[0])
stories = list(smk.params.stories)
out = smk.output
run_stimulus(
    StimulusTuningSettings.from_params(smk.params.settings),
    stories,
    audio=dict(zip(stories, smk.input.audio)),
    model_dir=out.model,
    training_path=out.training,
    curve_tsv=out.curve,
    curve_png=out.png,
    device=smk.params.device,
)
