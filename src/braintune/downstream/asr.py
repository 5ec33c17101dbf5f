"""ASR by CTC fine-tuning of the whole model (paper appendix B), reported as 1 - WER.

A linear CTC head over characters (``<blank>``, the word delimiter ``|``, a-z and the apostrophe, as
the wav2vec2 fine-tuning recipe) is put on the last hidden state; the whole transformer is trained with
``torch.nn.CTCLoss`` (AdamW); the CNN feature encoder stays frozen (``freeze_feature_encoder``, the
standard recipe for wav2vec2 / HuBERT). Test transcripts are decoded greedily (arg-max per frame,
repeats collapsed, blanks dropped) and scored with ``jiwer.wer`` over the whole test set.
"""

from __future__ import annotations

import logging
import re
from typing import Callable, Sequence

import jiwer
import numpy as np
import torch

log = logging.getLogger("braintune.downstream.asr")

BLANK = "<blank>"
DELIMITER = "|"
VOCAB = (BLANK, DELIMITER, *"abcdefghijklmnopqrstuvwxyz", "'")
_CHAR_INDEX = {c: i for i, c in enumerate(VOCAB)}
_KEEP = re.compile(r"[^a-z' ]+")

#: ``forward(model, batch (B, S) float32 tensor) -> last hidden state (B, T, H)``.
TrainForward = Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]


def normalize_text(text: str) -> str:
    """Lower case, punctuation (but apostrophes) removed, single spaces."""
    return " ".join(_KEEP.sub(" ", text.lower()).split())


def encode_text(text: str) -> list[int]:
    """Character ids of a normalised transcript (spaces -> the word delimiter)."""
    return [_CHAR_INDEX[c] for c in normalize_text(text).replace(" ", DELIMITER)]


def greedy_decode(logits: np.ndarray | torch.Tensor) -> str:
    """Greedy CTC decoding of ``(T, V)`` scores: arg-max, collapse repeats, drop blanks."""
    ids = np.asarray(torch.as_tensor(logits).argmax(dim=-1))
    out, prev = [], None
    for i in ids:
        if i != prev and i != 0:
            out.append(VOCAB[int(i)])
        prev = i
    return " ".join("".join(out).replace(DELIMITER, " ").split())


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER (errors over all reference words) of normalised transcripts."""
    refs = [normalize_text(r) for r in references]
    hyps = [normalize_text(h) for h in hypotheses]
    keep = [i for i, r in enumerate(refs) if r]
    return float(jiwer.wer([refs[i] for i in keep], [hyps[i] for i in keep]))


def _batches(n: int, batch_size: int, rng: np.random.Generator):
    while True:
        order = rng.permutation(n)
        for s in range(0, n - batch_size + 1 if n >= batch_size else 1, batch_size):
            yield order[s : s + batch_size]


def _pad(audios: list[np.ndarray]) -> tuple[torch.Tensor, np.ndarray]:
    lengths = np.array([len(a) for a in audios])
    batch = np.zeros((len(audios), lengths.max()), np.float32)
    for i, a in enumerate(audios):
        batch[i, : len(a)] = a
    return torch.from_numpy(batch), lengths


def finetune_ctc(model: torch.nn.Module, forward: TrainForward, hidden_size: int,
                 train_audio: list[np.ndarray], train_text: list[str],
                 test_audio: list[np.ndarray], test_text: list[str],
                 steps: int, batch_size: int, lr: float, seed: int, frozen: Sequence[str] = (),
                 warmup_fraction: float = 0.1, device: torch.device | str = "cpu") -> dict:
    """Fine-tune ``model`` with a CTC head; return WER, 1 - WER and the training curve.

    ``frozen``: parameter names kept fixed (the CNN feature encoder:
    :func:`braintune.features.models.frozen_parameter_names`).
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    head = torch.nn.Linear(hidden_size, len(VOCAB)).to(device)
    for name, param in model.named_parameters():
        param.requires_grad_(name not in frozen)
    params = [p for p in model.parameters() if p.requires_grad] + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=lr)
    warmup = max(1, int(warmup_fraction * steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    targets = [torch.tensor(encode_text(t), dtype=torch.long) for t in train_text]
    model.train()
    curve = []
    batches = _batches(len(train_audio), min(batch_size, len(train_audio)), rng)
    for step in range(steps):
        idx = next(batches)
        audio, lengths = _pad([train_audio[i] for i in idx])
        hidden = forward(model, audio)
        log_probs = head(hidden.float()).float().log_softmax(-1)  # (B, T, V); float32 under bf16 autocast
        frames = log_probs.shape[1]
        out_lengths = torch.tensor(np.maximum(1, np.floor(frames * lengths / lengths.max())).astype(np.int64))
        tgt = [targets[i] for i in idx]
        loss = ctc(log_probs.transpose(0, 1), torch.cat(tgt).to(log_probs.device), out_lengths,
                   torch.tensor([len(t) for t in tgt], dtype=torch.long))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        curve.append(float(loss.detach()))
        if step % max(1, steps // 10) == 0:
            log.info("ctc step %d/%d loss %.4f", step + 1, steps, curve[-1])
    model.eval()
    hyps = []
    with torch.inference_mode():
        for audio in test_audio:
            hidden = forward(model, torch.from_numpy(np.asarray(audio, np.float32))[None])
            hyps.append(greedy_decode(head(hidden.float())[0].float().cpu()))
    wer = word_error_rate(test_text, hyps)
    return {"wer": wer, "accuracy": 1.0 - wer, "loss_curve": curve, "hypotheses": hyps}
