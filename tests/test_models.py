"""braintune.features.models: one registry for wav2vec2, HuBERT and the Whisper encoder."""

import math

import numpy as np
import pytest
import torch

from braintune.features import models

CONV = dict(conv_dim=[16, 16, 16], conv_kernel=[10, 8, 8], conv_stride=[5, 8, 8], num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
SMALL = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, **CONV)

FAMILIES = {
    "wav2vec2": dict(architecture="wav2vec2", checkpoint=None, init_seed=3, init=SMALL, layers=[0, 1, 2], variants=["pretrained"]),
    "hubert": dict(architecture="hubert", checkpoint=None, init_seed=4, init=SMALL, layers=[1, 2], variants=["pretrained"]),
    "whisper": dict(
        architecture="whisper",
        checkpoint=None,
        init_seed=5,
        init=dict(d_model=16, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=32, num_mel_bins=80, max_source_positions=500),
        layers=[1, 2],
        variants=["pretrained"],
    ),
}


@pytest.fixture(scope="module")
def built():
    return {name: models.build_model(cfg) for name, cfg in FAMILIES.items()}


def _audio(seconds, seed=0):
    return np.random.default_rng(seed).standard_normal((2, int(seconds * models.SAMPLE_RATE))).astype(np.float32) * 0.1


def test_whisper_last_frame_matches_protocol():
    from transformers import WhisperConfig

    real = WhisperConfig()  # whisper-small geometry: 1500 positions, 30 s
    assert models.last_valid_frame(real, 10 * 16000) == 500
    assert models.last_valid_frame(real, int(round(16.1 * 16000))) == 805
    assert models.last_valid_frame(real, 30 * 16000) == 1499  # clipped to the last position


def test_whisper_last_frame_is_the_last_one_the_audio_reaches(built):
    """Brute force: perturb the audio and see which encoder outputs move (conv receptive fields)."""
    model = built["whisper"]
    n = 16000 * 3 + 37
    mel = models.whisper_log_mel(model, _audio(4)[:1, :n])
    # mel frames that carry audio: the first ceil(n / hop); conv1 then conv2 spread them.
    mask = torch.zeros(1, 1, mel.shape[-1])
    mask[..., : math.ceil(n / models.WHISPER_HOP)] = 1
    ones = torch.ones(1, 1, 3)
    reached = torch.nn.functional.conv1d(torch.nn.functional.conv1d(mask, ones, padding=1), ones, stride=2, padding=1)
    assert int(reached[0, 0].nonzero().max()) == models.last_valid_frame(model, n)


@pytest.mark.parametrize("seconds", [0.1, 1.0, 8.5, 16.1])
def test_wav2vec2_frames_follow_conv_arithmetic(built, seconds):
    model = built["wav2vec2"]
    n = int(round(seconds * 16000))
    with torch.no_grad():
        hidden = models.encoder_forward(model, _audio(seconds)[:, :n])
    assert hidden[-1].shape[1] == models.n_frames(model, n)
    assert models.last_valid_frame(model, n) == hidden[-1].shape[1] - 1


def test_default_conv_stack_gives_reference_frame_count():
    from transformers import Wav2Vec2Config

    assert models.n_frames(Wav2Vec2Config(), 160000) == (160000 - 400) // 320 + 1 == 499


def test_hidden_state_scheme_is_shared(built):
    """index 0 = input to layer 1, index N = last_hidden_state, N + 1 entries, for every family."""
    for name, model in built.items():
        n_layers = models.num_layers(model)
        audio = _audio(2)
        with torch.no_grad():
            hidden = models.encoder_forward(model, audio)
            if name == "whisper":
                out = model(input_features=models.whisper_log_mel(model, audio))
            else:
                out = model(input_values=models.normalize_waveforms(torch.from_numpy(audio)))
        assert len(hidden) == n_layers + 1, name
        torch.testing.assert_close(hidden[-1], out.last_hidden_state)
        assert hidden[1].shape[-1] == models.hidden_size(model)
        with torch.no_grad():
            sub = models.encoder_forward(model, audio, layers=[2, 0])
        torch.testing.assert_close(sub[0], hidden[2])
        torch.testing.assert_close(sub[1], hidden[0])


def test_random_init_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    a = models.build_model(FAMILIES["wav2vec2"])
    after = torch.rand(1)
    assert torch.equal(before, after), "build_model consumed the caller's RNG"
    b = models.build_model(FAMILIES["wav2vec2"])
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    c = models.build_model(FAMILIES["wav2vec2"], seed=99)
    assert not torch.equal(a.encoder.layers[0].attention.q_proj.weight, c.encoder.layers[0].attention.q_proj.weight)


def test_save_and_load_roundtrip(tmp_path, built):
    for name, model in built.items():
        target = tmp_path / name
        model.save_pretrained(target)
        loaded = models.load_model(FAMILIES[name], target)
        audio = _audio(1.5)
        with torch.no_grad():
            for x, y in zip(models.encoder_forward(model, audio), models.encoder_forward(loaded, audio)):
                torch.testing.assert_close(x, y)
        assert loaded.config._attn_implementation == "sdpa"
    with pytest.raises(ValueError, match="model_type"):
        models.load_model(FAMILIES["hubert"], tmp_path / "whisper")
    with pytest.raises(FileNotFoundError, match="config.json"):
        models.load_model(FAMILIES["hubert"], tmp_path / "nowhere")


def test_whisper_full_model_checkpoint_keeps_the_encoder(tmp_path):
    from transformers import WhisperConfig, WhisperModel

    cfg = FAMILIES["whisper"]
    config = WhisperConfig(vocab_size=60, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=16, pad_token_id=0,
                           bos_token_id=1, eos_token_id=2, decoder_start_token_id=1, max_target_positions=8, **cfg["init"])
    full = WhisperModel(config)
    full.save_pretrained(tmp_path)
    encoder = models.load_model({**cfg, "checkpoint": str(tmp_path)}, tmp_path)
    assert type(encoder).__name__ == "WhisperEncoder"
    torch.testing.assert_close(encoder.conv1.weight, full.encoder.conv1.weight)


def test_frozen_frontend(built):
    for name, model in built.items():
        model = models.build_model(FAMILIES[name])
        frozen = models.freeze_frontend(model)
        expect = ("conv1.", "conv2.", "embed_positions.") if name == "whisper" else ("feature_extractor.",)
        assert frozen and all(n.startswith(expect) for n in frozen)
        trainable = [n for n, p in model.named_parameters() if p.requires_grad]
        assert trainable and not any(n.startswith(expect) for n in trainable)
        if name == "whisper":
            assert {"conv1.weight", "conv2.weight", "embed_positions.weight"} <= set(frozen)


def test_inputs_match_hf_feature_extractors(built):
    audio = _audio(1.2)
    w2v = models.feature_extractor(FAMILIES["wav2vec2"])
    ref = w2v(list(audio), sampling_rate=16000, return_tensors="np")["input_values"]
    np.testing.assert_allclose(models.normalize_waveforms(torch.from_numpy(audio)).numpy(), ref, atol=1e-5)
    whisper = built["whisper"]
    fx = models.feature_extractor(FAMILIES["whisper"])
    assert fx.chunk_length == 10 and fx.nb_max_frames == 1000
    ref = fx(list(audio), sampling_rate=16000, return_tensors="np")["input_features"]
    np.testing.assert_allclose(models.whisper_log_mel(whisper, audio).numpy(), ref, atol=1e-4)
    with pytest.raises(ValueError, match="longer than"):
        models.whisper_log_mel(whisper, _audio(10.5))


def test_bad_configs_name_the_key():
    with pytest.raises(ValueError, match="architecture"):
        models.build_model({"architecture": "bert", "checkpoint": None, "init": {}})
    with pytest.raises(ValueError, match="layers"):
        models.build_model({**FAMILIES["hubert"], "layers": [3]})
    bad = {**FAMILIES["whisper"], "init": {**FAMILIES["whisper"]["init"], "max_source_positions": 510}}
    with pytest.raises(ValueError, match="max_source_positions"):
        models.feature_extractor(bad)


def test_config_families_build(tmp_path):
    """Every family of both shipped configs validates; the demo ones build and run."""
    from conftest import REPO as REPO_ROOT

    from braintune.config import load_config

    demo = load_config(REPO_ROOT / "config" / "config.yaml")
    paper = load_config(REPO_ROOT / "config" / "ds003020.yaml")
    assert set(demo["models"]) == set(paper["models"]) == {"wav2vec2", "hubert", "whisper", "hubert_large"}
    sizes = {}
    for name, cfg in demo["models"].items():
        model = models.build_model(cfg)
        sizes[name] = models.n_parameters(model)
        assert max(cfg["layers"]) <= models.num_layers(model)
    assert sizes["hubert_large"] > sizes["hubert"]


def test_matmul_positional_conv_is_the_same_convolution(built):
    model = models.build_model(FAMILIES["wav2vec2"])
    conv = model.encoder.pos_conv_embed.conv
    x = torch.randn(5, conv.in_channels, 37)
    with torch.no_grad():
        ref = conv(x)
        sliced = models._grouped_conv_as_matmul(conv, x, max_elements=conv.in_channels * 16 * 40)  # several slices
        audio = _audio(1.3)
        before = models.encoder_forward(model, audio)
        assert models.use_matmul_positional_conv(model)
        after = models.encoder_forward(model, audio)
    torch.testing.assert_close(sliced, ref, rtol=1e-5, atol=1e-5)
    for x_, y_ in zip(before, after):
        torch.testing.assert_close(x_, y_, rtol=1e-4, atol=1e-5)
    assert not models.use_matmul_positional_conv(built["whisper"])


def test_compiled_front_end_gives_the_eager_features(built):
    """features.compile_frontend: the compiled wav2vec2 CNN gives the eager hidden states (r >= 0.9999 per layer,
    as the device check asks of bf16 features) with the same module tree; ``auto`` leaves a CPU model eager (its
    runs stay bit-reproducible) and Whisper has nothing to compile."""
    audio = _audio(1.3)
    model = models.build_model(FAMILIES["wav2vec2"])
    keys = list(model.state_dict())
    assert not models.compile_frontend(model, "auto") and not models.compile_frontend(model, False)
    with torch.no_grad():
        eager = models.encoder_forward(model, audio)
        assert models.compile_frontend(model, True)
        compiled = models.encoder_forward(model, audio)
    assert list(model.state_dict()) == keys
    for e, c in zip(eager, compiled, strict=True):
        assert np.corrcoef(e.numpy().ravel(), c.numpy().ravel())[0, 1] >= 0.9999
        torch.testing.assert_close(c, e, rtol=1e-4, atol=1e-4)
    assert not models.compile_frontend(built["whisper"], True)
    with pytest.raises(ValueError, match="features.compile_frontend"):
        models.compile_frontend(model, "yes")


def _failing_compile(fn, **kwargs):
    def compiled(*args, **kw):
        raise RuntimeError("backend compiler failed: no C compiler found\nmore detail")
    return compiled


def test_front_end_runs_eagerly_when_auto_compilation_fails(monkeypatch, caplog):
    """``auto`` (on a GPU node whose compiler stack cannot build the kernels): a warning, then the eager front end,
    with the features of a model never compiled; ``true`` raises the compiler's error instead."""
    audio = _audio(1.3)
    with torch.no_grad():
        eager = models.encoder_forward(models.build_model(FAMILIES["wav2vec2"]), audio)
    monkeypatch.setattr(torch, "compile", _failing_compile)
    model = models.build_model(FAMILIES["wav2vec2"])
    models._compile_forward(model.feature_extractor, fallback=True)  # what compile_frontend(model, "auto") does on CUDA
    with torch.no_grad(), caplog.at_level("WARNING", logger="braintune.features.models"):
        for _ in range(2):  # the second call goes straight to the eager forward
            for e, x in zip(eager, models.encoder_forward(model, audio), strict=True):
                assert torch.equal(e, x)
    assert [r.getMessage() for r in caplog.records] == [
        "features.compile_frontend auto: compiling the front end failed (RuntimeError: backend compiler failed: "
        "no C compiler found); running it eagerly"]
    strict = models.build_model(FAMILIES["wav2vec2"])
    assert models.compile_frontend(strict, True)
    with torch.no_grad(), pytest.raises(RuntimeError, match="no C compiler"):
        models.encoder_forward(strict, audio)
