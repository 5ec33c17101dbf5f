"""Stimulus-tuned comparison model (paper appendix D.2): wav2vec2 further trained self-supervised on the
stimulus audio with its own pre-training objective (contrastive loss + ``diversity_loss_weight`` x
codebook-diversity loss, Baevski et al. 2020), lr 2e-5, linear warm-up over the first 10% of the updates,
then linear decay, ``epochs`` passes over the audio (paper: 200).

Implementation: ``transformers.Wav2Vec2ForPreTraining`` (quantiser, projections and both losses), masks from
``_compute_mask_indices`` and distractors from ``_sample_negative_indices`` exactly as the transformers
pre-training example does; Gumbel-softmax temperature annealed from ``gumbel_temperature_max`` by
``gumbel_temperature_decay`` per update down to ``gumbel_temperature_min``. The model trains in train mode
(the pre-training regime, dropout of the checkpoint's config); the CNN feature encoder stays frozen
(``freeze_feature_encoder: true``) as in brain-tuning, so that the stimulus-tuned and brain-tuned models differ
from the pretrained one in the same parameters. The data are the brain-tuning training stories cut into consecutive non-overlapping
``chunk_s`` chunks (the last partial chunk dropped), shuffled every epoch with a seeded generator.

Only architectures with a self-supervised pre-training head in transformers qualify (wav2vec2; see
:data:`.variants.STIMULUS_ARCHITECTURES`). With ``checkpoint: null`` (demo/tests) the backbone is the
registry's seeded random initialisation and the quantiser/projection heads are a seeded random
initialisation of the same config; with a checkpoint (``facebook/wav2vec2-base``, a pre-training checkpoint)
the heads load from it. The backbone alone is saved (``save_pretrained``), loadable by
:func:`braintune.features.models.load_model`.
"""

from __future__ import annotations

import copy
import logging
import math
import time

import numpy as np
import torch

from braintune.config import model_entry
from braintune.features import models

from .schedule import warmup_steps

log = logging.getLogger(__name__)

__all__ = ["build_pretraining_model", "audio_chunks", "stimulus_tune"]


def build_pretraining_model(family_cfg: dict, seed: int = 0, mask_time_prob: float = 0.65, head_init: dict | None = None):
    """``Wav2Vec2ForPreTraining`` whose ``wav2vec2`` backbone is the family's pretrained model.

    The registry builds backbones with masking off (no ``masked_spec_embed``); pre-training masks, so the
    config gets ``mask_time_prob`` back and the mask embedding is (seeded) newly initialised when the
    backbone has none. ``head_init`` overrides the quantiser/projection sizes of a random initialisation
    (``num_codevectors_per_group``, ``codevector_dim``, ``proj_codevector_dim``; ignored with a checkpoint).
    """
    from transformers import Wav2Vec2ForPreTraining

    family_cfg = model_entry(family_cfg)
    arch = models.architecture_of(family_cfg)
    if arch != "wav2vec2":
        raise ValueError(f"stimulus-tuning needs a wav2vec2 family (a pre-training head); got architecture {arch!r}")
    checkpoint = family_cfg["checkpoint"]
    if checkpoint:
        model = Wav2Vec2ForPreTraining.from_pretrained(str(checkpoint), mask_time_prob=mask_time_prob)
    else:
        backbone = models.build_model(family_cfg)
        config = copy.deepcopy(backbone.config)
        config.mask_time_prob = mask_time_prob
        for key, value in (head_init or {}).items():
            if not hasattr(config, key):
                raise ValueError(f"braintuning.stimulus.head_init: {key!r} is not a {type(config).__name__} key")
            setattr(config, key, value)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            model = Wav2Vec2ForPreTraining(config)
        missing, unexpected = model.wav2vec2.load_state_dict(backbone.state_dict(), strict=False)
        if unexpected or set(missing) - {"masked_spec_embed"}:
            raise RuntimeError(f"pre-training model does not match the backbone: missing {missing}, unexpected {unexpected}")
    models.set_normalize(model.wav2vec2, family_cfg["normalize"])
    return model


def audio_chunks(audios: list[np.ndarray], chunk: int) -> list[tuple[int, int]]:
    """(story index, start sample) of every full ``chunk``-sample chunk of every story."""
    return [(i, s) for i, a in enumerate(audios) for s in range(0, a.shape[0] - chunk + 1, chunk)]


def stimulus_tune(model, audios: list[np.ndarray], cfg: dict, device: torch.device | str = "cpu", seed: int = 0) -> list[dict]:
    """Train ``model`` (``Wav2Vec2ForPreTraining``) in place; return the per-epoch curve.

    ``cfg``: ``lr``, ``warmup_fraction``, ``epochs``, ``batch_size``, ``chunk_s``, ``mask_time_prob``,
    ``mask_time_length``, ``num_negatives``, ``diversity_loss_weight``, ``gumbel_temperature_{max,min,decay}``,
    ``max_grad_norm``.
    """
    from transformers import get_linear_schedule_with_warmup
    from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices

    device = torch.device(device)
    config = model.config
    config.diversity_loss_weight = float(cfg["diversity_loss_weight"])
    config.num_negatives = int(cfg["num_negatives"])
    chunk = int(round(float(cfg["chunk_s"]) * models.SAMPLE_RATE))
    chunks = audio_chunks(audios, chunk)
    if not chunks:
        raise ValueError(f"stimulus-tuning: no story is longer than chunk_s={cfg['chunk_s']} s")
    batch, epochs = int(cfg["batch_size"]), int(cfg["epochs"])
    steps_per_epoch = math.ceil(len(chunks) / batch)
    total = steps_per_epoch * epochs
    if cfg["freeze_feature_encoder"]:
        model.freeze_feature_encoder()
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=float(cfg["lr"]), betas=(0.9, 0.98), eps=1e-6, weight_decay=0.0)
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup_steps(total, float(cfg["warmup_fraction"])), total)
    frames = int(model._get_feat_extract_output_lengths(chunk))
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 1]))
    np_state = np.random.get_state()
    np.random.seed(int(seed) % 2**32)  # _compute_mask_indices / _sample_negative_indices draw from numpy's global RNG
    torch.manual_seed(int(seed))
    t_max, t_min = float(cfg["gumbel_temperature_max"]), float(cfg["gumbel_temperature_min"])
    decay = float(cfg["gumbel_temperature_decay"])
    max_norm = float(cfg["max_grad_norm"])
    curve, step = [], 0
    log.info("stimulus-tuning on %d chunks of %.1f s, %d steps/epoch, %d epochs", len(chunks), cfg["chunk_s"], steps_per_epoch, epochs)
    try:
        for epoch in range(epochs):
            t0 = time.perf_counter()
            order = rng.permutation(len(chunks))
            sums = {"loss": 0.0, "contrastive": 0.0, "diversity": 0.0}
            n = 0
            for lo in range(0, len(order), batch):
                sel = [chunks[i] for i in order[lo : lo + batch]]
                waves = torch.from_numpy(np.stack([np.asarray(audios[s][a : a + chunk], dtype=np.float32) for s, a in sel]))
                if getattr(model.wav2vec2, "_braintune_normalize", True):
                    waves = models.normalize_waveforms(waves)
                mask = _compute_mask_indices(
                    (len(sel), frames), float(cfg["mask_time_prob"]), int(cfg["mask_time_length"]), min_masks=2
                )
                negatives = _sample_negative_indices((len(sel), frames), config.num_negatives, mask)
                model.set_gumbel_temperature(max(t_max * decay**step, t_min))
                with models.autocast(device):
                    out = model(
                        waves.to(device),
                        mask_time_indices=torch.as_tensor(mask, device=device, dtype=torch.bool),
                        sampled_negative_indices=torch.as_tensor(negatives, device=device, dtype=torch.long),
                    )
                n_masked = float(mask.sum())
                loss = out.loss / n_masked  # HF sums over masked frames; the example normalises the same way
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, max_norm)
                optimizer.step()
                scheduler.step()
                step += 1
                sums["loss"] += float(loss.detach())
                sums["contrastive"] += float(out.contrastive_loss.detach()) / n_masked
                sums["diversity"] += float(out.diversity_loss.detach()) / n_masked
                n += 1
            row = {"epoch": epoch, "step": step, **{k: v / n for k, v in sums.items()}, "lr": scheduler.get_last_lr()[0],
                   "seconds": time.perf_counter() - t0}
            curve.append(row)
            log.info("stimulus epoch %d: loss %.4f (contrastive %.4f, diversity %.4f)", epoch, row["loss"], row["contrastive"], row["diversity"])
    finally:
        np.random.set_state(np_state)
    model.eval()
    return curve
