"""The rehearsal's Hugging Face cache: the paper's hub ids load offline, through the pipeline's own loading
code, as tiny models with the demo's weights; the layout is huggingface_hub's; a rerun writes nothing."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO

from braintune.braintuning.targets import (
    ENDOFTEXT,
    WHISPER_PREFIX,
    bigslm_targets,
    build_target_model,
    lm_targets,
    story_token_ids,
)
from braintune.config import load_config, validate_config
from braintune.features import models
from braintune.rehearsal.hub import MARKER, populate_hub_cache

SR = 16000
TEXTS = ["the quick brown fox jumps over the lazy dog", "a story about a dog and a fox in the woods at night",
         "she said that the night was long and the road was longer still"] * 2
STORY = ["the", "fox", "and", "the", "dog", "walked", "into", "the", "woods", "at", "night"]
SEED = 5
FAMILY_IDS = {"wav2vec2": "facebook/wav2vec2-base", "hubert": "facebook/hubert-base-ls960", "whisper": "openai/whisper-small"}
TARGET_IDS = {"bigslm": "openai/whisper-medium", "lmtuned_gpt2": "openai-community/gpt2-medium",
              "lmtuned_llama": "meta-llama/Llama-2-7b-hf"}
LLAMA = {"architecture": "llama", "checkpoint": None, "tokenizer_vocab_size": 300, "layer_step": 1, "context_tokens": 64,
         "init": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                  "num_key_value_heads": 2, "max_position_embeddings": 128}}
GATED_KEY = "braintuning.targets.lmtuned_llama.checkpoint"


def rehearsal_config() -> dict:
    """The demo config with the paper's hub ids as checkpoints (the tiny inits kept next to them); hubert_large
    stays a random init; the wav2vec2 family also lists lmtuned_llama (a tiny Llama)."""
    config = load_config(REPO / "config" / "config.yaml")
    for family, repo_id in FAMILY_IDS.items():
        config["models"][family]["checkpoint"] = repo_id
    config["models"]["wav2vec2"]["variants"].append("lmtuned_llama")
    targets = config["braintuning"]["targets"]
    targets["lmtuned_llama"] = dict(LLAMA)
    for variant, repo_id in TARGET_IDS.items():
        targets[variant]["checkpoint"] = repo_id
    return validate_config(config)


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    """``(config, hf_home, ids written)`` of a cache populated once for the module."""
    config = rehearsal_config()
    hf_home = tmp_path_factory.mktemp("hf_home")
    return config, hf_home, populate_hub_cache(config, hf_home, TEXTS, SEED)


def _offline(monkeypatch, hf_home: Path) -> None:
    """Resolve hub ids in ``hf_home``'s cache, offline, with no token. huggingface_hub reads HF_HOME once, at
    import, into its constants (which transformers reads at call time): patch those, not the variable."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hf_home / "hub"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(hf_home / "no-token"))
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def offline(populated, monkeypatch):
    config, hf_home, _ = populated
    _offline(monkeypatch, hf_home)
    return config


def _cached(repo_id: str, filename: str):
    from huggingface_hub import try_to_load_from_cache

    return try_to_load_from_cache(repo_id, filename)


def _architectures(repo_id: str) -> list[str]:
    with open(_cached(repo_id, "config.json")) as handle:
        return json.load(handle)["architectures"]


def test_every_hub_id_the_config_loads_is_written(populated):
    _, hf_home, written = populated
    assert written == [*FAMILY_IDS.values(), *TARGET_IDS.values()]  # hubert_large (checkpoint null): none
    assert sorted(p.name for p in (hf_home / "hub").iterdir()) == sorted(
        "models--" + i.replace("/", "--") for i in written)


def test_families_load_offline_with_the_weights_of_the_same_init(offline):
    audio = np.random.default_rng(0).standard_normal((2, SR)).astype(np.float32)
    expected_class = {"wav2vec2": "Wav2Vec2ForPreTraining", "hubert": "HubertModel",
                      "whisper": "WhisperForConditionalGeneration"}
    for family, repo_id in FAMILY_IDS.items():
        family_cfg = offline["models"][family]
        assert _architectures(repo_id) == [expected_class[family]]
        assert isinstance(_cached(repo_id, "preprocessor_config.json"), str)
        loaded = models.build_model(family_cfg)  # checkpoint: the hub id
        demo = models.build_model({**family_cfg, "checkpoint": None})
        assert type(loaded) is type(demo)
        with torch.no_grad():
            got, want = models.encoder_forward(loaded, audio), models.encoder_forward(demo, audio)
        assert len(got) == len(want) == family_cfg["init"].get("num_hidden_layers", family_cfg["init"].get("encoder_layers")) + 1
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=0, atol=0)
    # the Whisper feature extractor of a hub id reads the saved config (WhisperConfig.from_pretrained)
    whisper = offline["models"]["whisper"]
    assert models.feature_extractor(whisper).chunk_length == models.feature_extractor({**whisper, "checkpoint": None}).chunk_length == 6


def test_the_stimulus_variant_loads_its_pretraining_heads(offline):
    from transformers import Wav2Vec2ForPreTraining

    from braintune.braintuning.stimulus import build_pretraining_model, stimulus_tune

    head_init = offline["braintuning"]["stimulus"]["head_init"]
    model, info = Wav2Vec2ForPreTraining.from_pretrained(FAMILY_IDS["wav2vec2"], mask_time_prob=0.65, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]  # quantiser, projections, mask embedding
    assert {k: getattr(model.config, k) for k in head_init} == head_init
    model = build_pretraining_model(offline["models"]["wav2vec2"], SEED, 0.65)  # the stage's call
    cfg = {**offline["braintuning"]["stimulus"], "epochs": 1, "batch_size": 2, "chunk_s": 1.0, "num_negatives": 5}
    audio = np.random.default_rng(1).standard_normal(2 * SR).astype(np.float32)
    curve = stimulus_tune(model, [audio], cfg, seed=SEED)
    assert len(curve) == 1 and np.isfinite(curve[0]["loss"])


def test_targets_load_offline_with_the_demo_model_and_tokenizer(offline):
    expected_class = {"bigslm": "WhisperForConditionalGeneration", "lmtuned_gpt2": "GPT2LMHeadModel",
                      "lmtuned_llama": "LlamaForCausalLM"}
    text = " ".join(STORY)
    for variant, repo_id in TARGET_IDS.items():
        tcfg = offline["braintuning"]["targets"][variant]
        assert _architectures(repo_id) == [expected_class[variant]]
        loaded = build_target_model(variant, tcfg, [])  # no texts: the tokenizer comes from the cache
        demo = build_target_model(variant, {**tcfg, "checkpoint": None}, TEXTS, seed=SEED)
        ids = loaded.tokenizer(text, add_special_tokens=False)["input_ids"]
        assert ids == demo.tokenizer(text, add_special_tokens=False)["input_ids"]
        assert loaded.tokenizer.decode(ids) == text and loaded.tokenizer.bos_token == ENDOFTEXT
        # the real tokenizers' roles: <|endoftext|> is also Whisper's and GPT-2's unknown token; Llama's differs
        assert loaded.tokenizer.unk_token == (None if variant == "lmtuned_llama" else ENDOFTEXT)
        inputs = {"input_ids": torch.tensor([ids])}
        if variant == "bigslm":
            assert all(loaded.tokenizer.convert_tokens_to_ids(t) != loaded.tokenizer.unk_token_id for t in WHISPER_PREFIX)
            inputs = {"input_features": torch.zeros(1, 80, 1500), "decoder_input_ids": inputs["input_ids"]}
        with torch.no_grad():
            got = loaded.model(**inputs, output_hidden_states=True)
            want = demo.model(**inputs, output_hidden_states=True)
        key = "decoder_hidden_states" if variant == "bigslm" else "hidden_states"
        for g, w in zip(getattr(got, key), getattr(want, key), strict=True):
            torch.testing.assert_close(g, w, rtol=0, atol=0)


def test_the_target_code_paths_run_on_the_cached_models(offline):
    bigslm = build_target_model("bigslm", offline["braintuning"]["targets"]["bigslm"], [])
    audio = np.random.default_rng(2).standard_normal(4 * SR).astype(np.float32) * 0.1
    out, empty = bigslm_targets(bigslm, audio, np.array([2 * SR, 4 * SR]), 2 * SR, [[0, 1], []], STORY[:2], SR)
    assert out.shape == (2, 3 * 32) and empty.tolist() == [False, True] and np.all(np.isfinite(out))
    llama = build_target_model("lmtuned_llama", offline["braintuning"]["targets"]["lmtuned_llama"], [])
    out, empty = lm_targets(llama, STORY, [[0, 1, 2], [], [5]])
    assert out.shape == (3, 3 * 32) and empty.tolist() == [False, True, False]


def test_gpt2_stories_tokenise_with_the_real_special_token_roles(offline):
    """GPT-2's <|endoftext|> is its BOS, EOS and unknown token at once: a story still starts with it."""
    gpt2 = build_target_model("lmtuned_gpt2", offline["braintuning"]["targets"]["lmtuned_gpt2"], [])
    ids, last = story_token_ids(gpt2.tokenizer, STORY)
    assert ids[0] == gpt2.tokenizer.convert_tokens_to_ids(ENDOFTEXT) and len(last) == len(STORY)


def test_the_gated_model_is_found_in_the_cache(populated, monkeypatch, tmp_path):
    from braintune.braintuning.plan import gated_access_problem

    _offline(monkeypatch, tmp_path)  # an empty cache, no token
    assert gated_access_problem(TARGET_IDS["lmtuned_llama"], GATED_KEY)
    _offline(monkeypatch, populated[1])
    assert gated_access_problem(TARGET_IDS["lmtuned_llama"], GATED_KEY) is None


def _tree(root: Path) -> dict[str, tuple]:
    return {str(p.relative_to(root)): (os.lstat(p).st_mtime_ns, os.lstat(p).st_ino) for p in root.rglob("*")}


def test_the_layout_is_huggingface_hubs_and_a_rerun_writes_nothing(populated):
    import hashlib

    config, hf_home, _ = populated
    repo = hf_home / "hub" / "models--openai-community--gpt2-medium"
    commit = (repo / "refs" / "main").read_text()
    snapshot = repo / "snapshots" / commit
    assert len(commit) == 40 and [p.name for p in (repo / "snapshots").iterdir()] == [commit]
    names = sorted(p.name for p in snapshot.iterdir())
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", MARKER} <= set(names)
    for path in snapshot.iterdir():
        target = os.readlink(path)
        assert not os.path.isabs(target) and Path(target).parent.as_posix() == "../../blobs"
        assert Path(target).name == hashlib.sha256(path.read_bytes()).hexdigest()
    before = _tree(hf_home)
    assert populate_hub_cache(config, hf_home, TEXTS, SEED) == []
    assert _tree(hf_home) == before
    # other texts train another tokenizer: a new snapshot, refs/main moves to it
    assert populate_hub_cache(config, hf_home, TEXTS[:2], SEED) == list(TARGET_IDS.values())
    assert (repo / "refs" / "main").read_text() != commit and len(list((repo / "snapshots").iterdir())) == 2
    assert populate_hub_cache(config, hf_home, TEXTS, SEED) == list(TARGET_IDS.values())  # back to the first
    assert (repo / "refs" / "main").read_text() == commit


def test_conflicts_and_real_downloads_are_refused(tmp_path):
    config = rehearsal_config()
    config["models"]["hubert_large"]["checkpoint"] = FAMILY_IDS["hubert"]  # another init under the same id
    with pytest.raises(ValueError, match="models.hubert_large.checkpoint and models.hubert.checkpoint"):
        populate_hub_cache(config, tmp_path, TEXTS, SEED)
    config, hf_home = rehearsal_config(), tmp_path / "user"
    real = hf_home / "hub" / "models--facebook--wav2vec2-base"
    (real / "snapshots" / ("a" * 40)).mkdir(parents=True)
    (real / "refs").mkdir()
    (real / "refs" / "main").write_text("a" * 40)
    with pytest.raises(ValueError, match="not a rehearsal model"):
        populate_hub_cache(config, hf_home, TEXTS, SEED)
    assert (real / "refs" / "main").read_text() == "a" * 40
