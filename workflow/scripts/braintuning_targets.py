"""Rule braintuning_targets: BigSLM / text-LM targets of every brain-tuning story; see braintune.braintuning.targets."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.braintuning.run import run_targets
from braintune.utils import start_job

start_job(snakemake.log[0])
run_targets(
    snakemake.params.config,
    variant=snakemake.wildcards.variant,
    stories=list(snakemake.params.stories),
    out_paths=list(snakemake.output.targets),
    device=snakemake.params.device,
    info_path=snakemake.output.info,
)
