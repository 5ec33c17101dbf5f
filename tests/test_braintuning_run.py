"""The stage's jobs end to end on a tiny on-disk ds003020 miniature: checkpoints load as models, training.json
records config and data hashes, random/bigslm/lm/data-size/stimulus variants, resource estimates."""

import json

import h5py
import numpy as np
import pytest
import torch
from praatio import textgrid

from braintune.features import models
from braintune.braintuning import plan
from braintune.config import defaults
from braintune.utils import stable_hash
from braintune.braintuning.run import (
    BrainTuningSettings,
    StimulusTuningSettings,
    TargetSettings,
    run_braintuning,
    run_stimulus,
    run_targets,
)

SR = 16000
STORIES = {"alpha": 34, "beta": 32, "gamma": 30}  # respdict TRs
WORDS = "the fox saw a dog near the old barn and ran over the hill to find some food".split()
FAMILY = {
    "architecture": "wav2vec2", "checkpoint": None, "init_seed": 3,
    "init": {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32,
             "conv_dim": [8, 8, 8], "conv_kernel": [10, 8, 8], "conv_stride": [5, 8, 8],
             "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2},
    "layers": [1, 2], "variants": ["pretrained", "braintuned"],
}


def audio_path(root, story):
    return root / "audio" / f"{story}.npy"


def textgrid_path(root, story):
    return root / "ds" / "derivative" / "TextGrids" / f"{story}.TextGrid"


def response_path(root, subject, story):
    return root / "ds" / "derivative" / "preprocessed_data" / subject / f"{story}.hf5"


def respdict_path(root):
    return root / "ds" / "derivative" / "respdict.json"


def nc_path(root, subject):
    return root / "preprocess" / subject / "noise_ceiling.h5"


def targets_path(root, variant, story):
    return root / "targets" / variant / f"{story}.npy"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("bt")
    ds = root / "ds"
    (ds / "derivative" / "TextGrids").mkdir(parents=True)
    (ds / "derivative" / "respdict.json").write_text(json.dumps(STORIES))
    rng = np.random.default_rng(0)
    n_vox = 12
    for story, n in STORIES.items():
        seconds = 2 * (n - 10)
        audio = (rng.standard_normal(seconds * SR) * 0.1).astype(np.float32)
        path = audio_path(root, story)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, audio)
        tg = textgrid.Textgrid()
        times = np.linspace(0.5, seconds - 1.0, 3 * seconds // 2)
        words = [(float(t), float(t) + 0.3, WORDS[i % len(WORDS)]) for i, t in enumerate(times)]
        tg.addTier(textgrid.IntervalTier("phone", [(a, b, "AH0") for a, b, _ in words], 0, seconds))
        tg.addTier(textgrid.IntervalTier("word", words, 0, seconds))
        tg.save(str(textgrid_path(root, story)), format="long_textgrid", includeBlankSpaces=True)
        for subject in ("UTS01",):
            out = ds / "derivative" / "preprocessed_data" / subject / f"{story}.hf5"
            out.parent.mkdir(parents=True, exist_ok=True)
            with h5py.File(out, "w") as handle:
                handle["data"] = rng.standard_normal((n - 20, n_vox))
    nc = nc_path(root, "UTS01")
    nc.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(nc, "w") as handle:
        handle["mask"] = np.arange(n_vox) % 3 != 0
        handle["nc"] = np.linspace(0, 1, n_vox).astype(np.float32)
    return root


def _config(root):
    return {
        "seed": 5,
        "dataset": {"root": str(root / "ds")},
        "timing": {"tr_s": 2.0, "sound_start_s": 10.0, "trim_start": 10, "trim_end": 5},
        "preprocess": {"sample_rate": SR},
        "models": {"w2v": FAMILY},
        "braintuning": {
            **defaults()["braintuning"],
            "context_trs": 5, "lr_backbone": 1e-3, "lr_head": 1e-2, "schedule": "paper", "warmup_fraction": 0.1,
            "batch_size": 4, "micro_batch_size": 2, "max_epochs": 2, "patience": 2, "shuffle": False,
            "backbone_dropout": False, "num_workers": 0, "keep_state": False, "block_trs": 3,
            "variant_overrides": {"lmtuned_gpt2": {"max_epochs": 1}},
            "targets": {
                "lmtuned_gpt2": {"architecture": "gpt2", "checkpoint": None, "tokenizer_vocab_size": 280,
                                 "init": {"n_embd": 8, "n_layer": 1, "n_head": 2, "n_positions": 64},
                                 "layer_step": 1, "context_tokens": 32},
            },
            "stimulus": {**defaults()["braintuning"]["stimulus"], "lr": 2e-5, "warmup_fraction": 0.1, "epochs": 1, "batch_size": 2, "chunk_s": 4.0,
                         "mask_time_prob": 0.5, "mask_time_length": 2, "num_negatives": 5,
                         "diversity_loss_weight": 0.1, "freeze_feature_encoder": True, "head_init": {}},
        },
    }


def _settings(config, variant):
    return BrainTuningSettings.from_config(config["braintuning"], "w2v", config["models"]["w2v"], variant, config["seed"],
                                           config["preprocess"]["sample_rate"], config["timing"])


def _braintune(root, config, variant, out, train=("alpha", "beta"), val=("gamma",), **kwargs):
    """One brain-tuning job wired as the rule wires it (explicit input and output paths)."""
    stories = list(train) + list(val)
    return run_braintuning(
        _settings(config, variant), "UTS01", list(train), list(val),
        audio={s: audio_path(root, s) for s in stories},
        respdict_path=respdict_path(root),
        model_dir=out / "model", training_path=out / "training.json", curve_tsv=out / "curve.tsv",
        curve_png=out / "curve.png", state_dir=out / "state",
        noise_ceiling=nc_path(root, "UTS01"),
        responses={s: response_path(root, "UTS01", s) for s in stories},
        targets={s: targets_path(root, variant, s) for s in stories},
        **kwargs,
    )


def test_braintuned_checkpoint_loads_as_model(workdir):
    config = _config(workdir)
    out = workdir / "w2v" / "braintuned" / "UTS01"
    info = _braintune(workdir, config, "braintuned", out)
    assert (out / "model" / "model.safetensors").exists() and (out / "model" / "config.json").exists()
    assert (out / "curve.png").stat().st_size > 0 and not (out / "state").exists()
    rows = (out / "curve.tsv").read_text().splitlines()
    assert rows[0].split("\t")[:4] == ["epoch", "step", "train_mse", "val_mse"] and len(rows) == 3
    saved = json.loads((out / "training.json").read_text())
    assert saved["n_outputs"] == 8 and saved["n_train_samples"] == 14 + 12 and saved["n_val_samples"] == 10
    assert set(saved["data_hashes"]["train"]) == {"alpha", "beta"} and saved["best_epoch"] in (0, 1)
    tuned = models.load_model(FAMILY, out / "model")
    pretrained = models.build_model(FAMILY)
    frozen = set(models.frozen_parameter_names(pretrained))
    t, p = tuned.state_dict(), pretrained.state_dict()
    assert all(torch.equal(t[k], p[k]) for k in frozen)
    assert any(not torch.equal(t[k], p[k]) for k in t if k not in frozen)
    assert info["best_val_mse"] == pytest.approx(min(float(r.split("\t")[3]) for r in rows[1:]))
    # the stored config_hash hashes exactly the rule's params; workers and keep_state are not settings
    assert saved["config_hash"] == stable_hash(_settings(config, "braintuned").params())
    assert "num_workers" not in _settings(config, "braintuned").training


def test_workers_change_no_result(workdir):
    """braintuning.num_workers assembles batches in background processes (speed only, no param): the
    trained weights are the same with and without workers."""
    config = _config(workdir)
    a = _braintune(workdir, config, "braintuned", workdir / "w0", num_workers=0)
    b = _braintune(workdir, config, "braintuned", workdir / "w2", num_workers=2)
    assert a["best_val_mse"] == b["best_val_mse"] and a["config_hash"] == b["config_hash"]
    ta = models.load_model(FAMILY, workdir / "w0" / "model").state_dict()
    tb = models.load_model(FAMILY, workdir / "w2" / "model").state_dict()
    assert all(torch.equal(ta[k], tb[k]) for k in ta)


def test_random_and_data_size_variants(workdir):
    config = _config(workdir)
    r = _braintune(workdir, config, "random", workdir / "r")
    braintuned = workdir / "w2v" / "braintuned" / "UTS01" / "training.json"
    b = json.loads(braintuned.read_text()) if braintuned.exists() else None
    # permuted targets: same rows per story, different content from the true responses
    if b is not None:
        for story in ("alpha", "beta", "gamma"):
            split = "val" if story == "gamma" else "train"
            assert r["data_hashes"][split][story]["rows"] == b["data_hashes"][split][story]["rows"]
            assert r["data_hashes"][split][story]["targets"] != b["data_hashes"][split][story]["targets"]
    n1 = _braintune(workdir, config, "braintuned_n1", workdir / "n1")
    assert n1["train_stories"] == ["alpha"] and n1["n_train_samples"] == 14


def test_lm_targets_then_lmtuned(workdir):
    config = _config(workdir)
    stories = list(STORIES)
    paths = [targets_path(workdir, "lmtuned_gpt2", s) for s in stories]
    settings = TargetSettings.from_config(config["braintuning"], "lmtuned_gpt2", config["seed"], SR, config["timing"])
    info = run_targets(settings, stories, {s: audio_path(workdir, s) for s in stories},
                       {s: textgrid_path(workdir, s) for s in stories}, respdict_path(workdir), dict(zip(stories, paths)),
                       info_path=workdir / "info.json")
    assert info["dims"] == 2 * 8
    for story, path in zip(stories, paths):
        values = np.load(path)
        assert values.shape == (STORIES[story] - 20, 16) and values.dtype == np.float32
        np.testing.assert_allclose(values.mean(0), 0, atol=1e-5)
    res = _braintune(workdir, config, "lmtuned_gpt2", workdir / "lm")
    assert res["n_outputs"] == 16 and res["epochs_run"] == 1  # the variant override


def test_stimulus_tuned_checkpoint(workdir):
    config = _config(workdir)
    out = workdir / "w2v" / "stimulus" / "shared"
    settings = StimulusTuningSettings.from_config(config["braintuning"], "w2v", config["models"]["w2v"], config["seed"])
    info = run_stimulus(settings, ["alpha", "beta"], {s: audio_path(workdir, s) for s in ("alpha", "beta")},
                        out / "model", out / "training.json", out / "curve.tsv", out / "curve.png")
    assert info["epochs_run"] == 1 and np.isfinite(info["final_loss"])
    tuned = models.load_model(FAMILY, out / "model")
    pretrained = models.build_model(FAMILY)
    t, p = tuned.state_dict(), pretrained.state_dict()
    frozen = set(models.frozen_parameter_names(pretrained))
    assert all(torch.equal(t[k], p[k]) for k in frozen)
    assert any(not torch.equal(t[k], p[k]) for k in t if k not in frozen)


def test_resource_estimates_scale_with_inputs():
    small = plan.estimate_resources(1000, 1000, 1e6, 3, "cpu", "wav2vec2")
    big = plan.estimate_resources(9000, 50000, 95e6, 30, "cuda", "wav2vec2")
    whisper = plan.estimate_resources(9000, 50000, 95e6, 30, "cuda", "whisper")
    assert big["mem_mb"] > small["mem_mb"] and whisper["runtime"] > big["runtime"] > 5
    assert plan.n_outputs_estimate("bigslm", {"targets": {"bigslm": {"checkpoint": "openai/whisper-medium"}}}) == 25600
    assert plan.n_outputs_estimate("lmtuned_llama", {"targets": {"lmtuned_llama": {"checkpoint": "meta-llama/Llama-2-7b-hf"}}}) == 45056


def test_multibraintuned_group_checkpoint(workdir):
    """run_multibraintuning, wired as rule braintuning_multi wires it: two participants' responses projected to an
    identity common space, one merged checkpoint that loads as a model, the adapters and the head beside it."""
    from braintune.braintuning.run import MultiRunSettings, run_multibraintuning
    from braintune.commonspace.projection import identity_projection, identity_space, write_projection, write_space

    rng = np.random.default_rng(1)
    for story, n in STORIES.items():  # a second participant, in the same 12 voxels
        path = response_path(workdir, "UTS02", story)
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as handle:
            handle["data"] = rng.standard_normal((n - 20, 12))
    space = identity_space(np.arange(12) < 6, 12)
    write_space(workdir / "common" / "space.h5", space)
    for subject in ("UTS01", "UTS02"):
        P, coverage = identity_projection(space, 12)
        write_projection(workdir / "common" / subject / "projection.h5", P, coverage, {"subject": subject}, space=space)
    config = _config(workdir)
    config["braintuning"]["multi"] = {**defaults()["braintuning"]["multi"], "train_subjects": ["UTS01", "UTS02"],
                                      "batch_size": 4, "epochs": 2, "lr_lora": 1e-2, "lr_head": 1e-2}
    settings = MultiRunSettings.from_config(config["braintuning"], "w2v", FAMILY, config["seed"], SR, config["timing"])
    assert MultiRunSettings.from_params(settings.params()) == settings  # the rule script's round trip
    assert settings.params()["multi"]["uncovered"] == "mask"  # a rule param: changing it reruns braintuning_multi
    train = {"UTS01": ["alpha", "beta"], "UTS02": ["alpha"]}
    val = {"UTS01": ["gamma"], "UTS02": ["gamma"]}
    out = workdir / "w2v" / "multibraintuned" / "group_UTS01_UTS02"
    info = run_multibraintuning(
        settings, train, val,
        audio={s: audio_path(workdir, s) for s in STORIES},
        respdict_path=respdict_path(workdir),
        responses={subject: {s: response_path(workdir, subject, s) for s in STORIES} for subject in train},
        projections={subject: workdir / "common" / subject / "projection.h5" for subject in train},
        space_path=workdir / "common" / "space.h5",
        out_dir=out, training_path=out / "training.json", curve_tsv=out / "curve.tsv", curve_png=out / "curve.png",
        state_dir=out.with_name(f"{out.name}.state"),
    )
    assert sorted(p.name for p in out.iterdir()) == ["adapter", "curve.png", "curve.tsv", "head.pt", "model",
                                                     "training.json"]
    assert not out.with_name(f"{out.name}.state").exists()
    saved = json.loads((out / "training.json").read_text())
    assert saved["n_outputs"] == 6 and saved["train_subjects"] == ["UTS01", "UTS02"] and saved["epochs_run"] == 2
    assert saved["n_train_samples"] == {"UTS01": 14 + 12, "UTS02": 14} and saved["config_hash"] == stable_hash(settings.params())
    assert info["space_fingerprint"] == space.fingerprint() and info["n_covered"] == {"UTS01": 6, "UTS02": 6}
    header = (out / "curve.tsv").read_text().splitlines()[0].split("\t")
    assert {"val_mse_UTS01", "val_mse_UTS02"} <= set(header)
    tuned, pretrained = models.load_model(FAMILY, out / "model").state_dict(), models.build_model(FAMILY).state_dict()
    assert set(tuned) == set(pretrained)  # adapters merged: the plain architecture
    assert any(not torch.equal(tuned[k], pretrained[k]) for k in tuned)
