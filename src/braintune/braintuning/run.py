"""End-to-end jobs of the braintuning stage, called by the thin rule scripts (workflow/scripts/braintuning_*.py).

- :func:`run_targets`: BigSLM / text-LM targets of every brain-tuning story (one job per target set).
- :func:`run_braintuning`: one (family, variant, subject) brain-tuning run -> ``model/`` (backbone
  ``save_pretrained``), ``training.json``, ``curve.tsv``, ``curve.png``.
- :func:`run_stimulus`: the shared stimulus-tuned checkpoint of a wav2vec2 family.

Each job takes a frozen settings object (the settings that change its result: exactly the rule's
params, and what ``config_hash`` in its ``training.json`` hashes), its input and output paths, and the
speed-only settings (device, data-loader workers, target-model batch size) as separate arguments.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch

from braintune.config import MULTI_VARIANT
from braintune.features import models
from braintune.preprocess.audio import load_audio
from braintune.preprocess.noise_ceiling import read_noise_ceiling
from braintune.preprocess.responses import read_respdict, read_responses
from braintune.preprocess.timing import TRGrid, grid_timing
from braintune.preprocess.transcripts import read_textgrid
from braintune.utils import (
    ParamsRoundTrip,
    atomic_directory,
    atomic_output,
    seed_everything,
    stable_hash,
)

from .dataset import (
    PairedDataset,
    StoryPairs,
    array_digest,
    window_ends,
    window_samples,
)
from .multi import MultiSettings, MultiTuner, save_multi, train_multi
from .permute import permute_blocks, story_rng
from .plan import training_family_config, variant_config
from .stimulus import build_pretraining_model, stimulus_tune
from .targets import (
    bigslm_targets,
    build_target_model,
    lm_targets,
    words_in_windows,
    zscore_columns,
)
from .trainer import BrainTuner, train, write_curve
from .variants import parse_variant

log = logging.getLogger(__name__)

__all__ = [
    "BrainTuningSettings", "MultiRunSettings", "TargetSettings", "StimulusTuningSettings", "read_mask", "run_targets",
    "run_braintuning", "run_multibraintuning", "run_stimulus",
]

#: ``braintuning`` keys that change speed or disk use only: not settings (``keep_state`` keeps the
#: resumable state after success, ``num_workers`` assembles batches in background processes).
RUNTIME_KEYS = ("num_workers", "keep_state", "cache_cnn")


@dataclass(frozen=True)
class BrainTuningSettings(ParamsRoundTrip):
    """What one brain-tuning run of a (family, variant) depends on: the family's network (without its
    evaluation layers and variant list), the ``braintuning`` training keys with the variant's
    overrides, the seed, the audio sample rate and the TR grid."""

    family: str
    variant: str
    family_config: dict
    training: dict
    seed: int
    sample_rate: int
    timing: dict

    @classmethod
    def from_config(cls, braintuning: dict, family: str, family_config: dict, variant: str, seed: int,
                    sample_rate: int, timing: dict) -> "BrainTuningSettings":
        """From the ``braintuning`` section, the family's ``models`` entry, ``seed``,
        ``preprocess.sample_rate`` and the ``timing`` section."""
        training = {k: v for k, v in variant_config(braintuning, variant).items() if k not in RUNTIME_KEYS}
        return cls(family, variant, training_family_config(family_config), training, int(seed), int(sample_rate),
                   grid_timing(timing))


@dataclass(frozen=True)
class TargetSettings(ParamsRoundTrip):
    """What the targets of one precomputed target set depend on: its target model (``braintuning.targets.
    <variant>`` without ``batch_size``, which changes speed only), the window length, the seed, the audio
    sample rate and the TR grid."""

    variant: str
    target: dict
    context_trs: int
    seed: int
    sample_rate: int
    timing: dict

    @classmethod
    def from_config(cls, braintuning: dict, variant: str, seed: int, sample_rate: int, timing: dict) -> "TargetSettings":
        targets = braintuning["targets"]
        if variant not in targets:
            raise KeyError(f"braintuning.targets.{variant}: missing (the target model of variant '{variant}')")
        target = {k: v for k, v in targets[variant].items() if k != "batch_size"}
        return cls(variant, target, int(braintuning["context_trs"]), int(seed), int(sample_rate), grid_timing(timing))


@dataclass(frozen=True)
class StimulusTuningSettings(ParamsRoundTrip):
    """What the stimulus-tuned checkpoint of a family depends on: the family's network, the
    ``braintuning.stimulus`` section and the seed."""

    family: str
    family_config: dict
    stimulus: dict
    seed: int

    @classmethod
    def from_config(cls, braintuning: dict, family: str, family_config: dict, seed: int) -> "StimulusTuningSettings":
        return cls(family, training_family_config(family_config), dict(braintuning["stimulus"]), int(seed))


@dataclass(frozen=True)
class MultiRunSettings(ParamsRoundTrip):
    """What the multi-participant checkpoint of a family depends on (variant ``multibraintuned``): the family's
    network, the trainer's settings (``braintuning.multi`` as :class:`~.multi.MultiSettings` keyword arguments),
    the training participants in their order, the window length (``braintuning.context_trs``), the seed, the
    audio sample rate and the TR grid. The stories are the rule's other params; the projections its inputs."""

    family: str
    family_config: dict
    multi: dict
    train_subjects: tuple[str, ...]
    context_trs: int
    seed: int
    sample_rate: int
    timing: dict

    @classmethod
    def from_config(cls, braintuning: dict, family: str, family_config: dict, seed: int, sample_rate: int,
                    timing: dict) -> "MultiRunSettings":
        m = braintuning["multi"]
        multi = {
            "lora_rank": int(m["lora"]["rank"]), "lora_alpha": float(m["lora"]["alpha"]),
            "lora_dropout": float(m["lora"]["dropout"]), "lora_targets": list(m["lora"]["targets"]),
            **{k: m[k] for k in ("binding", "loss", "uncovered", "lr_lora", "lr_head", "weight_decay",
                                 "warmup_fraction", "schedule_stepping", "batch_size", "micro_batch_size", "epochs",
                                 "patience")},
            "seed": int(seed),
        }
        MultiSettings(**{**multi, "lora_targets": tuple(multi["lora_targets"])})  # fail before any job runs
        return cls(family, training_family_config(family_config), multi, tuple(m["train_subjects"]),
                   int(braintuning["context_trs"]), int(seed), int(sample_rate), grid_timing(timing))

    def trainer_settings(self) -> MultiSettings:
        return MultiSettings(**{**self.multi, "lora_targets": tuple(self.multi["lora_targets"])})


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """The ``mask`` (voxels with NC > threshold) of a subject's ``noise_ceiling.h5``, checked non-empty."""
    _, mask = read_noise_ceiling(path)
    if mask.ndim != 1 or not mask.any():
        raise ValueError(f"{path}: 'mask' must be a 1-D boolean with at least one voxel above threshold")
    return mask


def _grid(respdict: dict, story: str, timing: dict, where: str | os.PathLike) -> TRGrid:
    if story not in respdict:
        raise KeyError(f"{where}: no story '{story}'")
    return TRGrid.from_config(respdict[story], timing)


def _story_targets(spec, story: str, subject: str, mask, responses: Mapping | None, targets: Mapping | None,
                   seed: int, block: int) -> np.ndarray:
    """One story's targets: the subject's responses (on the ``mask`` voxels; None: every voxel), block-permuted
    for ``random``, or a precomputed target set."""
    if spec.needs_subject:
        path = responses[story]
        data = read_responses(path)
        if mask is not None:
            if data.shape[1] != mask.shape[0]:
                raise ValueError(f"{path}: {data.shape[1]} voxels, but the noise-ceiling mask has {mask.shape[0]}")
            data = np.ascontiguousarray(data[:, mask])
        if spec.target == "permuted":
            data = permute_blocks(data, block, story_rng(seed, f"{subject}/{story}"))
        return data
    path = targets[story]
    data = np.load(path)
    if data.ndim != 2 or data.dtype != np.float32:
        raise ValueError(f"{path}: expected float32 (rows, outputs), got {data.dtype} {data.shape}")
    return data


def _pairs(settings: BrainTuningSettings, spec, subject, stories, mask, respdict, respdict_path, audio, responses,
           targets) -> tuple[list[StoryPairs], dict]:
    return _story_pairs(spec, subject, stories, settings.timing, settings.sample_rate, int(settings.training["context_trs"]),
                        settings.seed, int(settings.training["block_trs"]), mask, respdict, respdict_path, audio,
                        responses, targets)


def _story_pairs(spec, subject, stories, timing: dict, sr: int, context_trs: int, seed: int, block: int, mask, respdict,
                 respdict_path, audio, responses, targets) -> tuple[list[StoryPairs], dict]:
    """(audio windows, targets) of each story, and each story's data hashes (for training.json)."""
    hashes, pairs = {}, []
    for story in stories:
        grid = _grid(respdict, story, timing, respdict_path)
        wave = load_audio(audio[story])
        values = _story_targets(spec, story, subject, mask, responses, targets, seed, block)
        window = window_samples(grid.tr_s, context_trs, sr)
        pairs.append(StoryPairs.from_grid(story, wave, grid, values, sr, window))
        hashes[story] = {"audio": array_digest(np.asarray(wave)), "targets": array_digest(values), "rows": values.shape[0]}
    return pairs, hashes


def _save_backbone(backbone: torch.nn.Module, out_dir: str | os.PathLike) -> None:
    """``save_pretrained`` (safetensors + config.json), replacing ``out_dir`` whole."""
    with atomic_directory(out_dir) as tmp:
        backbone.to("cpu").save_pretrained(tmp, safe_serialization=True)


def _write_json(obj: dict, path: str | os.PathLike) -> None:
    with atomic_output(path) as tmp:
        with open(tmp, "w") as handle:
            json.dump(obj, handle, indent=2, sort_keys=True, default=str)
            handle.write("\n")


def run_braintuning(
    settings: BrainTuningSettings,
    subject: str,
    train_stories: list[str],
    val_stories: list[str],
    audio: Mapping[str, str | os.PathLike],
    respdict_path: str | os.PathLike,
    model_dir: str | os.PathLike,
    training_path: str | os.PathLike,
    curve_tsv: str | os.PathLike,
    curve_png: str | os.PathLike,
    state_dir: str | os.PathLike,
    noise_ceiling: str | os.PathLike | None = None,
    responses: Mapping[str, str | os.PathLike] | None = None,
    targets: Mapping[str, str | os.PathLike] | None = None,
    device: str = "cpu",
    num_workers: int = 0,
    keep_state: bool = False,
    cache_cnn: bool | str = "auto",
) -> dict:
    """Brain-tune one (family, variant, subject) on ``train_stories``, validating on ``val_stories``.

    Inputs: ``audio`` (``{story: .npy}``), ``respdict_path``; for fMRI targets the subject's
    ``noise_ceiling`` (its ``mask``) and ``responses`` (``{story: .hf5}``), for precomputed targets
    ``targets`` (``{story: .npy}``). Outputs: ``model_dir`` (backbone ``save_pretrained``),
    ``training_path`` (JSON), the curve (TSV and PNG). Resumable state lives in ``state_dir`` (removed
    after success unless ``keep_state``). ``device``, ``num_workers``, ``keep_state`` and ``cache_cnn`` change no result.
    """
    t0 = time.perf_counter()
    spec = parse_variant(settings.variant)
    if spec.target == "stimulus":
        raise ValueError("the stimulus variant is trained by run_stimulus")
    cfg = {**settings.training, "num_workers": int(num_workers)}
    if spec.n_train_stories is not None:
        train_stories = list(train_stories)[: spec.n_train_stories]
    seed = settings.seed
    seed_everything(seed)
    dev = models.resolve_device(device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # autotuned CNN/positional convolutions: +8% samples/s on an H200
    mask = read_mask(noise_ceiling) if spec.needs_subject else None
    respdict = read_respdict(respdict_path)
    data = dict(mask=mask, respdict=respdict, respdict_path=respdict_path, audio=audio, responses=responses, targets=targets)
    train_pairs, train_hashes = _pairs(settings, spec, subject, train_stories, **data)
    val_pairs, val_hashes = _pairs(settings, spec, subject, val_stories, **data)
    window = window_samples(settings.timing["tr_s"], int(cfg["context_trs"]), settings.sample_rate)
    train_set, val_set = PairedDataset(train_pairs, window), PairedDataset(val_pairs, window)
    family, variant = settings.family, settings.variant
    backbone = models.build_model(settings.family_config)
    model = BrainTuner(backbone, train_set.n_outputs, seed=seed)
    log.info(
        "%s/%s/%s: %d train stories (%d samples), %d validation stories (%d samples), %d outputs",
        family, variant, subject, len(train_stories), train_set.n_samples, len(val_stories), val_set.n_samples,
        train_set.n_outputs,
    )
    result = train(model, train_set, val_set, cfg, state_dir, dev, seed, cache_cnn=cache_cnn)
    _save_backbone(model.backbone, model_dir)
    write_curve(result.curve, curve_tsv, curve_png, title=f"{family} {variant} {subject}")
    info = {
        "family": family, "variant": variant, "subject": subject, "target": spec.target,
        "family_config": settings.family_config, "training_config": settings.training, "seed": seed, "device": str(dev),
        "timing": settings.timing, "sample_rate": settings.sample_rate,
        "train_stories": list(train_stories), "val_stories": list(val_stories),
        "n_train_samples": train_set.n_samples, "n_val_samples": val_set.n_samples, "n_outputs": train_set.n_outputs,
        "window_samples": int(window), "n_trainable_parameters": result.n_trainable, "frozen_parameters": result.frozen,
        "best_epoch": result.best_epoch, "best_val_mse": result.best_val_mse, "final_epoch": result.final_epoch,
        "stopped_early": result.stopped_early, "epochs_run": len(result.curve),
        "data_hashes": {"train": train_hashes, "val": val_hashes, "mask": array_digest(mask) if mask is not None else None},
        "config_hash": stable_hash(settings.params()),
        "wall_s": time.perf_counter() - t0,
    }
    _write_json(info, training_path)
    if not keep_state:
        shutil.rmtree(state_dir, ignore_errors=True)
    return info


def run_multibraintuning(
    settings: MultiRunSettings,
    train_stories: Mapping[str, list[str]],
    val_stories: Mapping[str, list[str]],
    audio: Mapping[str, str | os.PathLike],
    respdict_path: str | os.PathLike,
    responses: Mapping[str, Mapping[str, str | os.PathLike]],
    projections: Mapping[str, str | os.PathLike],
    space_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    training_path: str | os.PathLike,
    curve_tsv: str | os.PathLike,
    curve_png: str | os.PathLike,
    state_dir: str | os.PathLike,
    device: str = "cpu",
    num_workers: int = 0,
    keep_state: bool = False,
    cache_cnn: bool | str = "auto",
) -> dict:
    """Brain-tune one family jointly on ``settings.train_subjects`` (:func:`.multi.train_multi`).

    Inputs: ``{subject: [story]}`` of training and validation stories (each participant's available ones),
    ``audio`` (``{story: .npy}``), ``respdict_path``, ``responses`` (``{subject: {story: .hf5}}``, every voxel:
    the projection picks the outputs), ``projections`` (``{subject: projection.h5}``) to the shared space at
    ``space_path``. Outputs: ``out_dir`` (:func:`.multi.save_multi`: ``model/`` merged, ``adapter/``,
    ``head.pt``), then ``training_path`` (JSON) and the curve (TSV and PNG). ``state_dir`` holds the resumable
    state, outside ``out_dir`` (which is replaced whole); removed after success unless ``keep_state``.
    """
    from braintune.commonspace.projection import read_projection, read_space

    t0 = time.perf_counter()
    spec = parse_variant(MULTI_VARIANT)
    seed_everything(settings.seed)
    dev = models.resolve_device(device)
    space = read_space(space_path)
    respdict = read_respdict(respdict_path)
    block = 1  # no permutation: the block length is unused for fMRI targets
    trainer = settings.trainer_settings()
    uncovered = {"mask": "left out of its losses (braintuning.multi.uncovered: mask)",
                 "zero": "their targets are 0 (braintuning.multi.uncovered: zero)"}[trainer.uncovered]
    train_sets, val_sets, hashes, projection, coverage = {}, {}, {}, {}, {}
    for subject in settings.train_subjects:
        data = dict(mask=None, respdict=respdict, respdict_path=respdict_path, audio=audio,
                    responses=responses[subject], targets=None)
        common = (spec, subject)
        timing = (settings.timing, settings.sample_rate, settings.context_trs, settings.seed, block)
        train_pairs, train_hashes = _story_pairs(*common, train_stories[subject], *timing, **data)
        val_pairs, val_hashes = _story_pairs(*common, val_stories[subject], *timing, **data)
        window = window_samples(settings.timing["tr_s"], settings.context_trs, settings.sample_rate)
        train_sets[subject], val_sets[subject] = PairedDataset(train_pairs, window), PairedDataset(val_pairs, window)
        read = read_projection(projections[subject], space)
        projection[subject], coverage[subject] = read.P, read.coverage
        if not read.coverage.all():
            log.warning("%s: %d of %d common-space outputs uncovered (%s); %s", subject, int((~read.coverage).sum()),
                        space.n_outputs, projections[subject], uncovered)
        hashes[subject] = {"train": train_hashes, "val": val_hashes}
    model = MultiTuner(models.build_model(settings.family_config), space.n_outputs, trainer)
    log.info("%s/%s: participants %s, %d outputs", settings.family, MULTI_VARIANT, list(settings.train_subjects),
             space.n_outputs)
    result = train_multi(model, train_sets, projection, val_sets, state_dir, dev, workers=int(num_workers),
                         cache_cnn=cache_cnn, coverage=coverage)
    save_multi(model, out_dir)
    write_curve(result.curve, curve_tsv, curve_png, title=f"{settings.family} {MULTI_VARIANT}")
    info = {
        "family": settings.family, "variant": MULTI_VARIANT, "train_subjects": list(settings.train_subjects),
        "target": spec.target, "family_config": settings.family_config, "multi": settings.multi,
        "seed": settings.seed, "device": str(dev), "timing": settings.timing, "sample_rate": settings.sample_rate,
        "train_stories": {s: list(v) for s, v in train_stories.items()},
        "val_stories": {s: list(v) for s, v in val_stories.items()},
        "n_train_samples": {s: ds.n_samples for s, ds in train_sets.items()},
        "n_val_samples": {s: ds.n_samples for s, ds in val_sets.items()},
        "n_outputs": space.n_outputs, "n_covered": {s: int(c.sum()) for s, c in coverage.items()},
        "space_fingerprint": space.fingerprint(),
        "n_trainable_parameters": result.n_trainable, "best_epoch": result.best_epoch,
        "best_val_mse": result.best_val_mse, "final_epoch": result.final_epoch, "kept_epoch": result.kept_epoch,
        "stopped_early": result.stopped_early, "epochs_run": len(result.curve), "data_hashes": hashes,
        "config_hash": stable_hash(settings.params()), "wall_s": time.perf_counter() - t0,
    }
    _write_json(info, training_path)
    if not keep_state:
        shutil.rmtree(state_dir, ignore_errors=True)
    return info


def run_targets(
    settings: TargetSettings,
    stories: list[str],
    audio: Mapping[str, str | os.PathLike],
    textgrids: Mapping[str, str | os.PathLike],
    respdict_path: str | os.PathLike,
    out_paths: Mapping[str, str | os.PathLike],
    info_path: str | os.PathLike,
    device: str = "cpu",
    batch_size: int | None = None,
) -> dict:
    """BigSLM / LM targets of ``stories`` (``{story: .npy}`` outputs, float32, z-scored per story; see
    :mod:`.targets`) and their ``info.json``. ``audio`` is read for BigSLM targets only; ``device`` and
    ``batch_size`` (``braintuning.targets.bigslm.batch_size``: windows per forward pass of the Whisper
    model; None for text LMs) change no result."""
    variant = settings.variant
    spec = parse_variant(variant)
    if not spec.precomputed:
        raise ValueError(f"variant '{variant}' has no precomputed targets")
    tcfg = {**settings.target, **({} if batch_size is None else {"batch_size": int(batch_size)})}
    seed = settings.seed
    seed_everything(seed)
    dev = models.resolve_device(device)
    respdict = read_respdict(respdict_path)
    sr = settings.sample_rate
    transcripts = {s: read_textgrid(textgrids[s]) for s in stories}
    target = build_target_model(variant, tcfg, [t.text for t in transcripts.values()], dev, seed)
    dims, n_empty = None, {}
    for story in stories:
        grid = _grid(respdict, story, settings.timing, respdict_path)
        window = window_samples(grid.tr_s, settings.context_trs, sr)
        ends = window_ends(grid, sr)
        words = [w.label for w in transcripts[story].words]
        word_lists = words_in_windows(transcripts[story], ends / sr, window / sr)
        if variant == "bigslm":
            raw, empty = bigslm_targets(target, load_audio(audio[story]), ends, window, word_lists, words, sr)
        else:
            raw, empty = lm_targets(target, words, word_lists)
        values = zscore_columns(raw, empty)
        dims = values.shape[1]
        n_empty[story] = int(empty.sum())
        with atomic_output(out_paths[story], suffix=".npy") as tmp:
            np.save(tmp, values)
        log.info("%s %s: %s targets, %d rows without words", variant, story, values.shape, n_empty[story])
    info = {"variant": variant, "target_config": settings.target, "stories": list(stories), "dims": dims,
            "rows_without_words": n_empty, "n_parameters": models.n_parameters(target.model),
            "context_trs": settings.context_trs, "timing": settings.timing, "config_hash": stable_hash(settings.params())}
    _write_json(info, info_path)
    return info


def run_stimulus(
    settings: StimulusTuningSettings,
    stories: list[str],
    audio: Mapping[str, str | os.PathLike],
    model_dir: str | os.PathLike,
    training_path: str | os.PathLike,
    curve_tsv: str | os.PathLike,
    curve_png: str | os.PathLike,
    device: str = "cpu",
) -> dict:
    """Self-supervised stimulus-tuning of a wav2vec2 family on ``stories``' audio (``{story: .npy}``;
    paper D.2)."""
    t0 = time.perf_counter()
    scfg = settings.stimulus
    seed = settings.seed
    seed_everything(seed)
    dev = models.resolve_device(device)
    family_cfg = settings.family_config
    model = build_pretraining_model(family_cfg, seed, float(scfg["mask_time_prob"]), scfg["head_init"])
    audios = [load_audio(audio[s]) for s in stories]
    curve = stimulus_tune(model, audios, scfg, dev, seed)
    # Saved in the registry's form (masking off, no mask embedding), like every brain-tuned backbone.
    backbone = models.build_model(family_cfg)
    keys = backbone.state_dict().keys()
    backbone.load_state_dict({k: v for k, v in model.wav2vec2.state_dict().items() if k in keys})
    _save_backbone(backbone, model_dir)
    write_curve(curve, curve_tsv, curve_png, f"{settings.family} stimulus-tuned",
                series=("loss", "contrastive", "diversity"), ylabel="loss per masked frame")
    info = {
        "family": settings.family, "variant": "stimulus", "owner": "shared", "family_config": family_cfg,
        "stimulus_config": scfg, "seed": seed, "device": str(dev), "stories": list(stories), "epochs_run": len(curve),
        "final_loss": curve[-1]["loss"] if curve else None,
        "data_hashes": {s: array_digest(np.asarray(a)) for s, a in zip(stories, audios)},
        "config_hash": stable_hash(settings.params()),
        "wall_s": time.perf_counter() - t0,
    }
    _write_json(info, training_path)
    return info
