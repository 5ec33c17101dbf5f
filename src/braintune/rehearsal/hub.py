"""A Hugging Face cache of tiny random models under the paper's hub ids, for the offline rehearsal.

The paper configuration loads real checkpoints by hub id (``models.<family>.checkpoint``,
``braintuning.targets.<variant>.checkpoint``) with ``from_pretrained``. The rehearsal runs those same calls
offline (``HF_HOME`` on the cache written here, ``HF_HUB_OFFLINE=1``): :func:`populate_hub_cache` saves, under
each hub id the config loads, a tiny model built with seeded random weights from the ``init`` of the same
config entry (the rehearsal config carries the hub id and the tiny ``init`` side by side; the pipeline
ignores ``init`` once ``checkpoint`` is set), in the form the real repository has as far as the code reads it:

* a wav2vec2 family: ``Wav2Vec2ForPreTraining`` (quantiser and projection heads sized by
  ``braintuning.stimulus.head_init``), so that the stimulus-tuned variant loads its heads from the checkpoint
  as it does from ``facebook/wav2vec2-base``;
* a HuBERT family: ``HubertModel``;
* a Whisper family and the ``bigslm`` target: ``WhisperForConditionalGeneration`` (a family's ``init`` sets
  the encoder; a decoder size it leaves out mirrors the encoder's, as in the real Whisper models);
* an ``lmtuned_<lm>`` target: the causal-LM class of its architecture (``GPT2LMHeadModel``,
  ``LlamaForCausalLM``, ...);
* every target: its tokenizer, a byte-level BPE trained on ``texts`` with the special tokens the target code
  reads (:data:`SPECIAL_TOKEN_ROLES`), loadable with ``AutoTokenizer``;
* every audio model: ``preprocessor_config.json`` (the feature extractor).

The weights are those of the pipeline's own random initialisation (``checkpoint: null``): the backbone of a
family is :func:`braintune.features.models.build_model` of the entry (seed ``init_seed``), a target's base model
and tokenizer are :func:`braintune.braintuning.targets.build_target_model` (seed ``seed``), and only the heads
the real repositories add around them are new (seed ``seed``). Loading a hub id from this cache therefore gives
the network the demo builds from the same ``init``.

The files are stored in the hub cache layout that ``huggingface_hub`` resolves offline:
``<hf_home>/hub/models--<org>--<name>/`` with ``blobs/<sha256 of the file>``, ``snapshots/<commit>/<file>``
(relative symlinks to the blobs) and ``refs/main`` (the commit). The commit is the SHA-1 of the file listing
(names and SHA-256 digests), so the same config, texts and seed give the same commit, and a snapshot that
already exists is left untouched (other content, e.g. other texts, adds a snapshot and moves ``refs/main``
to it; older snapshots stay, as huggingface_hub keeps older revisions). Each snapshot also holds
``rehearsal.json`` saying what it is; a repository folder whose current snapshot lacks it (a real download)
is never overwritten.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from braintune.braintuning.targets import (
    ENDOFTEXT,
    seeded_from_config,
    build_target_model,
)
from braintune.braintuning.variants import trained_variants
from braintune.features import models

log = logging.getLogger(__name__)

__all__ = ["MARKER", "SPECIAL_TOKEN_ROLES", "populate_hub_cache"]

#: File in every snapshot written here (what stands in for which hub id); its absence marks a real download.
MARKER = "rehearsal.json"

#: Tokenizer roles of the real target tokenizers, by architecture, played by the trained tokenizer's
#: ``<|endoftext|>``. Whisper and GPT-2 use ``<|endoftext|>`` as BOS, EOS and unknown token (Whisper also as
#: padding). Llama-2 has distinct ``<s>``, ``</s>`` and ``<unk>``; a byte-level BPE has no unknown token, so a
#: Llama stand-in has BOS and EOS only (BOS differs from the unknown token, as in the real one). Other
#: architectures get the Llama form.
SPECIAL_TOKEN_ROLES = {
    "whisper": ("bos_token", "eos_token", "unk_token", "pad_token"),
    "gpt2": ("bos_token", "eos_token", "unk_token"),
    "llama": ("bos_token", "eos_token"),
}
_DEFAULT_ROLES = SPECIAL_TOKEN_ROLES["llama"]

#: Decoder sizes of a Whisper family's saved model that default to the encoder's when ``init`` omits them.
_WHISPER_DECODER_MIRRORS = {
    "decoder_layers": "encoder_layers",
    "decoder_attention_heads": "encoder_attention_heads",
    "decoder_ffn_dim": "encoder_ffn_dim",
}


def populate_hub_cache(config: dict, hf_home: Path, texts: Sequence[str], seed: int) -> list[str]:
    """Save a tiny seeded random model under every hub id ``config`` loads, in ``hf_home``'s hub cache.

    Args:
        config: a validated configuration (:func:`braintune.config.validate_config`) whose hub-id checkpoints
            carry the tiny ``init`` to build. Checkpoints that are null or an existing local directory are
            skipped; targets count only for a ``bigslm``/``lmtuned_*`` variant some family lists.
        hf_home: the Hugging Face home the pipeline will run with (``HF_HOME``); the cache is ``hf_home/hub``.
        texts: the text the target tokenizers are trained on (the stories' transcripts, as the pipeline's
            ``checkpoint: null`` targets are).
        seed: seed of the target models and of the heads around the registry backbones (``config["seed"]``,
            which the targets and stimulus stages use).

    Returns:
        The hub ids whose snapshot was written (none when the cache already held this content).

    Raises:
        ValueError: a checkpoint that is not a valid hub id, two config keys naming the same hub id with
            different content, or a repository folder that holds a real download.
    """
    cache = Path(hf_home) / "hub"
    written: list[str] = []
    commits: dict[str, tuple[str, str]] = {}  # hub id -> (config key, commit)
    for key, repo_id, save in _hub_checkpoints(config, list(texts), int(seed)):
        with tempfile.TemporaryDirectory(prefix="braintune-hub-") as tmp:
            files = Path(tmp)
            save(files)
            (files / MARKER).write_text(json.dumps(
                {"repo_id": repo_id, "what": "tiny seeded random model of the rehearsal (braintune.rehearsal.hub)"},
                indent=1, sort_keys=True) + "\n")
            digests = _digests(files)
            commit = _commit(digests)
            if repo_id in commits:
                if commits[repo_id][1] != commit:
                    raise ValueError(f"{key} and {commits[repo_id][0]} both name {repo_id!r} with different models; "
                                     f"give them the same init or different hub ids")
                continue
            commits[repo_id] = (key, commit)
            if _store(cache, repo_id, files, digests, commit):
                written.append(repo_id)
                log.info("hub cache: %s (%s) -> snapshot %s", repo_id, key, commit)
    return written


# --- what the config loads ----------------------------------------------------------------------------


def _hub_checkpoints(config: dict, texts: list[str], seed: int) -> Iterator[tuple[str, str, Callable[[Path], None]]]:
    """``(config key, hub id, save(directory))`` of every hub-id checkpoint the config loads."""
    head_init = config["braintuning"]["stimulus"]["head_init"]
    targets: dict[str, None] = {}
    for family, family_cfg in config["models"].items():
        key = f"models.{family}.checkpoint"
        repo_id = _hub_id(family_cfg["checkpoint"], key)
        if repo_id:
            yield key, repo_id, lambda out, cfg=family_cfg: _save_family(cfg, head_init, seed, out)
        targets.update((spec.target, None) for spec in trained_variants(config, family) if spec.precomputed)
    for variant in targets:
        tcfg = config["braintuning"]["targets"][variant]
        key = f"braintuning.targets.{variant}.checkpoint"
        repo_id = _hub_id(tcfg["checkpoint"], key)
        if repo_id:
            yield key, repo_id, lambda out, v=variant, cfg=tcfg: _save_target(v, cfg, texts, seed, out)


def _hub_id(checkpoint: str | None, key: str) -> str | None:
    """The hub id a checkpoint value names, or None (random init, or a local directory loaded as it is)."""
    if checkpoint is None or Path(checkpoint).exists():
        return None
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(str(checkpoint))
    except HFValidationError as err:
        raise ValueError(f"{key} = {checkpoint!r}: neither an existing directory nor a hub id ({err})") from err
    return str(checkpoint)


# --- the models -----------------------------------------------------------------------------------------


def _save_family(family_cfg: dict, head_init: dict, seed: int, out: Path) -> None:
    """The real repository's form of a family whose backbone is the registry's random init of its ``init``."""
    from transformers import Wav2Vec2Config, WhisperForConditionalGeneration

    from braintune.braintuning.stimulus import build_pretraining_model

    random_cfg = {**family_cfg, "checkpoint": None}
    arch = models.architecture_of(random_cfg)
    if arch == "wav2vec2":
        # the real pre-training checkpoint's masking probability, so that it also holds the mask embedding
        model = build_pretraining_model(random_cfg, seed, Wav2Vec2Config().mask_time_prob, head_init)
    elif arch == "whisper":
        init = random_cfg["init"]
        mirrored = {dec: init[enc] for dec, enc in _WHISPER_DECODER_MIRRORS.items() if dec not in init and enc in init}
        encoder = models.build_model({**random_cfg, "init": {**init, **mirrored}})
        model = seeded_from_config(WhisperForConditionalGeneration, copy.deepcopy(encoder.config), seed)
        model.model.encoder.load_state_dict(encoder.state_dict())
    else:
        model = models.build_model(random_cfg)
    model.save_pretrained(out)
    models.feature_extractor(random_cfg).save_pretrained(out)


def _save_target(variant: str, tcfg: dict, texts: list[str], seed: int, out: Path) -> None:
    """A target's real repository form around the pipeline's random target model and trained tokenizer."""
    from transformers import AutoModelForCausalLM, WhisperForConditionalGeneration

    target = build_target_model(variant, {**tcfg, "checkpoint": None}, texts, seed=seed)
    config = copy.deepcopy(target.model.config)
    head_cls = WhisperForConditionalGeneration if variant == "bigslm" else AutoModelForCausalLM
    model = seeded_from_config(head_cls, config, seed)
    model.base_model.load_state_dict(target.model.state_dict())
    model.save_pretrained(out)
    tokenizer = target.tokenizer
    for role in SPECIAL_TOKEN_ROLES.get(config.model_type, _DEFAULT_ROLES):
        setattr(tokenizer, role, ENDOFTEXT)
    tokenizer.save_pretrained(out)
    if variant == "bigslm":
        models.feature_extractor(model).save_pretrained(out)


# --- the hub cache layout -------------------------------------------------------------------------------


def _digests(files: Path) -> dict[str, str]:
    """``{relative posix name: sha256}`` of every file under ``files``, sorted by name."""
    names = sorted(p.relative_to(files).as_posix() for p in files.rglob("*") if p.is_file())
    return {name: hashlib.sha256((files / name).read_bytes()).hexdigest() for name in names}


def _commit(digests: dict[str, str]) -> str:
    """A 40-hex commit hash of a file listing (deterministic: same files, same commit)."""
    listing = "".join(f"{digest}  {name}\n" for name, digest in digests.items())
    return hashlib.sha1(listing.encode()).hexdigest()


def _store(cache: Path, repo_id: str, files: Path, digests: dict[str, str], commit: str) -> bool:
    """Put ``files`` into the cache as ``repo_id``'s main revision ``commit``; False when it already is.

    Blobs first (each moved into place whole), then the snapshot folder (symlinks built aside and renamed
    into place), then ``refs/main``: a reader never resolves a half-written snapshot.
    """
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    from braintune.utils import atomic_output

    repo = cache / repo_folder_name(repo_id=repo_id, repo_type=constants.REPO_TYPE_MODEL)
    ref = repo / "refs" / constants.DEFAULT_REVISION
    snapshots = repo / "snapshots"
    current = ref.read_text() if ref.is_file() else None
    if current == commit and (snapshots / commit).is_dir():
        return False
    if current is not None and not (snapshots / current / MARKER).exists():
        raise ValueError(f"{repo}: refs/{constants.DEFAULT_REVISION} names snapshot {current}, which is not a "
                         f"rehearsal model (no {MARKER}); point hf_home at a cache of its own")
    blobs = repo / "blobs"
    for name, digest in digests.items():
        if not (blobs / digest).is_file():
            with atomic_output(blobs / digest) as tmp:
                shutil.copyfile(files / name, tmp)
    if not (snapshots / commit).is_dir():
        snapshots.mkdir(parents=True, exist_ok=True)
        aside = Path(tempfile.mkdtemp(dir=snapshots, prefix=f".{commit}."))
        try:
            for name, digest in digests.items():
                link = aside / name
                link.parent.mkdir(parents=True, exist_ok=True)
                # relative, as huggingface_hub links them; the depth below snapshots/ is the same after the rename
                os.symlink(os.path.relpath(blobs / digest, link.parent), link)
            os.rename(aside, snapshots / commit)
        except BaseException:
            shutil.rmtree(aside, ignore_errors=True)
            raise
    with atomic_output(ref) as tmp:
        tmp.write_text(commit)  # no newline: huggingface_hub reads the file whole
    return True
