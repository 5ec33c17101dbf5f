"""Snakemake script of rule `alignment`: every layer of one (family, variant, subject)."""

from threadpoolctl import threadpool_limits

from braintune.alignment.encoding import CVSettings, run_alignment
from braintune.alignment.ridge import RidgeSettings
from braintune.utils import setup_logging

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = setup_logging(smk.log[0])
section = smk.params.alignment
with threadpool_limits(smk.threads):
    table = run_alignment(
        design_paths=dict(zip(smk.params.layers, smk.input.designs)),
        root=smk.params.root,
        subject=smk.wildcards.subject,
        noise_ceiling_path=smk.input.noise_ceiling,
        regions_path=smk.input.regions,
        ridge=RidgeSettings.from_config(section, smk.params.device),
        cv=CVSettings.from_config(section, smk.params.seed),
        test_trim=smk.params.test_trim,
        out_h5=smk.output.h5,
        out_tsv=smk.output.tsv,
        labels=dict(smk.params.labels),
        missing_story=smk.params.missing_story,
        regions=section.get("regions"),
        voxels=section["voxels"],
    )
log.info("B per region and layer:\n%s", table.to_string(index=False))
