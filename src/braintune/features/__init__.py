"""Stimulus features: causal sliding-window speech-model features (:mod:`.windows`) of the model
registry's networks (:mod:`.models`), Lanczos resampling to TRs (:mod:`.lanczos`), the speech
descriptors (power spectrum, diphones, triphones, articulation; :mod:`.descriptors`) and the trimmed,
z-scored, FIR-delayed design matrices of the encoding models (:mod:`.design`)."""
