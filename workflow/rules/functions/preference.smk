# Functions and settings of the preference stage: every path pattern of results/preference/, the jobs'
# settings (params) and targets. The rules themselves are in workflow/rules/preference.smk (Snakemake's
# linter asks to keep functions and rules in separate files).

from dataclasses import asdict

from braintune.preference import run as prefrun


PREF = config["preference"]


def preference_wordset_path():
    return "results/preference/wordset.tsv"


def preference_segments_path():
    """The word occurrences to embed (downstream_embed, group `words`)."""
    return "results/preference/segments.tsv"


def preference_table_path(name):
    """`preference`: d per layer of every model; `means`: its mean and SE across participants (fig 8)."""
    return f"results/preference/{name}.tsv"


def preference_corpus_ready():
    """The demo writes the aligned word corpus with the downstream stand-ins; a real one is the user's,
    checked when the DAG is built (not hours in, at preference_wordset)."""
    if DS_DEMO:
        return [downstream_demo_marker()]
    problem = prefrun.corpus_problem(PREF["corpus"]["path"]) if downstream_models() else None
    if problem:
        raise WorkflowError(problem)
    return []


def preference_wordset_settings():
    return asdict(prefrun.WordSetSettings.from_config(PREF, config["seed"]))


def preference_settings():
    return asdict(prefrun.PreferenceSettings.from_config(PREF, config["seed"]))


def preference_targets():
    """Final outputs of this stage that the default target `all` requests (fig 8: figures stage)."""
    if not downstream_models():
        return []
    return [preference_table_path("preference"), preference_table_path("means")]
