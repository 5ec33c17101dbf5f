"""Settings and job sizing of the braintuning stage, without importing torch (used by the rule file at DAG time).

Resource estimates are functions of the inputs: samples (story lengths from respdict.json), outputs
(voxels above the NC threshold or the target width) and model size (parameter count of the family).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

__all__ = [
    "variant_config", "training_family_config", "story_rows", "family_parameters", "n_outputs_estimate",
    "estimate_resources", "gated_access_problem",
]

#: Parameter counts of the checkpoints the paper config names (for sizing only).
KNOWN_PARAMETERS = {
    "facebook/wav2vec2-base": 95e6, "facebook/wav2vec2-base-960h": 95e6, "facebook/hubert-base-ls960": 95e6,
    "openai/whisper-small": 88e6, "facebook/hubert-large-ll60k": 317e6,
}
#: Output width of the precomputed target sets of the paper config (layers x hidden size).
KNOWN_TARGET_WIDTH = {"openai/whisper-medium": 25 * 1024, "openai-community/gpt2-medium": 25 * 1024, "meta-llama/Llama-2-7b-hf": 11 * 4096}
#: Largest subject's voxel count above NC 0.4 (UTS03, docs/protocol.md 1.3): the bound before the mask exists.
MAX_VOXELS = 50_732


#: Hugging Face hub organisations whose models are gated: a licence accepted on the hub and an access token.
GATED_ORGS = ("meta-llama/",)


def gated_access_problem(checkpoint: str | None, key: str) -> str | None:
    """Why ``checkpoint`` (the value of config key ``key``) cannot be loaded here, or None.

    A gated hub model loads when it is in the local Hugging Face cache, or when an access token is
    available (``HF_TOKEN`` or ``huggingface-cli login``) for an account that accepted its licence. The
    licence itself cannot be checked without asking the hub; a token without it fails at download time.
    """
    if not checkpoint or Path(checkpoint).exists() or not str(checkpoint).startswith(GATED_ORGS):
        return None
    from huggingface_hub import get_token, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(str(checkpoint), "config.json"), str) or get_token():
        return None
    return (
        f"{key} = {checkpoint!r} is a gated model and no Hugging Face access token is available (nor is it in "
        f"the local cache, $HF_HOME). Accept its licence at https://huggingface.co/{checkpoint}, then run "
        f"`huggingface-cli login` or set HF_TOKEN; or leave out the variant that needs it."
    )


def variant_config(bt: dict, variant: str) -> dict:
    """The ``braintuning`` section with the variant's ``variant_overrides`` applied (e.g. LM-tuned epochs); the
    subsections of other trainings (targets, stimulus, multi) left out, so that changing them reruns only those."""
    cfg = {k: v for k, v in bt.items() if k not in ("targets", "stimulus", "multi", "variant_overrides")}
    overrides = bt["variant_overrides"].get(variant, {})
    unknown = set(overrides) - set(cfg)
    if unknown:
        raise ValueError(f"braintuning.variant_overrides.{variant}: unknown keys {sorted(unknown)}")
    cfg.update(overrides)
    return cfg


def training_family_config(family_cfg: dict) -> dict:
    """A family's config without the keys training does not depend on (evaluation layers, variant list), so
    that listing another layer or variant does not rerun brain-tuning."""
    return {k: v for k, v in family_cfg.items() if k not in ("layers", "variants")}


def story_rows(respdict_path: str | os.PathLike, stories: list[str], pad: int = 20, default: int = 400) -> int:
    """Response rows (respdict - 20) of ``stories``; ``default`` per story while respdict.json does not exist."""
    path = Path(respdict_path)
    if not path.exists():
        return default * len(stories)
    with open(path) as handle:
        respdict = json.load(handle)
    return sum(max(int(respdict.get(s, default + pad)) - pad, 0) for s in stories)


def family_parameters(family_cfg: dict) -> float:
    """Parameter count of a family: known checkpoints, else estimated from the ``init`` config."""
    checkpoint = family_cfg.get("checkpoint")
    if checkpoint:
        return KNOWN_PARAMETERS.get(str(checkpoint), 317e6 if "large" in str(checkpoint) else 95e6)
    init = family_cfg.get("init") or {}
    hidden = init.get("hidden_size", init.get("d_model", 768))
    layers = init.get("num_hidden_layers", init.get("encoder_layers", 12))
    return 12.0 * hidden * hidden * layers + 5e6 * (hidden / 768)


def n_outputs_estimate(variant_target: str, bt: dict) -> int:
    """Outputs of the head: the voxel bound for fMRI targets, the target width for BigSLM/LM targets."""
    if variant_target in ("responses", "permuted"):
        return MAX_VOXELS
    tcfg = (bt.get("targets") or {}).get(variant_target) or {}
    checkpoint = tcfg.get("checkpoint")
    if checkpoint in KNOWN_TARGET_WIDTH:
        return KNOWN_TARGET_WIDTH[checkpoint]
    init = tcfg.get("init") or {}
    hidden = init.get("d_model", init.get("n_embd", init.get("hidden_size", 1024)))
    layers = init.get("decoder_layers", init.get("n_layer", init.get("num_hidden_layers", 24))) + 1
    return int(hidden * math.ceil(layers / int(tcfg.get("layer_step", 1))))


def estimate_resources(
    n_samples: int, n_outputs: int, parameters: float, epochs: int, device: str, architecture: str, workers: int = 0
) -> dict:
    """``mem_mb`` (host memory) and ``runtime`` (minutes) of one brain-tuning job.

    Host memory: targets in float32, the model with gradients and Adam moments (4 copies), a
    2-GB interpreter/library base and 0.5 GB per data-loader worker. Runtime: ~6 x parameters x frames
    FLOP per training sample (forward + backward; Whisper always runs 1,500 frames, wav2vec2/HuBERT 500 per
    10 s) at 100 TFLOP/s on a GPU or 20 GFLOP/s on CPU, x1.5 for validation and data loading, plus 5 min.
    """
    mem_mb = 2048 + 512 * workers + 4 * n_samples * n_outputs / 2**20 + 16 * parameters / 2**20
    frames = 1500 if architecture == "whisper" else 500
    flops = 6.0 * parameters * frames * n_samples * epochs
    rate = 100e12 if device in ("cuda", "auto") else 20e9
    runtime = 5 + 1.5 * flops / rate / 60
    return {"mem_mb": int(math.ceil(mem_mb)), "runtime": int(math.ceil(runtime))}
