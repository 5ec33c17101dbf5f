"""Speech-model registry: wav2vec2, HuBERT and the Whisper encoder behind one API.

Every stage that runs a speech model goes through this module, so that the same family
configuration (``config["models"][family]``) always yields the same network:

* :func:`build_model` builds the *pretrained* model of a family: the hub id or local directory
  named by ``checkpoint``, or, when ``checkpoint`` is null (demo, tests), a seeded random
  initialisation of the HF config given by ``init`` (seed ``init_seed``, so every stage that calls
  ``build_model(family_cfg)`` gets bit-identical weights).
* :func:`load_model` loads a brain-tuned (or otherwise fine-tuned) backbone saved with
  ``save_pretrained`` by the braintuning stage, or falls back to :func:`build_model`.
* :func:`encoder_forward` runs a batch of raw 16 kHz waveforms through the model and returns the
  hidden states with ONE naming scheme across families (docs/protocol.md 7.4): index 0 is the input to
  the first transformer layer, index ``i`` the output of transformer layer ``i``; the last index is
  the model's ``last_hidden_state`` (after the final LayerNorm where the architecture has one).
* :func:`last_valid_frame` gives, from the convolution arithmetic, the index of the last output
  frame that still sees the audio (wav2vec2/HuBERT: the last frame; Whisper: docs/protocol.md 7.3).
* :func:`freeze_frontend` / :func:`frozen_parameter_names`: the parameters brain-tuning keeps
  frozen (docs/decisions.md 5: the CNN feature encoder; Whisper conv1, conv2, embed_positions).

Whisper is the encoder alone (``WhisperEncoder``); its input is the 80-bin log-mel of the audio
right-padded to ``2 * max_source_positions`` frames (30 s for the real models), as the reference
does. Attention uses PyTorch SDPA (``attn_implementation``); on CUDA the forward runs under bf16
autocast.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from braintune.config import model_entry

log = logging.getLogger(__name__)

ARCHITECTURES = ("wav2vec2", "hubert", "whisper")

#: Sample rate every model of the registry expects.
SAMPLE_RATE = 16000

#: Whisper's fixed front end (docs/protocol.md 7.3): conv1 (k3, s1, p1), conv2 (k3, s2, p1).
WHISPER_CONVS = ((3, 1, 1), (3, 2, 1))

#: Prefixes of the parameters brain-tuning keeps frozen (docs/decisions.md 5).
FROZEN_PREFIXES = {
    "wav2vec2": ("feature_extractor.",),
    "hubert": ("feature_extractor.",),
    "whisper": ("conv1.", "conv2.", "embed_positions."),
}


def _classes(architecture: str):
    """(config class, model class) of an architecture, imported lazily."""
    if architecture == "wav2vec2":
        from transformers import Wav2Vec2Config, Wav2Vec2Model

        return Wav2Vec2Config, Wav2Vec2Model
    if architecture == "hubert":
        from transformers import HubertConfig, HubertModel

        return HubertConfig, HubertModel
    if architecture == "whisper":
        from transformers import WhisperConfig
        from transformers.models.whisper.modeling_whisper import WhisperEncoder

        return WhisperConfig, WhisperEncoder
    raise ValueError(f"models: unknown architecture {architecture!r}; expected one of {ARCHITECTURES}")


def architecture_of(family_cfg: dict) -> str:
    arch = family_cfg.get("architecture")
    if arch not in ARCHITECTURES:
        raise ValueError(f"models.<family>.architecture: {arch!r}; expected one of {ARCHITECTURES}")
    return arch


def architecture_of_model(model: torch.nn.Module) -> str:
    """Architecture name of an instantiated backbone."""
    model_type = getattr(model.config, "model_type", None)
    if model_type in ARCHITECTURES:
        return model_type
    raise ValueError(f"not a registry model: config.model_type={model_type!r}")


@contextlib.contextmanager
def _seeded(seed: int):
    """Run a block with torch's global RNG seeded, restoring the previous state afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def _attn(family_cfg: dict) -> str:
    return family_cfg["attn_implementation"]


def build_config(family_cfg: dict):
    """HF config of a randomly initialised family (``checkpoint: null``) from its ``init`` overrides."""
    family_cfg = model_entry(family_cfg)
    config_cls, _ = _classes(architecture_of(family_cfg))
    init = dict(family_cfg["init"])
    try:
        config = config_cls(**init)
    except (TypeError, ValueError) as err:
        raise ValueError(f"models.<family>.init: {init} is not a valid {config_cls.__name__} ({err})") from err
    _no_stochastic_layers(config)
    return config


def _no_stochastic_layers(config) -> None:
    """Dropout, LayerDrop and SpecAugment off: features and brain-tuning are deterministic
    (docs/protocol.md 3, 'Train/eval mode'; docs/decisions.md 5 ``backbone_dropout: false``)."""
    for key in ("mask_time_prob", "mask_feature_prob"):
        if hasattr(config, key):
            setattr(config, key, 0.0)
    for key in ("layerdrop", "encoder_layerdrop"):
        if hasattr(config, key):
            setattr(config, key, 0.0)


def _finish(model: torch.nn.Module, family_cfg: dict) -> torch.nn.Module:
    layers = family_cfg.get("layers") or []
    n = num_layers(model)
    bad = [layer for layer in layers if not 0 <= int(layer) <= n]
    if bad:
        raise ValueError(f"models.<family>.layers: {bad} outside 0..{n} ({n} transformer layers)")
    set_normalize(model, family_cfg["normalize"])
    model.eval()
    return model


def build_model(family_cfg: dict, seed: int | None = None) -> torch.nn.Module:
    """The pretrained backbone of a family (eval mode).

    Args:
        family_cfg: ``config["models"][family]``.
        seed: overrides ``init_seed`` for a random initialisation. Leave it ``None`` so that every
            stage builds the same "pretrained" network; ignored when ``checkpoint`` is set.
    """
    family_cfg = model_entry(family_cfg)
    arch = architecture_of(family_cfg)
    config_cls, model_cls = _classes(arch)
    checkpoint = family_cfg["checkpoint"]
    if checkpoint is None:
        config = build_config(family_cfg)
        init_seed = family_cfg["init_seed"] if seed is None else seed
        with _seeded(init_seed):
            model = model_cls._from_config(config, attn_implementation=_attn(family_cfg))
        log.info("built %s with random init (seed %d, %.2fM parameters)", arch, init_seed, n_parameters(model) / 1e6)
        return _finish(model, family_cfg)
    return _finish(_from_pretrained(arch, str(checkpoint), family_cfg), family_cfg)


def _from_pretrained(arch: str, source: str, family_cfg: dict) -> torch.nn.Module:
    """Load a backbone from a hub id or a local directory.

    Whisper: a directory saved from ``WhisperEncoder`` loads directly; anything else (a full
    ``WhisperModel``/``WhisperForConditionalGeneration``, e.g. ``openai/whisper-small``) loads the
    whole model and keeps its encoder. wav2vec2/HuBERT checkpoints of CTC or pretraining heads
    load into the bare model (HF strips the ``wav2vec2.``/``hubert.`` prefix).
    """
    _, model_cls = _classes(arch)
    kwargs: dict[str, Any] = {"attn_implementation": _attn(family_cfg)}
    if arch == "whisper" and not _saved_architecture(source, "WhisperEncoder"):
        from transformers import WhisperModel

        full = WhisperModel.from_pretrained(source, **kwargs)
        model = full.get_encoder()
        _no_stochastic_layers(model.config)
    else:
        model = model_cls.from_pretrained(source, **kwargs)
        _no_stochastic_layers(model.config)
    log.info("loaded %s from %s (%.2fM parameters)", arch, source, n_parameters(model) / 1e6)
    return model


def _saved_architecture(source: str, name: str) -> bool:
    config_json = Path(source) / "config.json"
    if not config_json.exists():
        return False
    with open(config_json) as handle:
        return name in (json.load(handle).get("architectures") or [])


def load_model(family_cfg: dict, checkpoint_dir: str | Path | None = None, seed: int | None = None) -> torch.nn.Module:
    """A fine-tuned backbone saved with ``save_pretrained`` (a braintuning ``model/`` directory), or,
    with ``checkpoint_dir=None``, the family's pretrained model (:func:`build_model`)."""
    if checkpoint_dir is None:
        return build_model(family_cfg, seed=seed)
    family_cfg = model_entry(family_cfg)
    checkpoint_dir = Path(checkpoint_dir)
    if checkpoint_dir.name == "model.safetensors":
        checkpoint_dir = checkpoint_dir.parent
    if not (checkpoint_dir / "config.json").exists():
        raise FileNotFoundError(f"{checkpoint_dir}: not a save_pretrained directory (no config.json)")
    arch = architecture_of(family_cfg)
    with open(checkpoint_dir / "config.json") as handle:
        saved_type = json.load(handle).get("model_type")
    if saved_type != arch:
        raise ValueError(f"{checkpoint_dir}/config.json: model_type {saved_type!r}, but the family is {arch!r}")
    return _finish(_from_pretrained(arch, str(checkpoint_dir), family_cfg), family_cfg)


def n_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def num_layers(model: torch.nn.Module) -> int:
    """Number of transformer layers (hidden states run 0..num_layers)."""
    config = model.config
    return int(config.encoder_layers if architecture_of_model(model) == "whisper" else config.num_hidden_layers)


def hidden_size(model: torch.nn.Module) -> int:
    config = model.config
    return int(config.d_model if architecture_of_model(model) == "whisper" else config.hidden_size)


# --- input preprocessing ------------------------------------------------------------------


def feature_extractor(family_cfg_or_model: dict | torch.nn.Module):
    """The HF feature extractor of a family, built offline from defaults.

    wav2vec2/HuBERT: ``Wav2Vec2FeatureExtractor`` (16 kHz, per-utterance zero-mean unit-variance
    normalisation when ``normalize`` is true: each window is normalised on its own). Whisper:
    ``WhisperFeatureExtractor`` whose ``chunk_length`` and ``feature_size`` match the encoder
    (``2 * max_source_positions`` mel frames; 30 s for the real models).
    """
    if isinstance(family_cfg_or_model, torch.nn.Module):
        model = family_cfg_or_model
        arch = architecture_of_model(model)
        config = model.config
        normalize = bool(getattr(model, "_braintune_normalize", True))
    else:
        family_cfg = model_entry(family_cfg_or_model)
        arch = architecture_of(family_cfg)
        config = build_config(family_cfg) if family_cfg["checkpoint"] is None else None
        normalize = bool(family_cfg["normalize"])
        if config is None and arch == "whisper":
            from transformers import WhisperConfig

            config = WhisperConfig.from_pretrained(family_cfg["checkpoint"])
    if arch == "whisper":
        from transformers import WhisperFeatureExtractor

        return WhisperFeatureExtractor(
            feature_size=config.num_mel_bins, sampling_rate=SAMPLE_RATE, chunk_length=whisper_chunk_s(config)
        )
    from transformers import Wav2Vec2FeatureExtractor

    return Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=SAMPLE_RATE, padding_value=0.0, do_normalize=normalize, return_attention_mask=False
    )


WHISPER_HOP = 160


def whisper_chunk_s(config) -> int:
    """Input length (seconds) of a Whisper encoder: ``2 * max_source_positions`` frames of 10 ms."""
    samples = 2 * int(config.max_source_positions) * WHISPER_HOP
    if samples % SAMPLE_RATE:
        raise ValueError(
            f"models.<family>.init.max_source_positions={config.max_source_positions}: the encoder input "
            f"({2 * config.max_source_positions} mel frames) must be a whole number of seconds "
            f"(a multiple of 50 positions)"
        )
    return samples // SAMPLE_RATE


def set_normalize(model: torch.nn.Module, normalize: bool) -> torch.nn.Module:
    """Record whether wav2vec2/HuBERT inputs are normalised per window (``normalize`` key)."""
    model._braintune_normalize = bool(normalize)
    return model


def normalize_waveforms(audio: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Per-row zero-mean unit-variance, as ``Wav2Vec2FeatureExtractor(do_normalize=True)``."""
    mean = audio.mean(dim=-1, keepdim=True)
    var = audio.var(dim=-1, unbiased=False, keepdim=True)
    return (audio - mean) / torch.sqrt(var + eps)


def whisper_log_mel(model: torch.nn.Module, audio: np.ndarray | torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """Log-mel input (B, n_mels, 2 * max_source_positions) float32 of waveforms (B, L), right-padded
    with zeros to the encoder's input length, computed on ``device`` (default: the audio's).

    The arithmetic of ``WhisperFeatureExtractor``'s torch path (STFT with a Hann window, power,
    mel filters, log10 floored at 1e-10, per-sample dynamic range of 8, ``(x + 4) / 4``), kept on
    the GPU instead of returning through numpy; tested equal to the extractor.
    """
    extractor = _cached_extractor(model)
    if isinstance(audio, np.ndarray):
        audio = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    device = audio.device if device is None else torch.device(device)
    audio = audio.to(device=device, dtype=torch.float32)
    if audio.ndim == 1:
        audio = audio[None]
    if audio.shape[1] > extractor.n_samples:
        raise ValueError(
            f"Whisper input of {audio.shape[1] / SAMPLE_RATE:.2f} s is longer than the encoder's "
            f"{extractor.chunk_length} s (2 x max_source_positions frames); use shorter windows"
        )
    with torch.autocast(device.type, enabled=False):
        padded = torch.nn.functional.pad(audio, (0, extractor.n_samples - audio.shape[1]))
        window = torch.hann_window(extractor.n_fft, device=device)
        stft = torch.stft(padded, extractor.n_fft, extractor.hop_length, window=window, return_complex=True)
        power = (stft[..., :-1].abs() ** 2).contiguous()
        filters = torch.from_numpy(np.asarray(extractor.mel_filters, dtype=np.float32)).to(device)
        log_spec = torch.clamp(filters.T @ power, min=1e-10).log10()
        floor = log_spec.amax(dim=(1, 2), keepdim=True) - 8.0
        return (torch.maximum(log_spec, floor) + 4.0) / 4.0


def _cached_extractor(model):
    extractor = getattr(model, "_braintune_extractor", None)
    if extractor is None:
        extractor = feature_extractor(model)
        model._braintune_extractor = extractor
    return extractor


def autocast(device: torch.device | str):
    """bf16 autocast on CUDA; a no-op elsewhere (CPU runs stay float32 and bit-reproducible)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def resolve_device(name: str = "auto") -> torch.device:
    """``compute.device``: cpu, cuda, or auto (cuda when available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("compute.device is 'cuda' but no CUDA device is available")
    return torch.device(name)


def encoder_forward(model: torch.nn.Module, audio: np.ndarray | torch.Tensor, layers: Sequence[int] | None = None) -> tuple[torch.Tensor, ...]:
    """Hidden states of a batch of equal-length 16 kHz waveforms (B, L).

    Returns the tuple ``(h_0, ..., h_N)`` of (B, frames, H) tensors in one scheme across families:
    ``h_0`` = input to the first transformer layer, ``h_i`` = output of layer ``i``. With ``layers``
    given, only those entries are returned (in that order). Gradients flow unless the caller
    disables them; on CUDA the forward runs under bf16 autocast.
    """
    device = next(model.parameters()).device
    arch = architecture_of_model(model)
    if isinstance(audio, np.ndarray):
        audio = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    if audio.ndim == 1:
        audio = audio[None]
    audio = audio.to(device=device, dtype=torch.float32)
    # input preprocessing in float32, the network under bf16 autocast on CUDA
    if arch == "whisper":
        inputs = {"input_features": whisper_log_mel(model, audio)}
    else:
        inputs = {"input_values": normalize_waveforms(audio) if getattr(model, "_braintune_normalize", True) else audio}
    with autocast(device):
        out = model(**inputs, output_hidden_states=True)
    # h_N is the encoder's output: transformers 5 reports the last layer's output before the final
    # LayerNorm of pre-LN encoders (wav2vec2/HuBERT-large) as hidden_states[-1]; transformers 4, which the
    # paper used, reported it after (docs/decisions.md 31). Equal for every other family.
    hidden = (*out.hidden_states[:-1], out.last_hidden_state)
    if layers is None:
        return hidden
    return tuple(hidden[int(i)] for i in layers)


# --- frame arithmetic -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Conv:
    kernel: int
    stride: int
    padding: int = 0


def _conv_stack(model_or_config) -> tuple[str, list[_Conv]]:
    config = getattr(model_or_config, "config", model_or_config)
    arch = config.model_type
    if arch == "whisper":
        return arch, [_Conv(k, s, p) for k, s, p in WHISPER_CONVS]
    if arch in ("wav2vec2", "hubert"):
        return arch, [_Conv(int(k), int(s)) for k, s in zip(config.conv_kernel, config.conv_stride)]
    raise ValueError(f"not a registry model config: model_type={arch!r}")


def n_frames(model_or_config, n_samples: int) -> int:
    """Output frames of the convolutional front end for ``n_samples`` of audio.

    wav2vec2/HuBERT: ``floor((L - k) / s) + 1`` per conv layer (49 frames per second for the
    default stack: 499 for 10 s). Whisper: always ``max_source_positions`` (the input is padded).
    """
    arch, convs = _conv_stack(model_or_config)
    config = getattr(model_or_config, "config", model_or_config)
    if arch == "whisper":
        return int(config.max_source_positions)
    length = int(n_samples)
    for conv in convs:
        length = (length + 2 * conv.padding - conv.kernel) // conv.stride + 1
        if length < 1:
            raise ValueError(f"{n_samples} samples are too short for the {arch} front end")
    return length


def last_valid_frame(model_or_config, n_samples: int) -> int:
    """Index of the last output frame that still sees the audio of an ``n_samples`` input.

    wav2vec2/HuBERT: the last frame (``n_frames - 1``). Whisper (docs/protocol.md 7.3): the mel frame
    mask has ``ceil(L / 160)`` ones; pushing the index of its last one through conv1 (k3, s1, p1)
    and conv2 (k3, s2, p1), output ``j`` covers inputs ``j*s - p .. j*s - p + k - 1``, so the last
    output touching input ``i`` is ``floor((i + p) / s)``: 500 for 10 s, 805 for 16.1 s.
    """
    arch, convs = _conv_stack(model_or_config)
    if arch != "whisper":
        return n_frames(model_or_config, n_samples) - 1
    config = getattr(model_or_config, "config", model_or_config)
    last = math.ceil(int(n_samples) / WHISPER_HOP) - 1
    if last < 0:
        raise ValueError("Whisper input has no samples")
    length = 2 * int(config.max_source_positions)
    for conv in convs:
        length = (length + 2 * conv.padding - conv.kernel) // conv.stride + 1
        last = min((last + conv.padding) // conv.stride, length - 1)
    return last


# --- faster inference kernels --------------------------------------------------------------


def _grouped_conv_as_matmul(conv: torch.nn.Conv1d, x: torch.Tensor, max_elements: int = 1 << 28) -> torch.Tensor:
    """``conv(x)`` for a grouped, stride-1 Conv1d as unfold + batched matmul (tensor cores).

    cuDNN runs wav2vec2's positional convolution (768 channels, 16 groups, kernel 128) with
    legacy non-tensor-core kernels, one launch per group: more than half of the whole forward of a
    base model on an H100/H200 (docs/performance.md). Windows are processed in slices so that
    the unfolded copy stays under ``max_elements``.
    """
    weight = conv.weight  # computed through the weight-norm parametrisation
    groups, (kernel,), (pad,) = conv.groups, conv.kernel_size, conv.padding
    batch, channels, length = x.shape
    c_in, c_out = channels // groups, weight.shape[0] // groups
    w = weight.view(groups, c_out, c_in * kernel).to(x.dtype)
    padded = torch.nn.functional.pad(x, (pad, pad))
    n_out = length + 2 * pad - kernel + 1
    step = max(1, max_elements // (channels * kernel * n_out))
    outs = []
    for b in range(0, batch, step):
        cols = padded[b : b + step].unfold(2, kernel, 1)  # (b, C, n_out, K), a view
        cols = cols.reshape(-1, groups, c_in, n_out, kernel).permute(1, 0, 3, 2, 4).reshape(groups, -1, c_in * kernel)
        y = torch.bmm(cols, w.transpose(1, 2))  # (groups, b * n_out, c_out)
        y = y.view(groups, -1, n_out, c_out).permute(1, 0, 3, 2).reshape(-1, groups * c_out, n_out)
        outs.append(y)
    out = torch.cat(outs)
    if conv.bias is not None:
        out = out + conv.bias.to(out.dtype)[None, :, None]
    return out


def use_matmul_positional_conv(model: torch.nn.Module) -> bool:
    """Route a wav2vec2/HuBERT positional convolution through :func:`_grouped_conv_as_matmul`
    (same parameters and state dict; numerically equal up to float rounding). For inference on
    CUDA; returns False for models without one (Whisper)."""
    embed = getattr(getattr(model, "encoder", None), "pos_conv_embed", None)
    conv = getattr(embed, "conv", None)
    if not isinstance(conv, torch.nn.Conv1d) or conv.stride != (1,):
        return False
    conv.forward = lambda x, conv=conv: _grouped_conv_as_matmul(conv, x)
    return True


def compile_frontend(model: torch.nn.Module, setting: bool | str = "auto") -> bool:
    """Compile a wav2vec2/HuBERT convolutional feature encoder with :func:`torch.compile` (``features.compile_frontend``:
    ``auto`` = on CUDA only, true, false); returns whether it did.

    Speed only. The front end is seven convolutions, each followed by GroupNorm (layer 0) or LayerNorm and GELU,
    over activations of 512 channels x ~50,000 samples per 16-s window: eagerly, each normalisation and GELU is
    a separate pass over that memory, most of a forward's time. Inductor fuses them into the convolutions'
    epilogues (static shapes: windows of one length share a batch, a new length compiles once more). The module
    tree, parameters and state dict are unchanged (the module's ``forward`` is replaced). Compiled kernels round
    differently, so ``auto`` leaves CPU runs eager and bit-reproducible; Whisper's front end (two convolutions on
    the log-mel spectrogram) is small and left alone. Compilation happens at the first call of a window length;
    where it fails (a GPU node whose compiler stack cannot build the kernels), ``auto`` logs a warning and runs
    the front end eagerly from then on, whereas ``true`` raises.
    """
    if setting not in (True, False, "auto"):
        raise ValueError(f"features.compile_frontend: {setting!r}; expected true, false or auto")
    device = next(model.parameters()).device
    if setting is False or (setting == "auto" and device.type != "cuda"):
        return False
    encoder = getattr(model, "feature_extractor", None)
    if architecture_of_model(model) not in ("wav2vec2", "hubert") or encoder is None:
        return False
    _compile_forward(encoder, fallback=setting == "auto")
    return True


def _compile_forward(module: torch.nn.Module, fallback: bool) -> None:
    """Replace ``module.forward`` by its :func:`torch.compile` (static shapes); with ``fallback``, a compilation
    that fails at a call logs a warning and restores the eager forward for that call and every later one."""
    eager, compiled = module.forward, torch.compile(module.forward, dynamic=False)
    if not fallback:
        module.forward = compiled
        return

    def forward(*args, **kwargs):
        try:
            return compiled(*args, **kwargs)
        except torch.OutOfMemoryError:
            raise
        except Exception as err:  # any compiler failure: the eager forward is the same function
            first = str(err).splitlines()[0] if str(err) else ""
            log.warning("features.compile_frontend auto: compiling the front end failed (%s: %s); running it eagerly",
                        type(err).__name__, first)
            module.forward = eager
            return eager(*args, **kwargs)

    module.forward = forward


# --- brain-tuning helpers -------------------------------------------------------------------


def frozen_parameter_names(model: torch.nn.Module) -> list[str]:
    """Names of the parameters brain-tuning keeps frozen (docs/decisions.md 5)."""
    prefixes = FROZEN_PREFIXES[architecture_of_model(model)]
    return [name for name, _ in model.named_parameters() if name.startswith(prefixes)]


def freeze_frontend(model: torch.nn.Module) -> list[str]:
    """Set ``requires_grad=False`` on the front end (CNN feature encoder; Whisper conv1, conv2,
    embed_positions); return the frozen names."""
    names = set(frozen_parameter_names(model))
    if not names:
        raise RuntimeError(f"{type(model).__name__}: no front-end parameters found to freeze")
    for name, param in model.named_parameters():
        if name in names:
            param.requires_grad_(False)
    return sorted(names)


def prepare_model(family_cfg: dict, checkpoint_dir: str | Path | None = None, device: str | torch.device = "cpu") -> torch.nn.Module:
    """:func:`load_model` moved to ``device``, in eval mode."""
    model = load_model(family_cfg, checkpoint_dir)
    return model.to(torch.device(device)).eval()
