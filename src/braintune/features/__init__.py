"""Stimulus features: causal sliding-window speech-model features (:mod:`.windows`), Lanczos
resampling to TRs (:mod:`.lanczos`), low-level speech features (:mod:`.lowlevel`) and the
trimmed, z-scored, FIR-delayed design matrices of the encoding models (:mod:`.design`)."""
