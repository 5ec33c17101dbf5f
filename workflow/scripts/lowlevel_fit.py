"""Snakemake script of rule `lowlevel`: every low-level feature x layer of one (family, variant, subject)."""

from threadpoolctl import threadpool_limits

from braintune.alignment.encoding import CVSettings
from braintune.alignment.lowlevel import residual_lambdas, run_lowlevel
from braintune.alignment.ridge import RidgeSettings
from braintune.utils import setup_logging

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = setup_logging(smk.log[0])
alignment = smk.params.alignment
section = smk.params.lowlevel
grid = section["lambdas"]
with threadpool_limits(smk.threads):
    table = run_lowlevel(
        design_paths=dict(zip(smk.params.layers, smk.input.designs)),
        lowlevel_paths=dict(zip(smk.params.features, smk.input.lowlevel)),
        root=smk.params.root,
        subject=smk.wildcards.subject,
        noise_ceiling_path=smk.input.noise_ceiling,
        regions_path=smk.input.regions,
        train_stories=smk.params.train_stories,
        test_story=smk.params.test_story,
        ridge=RidgeSettings.from_config(alignment, smk.params.device),
        cv=CVSettings.from_config(alignment, smk.params.seed),
        test_trim=smk.params.test_trim,
        lambdas=residual_lambdas(grid["log10_min"], grid["log10_max"], grid["n"]),
        n_folds=section["n_folds"],
        out_h5=smk.output.h5,
        out_tsv=smk.output.tsv,
        labels=dict(smk.params.labels),
        alignment_path=smk.input.get("alignment"),
        missing_story=smk.params.missing_story,
        regions=alignment.get("regions"),
        voxels=alignment["voxels"],
    )
log.info("low-level impact R per region, layer and feature:\n%s", table.to_string(index=False))
