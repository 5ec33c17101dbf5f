"""Preprocessing: the readers (TextGrids, responses), the story length check, missing stories and the
audio job on the generated miniature."""

from __future__ import annotations

import copy
import json
import logging

import h5py
import numpy as np
import pytest
import soundfile as sf
from praatio import textgrid
from praatio.utilities.constants import Interval as PInterval

from braintune.preprocess.audio import load_audio, load_wav
from braintune.preprocess.responses import load_respdict, n_voxels, read_repeats, read_respdict, read_responses
from braintune.preprocess.stories import (
    AudioSettings,
    MissingStoryError,
    available_stories,
    check_story_timing,
    preprocess_audio,
    split_stories,
)
from braintune.preprocess.timing import TRGrid
from braintune.preprocess.transcripts import read_textgrid

TIMING = dict(tr_s=2.0, sound_start_s=10.0, trim_start=10, trim_end=5, test_trim=40)
PRE = dict(sample_rate=16000, grid_tolerance_trs=2, textgrid_tolerance_s=2.0)


def _audio_job(root, stories, outs, timing, table=None):
    """The audio job on the dataset layout under ``root`` (as the rule wires it)."""
    return preprocess_audio(
        AudioSettings.from_config(PRE, timing),
        wavs={s: root / "stimuli" / f"{s}.wav" for s in stories},
        textgrids={s: root / "derivative" / "TextGrids" / f"{s}.TextGrid" for s in stories},
        respdict_path=root / "derivative" / "respdict.json",
        outputs=dict(zip(stories, outs)),
        table=table,
    )


# --- TextGrids ----------------------------------------------------------------------------------


def _textgrid(path, end=3.0):
    grid = textgrid.Textgrid()
    phones = [(0.0, 0.4, "sp"), (0.4, 0.6, "HH"), (0.6, 0.8, "AH0"), (0.8, 1.0, "l"), (1.0, 1.3, "ow1"),
              (1.3, 1.6, "{BR}"), (1.6, 2.0, "K"), (2.0, 2.5, "AE1"), (2.5, 2.7, "T"), (2.7, 3.0, "sil")]
    words = [(0.0, 0.4, "sp"), (0.4, 1.3, "Hello"), (1.3, 1.6, "br"), (1.6, 2.7, "cat"), (2.7, 3.0, "{LG}")]
    grid.addTier(textgrid.IntervalTier("phone", [PInterval(*p) for p in phones], 0, end))
    grid.addTier(textgrid.IntervalTier("word", [PInterval(*w) for w in words], 0, end))
    grid.save(str(path), format="long_textgrid", includeBlankSpaces=True)


def test_textgrid_drops_non_speech_and_strips_stress(tmp_path):
    _textgrid(tmp_path / "s.TextGrid")
    tr = read_textgrid(tmp_path / "s.TextGrid")
    assert [w.label for w in tr.words] == ["hello", "cat"]
    assert [p.label for p in tr.phones] == ["HH", "AH", "L", "OW", "K", "AE", "T"]
    assert (tr.words[1].start, tr.words[1].end) == (1.6, 2.7)
    assert tr.end_s == 3.0
    assert tr.text == "hello cat"


def test_textgrid_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="gone.TextGrid"):
        read_textgrid(tmp_path / "gone.TextGrid")
    (tmp_path / "bad.TextGrid").write_text("not a textgrid")
    with pytest.raises(ValueError, match="bad.TextGrid"):
        read_textgrid(tmp_path / "bad.TextGrid")


# --- responses ----------------------------------------------------------------------------------


def test_responses_float32_nan_counted_logged_zeroed(tmp_path, caplog):
    data = np.arange(24, dtype=np.float64).reshape(6, 4)
    data[1, 2] = np.nan
    data[4, 0] = np.nan
    with h5py.File(tmp_path / "r.hf5", "w") as f:
        f.create_dataset("data", data=data)
        f.create_dataset("individual_repeats", data=np.stack([data, data + 1]))
    with caplog.at_level(logging.WARNING, logger="braintune"):
        out = read_responses(tmp_path / "r.hf5")
    assert out.dtype == np.float32 and out.shape == (6, 4)
    assert out[1, 2] == 0 and out[4, 0] == 0 and out[5, 3] == 23
    assert "2 NaN values set to 0" in caplog.text and "r.hf5" in caplog.text
    reps = read_repeats(tmp_path / "r.hf5", columns=slice(1, 3))
    assert reps.shape == (2, 6, 2) and reps.dtype == np.float32 and reps[1, 1, 1] == 0
    np.testing.assert_array_equal(read_responses(tmp_path / "r.hf5", columns=[0, 3]), out[:, [0, 3]])


def test_truncated_hf5_fails_naming_the_file(tmp_path):
    with h5py.File(tmp_path / "full.hf5", "w") as f:
        f.create_dataset("data", data=np.random.default_rng(0).standard_normal((200, 300)))
    raw = (tmp_path / "full.hf5").read_bytes()
    (tmp_path / "souls.hf5").write_bytes(raw[: len(raw) // 3])
    with pytest.raises(OSError, match=r"souls\.hf5: unreadable or truncated HDF5"):
        read_responses(tmp_path / "souls.hf5")
    with pytest.raises(FileNotFoundError, match="missing.hf5"):
        read_responses(tmp_path / "missing.hf5")


# --- story length check -------------------------------------------------------------------------


def test_story_timing_accepts_consistent_lengths():
    grid = TRGrid.from_config(311, TIMING)
    t = check_story_timing("wheretheressmoke", 601.9, 601.5, grid, 2, 2.0)  # the real file: 601.9 s
    assert t.grid_end_s == pytest.approx(602.0) and t.n_rows == 291
    # the paper's 2.0045-s TR drifts 1.4 s over this story: still within 2 TRs
    check_story_timing("wheretheressmoke", 601.9, 601.5, TRGrid.from_config(311, dict(TIMING, tr_s=2.0045)), 2, 2.0)


@pytest.mark.parametrize("audio, tg, n", [(560.0, 559.0, 311), (601.9, 590.0, 311), (601.9, 601.0, 330)])
def test_story_timing_disagreement_names_story_and_three_numbers(audio, tg, n):
    grid = TRGrid.from_config(n, TIMING)
    with pytest.raises(ValueError) as err:
        check_story_timing("wheretheressmoke", audio, tg, grid, 2, 2.0)
    msg = str(err.value)
    assert "story 'wheretheressmoke'" in msg
    assert f"audio {audio:.2f} s" in msg and f"TextGrid end {tg:.2f} s" in msg and f"respdict {n} TRs" in msg


# --- missing stories ----------------------------------------------------------------------------


def _config(source="openneuro", missing_rule="skip"):
    from conftest import REPO as REPO_ROOT

    from braintune.config import load_config

    config = copy.deepcopy(load_config(REPO_ROOT / "config" / "ds003020.yaml"))
    config["data"]["source"] = source
    config["data"]["missing_story"] = missing_rule
    config["data"]["download"]["manifest"] = "/nonexistent/manifest.tsv"
    return config


def test_uts04_has_no_life_skip_logs_once(caplog):
    from braintune.preprocess import stories as preprocess

    preprocess._warned.clear()
    config = _config()
    with caplog.at_level(logging.WARNING, logger="braintune"):
        val = available_stories(config, "UTS04", "braintuning_val")
        available_stories(config, "UTS04", "braintuning_val")
    assert val == ["stagefright"]
    assert available_stories(config, "UTS01", "braintuning_val") == ["stagefright", "life"]
    assert caplog.text.count("subject UTS04 has no story 'life'") == 1  # logged once, not per call
    assert "life" not in available_stories(config, "UTS04", "all")
    assert len(available_stories(config, "UTS04", "braintuning_train")) == 24


def test_missing_story_error_and_test_story_never_skipped():
    config = _config(missing_rule="error")
    with pytest.raises(MissingStoryError, match="UTS04 has no story 'life'"):
        available_stories(config, "UTS04", "braintuning_val")
    config = _config()
    config["data"]["download"]["known_missing"] = {"UTS02": ["wheretheressmoke"]}
    with pytest.raises(MissingStoryError, match="test story"):
        available_stories(config, "UTS02", "test")
    config["data"]["download"]["known_missing"] = {"UTS02": ["stagefright", "life"]}
    with pytest.raises(MissingStoryError, match="none of the stories of stories.braintuning_val"):
        available_stories(config, "UTS02", "braintuning_val")


def test_manifest_decides_once_fetched(tmp_path):
    from braintune.data.manifest import Entry, write_manifest

    config = _config()
    config["data"]["download"]["manifest"] = str(tmp_path / "m.tsv")
    config["data"]["download"]["known_missing"] = {}
    stories = split_stories(config, "all")
    entries = [Entry(f"derivative/preprocessed_data/{s}/{st}.hf5", 1, "0" * 32, True)
               for s in config["data"]["subjects"] for st in stories if not (s == "UTS07" and st == "buck")]
    write_manifest(tmp_path / "m.tsv", entries)
    assert "buck" not in available_stories(config, "UTS07", "alignment_train")
    assert "life" in available_stories(config, "UTS04", "braintuning_val")  # the manifest has it here
    with pytest.raises(ValueError, match="unknown story split"):
        split_stories(config, "nonsense")


def test_demo_missing_stories_key():
    """The demo's stories are known from data.demo.missing_stories (what the generator leaves out)."""
    config = _config(source="demo")
    config["data"]["demo"]["missing_stories"] = {"UTS01": ["souls"]}
    assert "souls" not in available_stories(config, "UTS01", "braintuning_train")
    assert "souls" in available_stories(config, "UTS02", "braintuning_train")


# --- the audio job on the generated miniature ----------------------------------------------------


def test_preprocess_audio_on_demo(tiny_dataset, tmp_path):
    root, config = tiny_dataset
    stories = split_stories(config, "all")
    outs = [tmp_path / "audio" / f"{s}.npy" for s in stories]
    rows = _audio_job(root, stories, outs, config["timing"], table=tmp_path / "audio" / "timing.tsv")
    assert [r.story for r in rows] == stories
    for story, out in zip(stories, outs):
        audio = load_audio(out)
        assert audio.dtype == np.float32 and audio.ndim == 1
        info = sf.info(str(root / "stimuli" / f"{story}.wav"))
        assert info.samplerate == 44100 and info.channels == 2
        assert abs(audio.shape[0] / 16000 - info.duration) < 1e-3
        np.testing.assert_array_equal(audio, load_wav(root / "stimuli" / f"{story}.wav"))
    table = (tmp_path / "audio" / "timing.tsv").read_text().splitlines()
    assert table[0].split("\t")[:3] == ["story", "audio_s", "textgrid_end_s"] and len(table) == len(stories) + 1


def test_preprocess_audio_fails_on_respdict_mismatch(tiny_dataset, tmp_path):
    import shutil

    root, config = tiny_dataset
    copy_root = tmp_path / "ds"
    shutil.copytree(root / "stimuli", copy_root / "stimuli")
    shutil.copytree(root / "derivative" / "TextGrids", copy_root / "derivative" / "TextGrids")
    respdict = json.loads((root / "derivative" / "respdict.json").read_text())
    respdict["souls"] += 10  # 20 s more TRs than audio
    (copy_root / "derivative" / "respdict.json").write_text(json.dumps(respdict))
    with pytest.raises(ValueError, match=rf"story 'souls'.*respdict {respdict['souls']} TRs"):
        _audio_job(copy_root, ["souls"], [tmp_path / "souls.npy"], config["timing"])
    assert not (tmp_path / "souls.npy").exists()


# --- readers name the file ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, match",
    [
        ("{not json", r"respdict.json: not valid JSON"),
        ("[1, 2]", r"respdict.json: expected a JSON object"),
        ('{"souls": true}', r"respdict.json: key 'souls': TR count True is not a positive integer"),
        ('{"souls": 300.5}', r"respdict.json: key 'souls': TR count 300.5 is not a positive integer"),
        ('{"souls": 0}', r"respdict.json: key 'souls': TR count 0"),
    ],
)
def test_invalid_respdict_fails_naming_the_file_and_key(tmp_path, text, match):
    (tmp_path / "derivative").mkdir()
    path = tmp_path / "derivative" / "respdict.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_respdict(path)
    with pytest.raises(ValueError, match=match):
        load_respdict(tmp_path)


def test_garbage_or_truncated_response_file_fails_naming_it(tiny_dataset, tmp_path):
    root, config = tiny_dataset
    good = root / "derivative" / "preprocessed_data" / "UTS01" / "souls.hf5"
    garbage = tmp_path / "garbage.hf5"
    garbage.write_bytes(b"this is not an HDF5 file" * 100)
    truncated = tmp_path / "truncated.hf5"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    for path in (garbage, truncated):
        with pytest.raises(OSError, match=rf"{path.name}: unreadable or truncated HDF5 file"):
            n_voxels(path)
        with pytest.raises(OSError, match=rf"{path.name}: unreadable or truncated HDF5 file"):
            read_responses(path)
    other = tmp_path / "other.hf5"
    with h5py.File(other, "w") as f:
        f["values"] = np.zeros((3, 4))
    with pytest.raises(KeyError, match=r"other.hf5: no dataset 'data'"):
        n_voxels(other)


def test_infinite_responses_fail_naming_the_file(tmp_path):
    path = tmp_path / "inf.hf5"
    data = np.zeros((5, 3))
    data[2, 1] = np.inf
    with h5py.File(path, "w") as f:
        f["data"] = data
    with pytest.raises(ValueError, match=r"inf.hf5: dataset 'data' holds 1 infinite values"):
        read_responses(path)
