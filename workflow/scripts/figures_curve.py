"""Rule figures_curve: the data-efficiency figure from the statistics stage's curve summary."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.figures.curve import make_curve_figure
from braintune.utils import set_cache_dirs, start_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
set_cache_dirs(".cache")
start_job(smk.log[0])
make_curve_figure(smk.input.summary, smk.params.region, [smk.output.curve_pdf, smk.output.curve_png])
