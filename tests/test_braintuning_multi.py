"""Multi-participant brain-tuning with LoRA (braintune.braintuning.multi, .lora): LoRA placement and merge,
what trains, batch order, losses (and their masks of uncovered outputs), schedule stepping, projected targets,
resume == uninterrupted (bitwise)."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from peft import PeftModel
from test_braintuning_trainer import W2V, WHISPER

from braintune.braintuning.dataset import PairedDataset, StoryPairs, window_samples
from braintune.braintuning.lora import lora_layers
from braintune.braintuning.multi import (
    MultiSettings,
    MultiTuner,
    binding_order,
    evaluate_multi,
    per_sample_loss,
    project_dataset,
    projection_coverage,
    save_multi,
    scheduler_steps,
    shared_stimulus,
    train_multi,
)
from braintune.braintuning.schedule import warmup_steps
from braintune.braintuning.trainer import evaluate
from braintune.features import models
from braintune.preprocess.timing import TRGrid

SR = 16000
WINDOW = window_samples(2.0, 5, SR)
K = 4
NATIVE = {"A": 6, "B": 5}  # voxels per participant
SETTINGS = MultiSettings(batch_size=8, micro_batch_size=4, epochs=2, lr_lora=1e-2, lr_head=1e-2, seed=7)


def _grid(n_respdict):
    return TRGrid(n_respdict=n_respdict, tr_s=2.0, sound_start_s=10.0, trim_start=10, trim_end=5)


def _audio(n_respdict, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(int(2 * (n_respdict - 10) * SR)).astype(np.float32) * 0.1


STORIES = {"a": (36, 1), "b": (34, 2), "v": (30, 3), "c": (32, 4)}  # name: (respdict TRs, audio seed): 16, 14, 10, 12 rows
AUDIO = {name: _audio(n, seed) for name, (n, seed) in STORIES.items()}


def _dataset(subject, names, seed):
    rng = np.random.default_rng(seed)
    pairs = []
    for name in names:
        grid = _grid(STORIES[name][0])
        targets = rng.standard_normal((grid.n_rows, NATIVE[subject])).astype(np.float32)
        pairs.append(StoryPairs.from_grid(name, AUDIO[name], grid, targets, SR, WINDOW))
    return PairedDataset(pairs, WINDOW)


@pytest.fixture(scope="module")
def data():
    train = {"A": _dataset("A", ["a", "b"], 10), "B": _dataset("B", ["a", "b"], 11)}
    val = {"A": _dataset("A", ["v"], 12), "B": _dataset("B", ["v"], 13)}
    rng = np.random.default_rng(0)
    projections = {
        "A": rng.standard_normal((NATIVE["A"], K)) / 2,  # dense float64
        "B": sp.random_array((NATIVE["B"], K), density=0.6, format="csr", rng=rng, dtype=np.float32),
    }
    return train, val, projections


def _uncovered(projections):
    """The fixture's projections with outputs left uncovered (all-zero columns): output 3 by both participants,
    output 0 by A, output 1 by B."""
    dense = projections["A"].copy()
    dense[:, [0, 3]] = 0
    sparse = projections["B"].tolil()
    sparse[:, [1, 3]] = 0
    return {"A": dense, "B": sp.csr_array(sparse)}


def _tuner(settings=SETTINGS, family=W2V, n_out=K):
    return MultiTuner(models.build_model(family), n_out, settings)


def _randomise_lora(model, seed=0):
    """LoRA B starts at zero (the adapter is then a no-op): give it values so that merging matters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.backbone.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)


# --- LoRA ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("family,pattern", [(W2V, "encoder.layers.{}.attention.{}"), (WHISPER, "layers.{}.self_attn.{}")],
                         ids=["wav2vec2", "whisper"])
def test_lora_on_attention_projections_only(family, pattern):
    model = _tuner(family=family)
    n_layers = models.num_layers(model.backbone)
    expected = {pattern.format(i, t) for i in range(n_layers) for t in ("q_proj", "k_proj", "v_proj", "out_proj")}
    assert {name for name, _ in lora_layers(model.backbone)} == expected
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n or n.startswith("head.") for n in trainable)
    assert {n for n in trainable if n.startswith("head.")} == {"head.weight", "head.bias"}
    # the front end is frozen too (peft freezes every base weight)
    assert not any(p.requires_grad for n, p in model.backbone.named_parameters() if "lora_" not in n)
    # rank 8, alpha 32
    layer = lora_layers(model.backbone)[0][1]
    assert layer.r["default"] == 8 and layer.scaling["default"] == pytest.approx(32 / 8)


def test_with_zero_lora_b_the_model_is_the_backbone(data):
    train, _, _ = data
    waves, _ = train["A"].samples(np.arange(3))
    plain = models.build_model(W2V)
    model = _tuner()
    model.eval()
    for a, b in zip(models.encoder_forward(plain, waves), models.encoder_forward(model.backbone, waves)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")  # peft 0.21 x transformers 5
@pytest.mark.parametrize("family", [W2V, WHISPER], ids=["wav2vec2", "whisper"])
def test_merged_saved_model_equals_adapter_model(data, family, tmp_path):
    train, _, _ = data
    waves, _ = train["A"].samples(np.arange(3))
    model = _tuner(family=family)
    _randomise_lora(model)
    model.eval()
    save_multi(model, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["adapter", "head.pt", "model"]
    assert not list(tmp_path.glob(".out.*"))  # no temporary directory left
    with torch.no_grad():
        want = models.encoder_forward(model.backbone, waves)
        merged = models.encoder_forward(models.load_model(family, tmp_path / "out" / "model"), waves)
        reloaded = PeftModel.from_pretrained(models.build_model(family), tmp_path / "out" / "adapter").eval()
        adapter = models.encoder_forward(reloaded.get_base_model(), waves)
        pretrained = models.encoder_forward(models.build_model(family), waves)
    for i, (a, b, c) in enumerate(zip(want, merged, adapter)):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-5, msg=f"merged, hidden state {i}")
        torch.testing.assert_close(c, a, rtol=0, atol=1e-6, msg=f"adapter, hidden state {i}")
    assert not torch.allclose(want[-1], pretrained[-1], atol=1e-2)  # the adapters changed the model
    head = torch.load(tmp_path / "out" / "head.pt", weights_only=True)
    assert all(torch.equal(head[k], v) for k, v in model.head.state_dict().items())
    # the training model keeps its adapters
    assert len(lora_layers(model.backbone)) == 4 * models.num_layers(model.backbone)


def test_train_mode_keeps_backbone_in_eval_but_lora_dropout_on():
    model = _tuner()
    model.set_train_mode()
    assert model.head.training and not model.backbone.training
    layers = lora_layers(model.backbone)
    assert all(layer.lora_dropout["default"].training for _, layer in layers)
    assert all(not m.training for n, m in model.backbone.named_modules() if "lora_" not in n and n.endswith("dropout"))
    # the LoRA dropout draws random numbers in train mode only
    _randomise_lora(model)
    waves = torch.from_numpy(AUDIO["a"][None, :WINDOW])
    with torch.no_grad():
        assert not torch.equal(model.pooled(waves), model.pooled(waves))
        model.eval()
        assert torch.equal(model.pooled(waves), model.pooled(waves))


# --- batch order --------------------------------------------------------------------------------

SIZES = {"A": {"a": 21, "b": 19}, "B": {"a": 21, "b": 19, "c": 5}}


def _samples(order):
    return sorted((s, story, int(r)) for batch in order for s, story, rows in batch for r in rows)


def flat(order):
    return [(s, story, rows.tolist()) for batch in order for s, story, rows in batch]


def _all_samples(sizes):
    return sorted((s, story, r) for s, stories in sizes.items() for story, n in stories.items() for r in range(n))


def test_binding_by_story():
    order = binding_order(SIZES, 8, "story", seed=1, epoch=3)
    assert all(len(batch) == 1 for batch in order)
    runs = [(s, story, rows.tolist()) for (s, story, rows), in order]

    def r(lo, hi):
        return list(range(lo, hi))

    assert runs == [
        ("A", "a", r(0, 8)), ("A", "a", r(8, 16)), ("A", "a", r(16, 21)),
        ("B", "a", r(0, 8)), ("B", "a", r(8, 16)), ("B", "a", r(16, 21)),
        ("A", "b", r(0, 8)), ("A", "b", r(8, 16)), ("A", "b", r(16, 19)),
        ("B", "b", r(0, 8)), ("B", "b", r(8, 16)), ("B", "b", r(16, 19)),
        ("B", "c", r(0, 5)),
    ]
    assert _samples(order) == _all_samples(SIZES)  # every (participant, window) exactly once
    assert flat(binding_order(SIZES, 8, "story", seed=2, epoch=0)) == flat(order)  # the same every epoch


def test_binding_shuffled_is_seeded_and_covers_every_sample_once():
    order = binding_order(SIZES, 8, "shuffled", seed=1, epoch=0)
    assert _samples(order) == _all_samples(SIZES)
    assert [sum(len(rows) for _, _, rows in batch) for batch in order] == [8] * 10 + [5]
    assert any(len({s for s, _, _ in batch}) > 1 for batch in order)  # batches mix participants
    assert all(len({(s, story) for s, story, _ in batch}) == len(batch) for batch in order)  # grouped
    assert flat(order) == flat(binding_order(SIZES, 8, "shuffled", seed=1, epoch=0))
    assert flat(order) != flat(binding_order(SIZES, 8, "shuffled", seed=1, epoch=1))
    assert flat(order) != flat(binding_order(SIZES, 8, "shuffled", seed=2, epoch=0))
    assert flat(order) != flat(binding_order(SIZES, 8, "story"))


def test_scheduler_steps_once_per_story():
    order = binding_order(SIZES, 8, "story")
    assert scheduler_steps(order, "step").tolist() == [True] * 13
    assert np.flatnonzero(scheduler_steps(order, "story")).tolist() == [5, 11, 12]
    with pytest.raises(ValueError, match="one story"):
        scheduler_steps(binding_order(SIZES, 8, "shuffled"), "story")
    with pytest.raises(ValueError, match="needs binding 'story'"):
        MultiSettings(binding="shuffled", schedule_stepping="story")
    with pytest.raises(ValueError, match="loss"):
        MultiSettings(loss="l1")


# --- losses and targets -------------------------------------------------------------------------

PRED = torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.0, 1.0]])
TARGET = torch.tensor([[1.0, 3.0, 5.0], [1.0, 0.0, 0.0]])


def test_losses_hand_computed():
    # mse: errors (0, -1, -2) and (-0.5, 0, 1)
    torch.testing.assert_close(per_sample_loss("mse", PRED, TARGET), torch.tensor([5 / 3, 1.25 / 3]))
    # corr: sample 1 centred (-1, 0, 1) vs (-2, 0, 2): r = 4 / sqrt(2 * 8) = 1; sample 2 centred (0, -.5, .5)
    # vs (2/3, -1/3, -1/3): r = 0
    torch.testing.assert_close(per_sample_loss("corr", PRED, TARGET), torch.tensor([0.0, 1.0]), atol=1e-6, rtol=0)
    # huber (delta 0.6): |e| <= .6 -> e^2 / 2, else .6 (|e| - .3); cosine: 22 / sqrt(14 * 35) and .5 / sqrt(1.25)
    huber = torch.tensor([(0 + 0.42 + 1.02) / 3, (0.125 + 0 + 0.42) / 3])
    cos = torch.tensor([22 / np.sqrt(490), 0.5 / np.sqrt(1.25)], dtype=torch.float32)
    torch.testing.assert_close(per_sample_loss("huber_cos", PRED, TARGET), huber + 1 - cos)
    # = torch.nn.HuberLoss (not SmoothL1Loss, which divides by delta) + CosineEmbedding-style 1 - cos
    batch = per_sample_loss("huber_cos", PRED, TARGET).mean()
    reference = torch.nn.HuberLoss(delta=0.6)(PRED, TARGET) + (1 - torch.nn.functional.cosine_similarity(PRED, TARGET)).mean()
    torch.testing.assert_close(batch, reference)


def test_masked_losses_hand_computed():
    mask = torch.tensor([[True, True, False], [True, False, True]])  # covered: (1, 2) vs (1, 3); (.5, 1) vs (1, 0)
    torch.testing.assert_close(per_sample_loss("mse", PRED, TARGET, mask=mask), torch.tensor([1 / 2, 1.25 / 2]))
    # corr: centred (-.5, .5) vs (-1, 1): r = 1; (-.25, .25) vs (.5, -.5): r = -1
    torch.testing.assert_close(per_sample_loss("corr", PRED, TARGET, mask=mask), torch.tensor([0.0, 2.0]), atol=1e-6,
                               rtol=0)
    # huber: errors (0, -1) and (-.5, 1); cosine: 7 / sqrt(5 * 10) and .5 / sqrt(1.25)
    huber = torch.tensor([(0 + 0.42) / 2, (0.125 + 0.42) / 2])
    cos = torch.tensor([7 / np.sqrt(50), 0.5 / np.sqrt(1.25)], dtype=torch.float32)
    torch.testing.assert_close(per_sample_loss("huber_cos", PRED, TARGET, mask=mask), huber + 1 - cos)


@pytest.mark.parametrize("loss", ["mse", "corr", "huber_cos"])
def test_masked_loss_is_the_loss_of_the_covered_outputs(loss):
    gen = torch.Generator().manual_seed(3)
    pred, target = torch.randn(5, 7, generator=gen), torch.randn(5, 7, generator=gen)
    mask = torch.rand(5, 7, generator=gen) < 0.6
    mask[:, :2] = True  # at least two covered outputs per sample (a correlation needs them)
    got = per_sample_loss(loss, pred, target, mask=mask)
    # each sample's loss is the unmasked loss of its covered outputs alone
    alone = torch.cat([per_sample_loss(loss, pred[i, m][None], target[i, m][None]) for i, m in enumerate(mask)])
    torch.testing.assert_close(got, alone, rtol=1e-6, atol=1e-6)
    # predictions and targets of uncovered outputs change nothing, and get no gradient
    noise = torch.randn(5, 7, generator=gen) * 10
    wild = (pred + noise * ~mask).requires_grad_()
    moved = per_sample_loss(loss, wild, target + noise * ~mask, mask=mask)
    assert torch.equal(moved, got)
    moved.sum().backward()
    assert torch.all(wild.grad[~mask] == 0) and torch.all(wild.grad[mask] != 0)
    # every output covered: bit-identical to no mask; a (K,) mask is every sample's
    every = torch.ones_like(mask)
    assert torch.equal(per_sample_loss(loss, pred, target, mask=every), per_sample_loss(loss, pred, target))
    assert torch.equal(per_sample_loss(loss, pred, target, mask=mask[0]),
                       per_sample_loss(loss, pred, target, mask=mask[0].expand(5, 7)))


def test_projection_of_targets(data):
    train, val, projections = data
    native = train["A"]
    same = project_dataset(native, sp.eye_array(NATIVE["A"], format="csr"))
    for a, b in zip(same.stories, native.stories):
        np.testing.assert_array_equal(a.targets, b.targets)
        assert a.audio is b.audio and np.array_equal(a.ends, b.ends)
    projected = project_dataset(train["B"], projections["B"])
    for a, b in zip(projected.stories, train["B"].stories):
        assert a.targets.dtype == np.float32 and a.targets.shape == (len(b.ends), K)
        np.testing.assert_allclose(a.targets, b.targets.astype(np.float64) @ projections["B"].toarray(), rtol=1e-5,
                                   atol=1e-6)
    with pytest.raises(ValueError, match=r"does not map the 6 native outputs"):
        project_dataset(native, np.zeros((5, K)))
    # identity projection: the joint validation MSE of one participant is braintune's single-participant MSE
    model = _tuner(n_out=NATIVE["A"])
    _randomise_lora(model)
    stimulus, offsets = shared_stimulus(val)
    joint = evaluate_multi(model, {"A": project_dataset(val["A"], np.eye(NATIVE["A"]))}, stimulus, offsets, 4,
                           torch.device("cpu"))
    assert joint["A"] == pytest.approx(evaluate(model, val["A"], 4, torch.device("cpu")), rel=1e-6)


def test_shared_stimulus_checks_windows(data):
    train, _, _ = data
    stimulus, offsets = shared_stimulus(train)
    assert [s.name for s in stimulus.stories] == ["a", "b"] and offsets == {"a": 0, "b": 16}
    assert stimulus.n_outputs == 0
    other = PairedDataset([StoryPairs("a", AUDIO["a"], train["A"].stories[0].ends + 1, train["A"].stories[0].targets)],
                          WINDOW)
    with pytest.raises(ValueError, match="story 'a': participants A and C"):
        shared_stimulus({"A": train["A"], "C": other})


# --- training -----------------------------------------------------------------------------------


def test_only_lora_and_head_train(data, tmp_path):
    train, val, projections = data
    model = _tuner(MultiSettings(**{**SETTINGS.params(), "epochs": 1}))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = train_multi(model, train, projections, val, tmp_path)
    after = model.state_dict()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    assert with_grad == trainable
    for name in after:
        changed = not torch.equal(before[name], after[name])
        assert changed == (name in trainable), name
    assert result.n_trainable == sum(p.numel() for n, p in model.named_parameters() if n in trainable)
    assert result.steps_per_epoch == 8  # 2 participants x (16 + 14 windows) in batches of 8 per story
    assert result.kept_epoch == result.final_epoch == 0


def test_cached_front_end_equals_recomputed_with_participant_specific_stories(data, tmp_path):
    train, val, projections = data
    train = {"A": train["A"], "B": _dataset("B", ["c", "a", "b"], 14)}  # B also heard story c
    settings = MultiSettings(**{**SETTINGS.params(), "epochs": 1, "warmup_fraction": 0.0})
    results = {}
    for cache in (True, False):
        model = _tuner(settings)
        results[cache] = (train_multi(model, train, projections, val, tmp_path / str(cache), cache_cnn=cache), model)
    assert results[True][0].steps_per_epoch == 10
    assert results[True][0].curve[0]["train_loss"] == results[False][0].curve[0]["train_loss"]
    for (name, a), (_, b) in zip(results[True][1].state_dict().items(), results[False][1].state_dict().items()):
        assert torch.equal(a, b), name


def test_gradient_accumulation_equals_full_batch(data, tmp_path):
    train, val, projections = data
    states = []
    for micro in (8, 3):
        settings = MultiSettings(**{**SETTINGS.params(), "epochs": 1, "micro_batch_size": micro, "loss": "corr",
                                    "lora_dropout": 0.0, "warmup_fraction": 0.0})
        model = _tuner(settings)
        train_multi(model, train, projections, val, tmp_path / str(micro))
        states.append(model.state_dict())
    for name in states[0]:
        torch.testing.assert_close(states[1][name], states[0][name], rtol=1e-4, atol=1e-6, msg=name)


def _lr_factor(k, total, warm):
    return k / warm if k < warm else (total - k) / (total - warm)


@pytest.mark.parametrize("stepping", ["step", "story"])
def test_schedule_stepping(data, tmp_path, stepping):
    train, val, projections = data
    settings = MultiSettings(**{**SETTINGS.params(), "epochs": 2, "schedule_stepping": stepping, "lr_head": 1e-3})
    result = train_multi(_tuner(settings), train, projections, val, tmp_path)
    total = 2 * result.steps_per_epoch
    done = result.steps_per_epoch if stepping == "step" else 2  # two stories per epoch
    warm = warmup_steps(total, 0.1)
    assert [r["lr_lora"] for r in result.curve] == pytest.approx([0.0, 1e-2 * _lr_factor(done, total, warm)])
    assert result.curve[1]["lr_head"] == pytest.approx(1e-3 * _lr_factor(done, total, warm))
    state = torch.load(tmp_path / "last.pt", weights_only=False)
    assert state["scheduler"]["last_epoch"] == 2 * done and state["step"] == total


def test_resume_equals_uninterrupted_bitwise(data, tmp_path):
    train, val, projections = data
    settings = MultiSettings(**{**SETTINGS.params(), "binding": "shuffled", "loss": "huber_cos", "epochs": 3,
                                "checkpoint_epochs": (1,)})
    ref = _tuner(settings)
    r_ref = train_multi(ref, train, projections, val, tmp_path / "ref", checkpoint_dir=tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt" / "epoch_001").iterdir()) == ["adapter", "head.pt", "model"]

    class Killed(RuntimeError):
        pass

    def kill_after_first(epoch):
        if epoch == 0:
            raise Killed

    with pytest.raises(Killed):
        train_multi(_tuner(settings), train, projections, val, tmp_path / "resumed", on_epoch_end=kill_after_first,
                    checkpoint_dir=tmp_path / "ckpt2")
    torch.manual_seed(999)  # a fresh process: another RNG state, the model rebuilt, the state read from disk
    resumed = _tuner(settings)
    r_res = train_multi(resumed, train, projections, val, tmp_path / "resumed", checkpoint_dir=tmp_path / "ckpt2")
    for key in ("train_loss", "train_mse", "val_mse", "val_mse_A", "val_mse_B", "lr_lora", "lr_head", "step"):
        assert [r[key] for r in r_res.curve] == [r[key] for r in r_ref.curve], key
    for (name, a), (_, b) in zip(ref.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name
    assert r_res.final_epoch == r_ref.final_epoch == 2 and r_res.kept_epoch == 2


def test_early_stopping_keeps_best_epoch(data, tmp_path):
    train, val, projections = data
    # a huge head learning rate makes validation diverge after the first epoch
    settings = MultiSettings(**{**SETTINGS.params(), "epochs": 5, "patience": 1, "lr_head": 5.0, "warmup_fraction": 0.0})
    model = _tuner(settings)
    result = train_multi(model, train, projections, val, tmp_path)
    vals = [r["val_mse"] for r in result.curve]
    assert result.stopped_early and result.kept_epoch == result.best_epoch == int(np.argmin(vals))
    assert len(vals) == result.best_epoch + 2
    projected = {s: project_dataset(ds, projections[s]) for s, ds in val.items()}
    stimulus, offsets = shared_stimulus(projected)
    again = evaluate_multi(model, projected, stimulus, offsets, 4, torch.device("cpu"))
    assert np.mean(list(again.values())) == pytest.approx(min(vals), rel=1e-5)


# --- uncovered outputs --------------------------------------------------------------------------


def test_masked_training_leaves_uncovered_outputs_alone(data, tmp_path):
    """mask: an output no participant covers gets no gradient (its head row stays as initialised without weight
    decay) and the MSEs are over covered outputs; zero: it is trained toward its 0 target, as with no coverage."""
    train, val, projections = data
    projections = _uncovered(projections)
    coverage = {s: projection_coverage(p) for s, p in projections.items()}
    assert {s: c.tolist() for s, c in coverage.items()} == {"A": [False, True, True, False],
                                                           "B": [True, False, True, False]}
    base = {**SETTINGS.params(), "epochs": 1, "binding": "shuffled", "weight_decay": 0.0, "lora_dropout": 0.0}
    runs = {}
    for name, uncovered, cover in [("mask", "mask", None), ("zero", "zero", None),
                                   ("every", "mask", {s: np.ones(K, dtype=bool) for s in projections})]:
        model = _tuner(MultiSettings(**{**base, "uncovered": uncovered}))
        initial = {k: v.clone() for k, v in model.head.state_dict().items()}
        runs[name] = (train_multi(model, train, projections, val, tmp_path / name, coverage=cover), model, initial)
    (masked, model, initial), (zero, zero_model, _), (every, every_model, _) = runs["mask"], runs["zero"], runs["every"]
    assert torch.equal(model.head.weight[3], initial["weight"][3]) and model.head.bias[3] == initial["bias"][3]
    assert not torch.equal(model.head.weight[:3], initial["weight"][:3])
    assert not torch.equal(zero_model.head.weight[3], initial["weight"][3])
    # zero: every output regressed, the uncovered ones toward 0: the same run as coverage "every output covered"
    assert [r["train_loss"] for r in zero.curve] == [r["train_loss"] for r in every.curve]
    for (name, a), (_, b) in zip(zero_model.state_dict().items(), every_model.state_dict().items()):
        assert torch.equal(a, b), name
    assert masked.curve[0]["train_loss"] != zero.curve[0]["train_loss"]
    # the validation MSE of each participant is over its covered outputs
    projected = {s: project_dataset(ds, projections[s]) for s, ds in val.items()}
    stimulus, offsets = shared_stimulus(projected)
    full = evaluate_multi(model, projected, stimulus, offsets, 4, torch.device("cpu"))
    for s in val:  # the model cut to the participant's covered outputs (head rows, projection columns)
        trimmed = _tuner(n_out=int(coverage[s].sum()))
        trimmed.load_state_dict({**model.state_dict(), "head.weight": model.head.weight[coverage[s]],
                                 "head.bias": model.head.bias[coverage[s]]})
        own = evaluate_multi(trimmed, {s: project_dataset(val[s], projections[s][:, coverage[s]])}, stimulus,
                             offsets, 4, torch.device("cpu"))[s]
        assert masked.curve[0][f"val_mse_{s}"] == pytest.approx(own, rel=1e-6)
        assert masked.curve[0][f"val_mse_{s}"] != pytest.approx(full[s], rel=1e-3)


@pytest.mark.parametrize("loss", ["mse", "corr", "huber_cos"])
def test_masked_gradient_accumulation_is_exact(data, loss):
    """Shuffled batches mix participants: each sample's loss has its participant's mask, and micro-batches
    accumulate the full batch's gradient (compared directly: Adam would amplify float noise over steps)."""
    from braintune.braintuning.multi import _BatchSource, _sizes, _step

    train, _, projections = data
    projections = _uncovered(projections)
    sets = {s: project_dataset(ds, projections[s]) for s, ds in train.items()}
    coverage = {s: projection_coverage(p) for s, p in projections.items()}
    stimulus, offsets = shared_stimulus(sets)
    order = binding_order(_sizes(sets), 8, "shuffled", seed=1)
    source = _BatchSource(order, stimulus, offsets, sets, coverage)
    b = next(b for b, batch in enumerate(order) if len({s for s, _, _ in batch}) > 1)
    mask = source.mask(b)
    assert mask.tolist() == [coverage[s].tolist() for s, _, rows in order[b] for _ in rows]
    waves, targets = source[b]
    grads = []
    for micro in (8, 3):
        model = _tuner(MultiSettings(**{**SETTINGS.params(), "micro_batch_size": micro, "loss": loss,
                                        "lora_dropout": 0.0}))
        _randomise_lora(model)
        model.set_train_mode()
        _step(model, torch.optim.SGD(model.parameters(), lr=0.0), waves, targets, mask, torch.device("cpu"), None)
        grads.append({n: p.grad for n, p in model.named_parameters() if p.requires_grad})
        assert torch.all(model.head.weight.grad[3] == 0) and model.head.bias.grad[3] == 0  # no one covers output 3
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, rtol=1e-4, atol=1e-7, msg=name)


def test_all_covered_mask_is_bit_identical_to_zero(data, tmp_path):
    train, val, projections = data
    assert all(projection_coverage(p).all() for p in projections.values())
    results = {}
    for uncovered in ("mask", "zero"):
        settings = MultiSettings(**{**SETTINGS.params(), "epochs": 1, "binding": "shuffled", "uncovered": uncovered})
        model = _tuner(settings)
        results[uncovered] = (train_multi(model, train, projections, val, tmp_path / uncovered), model)
    for key in ("train_loss", "train_mse", "val_mse"):
        assert results["mask"][0].curve[0][key] == results["zero"][0].curve[0][key], key
    for (name, a), (_, b) in zip(results["mask"][1].state_dict().items(), results["zero"][1].state_dict().items()):
        assert torch.equal(a, b), name


def test_resume_key_changes_with_coverage_and_setting(data, tmp_path):
    train, val, projections = data
    settings = MultiSettings(**{**SETTINGS.params(), "epochs": 1})
    ran = []

    def tune(settings, coverage=None):
        train_multi(_tuner(settings), train, projections, val, tmp_path, on_epoch_end=ran.append, coverage=coverage)
        return len(ran)

    assert tune(settings) == 1
    assert tune(settings) == 1  # the same run: resumed after its last epoch, nothing to do
    some = {"A": np.array([True, True, True, False]), "B": np.ones(K, dtype=bool)}
    assert tune(settings, some) == 2  # another coverage: afresh
    assert tune(MultiSettings(**{**settings.params(), "uncovered": "zero"}), some) == 3  # another setting: afresh
    with pytest.raises(ValueError, match=r"coverage of participant A is int64 \(3,\); expected bool \(4,\)"):
        tune(settings, {**some, "A": np.ones(3, dtype=np.int64)})
    with pytest.raises(ValueError, match="participant B covers none of the 4 outputs"):
        tune(settings, {**some, "B": np.zeros(K, dtype=bool)})
    with pytest.raises(ValueError, match="uncovered 'nan'"):
        MultiSettings(uncovered="nan")
