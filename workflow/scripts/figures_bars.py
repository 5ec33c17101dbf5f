"""Rule figures_bars: the bar figures (2a/b, 3a/b, 5, 6, 7) from the statistics tables."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.figures.jobs import make_bar_figures
from braintune.utils import set_cache_dirs, start_job

snakemake = globals()["snakemake"]
set_cache_dirs(".cache")
start_job(snakemake.log[0])
make_bar_figures(
    tables={k: snakemake.input[k] for k in ("alignment_subject", "lowlevel_subject", "wilcoxon_alignment",
                                            "wilcoxon_lowlevel")},
    outputs=snakemake.params.paths,
    figures=snakemake.params.figures,
    alpha=snakemake.params.alpha,
)
