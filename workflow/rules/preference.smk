# Stage: preference (docs/artifacts.md; braintune.preference). Paper appendix C, figure 8.
#
#   preference_wordset (targets, synonyms, near-homophones; their occurrences in the aligned corpus)
#   -> downstream_embed embeds the occurrences (group "words") -> preference_d -> figures_preference
#
# Paths: workflow/rules/functions/preference.smk; params: braintune.preference.run.*Settings.


rule preference_wordset:
    """Word set from CMUdict + WordNet restricted to the aligned corpus, and the occurrences to embed
    (audio paths as the corpus directory is configured)."""
    input:
        preference_corpus_ready(),
    output:
        wordset=preference_wordset_path(),
        segments=preference_segments_path(),
    params:
        settings=preference_wordset_settings(),
    log:
        "logs/preference_wordset/wordset.log",
    benchmark:
        "benchmarks/preference_wordset/wordset.tsv"
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/preference_wordset.py"


rule preference_d:
    """Semantic-phonetic preference d per layer for every evaluated model, and its mean and standard
    error across participants per family x variant x layer."""
    input:
        embeddings=[downstream_embeddings_path(*m) for m in downstream_models()],
        wordset=preference_wordset_path(),
    output:
        table=preference_table_path("preference"),
        means=preference_table_path("means"),
    params:
        settings=preference_settings(),
        models=downstream_models(),
    log:
        "logs/preference_d/preference.log",
    benchmark:
        "benchmarks/preference_d/preference.tsv"
    conda:
        "../envs/torch.yaml"
    script:
        "../scripts/preference_d.py"
