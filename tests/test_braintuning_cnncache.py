"""Frozen front end computed once (braintune.braintuning.cnncache): trunk(frontend(x)) is the HF forward, the front
end is a pure function of the frozen parameters and the window, and training from the cache gives bit-identical
losses and weights on CPU (also across a resume that switches the cache off)."""

import numpy as np
import pytest
import torch
from test_braintuning_trainer import CFG, W2V, WHISPER, _story

from braintune.braintuning import cnncache, trainer
from braintune.braintuning.cnncache import FrontendCache, cache_device, frontend, trunk
from braintune.braintuning.dataset import PairedDataset, window_samples
from braintune.braintuning.trainer import BrainTuner, build_cache, train
from braintune.features import models

SR = 16000
WINDOW = window_samples(2.0, 5, SR)
HUBERT = {**W2V, "architecture": "hubert", "init_seed": 6}
#: wav2vec2-large's layout: LayerNorm in every CNN layer (float32 output under autocast), pre-LN transformer
W2V_LARGE = {**W2V, "init_seed": 7,
             "init": {**W2V["init"], "feat_extract_norm": "layer", "do_stable_layer_norm": True, "conv_bias": True}}
FAMILIES = {"wav2vec2": W2V, "hubert": HUBERT, "wav2vec2-large": W2V_LARGE, "whisper": WHISPER}
#: dropout everywhere, to check that the split forward draws the same random numbers as the HF forward
DROPOUT = {"whisper": {"dropout": 0.1, "activation_dropout": 0.1, "attention_dropout": 0.1},
           "wav2vec2": {"hidden_dropout": 0.1, "activation_dropout": 0.1, "attention_dropout": 0.1,
                        "feat_proj_dropout": 0.1}}


def _family(name, dropout=False):
    family = FAMILIES[name]
    if not dropout:
        return family
    extra = DROPOUT["whisper" if family["architecture"] == "whisper" else "wav2vec2"]
    return {**family, "init": {**family["init"], **extra}}


def _waves(n=3, seed=0):
    return torch.randn(n, WINDOW, generator=torch.Generator().manual_seed(seed)) * 0.1


@pytest.fixture(scope="module")
def data():
    train_set = PairedDataset([_story("a", seed=1), _story("b", 34, seed=2)], WINDOW)
    val_set = PairedDataset([_story("v", 30, seed=3)], WINDOW)
    return train_set, val_set


def _hf_last_hidden_state(backbone, waves):
    """``last_hidden_state`` of the HF forward (after the final LayerNorm also for pre-LN models, where
    transformers 5's ``hidden_states[-1]`` is the last layer's output before it)."""
    if backbone.config.model_type == "whisper":
        return backbone(input_features=models.whisper_log_mel(backbone, waves)).last_hidden_state
    return backbone(input_values=models.normalize_waveforms(waves)).last_hidden_state


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_trunk_of_frontend_is_the_hf_forward(name, mode):
    backbone = models.build_model(_family(name, dropout=mode == "train"))
    backbone.train(mode == "train")
    waves = _waves()
    torch.manual_seed(11)
    reference = _hf_last_hidden_state(backbone, waves)
    torch.manual_seed(11)
    split = trunk(backbone, frontend(backbone, waves))
    assert torch.equal(split, reference)
    if mode == "train":  # dropout was on: a different seed gives different outputs
        torch.manual_seed(12)
        assert not torch.equal(trunk(backbone, frontend(backbone, waves)), reference)


@pytest.mark.parametrize("name", FAMILIES)
def test_frontend_is_a_pure_function_of_frozen_parameters(name):
    backbone = models.build_model(_family(name, dropout=True))
    waves = _waves()
    with torch.no_grad():
        backbone.eval()
        eval_out = frontend(backbone, waves)
        backbone.train()
        train_out = frontend(backbone, waves)
    assert torch.equal(eval_out, train_out)  # no dropout, masking or batch statistics in it
    # its output depends only on the parameters brain-tuning freezes
    frontend(backbone, waves).sum().backward()
    used = {n for n, p in backbone.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert used and used <= set(models.frozen_parameter_names(backbone))
    with pytest.raises(RuntimeError, match="trainable"):
        FrontendCache.build(backbone, [(np.arange(3), waves)], 3, WINDOW, torch.device("cpu"))


@pytest.mark.parametrize("name", ["wav2vec2", "whisper"])
def test_cache_holds_each_windows_frontend(data, name):
    train_set, _ = data
    model = BrainTuner(models.build_model(FAMILIES[name]), train_set.n_outputs, seed=5)
    models.freeze_frontend(model.backbone)
    cache = build_cache(model, train_set, 4, torch.device("cpu"), setting=True)
    frames = models.n_frames(model.backbone, WINDOW)
    assert cache.store.shape[:2] == (train_set.n_samples, frames) and cache.store.dtype == torch.float32
    assert cache.window == WINDOW and cache.nbytes == cache.store.numel() * 4
    index = np.random.default_rng(0).permutation(train_set.n_samples)[:5]
    waves, _ = train_set.samples(index)
    with torch.no_grad():
        assert torch.equal(cache.features(index), model.frontend(waves))
        assert torch.equal(model.from_frontend(cache.features(index), WINDOW), model(waves))


def _spy_frontend(monkeypatch):
    """Count the trainer's front-end computations outside the cache build."""
    calls = []

    def counting(backbone, waves):
        calls.append(len(waves))
        return frontend(backbone, waves)

    monkeypatch.setattr(trainer, "frontend", counting)
    return calls


def _same_run(a, ma, b, mb):
    for key in ("train_mse", "val_mse", "lr_backbone", "lr_head", "step"):
        assert [r[key] for r in a.curve] == [r[key] for r in b.curve], key
    for (name, x), (_, y) in zip(ma.state_dict().items(), mb.state_dict().items(), strict=True):
        assert torch.equal(x, y), name
    assert a.best_epoch == b.best_epoch


@pytest.mark.parametrize("name,dropout,shuffle", [("wav2vec2", True, True), ("whisper", False, False)])
def test_training_from_cache_is_bit_identical(data, tmp_path, monkeypatch, name, dropout, shuffle):
    train_set, val_set = data
    cfg = {**CFG, "max_epochs": 2, "backbone_dropout": dropout, "shuffle": shuffle}
    runs = {}
    for cached in (False, True):
        calls = _spy_frontend(monkeypatch)
        model = BrainTuner(models.build_model(_family(name, dropout)), train_set.n_outputs, seed=5)
        result = train(model, train_set, val_set, cfg, tmp_path / str(cached), seed=3, cache_cnn=cached)
        runs[cached] = result, model
        # with the cache no step recomputes the front end; without it every training and validation window
        # is recomputed in each epoch
        assert sum(calls) == (0 if cached else 2 * (train_set.n_samples + val_set.n_samples))
    _same_run(*runs[False], *runs[True])
    assert runs[True][0].curve[-1]["train_mse"] != runs[True][0].curve[0]["train_mse"]


def test_resume_with_cache_switched_off_is_bit_identical(data, tmp_path):
    train_set, val_set = data
    cfg = {**CFG, "max_epochs": 2, "backbone_dropout": True}
    family = _family("wav2vec2", dropout=True)
    ref = BrainTuner(models.build_model(family), 6, seed=5)
    r_ref = train(ref, train_set, val_set, cfg, tmp_path / "ref", seed=9, cache_cnn=False)

    class Killed(RuntimeError):
        pass

    def kill_after_first(epoch):
        if epoch == 0:
            raise Killed

    with pytest.raises(Killed):
        train(BrainTuner(models.build_model(family), 6, seed=5), train_set, val_set, cfg, tmp_path / "resumed",
              seed=9, on_epoch_end=kill_after_first, cache_cnn=True)
    resumed = BrainTuner(models.build_model(family), 6, seed=5)
    r_res = train(resumed, train_set, val_set, cfg, tmp_path / "resumed", seed=9, cache_cnn=False)
    _same_run(r_ref, ref, r_res, resumed)


def test_cache_placement(monkeypatch, data, tmp_path):
    cpu = torch.device("cpu")
    monkeypatch.setattr(cnncache, "host_free_bytes", lambda: 1000)
    assert cache_device(500, cpu, "auto") == cpu and cache_device(500, cpu, True) == cpu
    assert cache_device(501, cpu, "auto") is None and cache_device(10, cpu, False) is None
    with pytest.raises(MemoryError, match="cache_cnn: true"):
        cache_device(501, cpu, True)
    with pytest.raises(ValueError, match="cache_cnn"):
        cache_device(10, cpu, "yes")
    # auto falls back to recomputing when the cache does not fit; true refuses to train
    train_set, val_set = data
    calls = _spy_frontend(monkeypatch)
    cfg = {**CFG, "max_epochs": 1}
    train(BrainTuner(models.build_model(W2V), 6, seed=5), train_set, val_set, cfg, tmp_path / "auto", cache_cnn="auto")
    assert sum(calls) == train_set.n_samples + val_set.n_samples
    with pytest.raises(MemoryError):
        train(BrainTuner(models.build_model(W2V), 6, seed=5), train_set, val_set, cfg, tmp_path / "on", cache_cnn=True)
