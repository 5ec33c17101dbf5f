"""Downstream evaluation (paper 3.4.3, appendices B-E): corpus readers, linear probes, CTC ASR and
the semantic-phonetic preference. See docs/artifacts.md (stages downstream and preference)."""
