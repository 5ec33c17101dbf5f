"""Rule figures_bars: the bar figures (2a/b, 3a/b, 5, 6, 7) from the statistics tables."""

import gc

gc.disable()  # the imports below run without cyclic GC passes; start_job freezes and re-enables it
from braintune.figures.jobs import BarSettings, make_bar_figures
from braintune.utils import set_cache_dirs, start_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
set_cache_dirs(".cache")
start_job(smk.log[0])
make_bar_figures(
    tables={k: smk.input[k] for k in ("alignment_summary", "lowlevel_summary", "wilcoxon_alignment",
                                      "wilcoxon_lowlevel")},
    outputs={name: {ext: smk.output[f"{name}_{ext}"] for ext in ("pdf", "png")} for name in smk.params.names},
    settings=BarSettings.from_config(smk.params.settings),
)
