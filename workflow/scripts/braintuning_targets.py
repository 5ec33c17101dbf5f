"""Rule braintuning_targets: BigSLM / text-LM targets of every brain-tuning story; see braintune.braintuning.targets."""

from braintune.braintuning.run import run_targets
from braintune.utils import setup_logging

setup_logging(snakemake.log[0])
run_targets(
    snakemake.params.config,
    variant=snakemake.wildcards.variant,
    stories=list(snakemake.params.stories),
    out_paths=list(snakemake.output.targets),
    device=snakemake.params.device,
    info_path=snakemake.output.info,
)
