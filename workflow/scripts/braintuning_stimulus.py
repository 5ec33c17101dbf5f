"""Rule braintuning_stimulus: self-supervised stimulus-tuning of a wav2vec2 family; see braintune.braintuning.stimulus."""

from pathlib import Path

from braintune.braintuning.run import run_stimulus
from braintune.utils import setup_logging

setup_logging(snakemake.log[0])
run_stimulus(
    snakemake.params.config,
    family=snakemake.wildcards.family,
    stories=list(snakemake.params.stories),
    out_dir=Path(snakemake.output.training).parent,
    device=snakemake.params.device,
)
