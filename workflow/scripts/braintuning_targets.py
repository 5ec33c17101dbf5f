"""Rule braintuning_targets: BigSLM / text-LM targets of every brain-tuning story; see braintune.braintuning.targets."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.braintuning.run import TargetSettings, run_targets
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (snakemake injects it)
start_job(smk.log[0])
stories = list(smk.params.stories)
target = smk.config["braintuning"]["targets"][smk.wildcards.variant]
run_targets(
    TargetSettings.from_params(smk.params.settings),
    stories,
    audio=dict(zip(stories, smk.input.audio)),
    textgrids=dict(zip(stories, smk.input.textgrids)),
    respdict_path=smk.input.respdict,
    out_paths=dict(zip(stories, smk.output.targets)),
    info_path=smk.output.info,
    device=smk.params.device,
    batch_size=target.get("batch_size"),  # speed only, BigSLM only (text LMs have no such key): not a param
)
