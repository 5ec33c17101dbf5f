"""Rule braintuning_multi: brain-tune one family jointly on several participants; see braintune.braintuning.run."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from pathlib import Path

from braintune.braintuning.run import MultiRunSettings, run_multibraintuning
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (snakemake injects it)
start_job(smk.log[0])
inp, out = smk.input, smk.output
settings = MultiRunSettings.from_params(smk.params.settings)
train, val = dict(smk.params.train), dict(smk.params.val)
subjects = list(settings.train_subjects)
# the input function lists each participant's responses (train then validation stories), participants in order
stories = {s: list(train[s]) + list(val[s]) for s in subjects}
response_files = iter(inp.responses)
responses = {s: {story: next(response_files) for story in names} for s, names in stories.items()}
all_stories = list(dict.fromkeys(story for names in stories.values() for story in names))
run_dir = Path(out.training).parent
bt = smk.config["braintuning"]
run_multibraintuning(
    settings,
    train,
    val,
    audio=dict(zip(all_stories, inp.audio, strict=True)),
    respdict_path=inp.respdict,
    responses=responses,
    projections=dict(zip(subjects, inp.projections, strict=True)),
    space_path=inp.space,
    out_dir=run_dir,
    training_path=out.training,
    curve_tsv=out.curve,
    curve_png=out.png,
    state_dir=run_dir.with_name(f"{run_dir.name}.state"),  # outside run_dir, which save_multi replaces whole
    device=smk.params.device,
    num_workers=int(bt["num_workers"]),  # speed only: not a param
    keep_state=bool(bt["keep_state"]),  # disk use only: not a param
    cache_cnn=bt["cache_cnn"],  # speed only: not a param
)
