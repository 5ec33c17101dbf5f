# Functions and settings of the preference stage: paths, input functions, resources, targets.
# The rules themselves are in workflow/rules/preference.smk (Snakemake's linter asks to keep
# functions and rules in separate files).

PREF = config.get("preference") or {}


def preference_targets():
    """Final outputs of this stage that the default target `all` requests."""
    if not PREF or not downstream_models():
        return []
    return ["results/preference/preference.tsv", "results/figures/fig8.pdf", "results/figures/fig8.png"]
