"""BigSLM and text-LM targets: shapes, word selection, context windows, normalisation; variant parsing."""

import os
import numpy as np
import pytest
import torch

from braintune.braintuning.dataset import window_ends, window_samples
from braintune.braintuning.targets import (
    WHISPER_PREFIX, bigslm_targets, story_token_ids, build_target_model, contextual_states, lm_targets, words_in_windows,
    zscore_columns,
)
from braintune.braintuning.variants import parse_variant, trained_variants
from braintune.config import ConfigError
from braintune.preprocess.timing import TRGrid
from braintune.preprocess.transcripts import Interval, Transcript

SR = 16000
TEXTS = ["the quick brown fox jumps over the lazy dog", "a story about a dog and a fox in the woods at night"]
WORDS = (TEXTS[0] + " " + TEXTS[1]).split()


def _transcript(start=9.0, step=0.6):
    words = [Interval(start + i * step, start + i * step + 0.4, w) for i, w in enumerate(WORDS)]
    return Transcript(words=words, phones=[], end_s=words[-1].end)


def test_words_in_windows_uses_midpoints():
    tr = _transcript()
    lists = words_in_windows(tr, np.array([9.1, 9.3, 15.0, 100.0]), 10.0)
    assert lists[0] == [] and lists[1] == [0]  # word 0 spans 9.0-9.4 (midpoint 9.2)
    mids = np.array([(w.start + w.end) / 2 for w in tr.words])
    assert lists[2] == np.flatnonzero((mids >= 5.0) & (mids < 15.0)).tolist()
    assert lists[3] == []


def test_zscore_columns_fills_silent_rows_with_mean():
    x = np.array([[1.0, 5.0], [3.0, 5.0], [100.0, 100.0]])
    z = zscore_columns(x, np.array([False, False, True]))
    np.testing.assert_allclose(z[:, 0], [-np.sqrt(1.5), np.sqrt(1.5), 0.0], rtol=1e-6)
    assert np.all(z[:, 1] == 0)  # constant column -> 0
    assert z.dtype == np.float32


LM_CFG = {"architecture": "gpt2", "checkpoint": None, "tokenizer_vocab_size": 300,
          "init": {"n_embd": 16, "n_layer": 3, "n_head": 2, "n_positions": 128}, "layer_step": 1, "context_tokens": 16}


@pytest.mark.parametrize("step,n_states", [(1, 4), (3, 2)])
def test_lm_target_shapes(step, n_states):
    target = build_target_model("lmtuned_gpt2", {**LM_CFG, "layer_step": step}, TEXTS, seed=0)
    grid = TRGrid(n_respdict=40, tr_s=2.0, sound_start_s=10.0, trim_start=10, trim_end=5)
    ends = window_ends(grid, SR) / SR
    lists = words_in_windows(_transcript(), ends, 10.0)
    out, empty = lm_targets(target, WORDS, lists)
    assert out.shape == (grid.n_rows, n_states * 16)  # hidden_states[::step] of embeddings + 3 layers
    assert empty.tolist() == [not wl for wl in lists]
    assert np.all(out[empty] == 0) and np.all(np.isfinite(out))


def test_lm_context_windows_match_full_forward_within_context():
    target = build_target_model("lmtuned_gpt2", {**LM_CFG, "context_tokens": 128}, TEXTS, seed=0)
    ids, last = story_token_ids(target.tokenizer, WORDS)
    # every word's last token decodes to the end of that word
    for w in (0, 5, len(WORDS) - 1):
        assert WORDS[w].endswith(target.tokenizer.decode([ids[last[w]]]).strip())
    assert 16 < len(ids) <= 128
    with torch.no_grad():
        full = target.model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states
    pos = np.array([1, len(ids) - 1])
    got = contextual_states(target, ids, pos)
    want = torch.cat([h[0, pos] for h in full], dim=-1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # with a short context, a late token is read with at least context/2 tokens of left context
    target.context_tokens = 8
    short = contextual_states(target, ids, pos)
    np.testing.assert_allclose(short[0], want[0], rtol=1e-5, atol=1e-6)  # first window = full prefix
    assert not np.allclose(short[1], want[1])


def test_bigslm_target_shapes_and_prefix():
    cfg = {"checkpoint": None, "tokenizer_vocab_size": 300, "batch_size": 4,
           "init": {"d_model": 16, "encoder_layers": 1, "decoder_layers": 2, "encoder_attention_heads": 2,
                    "decoder_attention_heads": 2, "encoder_ffn_dim": 32, "decoder_ffn_dim": 32, "num_mel_bins": 80,
                    "max_source_positions": 750, "max_target_positions": 64}}
    target = build_target_model("bigslm", cfg, TEXTS, seed=0)
    assert all(target.tokenizer.convert_tokens_to_ids(t) != target.tokenizer.unk_token_id for t in WHISPER_PREFIX)
    grid = TRGrid(n_respdict=30, tr_s=2.0, sound_start_s=10.0, trim_start=10, trim_end=5)
    window = window_samples(2.0, 5, SR)
    ends = window_ends(grid, SR)
    audio = np.random.default_rng(0).standard_normal(int(2 * 20 * SR)).astype(np.float32) * 0.1
    lists = words_in_windows(_transcript(), ends / SR, window / SR)
    out, empty = bigslm_targets(target, audio, ends, window, lists, WORDS, SR)
    assert out.shape == (grid.n_rows, 3 * 16)  # decoder embeddings + 2 layers, concatenated
    assert np.all(np.isfinite(out)) and empty.tolist() == [not wl for wl in lists]
    # the batch size does not change the result
    target.batch_size = 1
    out1, _ = bigslm_targets(target, audio, ends[:3], window, lists[:3], WORDS, SR)
    np.testing.assert_allclose(out1, out[:3], rtol=1e-4, atol=1e-5)


def test_variant_parsing_and_checks():
    assert parse_variant("braintuned_n3").n_train_stories == 3
    assert parse_variant("random").target == "permuted"
    assert parse_variant("lmtuned_llama").precomputed
    assert parse_variant("stimulus").shared
    with pytest.raises(ConfigError, match="unknown variant"):
        parse_variant("braintuned_twice")
    config = {
        "stories": {"braintuning_train": ["a", "b"]},
        "braintuning": {"targets": {}},
        "models": {"w": {"architecture": "hubert", "variants": ["pretrained", "stimulus"]},
                   "x": {"architecture": "wav2vec2", "variants": ["bigslm"]},
                   "y": {"architecture": "wav2vec2", "variants": ["braintuned_n3"]}},
    }
    with pytest.raises(ConfigError, match="pre-training head"):
        trained_variants(config, "w")
    with pytest.raises(ConfigError, match="braintuning.targets.bigslm"):
        trained_variants(config, "x")
    with pytest.raises(ConfigError, match="3 training stories"):
        trained_variants(config, "y")


def test_a_gated_checkpoint_needs_a_token_or_the_cache(tmp_path, monkeypatch):
    from braintune.braintuning.plan import gated_access_problem

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache, no saved token
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "no-token"))
    key = "braintuning.targets.lmtuned_llama.checkpoint"
    problem = gated_access_problem("meta-llama/Llama-2-7b-hf", key)
    assert problem and key in problem and "huggingface-cli login" in problem and "HF_TOKEN" in problem
    assert gated_access_problem("openai-community/gpt2-medium", key) is None  # not gated
    assert gated_access_problem(None, key) is None  # random initialisation
    local = tmp_path / "meta-llama" / "Llama-2-7b-hf"
    local.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert gated_access_problem("meta-llama/Llama-2-7b-hf", key) is None  # a local directory of that name
    monkeypatch.chdir(tmp_path.parent)
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    assert gated_access_problem("meta-llama/Llama-2-7b-hf", key) is None


def test_a_saved_login_token_survives_the_workspace_hf_home(tmp_path, monkeypatch):
    from braintune.utils import set_cache_dirs

    for var in ("HF_HOME", "HF_TOKEN_PATH"):
        monkeypatch.setenv(var, "")  # restored (or removed again) after the test
        monkeypatch.delenv(var)
    user_cache = tmp_path / "user-cache"
    (user_cache / "huggingface").mkdir(parents=True)
    (user_cache / "huggingface" / "token").write_text("hf_saved")
    monkeypatch.setenv("XDG_CACHE_HOME", str(user_cache))
    set_cache_dirs(tmp_path / "ws" / ".cache")
    assert os.environ["HF_HOME"] == str(tmp_path / "ws" / ".cache" / "huggingface")
    assert os.environ["HF_TOKEN_PATH"] == str(user_cache / "huggingface" / "token")
