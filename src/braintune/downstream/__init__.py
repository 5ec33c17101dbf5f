"""Downstream evaluation (paper 3.4.3, appendices B, D, E): corpus readers, pooled features, linear probes
and CTC ASR; the job functions of the downstream rules are in :mod:`braintune.downstream.run`. See
docs/artifacts.md (stage downstream)."""
