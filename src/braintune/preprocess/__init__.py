"""Preprocessing of ds003020 (real or generated), the stage between the dataset and the features.

- :mod:`.stories`: which stories each subject has, the per-story consistency check, the audio cache.
- :mod:`.audio`, :mod:`.transcripts`, :mod:`.responses`: readers of the dataset's WAVs, TextGrids,
  respdict.json and response files (each fails naming the file).
- :mod:`.timing`: the TR grid (response rows <-> TRs <-> seconds).
- :mod:`.noise_ceiling`: cc_max of the test story's repeats.
- :mod:`.regions`: region masks per subject.
"""
