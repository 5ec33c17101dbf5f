"""End-to-end jobs of the braintuning stage, called by the thin rule scripts (workflow/scripts/braintuning_*.py).

- :func:`run_targets`: BigSLM / text-LM targets of every brain-tuning story (one job per target set).
- :func:`run_braintuning`: one (family, variant, subject) brain-tuning run -> ``model/`` (backbone
  ``save_pretrained``), ``training.json``, ``curve.tsv``, ``curve.png``.
- :func:`run_stimulus`: the shared stimulus-tuned checkpoint of a wav2vec2 family.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch

from braintune import models
from braintune.audio import load_audio
from braintune.responses import load_respdict, read_responses, response_path
from braintune.timing import TRGrid
from braintune.transcripts import read_textgrid
from braintune.utils import atomic_output, seed_everything, stable_hash

from .dataset import PairedDataset, StoryPairs, array_digest, window_ends, window_samples
from .plan import audio_path, nc_path, targets_path, textgrid_path, variant_config
from .permute import permute_blocks, story_rng
from .stimulus import build_pretraining_model, stimulus_tune
from .targets import bigslm_targets, build_target_model, lm_targets, words_in_windows, zscore_columns
from .trainer import BrainTuner, train, write_curve
from .variants import parse_variant

log = logging.getLogger(__name__)

__all__ = ["variant_config", "read_mask", "run_targets", "run_braintuning", "run_stimulus"]


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """The ``mask`` (voxels with NC > threshold) of a subject's ``noise_ceiling.h5``."""
    with h5py.File(path, "r") as handle:
        if "mask" not in handle:
            raise KeyError(f"{path}: no dataset 'mask' (voxels with NC > threshold); found {sorted(handle)}")
        mask = handle["mask"][...].astype(bool)
    if mask.ndim != 1 or not mask.any():
        raise ValueError(f"{path}: 'mask' must be a 1-D boolean with at least one voxel above threshold")
    return mask


def _grid(respdict: dict, story: str, timing: dict) -> TRGrid:
    if story not in respdict:
        raise KeyError(f"respdict.json has no story '{story}'")
    return TRGrid.from_config(respdict[story], timing)


def _story_targets(spec, story: str, subject: str, root, mask, targets_dir_of, seed: int, block: int) -> np.ndarray:
    if spec.needs_subject:
        path = response_path(root, subject, story)
        data = read_responses(path)
        if data.shape[1] != mask.shape[0]:
            raise ValueError(f"{path}: {data.shape[1]} voxels, but the noise-ceiling mask has {mask.shape[0]}")
        data = np.ascontiguousarray(data[:, mask])
        if spec.target == "permuted":
            data = permute_blocks(data, block, story_rng(seed, f"{subject}/{story}"))
        return data
    path = targets_dir_of(story)
    data = np.load(path)
    if data.ndim != 2 or data.dtype != np.float32:
        raise ValueError(f"{path}: expected float32 (rows, outputs), got {data.dtype} {data.shape}")
    return data


def _pairs(config, spec, subject, stories, mask, results_dir) -> tuple[list[StoryPairs], dict]:
    root = config["dataset"]["root"]
    respdict = load_respdict(root)
    bt = config["braintuning"]
    sr = int(config["preprocess"]["sample_rate"])
    hashes, pairs = {}, []
    for story in stories:
        grid = _grid(respdict, story, config["timing"])
        audio = load_audio(Path(results_dir) / audio_path(story))
        targets = _story_targets(
            spec, story, subject, root, mask, lambda s: Path(results_dir) / targets_path(spec.target, s),
            int(config["seed"]), int(bt["block_trs"]),
        )
        window = window_samples(grid.tr_s, int(bt["context_trs"]), sr)
        pairs.append(StoryPairs.from_grid(story, audio, grid, targets, sr, window))
        hashes[story] = {"audio": array_digest(np.asarray(audio)), "targets": array_digest(targets), "rows": targets.shape[0]}
    return pairs, hashes


def _save_backbone(backbone: torch.nn.Module, out_dir: str | os.PathLike) -> None:
    """``save_pretrained`` (safetensors + config.json) into a temporary sibling, then rename into place."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        backbone.to("cpu").save_pretrained(tmp, safe_serialization=True)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_json(obj: dict, path: str | os.PathLike) -> None:
    with atomic_output(path) as tmp:
        with open(tmp, "w") as handle:
            json.dump(obj, handle, indent=2, sort_keys=True, default=str)
            handle.write("\n")


def run_braintuning(
    config: dict, family: str, variant: str, subject: str, train_stories: list[str], val_stories: list[str],
    out_dir: str | os.PathLike, results_dir: str | os.PathLike = ".", device: str = "cpu",
) -> dict:
    """Brain-tune one (family, variant, subject); write ``out_dir/{model/, training.json, curve.tsv, curve.png}``.

    Resumable state lives in ``out_dir/state/`` (removed after success unless ``keep_state``).
    """
    t0 = time.perf_counter()
    spec = parse_variant(variant)
    if spec.target == "stimulus":
        raise ValueError("the stimulus variant is trained by run_stimulus")
    bt = config["braintuning"]
    cfg = variant_config(bt, variant)
    if spec.n_train_stories is not None:
        train_stories = list(train_stories)[: spec.n_train_stories]
    out_dir = Path(out_dir)
    seed = int(config["seed"])
    seed_everything(seed)
    dev = models.resolve_device(device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # autotuned CNN/positional convolutions: +8% samples/s on an H200
    mask = read_mask(Path(results_dir) / nc_path(subject)) if spec.needs_subject else None
    train_pairs, train_hashes = _pairs(config, spec, subject, train_stories, mask, results_dir)
    val_pairs, val_hashes = _pairs(config, spec, subject, val_stories, mask, results_dir)
    window = window_samples(config["timing"]["tr_s"], int(bt["context_trs"]), int(config["preprocess"]["sample_rate"]))
    train_set, val_set = PairedDataset(train_pairs, window), PairedDataset(val_pairs, window)
    family_cfg = config["models"][family]
    backbone = models.build_model(family_cfg)
    model = BrainTuner(backbone, train_set.n_outputs, seed=seed)
    log.info(
        "%s/%s/%s: %d train stories (%d samples), %d validation stories (%d samples), %d outputs",
        family, variant, subject, len(train_stories), train_set.n_samples, len(val_stories), val_set.n_samples,
        train_set.n_outputs,
    )
    result = train(model, train_set, val_set, cfg, out_dir / "state", dev, seed)
    _save_backbone(model.backbone, out_dir / "model")
    write_curve(result.curve, out_dir / "curve.tsv", out_dir / "curve.png", title=f"{family} {variant} {subject}")
    info = {
        "family": family, "variant": variant, "subject": subject, "target": spec.target,
        "family_config": family_cfg, "training_config": cfg, "seed": seed, "device": str(dev),
        "timing": config["timing"], "sample_rate": int(config["preprocess"]["sample_rate"]),
        "train_stories": list(train_stories), "val_stories": list(val_stories),
        "n_train_samples": train_set.n_samples, "n_val_samples": val_set.n_samples, "n_outputs": train_set.n_outputs,
        "window_samples": int(window), "n_trainable_parameters": result.n_trainable, "frozen_parameters": result.frozen,
        "best_epoch": result.best_epoch, "best_val_mse": result.best_val_mse, "final_epoch": result.final_epoch,
        "stopped_early": result.stopped_early, "epochs_run": len(result.curve),
        "data_hashes": {"train": train_hashes, "val": val_hashes, "mask": array_digest(mask) if mask is not None else None},
        "config_hash": stable_hash({"family": family_cfg, "braintuning": cfg, "timing": config["timing"], "seed": seed}),
        "wall_s": time.perf_counter() - t0,
    }
    _write_json(info, out_dir / "training.json")
    if not cfg.get("keep_state", False):
        shutil.rmtree(out_dir / "state", ignore_errors=True)
    return info


def run_targets(
    config: dict, variant: str, stories: list[str], out_paths: list[str | os.PathLike],
    results_dir: str | os.PathLike = ".", device: str = "cpu", info_path: str | os.PathLike | None = None,
) -> dict:
    """BigSLM / LM targets of ``stories`` (one float32 .npy per story, z-scored per story; see :mod:`.targets`)."""
    spec = parse_variant(variant)
    if not spec.precomputed:
        raise ValueError(f"variant '{variant}' has no precomputed targets")
    bt = config["braintuning"]
    tcfg = (bt.get("targets") or {}).get(variant)
    if tcfg is None:
        raise KeyError(f"braintuning.targets.{variant}: missing (the target model of variant '{variant}')")
    root = config["dataset"]["root"]
    seed = int(config["seed"])
    seed_everything(seed)
    dev = models.resolve_device(device)
    respdict = load_respdict(root)
    sr = int(config["preprocess"]["sample_rate"])
    transcripts = {s: read_textgrid(textgrid_path(root, s)) for s in stories}
    target = build_target_model(variant, tcfg, [t.text for t in transcripts.values()], dev, seed)
    dims, n_empty = None, {}
    for story, out in zip(stories, out_paths):
        grid = _grid(respdict, story, config["timing"])
        window = window_samples(grid.tr_s, int(bt["context_trs"]), sr)
        ends = window_ends(grid, sr)
        words = [w.label for w in transcripts[story].words]
        word_lists = words_in_windows(transcripts[story], ends / sr, window / sr)
        if variant == "bigslm":
            raw, empty = bigslm_targets(target, load_audio(Path(results_dir) / audio_path(story)), ends, window, word_lists, words, sr)
        else:
            raw, empty = lm_targets(target, words, word_lists)
        values = zscore_columns(raw, empty)
        dims = values.shape[1]
        n_empty[story] = int(empty.sum())
        with atomic_output(out, suffix=".npy") as tmp:
            np.save(tmp, values)
        log.info("%s %s: %s targets, %d rows without words", variant, story, values.shape, n_empty[story])
    info = {"variant": variant, "target_config": tcfg, "stories": stories, "dims": dims, "rows_without_words": n_empty,
            "n_parameters": models.n_parameters(target.model), "context_trs": bt["context_trs"], "timing": config["timing"]}
    if info_path is not None:
        _write_json(info, info_path)
    return info


def run_stimulus(
    config: dict, family: str, stories: list[str], out_dir: str | os.PathLike,
    results_dir: str | os.PathLike = ".", device: str = "cpu",
) -> dict:
    """Self-supervised stimulus-tuning of a wav2vec2 family on ``stories``' audio (paper D.2)."""
    t0 = time.perf_counter()
    scfg = config["braintuning"]["stimulus"]
    seed = int(config["seed"])
    seed_everything(seed)
    dev = models.resolve_device(device)
    family_cfg = config["models"][family]
    model = build_pretraining_model(family_cfg, seed, float(scfg.get("mask_time_prob", 0.65)), scfg.get("head_init"))
    audios = [load_audio(Path(results_dir) / audio_path(s)) for s in stories]
    curve = stimulus_tune(model, audios, scfg, dev, seed)
    out_dir = Path(out_dir)
    # Saved in the registry's form (masking off, no mask embedding), like every brain-tuned backbone.
    backbone = models.build_model(family_cfg)
    keys = backbone.state_dict().keys()
    backbone.load_state_dict({k: v for k, v in model.wav2vec2.state_dict().items() if k in keys})
    _save_backbone(backbone, out_dir / "model")
    write_curve(curve, out_dir / "curve.tsv", out_dir / "curve.png", f"{family} stimulus-tuned",
                series=("loss", "contrastive", "diversity"), ylabel="loss per masked frame")
    info = {
        "family": family, "variant": "stimulus", "owner": "shared", "family_config": family_cfg, "stimulus_config": scfg,
        "seed": seed, "device": str(dev), "stories": stories, "epochs_run": len(curve),
        "final_loss": curve[-1]["loss"] if curve else None,
        "data_hashes": {s: array_digest(np.asarray(a)) for s, a in zip(stories, audios)},
        "config_hash": stable_hash({"family": family_cfg, "stimulus": scfg, "seed": seed}),
        "wall_s": time.perf_counter() - t0,
    }
    _write_json(info, out_dir / "training.json")
    return info

