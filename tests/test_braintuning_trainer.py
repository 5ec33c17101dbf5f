"""Brain-tuning trainer: one step lowers the loss, resume == uninterrupted (bitwise), frozen front end,
schedules, early stopping with the best checkpoint kept."""

import numpy as np
import pytest
import torch

from braintune.config import defaults
from braintune.features import models
from braintune.braintuning.dataset import PairedDataset, StoryPairs, window_samples
from braintune.braintuning.schedule import make_scheduler
from braintune.braintuning.trainer import BrainTuner, evaluate, train
from braintune.preprocess.timing import TRGrid

SR = 16000
W2V = {
    "architecture": "wav2vec2", "checkpoint": None, "init_seed": 3,
    "init": {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32,
             "conv_dim": [8, 8, 8], "conv_kernel": [10, 8, 8], "conv_stride": [5, 8, 8],
             "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2},
}
WHISPER = {
    "architecture": "whisper", "checkpoint": None, "init_seed": 4,
    "init": {"d_model": 16, "encoder_layers": 1, "encoder_attention_heads": 2, "encoder_ffn_dim": 32,
             "num_mel_bins": 80, "max_source_positions": 750},
}
CFG = {**defaults()["braintuning"], "batch_size": 8, "micro_batch_size": 4, "max_epochs": 3, "lr_backbone": 1e-3,
       "lr_head": 1e-2, "schedule": "paper", "warmup_fraction": 0.1, "patience": 10, "num_workers": 0}


def _story(name, n_respdict=36, n_out=6, seed=0):
    grid = TRGrid(n_respdict=n_respdict, tr_s=2.0, sound_start_s=10.0, trim_start=10, trim_end=5)
    rng = np.random.default_rng(seed)
    audio = rng.standard_normal(int(2 * (n_respdict - 10) * SR)).astype(np.float32) * 0.1
    targets = rng.standard_normal((grid.n_rows, n_out)).astype(np.float32)
    return StoryPairs.from_grid(name, audio, grid, targets, SR, window_samples(2.0, 5, SR))


@pytest.fixture(scope="module")
def data():
    train_set = PairedDataset([_story("a", seed=1), _story("b", 34, seed=2)], window_samples(2.0, 5, SR))
    val_set = PairedDataset([_story("v", 30, seed=3)], window_samples(2.0, 5, SR))
    return train_set, val_set


def _tuner(family=W2V, n_out=6):
    return BrainTuner(models.build_model(family), n_out, seed=5)


@pytest.mark.parametrize("family", [W2V, WHISPER], ids=["wav2vec2", "whisper"])
def test_one_step_lowers_loss_on_fixed_batch(data, family):
    train_set, _ = data
    model = _tuner(family)
    models.freeze_frontend(model.backbone)
    waves, targets = train_set.samples(np.arange(8))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    before = torch.nn.functional.mse_loss(model(waves), targets)
    before.backward()
    opt.step()
    with torch.no_grad():
        after = torch.nn.functional.mse_loss(model(waves), targets)
    assert after < before


def test_whisper_pools_only_frames_covering_audio(data):
    train_set, _ = data
    model = _tuner(WHISPER)
    waves, _ = train_set.samples(np.arange(2))
    hidden = models.encoder_forward(model.backbone, waves)[-1]
    n = models.last_valid_frame(model.backbone, waves.shape[1])
    assert n == 500 and hidden.shape[1] == 750
    torch.testing.assert_close(model.pooled(waves), hidden[:, :n].mean(1))
    assert not torch.allclose(model.pooled(waves), hidden.mean(1))


def test_resume_equals_uninterrupted_bitwise(data, tmp_path):
    train_set, val_set = data
    ref = _tuner()
    r_ref = train(ref, train_set, val_set, CFG, tmp_path / "ref", seed=9)

    class Killed(RuntimeError):
        pass

    def kill_after_first(epoch):
        if epoch == 0:
            raise Killed

    interrupted = _tuner()
    with pytest.raises(Killed):
        train(interrupted, train_set, val_set, CFG, tmp_path / "resumed", seed=9, on_epoch_end=kill_after_first)
    resumed = _tuner()  # a fresh process: rebuilt from scratch, state read from disk
    r_res = train(resumed, train_set, val_set, CFG, tmp_path / "resumed", seed=9)
    for key in ("train_mse", "val_mse", "lr_backbone", "lr_head", "step"):
        assert [r[key] for r in r_res.curve] == [r[key] for r in r_ref.curve], key
    for (name, a), (_, b) in zip(ref.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name
    assert r_res.best_epoch == r_ref.best_epoch


def test_frozen_front_end_is_bitwise_unchanged_and_rest_trains(data, tmp_path):
    train_set, val_set = data
    model = _tuner()
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    result = train(model, train_set, val_set, {**CFG, "max_epochs": 2}, tmp_path, seed=1)
    frozen = set(result.frozen)
    assert frozen and all(name.startswith("feature_extractor.") for name in frozen)
    after = model.backbone.state_dict()
    for name in frozen:
        assert torch.equal(before[name], after[name]), name
    changed = [k for k in after if k not in frozen and not torch.equal(before[k], after[k])]
    assert any(k.startswith("encoder.layers.") for k in changed)
    # the backbone stayed in eval mode (dropout off, as in the reference)
    assert not model.backbone.training


def test_early_stopping_keeps_best_epoch(data, tmp_path):
    train_set, val_set = data
    model = _tuner()
    # a huge head learning rate makes validation diverge after the first epoch
    cfg = {**CFG, "max_epochs": 6, "patience": 2, "lr_head": 5.0, "schedule": "reference"}
    result = train(model, train_set, val_set, cfg, tmp_path, seed=2)
    vals = [r["val_mse"] for r in result.curve]
    assert result.best_epoch == int(np.argmin(vals))
    assert result.stopped_early and len(vals) == result.best_epoch + 1 + 2
    assert evaluate(model, val_set, 4, torch.device("cpu")) == pytest.approx(min(vals), rel=1e-5)


def test_gradient_accumulation_equals_full_batch(data, tmp_path):
    train_set, val_set = data
    a, b = _tuner(), _tuner()
    train(a, train_set, val_set, {**CFG, "max_epochs": 1, "micro_batch_size": 8}, tmp_path / "a", seed=0)
    train(b, train_set, val_set, {**CFG, "max_epochs": 1, "micro_batch_size": 2}, tmp_path / "b", seed=0)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-6, msg=name)


def _lrs(cfg, steps_per_epoch, epochs):
    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.Adam([{"params": [params[0]], "lr": 1.0}, {"params": [params[1]], "lr": 1.0}])
    sched = make_scheduler(opt, cfg, steps_per_epoch, epochs)
    out = []
    per_step = cfg["schedule"] == "paper"
    for _ in range(epochs):
        for _ in range(steps_per_epoch):
            out.append([g["lr"] for g in opt.param_groups])
            opt.step()
            if per_step:
                sched.step()
        if not per_step:
            sched.step()
    return np.array(out)


def test_paper_schedule_warmup_then_linear_decay():
    lrs = _lrs({"schedule": "paper", "warmup_fraction": 0.1}, 10, 10)  # 100 steps, 10 warm-up
    np.testing.assert_allclose(lrs[:11, 0], np.arange(11) / 10)
    np.testing.assert_allclose(lrs[10:, 0], (100 - np.arange(10, 100)) / 90)
    np.testing.assert_array_equal(lrs[:, 0], lrs[:, 1])


def test_reference_schedule_per_epoch():
    lrs = _lrs({**CFG, "schedule": "reference"}, 2, 30)[::2]  # one value per epoch (the default reference_* keys)
    e = np.arange(30)
    np.testing.assert_allclose(lrs[:, 0], np.where(e < 5, e / 5, 1 - (e - 5) / 25))
    np.testing.assert_allclose(lrs[:, 1], np.maximum(0.8**e, 0.1))
