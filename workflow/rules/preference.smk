# Stage: preference (docs/artifacts.md; braintune.downstream.preference). Paper appendix C, figure 8.
#
#   preference_wordset (targets, synonyms, near-homophones; their occurrences in the aligned corpus)
#   -> downstream_features embeds the occurrences ("words" group) -> preference_d -> preference_figure


rule preference_wordset:
    """Word set from CMUdict + WordNet restricted to the aligned corpus, and the occurrences to embed."""
    input:
        [f"{DS['demo']['root']}/.complete"] if DS_DEMO else [],
    output:
        wordset="results/preference/wordset.tsv",
        segments="results/preference/segments.tsv",
    params:
        preference=PREF,
        seed=config["seed"],
    log:
        "logs/preference_wordset/wordset.log",
    benchmark:
        "benchmarks/preference_wordset/wordset.tsv"
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/preference_wordset.py"


rule preference_d:
    """Semantic-phonetic preference d per layer for every evaluated model."""
    input:
        embeddings=[downstream_embeddings_path(*m) for m in downstream_models()],
        wordset="results/preference/wordset.tsv",
    output:
        "results/preference/preference.tsv",
    params:
        preference=PREF,
        seed=config["seed"],
        models=downstream_models(),
    log:
        "logs/preference_d/preference.log",
    benchmark:
        "benchmarks/preference_d/preference.tsv"
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/preference_d.py"


rule preference_figure:
    """Figure 8: d per layer, brain-tuned (mean and SE across participants) against pretrained."""
    input:
        "results/preference/preference.tsv",
    output:
        pdf=report("results/figures/fig8.pdf", caption="../report/fig8.rst", category="Downstream"),
        png=report("results/figures/fig8.png", caption="../report/fig8.rst", category="Downstream"),
    log:
        "logs/preference_figure/fig8.log",
    benchmark:
        "benchmarks/preference_figure/fig8.tsv"
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/preference_figure.py"
