"""Datasets braintune generates: speech synthesis (:mod:`.synth`) and the ds003020 miniature (:mod:`.demo`)."""
