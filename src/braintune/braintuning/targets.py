"""Targets of the BigSLM-tuned and LM-tuned comparison models (paper 3.3.1, appendix D.2; docs/decisions.md 11).

Both replace the fMRI responses of a response row by a representation of *the same stimulus* from another
model; they are computed once per story (subject independent) and brain-tuning then regresses them exactly
as it regresses voxels (same windows, head, loss and hyper-parameters). The reference code has no extraction
code for either (docs/protocol.md 3, 8.D), so the definitions below are ours:

**Words of a window.** Row ``j``'s input window is ``[end_j - context, end_j)`` (the brain-tuning window,
:mod:`.dataset`). A word of the TextGrid (non-speech dropped, :func:`braintune.preprocess.transcripts.read_textgrid`) is
*heard in the window* when its midpoint lies inside it.

**BigSLM** (``bigslm``; Whisper medium, all decoder layers concatenated). The encoder sees the row's window
(log-mel, right-padded to 30 s as Whisper expects); the decoder is teacher-forced with the task prefix
``<|startoftranscript|><|en|><|transcribe|><|notimestamps|>`` followed by the tokens of the words heard in the
window (the transcript, i.e. what a perfect decode would produce; no generation, so it is deterministic and
batchable). Every decoder hidden state (the embedding output and each of the 24 layers: 25 x 1024 = 25,600
values for Whisper medium, the reference's ``out_dim``) is averaged over the transcript-token positions (over
the prefix positions when no word is heard), and the layers are concatenated.

**LM** (``lmtuned_gpt2``: GPT2-medium, all hidden states, 25 x 1024; ``lmtuned_llama``: Llama-2-7B every third
hidden state, ``hidden_states[::3]`` = 11 x 4096). The story's words are tokenised as running text (joined by spaces,
BOS first; each word's last token found from the tokenizer's character offsets) and run through the LM in windows of ``context_tokens`` tokens with a stride of half
that, so that every token is represented with at least ``context_tokens / 2`` tokens of preceding context (the
whole story so far at its start). A word's representation is the hidden states at its last token; a row's
target is the mean of the representations of the words heard in its window.

**Normalisation.** Rows whose window holds no word (silence) take the story mean; then every column is
z-scored per story (zero-variance columns are set to 0), like ds003020's responses, which are z-scored per
run. Outputs are float32 ``(rows, layers x hidden)`` ``.npy`` files, one per story.

**Demo/tests.** When ``checkpoint`` is null the target model is a seeded random initialisation of the
``init`` config, and its tokenizer is a byte-level BPE trained offline (``tokenizers``) on the configured
stories' transcripts (``tokenizer_vocab_size`` tokens plus the special tokens).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from braintune.features import models
from braintune.preprocess.transcripts import Transcript

log = logging.getLogger(__name__)

__all__ = [
    "WHISPER_PREFIX", "words_in_windows", "zscore_columns", "train_tokenizer", "build_target_model",
    "bigslm_targets", "lm_targets", "TargetModel",
]

#: Whisper's task prefix for English transcription without timestamps.
WHISPER_PREFIX = ("<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>")
ENDOFTEXT = "<|endoftext|>"


def words_in_windows(transcript: Transcript, ends_s: np.ndarray, context_s: float) -> list[list[int]]:
    """For every window ``[end - context_s, end)``, the indices of the words whose midpoint lies inside."""
    if not transcript.words:
        return [[] for _ in ends_s]
    mids = np.array([(w.start + w.end) / 2.0 for w in transcript.words])
    order = np.argsort(mids, kind="stable")
    sorted_mids = mids[order]
    lo = np.searchsorted(sorted_mids, np.asarray(ends_s) - context_s, side="left")
    hi = np.searchsorted(sorted_mids, np.asarray(ends_s), side="left")
    return [sorted(order[a:b].tolist()) for a, b in zip(lo, hi)]


def zscore_columns(x: np.ndarray, empty_rows: np.ndarray | None = None) -> np.ndarray:
    """Rows flagged empty take the column mean of the others; then z-score every column (float32)."""
    x = np.asarray(x, dtype=np.float64)
    if empty_rows is not None and np.any(empty_rows):
        if np.all(empty_rows):
            return np.zeros_like(x, dtype=np.float32)
        x = x.copy()
        x[empty_rows] = x[~empty_rows].mean(axis=0)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    out = np.zeros_like(x)
    ok = std > 1e-12 * np.maximum(1.0, np.abs(mean))
    out[:, ok] = (x[:, ok] - mean[ok]) / std[ok]
    return out.astype(np.float32)


# --- tokenizers and models ------------------------------------------------------------------


def train_tokenizer(texts: Sequence[str], vocab_size: int, special_tokens: Sequence[str]):
    """A byte-level BPE tokenizer trained offline on ``texts`` (deterministic), as a HF fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models as tok_models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(tok_models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=int(vocab_size),
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer)
    fast.add_special_tokens({"additional_special_tokens": list(special_tokens)})
    return fast


@dataclass
class TargetModel:
    """A target model, its tokenizer and how it is read out."""

    kind: str  # "whisper" | "causal_lm"
    model: torch.nn.Module
    tokenizer: object
    layer_step: int = 1
    context_tokens: int = 512
    batch_size: int = 8

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def seeded_from_config(model_cls, config, seed: int):
    """A model of ``config`` with weights drawn from ``seed`` (the global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        if hasattr(model_cls, "from_config"):  # Auto classes
            return model_cls.from_config(config)
        return model_cls._from_config(config)


def build_target_model(variant: str, cfg: dict, texts: Sequence[str], device: torch.device | str = "cpu", seed: int = 0) -> TargetModel:
    """The target model of ``variant`` (``bigslm`` or ``lmtuned_*``) from ``braintuning.targets[variant]``.

    ``checkpoint`` (hub id or directory) loads the real model and its tokenizer (bf16 weights on CUDA);
    ``checkpoint: null`` builds the ``init`` config with seeded random weights and trains a tokenizer on
    ``texts`` (the stories' transcripts).
    """
    device = torch.device(device)
    checkpoint = cfg.get("checkpoint")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    if variant == "bigslm":
        from transformers import AutoTokenizer, WhisperConfig, WhisperModel

        if checkpoint:
            model = WhisperModel.from_pretrained(checkpoint, dtype=dtype)
            tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        else:
            tokenizer = train_tokenizer(texts, cfg["tokenizer_vocab_size"], (ENDOFTEXT, *WHISPER_PREFIX))
            ids = tokenizer.convert_tokens_to_ids([ENDOFTEXT, WHISPER_PREFIX[0]])
            init = {"vocab_size": len(tokenizer), "pad_token_id": ids[0], "bos_token_id": ids[0], "eos_token_id": ids[0],
                    "decoder_start_token_id": ids[1], **cfg["init"]}
            model = seeded_from_config(WhisperModel, WhisperConfig(**init), seed)
        kind = "whisper"
    else:
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        if checkpoint:
            model = AutoModel.from_pretrained(checkpoint, dtype=dtype)
            tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        else:
            tokenizer = train_tokenizer(texts, cfg["tokenizer_vocab_size"], (ENDOFTEXT,))
            eos = tokenizer.convert_tokens_to_ids(ENDOFTEXT)
            init = dict(cfg["init"])
            init.setdefault("vocab_size", len(tokenizer))
            for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
                init.setdefault(key, eos)
            config = AutoConfig.for_model(cfg["architecture"], **init)
            model = seeded_from_config(AutoModel, config, seed)
        kind = "causal_lm"
    model.to(device).eval()
    # text LMs read out every layer_step-th layer in windows of context_tokens; the Whisper decoder every
    # layer, batch_size windows at a time (each target set's schema has only its own keys)
    return TargetModel(kind, model, tokenizer, **{k: int(cfg[k]) for k in ("layer_step", "context_tokens", "batch_size") if k in cfg})


def _word_ids(tokenizer, words: Sequence[str]) -> list[list[int]]:
    """Token ids of each word as running text (a leading space, as inside a sentence)."""
    if not words:
        return []
    return tokenizer([" " + w for w in words], add_special_tokens=False)["input_ids"]


def _bos_id(tokenizer) -> int:
    """The id of the token a story starts with: BOS, else ``<|endoftext|>``, else EOS, whichever the
    vocabulary holds (GPT-2's ``<|endoftext|>`` is its BOS, EOS and unknown token at once)."""
    vocab = tokenizer.get_vocab()
    for token in (tokenizer.bos_token, ENDOFTEXT, tokenizer.eos_token):
        if token is not None and token in vocab:
            return int(vocab[token])
    raise ValueError("the LM tokenizer has no BOS/EOS token to start a story")


# --- BigSLM -----------------------------------------------------------------------------------


@torch.no_grad()
def bigslm_targets(
    target: TargetModel, audio: np.ndarray, ends: np.ndarray, window: int, word_lists: list[list[int]],
    words: Sequence[str], sample_rate: int = models.SAMPLE_RATE,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row Whisper decoder representations (rows, n_layers * d_model) and the rows without words."""
    from transformers import WhisperFeatureExtractor

    from .dataset import cut_windows

    model, tok = target.model, target.tokenizer
    device = target.device
    extractor = WhisperFeatureExtractor(feature_size=model.config.num_mel_bins, sampling_rate=sample_rate,
                                        chunk_length=models.whisper_chunk_s(model.config))
    if window > extractor.n_samples:
        raise ValueError(f"BigSLM: window of {window / sample_rate:.1f} s exceeds Whisper's {extractor.chunk_length} s input")
    prefix = tok.convert_tokens_to_ids(list(WHISPER_PREFIX))
    if any(i is None or i == tok.unk_token_id for i in prefix):
        raise ValueError(f"BigSLM tokenizer lacks Whisper's prefix tokens {WHISPER_PREFIX}")
    word_tokens = _word_ids(tok, words)
    max_len = int(model.config.max_target_positions)
    pad = tok.convert_tokens_to_ids(ENDOFTEXT)
    out, empty = [], np.zeros(len(ends), dtype=bool)
    for lo in range(0, len(ends), target.batch_size):
        rows = range(lo, min(lo + target.batch_size, len(ends)))
        waves = cut_windows(audio, ends[lo : rows.stop], window)
        padded = np.zeros((len(waves), extractor.n_samples), dtype=np.float32)
        padded[:, :window] = waves
        mel = extractor._torch_extract_fbank_features(padded, device=str(device))
        mel = torch.as_tensor(mel, device=device, dtype=next(model.parameters()).dtype)
        seqs, spans = [], []
        for r in rows:
            text = [t for w in word_lists[r] for t in word_tokens[w]][: max_len - len(prefix)]
            empty[r] = not text
            seqs.append(prefix + text)
            spans.append((len(prefix), len(prefix) + len(text)) if text else (0, len(prefix)))
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        weights = torch.zeros((len(seqs), width))
        for i, (seq, (a, b)) in enumerate(zip(seqs, spans)):
            ids[i, : len(seq)] = torch.tensor(seq)
            weights[i, a:b] = 1.0 / (b - a)
        result = model(input_features=mel, decoder_input_ids=ids.to(device), output_hidden_states=True)
        states = torch.stack(result.decoder_hidden_states, dim=1).float()  # (B, layers, T, H)
        pooled = torch.einsum("blth,bt->blh", states, weights.to(device))
        out.append(pooled.reshape(len(seqs), -1).cpu().numpy())
    return np.concatenate(out), empty


# --- text LMs ---------------------------------------------------------------------------------


@torch.no_grad()
def contextual_states(target: TargetModel, ids: Sequence[int], positions: np.ndarray) -> np.ndarray:
    """Hidden states (selected layers concatenated) at token ``positions`` of a long token sequence.

    The sequence (already starting with BOS) runs in windows of ``context_tokens`` with stride
    ``context_tokens // 2``; a position is read from the first window in which it has at least
    ``context_tokens // 2`` tokens of left context (or from the first window).
    """
    model, c = target.model, target.context_tokens
    stride = max(c // 2, 1)
    n = len(ids)
    starts = [0] + list(range(stride, max(n - c, 0) + stride, stride)) if n > c else [0]
    starts = sorted({min(s, max(n - c, 0)) for s in starts})
    # the window that serves each position: the last start <= pos - stride (or 0)
    serve = np.searchsorted(np.array(starts), np.maximum(positions - stride, 0), side="right") - 1
    serve = np.clip(serve, 0, len(starts) - 1)
    out = None
    for w in np.unique(serve):
        s = starts[w]
        chunk = torch.tensor([ids[s : s + c]], device=target.device)
        hidden = model(input_ids=chunk, output_hidden_states=True).hidden_states[:: target.layer_step]
        sel = np.flatnonzero(serve == w)
        local = torch.as_tensor(positions[sel] - s, device=target.device)
        states = torch.cat([h[0, local].float() for h in hidden], dim=-1).cpu().numpy()
        if out is None:
            out = np.zeros((len(positions), states.shape[1]), dtype=np.float32)
        out[sel] = states
    return out


def story_token_ids(tokenizer, words: Sequence[str]) -> tuple[list[int], np.ndarray]:
    """Token ids of a story read as running text (``" ".join(words)``, BOS first) and the position of every
    word's last token. Offsets come from the fast tokenizer, so this holds for byte-level BPE (GPT2) and
    SentencePiece (Llama) alike."""
    text, spans, pos = "", [], 0
    for i, word in enumerate(words):
        if i:
            text += " "
            pos += 1
        spans.append((pos, pos + len(word)))
        text += word
        pos += len(word)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = [_bos_id(tokenizer)] + list(enc["input_ids"])
    token_ends = np.array([end for _, end in enc["offset_mapping"]], dtype=np.int64)
    token_starts = np.array([start for start, _ in enc["offset_mapping"]], dtype=np.int64)
    last = np.zeros(len(words), dtype=np.int64)
    for w, (a, b) in enumerate(spans):
        inside = np.flatnonzero((token_starts < b) & (token_ends > a))
        if inside.size == 0:
            raise ValueError(f"LM tokenizer gives no token for word {words[w]!r}")
        last[w] = inside[-1] + 1  # +1: the BOS token
    return ids, last


def lm_targets(target: TargetModel, words: Sequence[str], word_lists: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Per-row text-LM targets (rows, n_selected_layers * hidden) and the rows without words."""
    ids, last_token = story_token_ids(target.tokenizer, words)
    if words:
        word_states = contextual_states(target, ids, last_token)
    else:
        word_states = contextual_states(target, ids, np.array([0]))[:0]
    dim = word_states.shape[1]
    out = np.zeros((len(word_lists), dim), dtype=np.float32)
    empty = np.array([not wl for wl in word_lists], dtype=bool)
    for r, wl in enumerate(word_lists):
        if wl:
            out[r] = word_states[wl].mean(axis=0)
    return out, empty
