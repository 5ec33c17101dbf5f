"""braintune: brain-tuning of speech models on fMRI, and the paper's evaluations.

The library holds all logic; Snakemake rule scripts in ``workflow/scripts`` only read their
inputs and parameters, call one function here, and write outputs. Modules mirror the stages of
the pipeline (and the sections of Moussa, Klakow & Toneva, ICLR 2025):

``config``      configuration loading and JSON-schema validation
``timing``      the TR grid and response-row bookkeeping (docs/decisions.md 2)
``audio``, ``transcripts``, ``responses``   reading ds003020 stimuli, TextGrids and fMRI
``data``        the generated miniature (``data.demo``) and the ds003020 download
``models``      model registry (wav2vec2, HuBERT, Whisper encoder)
``features``    sliding-window layer features, low-level features, design matrices
``braintuning`` brain-tuning and the comparison models
``alignment``   voxelwise ridge encoding, noise-ceiling normalisation, low-level impact
``statistics``  Wilcoxon tests and tidy tables
``figures``     the paper's figures
``downstream``  linear probes, ASR, semantic-phonetic preference
"""

__version__ = "0.1.0"
