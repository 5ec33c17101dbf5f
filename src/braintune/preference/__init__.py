"""Semantic-phonetic preference (paper appendix C): the word set, the word occurrences to embed and d per
layer (:mod:`braintune.preference.analysis`), and the preference rules' job functions
(:mod:`braintune.preference.run`). See docs/artifacts.md (stage preference)."""
