"""Brain-tuning (paper 3.3; docs/decisions.md 4, 5) and its comparison models (paper 3.3.1, appendix D.2).

- :mod:`.dataset`: (10-s audio window, response row) pairs, audio memory-mapped, windows cut per batch.
- :mod:`.trainer`: mean-pooled backbone + linear head, frozen front end, MSE, two-lr Adam, schedule,
  gradient accumulation, bf16 on CUDA, early stopping, resumable per-epoch state, training curve.
- :mod:`.cnncache`: the frozen front end split from the trainable rest; its output cached per window.
- :mod:`.schedule`: the paper's per-step warm-up/linear decay and the reference's per-epoch schedule.
- :mod:`.permute`: block derangement of responses (random brain-tuned).
- :mod:`.targets`: BigSLM (Whisper decoder) and text-LM targets per response row.
- :mod:`.stimulus`: self-supervised wav2vec2 training on the stimulus audio (stimulus-tuned).
- :mod:`.lora`, :mod:`.multi`: LoRA adapters, and joint brain-tuning of one model on several participants'
  responses in a common space (the authors' follow-up: the ``multibraintuned`` variant, rule
  ``braintuning_multi``; the common space comes from the ``commonspace`` stage).
- :mod:`.variants`: variant names -> what is trained; :mod:`.plan`: settings and job sizing at DAG time
  (no torch); :mod:`.run`: the stage's jobs.
"""
