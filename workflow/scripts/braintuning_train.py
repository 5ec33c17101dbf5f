"""Rule braintuning_train: brain-tune one (family, variant, subject); see braintune.braintuning.run."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from pathlib import Path

from braintune.braintuning.run import BrainTuningSettings, run_braintuning
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (snakemake injects it)
start_job(smk.log[0])
inp, out = smk.input, smk.output
train, val = list(smk.params.train), list(smk.params.val)
stories = train + val  # the input function lists the inputs of the train stories, then the validation stories
bt = smk.config["braintuning"]
run_braintuning(
    BrainTuningSettings.from_params(smk.params.settings),
    smk.wildcards.subject,
    train,
    val,
    audio=dict(zip(stories, inp.audio)),
    respdict_path=inp.respdict,
    model_dir=out.model,
    training_path=out.training,
    curve_tsv=out.curve,
    curve_png=out.png,
    state_dir=Path(out.training).parent / "state",
    noise_ceiling=inp.get("nc"),
    responses=dict(zip(stories, inp.responses)) if "responses" in inp.keys() else None,
    targets=dict(zip(stories, inp.targets)) if "targets" in inp.keys() else None,
    device=smk.params.device,
    num_workers=int(bt["num_workers"]),  # speed only: not a param
    keep_state=bool(bt["keep_state"]),  # disk use only: not a param
    cache_cnn=bt["cache_cnn"],  # speed only: not a param
)
