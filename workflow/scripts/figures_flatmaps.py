"""Rule figures_flatmaps: pycortex flatmaps (figs 2c, 3c, 13, 14, 15) of the statistics stage's
per-voxel differences and the noise ceilings."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.figures.jobs import FlatmapSettings, flatmap_target, make_flatmap_figures
from braintune.utils import set_cache_dirs, start_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
set_cache_dirs(".cache")
start_job(smk.log[0])
subjects = smk.params.subjects
make_flatmap_figures(
    differences=dict(zip(subjects, smk.input.differences, strict=True)),
    noise_ceilings=dict(zip(subjects, smk.input.noise_ceiling, strict=True)),
    targets={s: flatmap_target(smk.config, s) for s in subjects},
    outputs={name: {ext: smk.output[f"{name}_{ext}"] for ext in ("pdf", "png")} for name in smk.params.names},
    settings=FlatmapSettings.from_config(**smk.params.settings),
)
