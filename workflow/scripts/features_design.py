"""Rules features_design_<family> and features_design_descriptors: design matrices (no torch import)."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.features.design import DesignSettings, run_descriptor_design_job, run_model_design_job
from braintune.utils import start_job

smk = snakemake  # noqa: F821 (snakemake injects it)
start_job(smk.log[0])
p = smk.params
settings = DesignSettings.from_params(p.settings)
features = dict(zip(p.stories, smk.input.features))
if smk.rule == "features_design_descriptors":
    run_descriptor_design_job(settings, features, dict(zip(p.names, smk.output)), smk.input.respdict)
else:
    wc = smk.wildcards
    run_model_design_job(settings, features, dict(zip(p.layers, smk.output)), smk.input.respdict,
                         attrs={"family": p.family, "variant": wc.variant, "owner": wc.owner})
