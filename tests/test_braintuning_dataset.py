"""Paired dataset: windows against docs/protocol.md 2.2, zero padding, batch plans."""

import numpy as np
import pytest

from braintune.braintuning.dataset import PairedDataset, StoryPairs, cut_windows, window_ends, window_samples
from braintune.preprocess.timing import TRGrid

SR = 16000


def _ramp_story(n_respdict=40, tr_s=2.0, trim_start=10, name="s"):
    grid = TRGrid(n_respdict=n_respdict, tr_s=tr_s, sound_start_s=10.0, trim_start=trim_start, trim_end=5)
    audio = (np.arange(int(2 * (n_respdict - 10) * SR)) + 1).astype(np.float32)  # exact in float32 (< 2**24)
    targets = np.arange(grid.n_rows, dtype=np.float32)[:, None] + np.zeros((1, 4), np.float32)
    window = window_samples(tr_s, 5, SR)
    return grid, audio, StoryPairs.from_grid(name, audio, grid, targets, SR, window), window


def test_pairing_matches_protocol_2_2():
    grid, audio, pairs, window = _ramp_story()
    assert window == 160_000
    ds = PairedDataset([pairs], window)
    waves, targets = ds.samples(np.arange(grid.n_rows))
    for j in range(grid.n_rows):
        lo, hi = (2 * j + 2) * SR, (2 * j + 12) * SR  # row j <-> audio [2j + 2, 2j + 12) s
        np.testing.assert_array_equal(waves[j].numpy(), audio[lo:hi])
        assert targets[j, 0] == j


def test_windows_before_story_start_are_zero_padded():
    grid, audio, pairs, window = _ramp_story(trim_start=0)
    ends = window_ends(grid, SR)
    assert ends[0] == -8 * SR  # TR 0 ends 8 s before the audio starts
    waves = cut_windows(audio, ends[:8], window)
    assert not waves[0].any()
    # TR 5 ends at 2 s: 8 s of zeros then the first 2 s of audio
    np.testing.assert_array_equal(waves[5, : 8 * SR], 0)
    np.testing.assert_array_equal(waves[5, 8 * SR :], audio[: 2 * SR])


def test_paper_tr_windows_are_fractional_and_monotone():
    grid, _, pairs, window = _ramp_story(tr_s=2.0045)
    assert window == round(5 * 2.0045 * SR)
    steps = np.diff(pairs.ends)
    assert set(steps.tolist()) <= {32071, 32072}


def test_row_count_mismatch_names_story():
    grid, audio, _, window = _ramp_story()
    with pytest.raises(ValueError, match="story 'bad'"):
        StoryPairs.from_grid("bad", audio, grid, np.zeros((grid.n_rows + 1, 2), np.float32), SR, window)


def test_batch_plans():
    stories = [_ramp_story(40, name="a")[2], _ramp_story(36, name="b")[2]]
    ds = PairedDataset(stories, 160_000)
    plan = ds.plan(4, shuffle=False)._batches
    # reference order: stories in order, consecutive rows, no batch spans two stories
    assert np.array_equal(np.concatenate(plan), np.arange(ds.n_samples))
    assert all(np.searchsorted(ds.offsets, b[0], "right") == np.searchsorted(ds.offsets, b[-1], "right") for b in plan)
    assert len(plan) == 5 + 4  # 20 and 16 rows (respdict - 20) in batches of 4
    s1 = np.concatenate(ds.plan(4, True, seed=3, epoch=1)._batches)
    s2 = np.concatenate(ds.plan(4, True, seed=3, epoch=1)._batches)
    s3 = np.concatenate(ds.plan(4, True, seed=3, epoch=2)._batches)
    assert np.array_equal(s1, s2) and not np.array_equal(s1, s3)
    assert np.array_equal(np.sort(s1), np.arange(ds.n_samples))
