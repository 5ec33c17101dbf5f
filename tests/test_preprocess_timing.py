"""The TR grid (braintune.preprocess.timing.TRGrid): response rows <-> TRs <-> seconds, docs/protocol.md 2.1 numbers."""

from __future__ import annotations

import numpy as np
import pytest

from braintune.preprocess.timing import RESPDICT_PAD, TRGrid

REFERENCE = dict(tr_s=2.0, sound_start_s=10.0, trim_start=10, trim_end=5)  # the dataset's simulated grid
PAPER = dict(tr_s=2.0045, sound_start_s=10.0, trim_start=10, trim_end=5)


def test_counts_match_ds003020_files():
    # wheretheressmoke: respdict 311 -> 306 simulated TRs -> 291 response rows (docs/protocol.md 1.1)
    grid = TRGrid.from_config(311, REFERENCE)
    assert (grid.n_trs, grid.n_rows) == (306, 291)
    assert grid.n_rows == 311 - 20
    # stagefright 313 -> 293 validation windows; souls respdict 375 -> 355 training windows (docs/protocol.md 1.2)
    assert TRGrid.from_config(313, REFERENCE).n_rows == 293
    assert TRGrid.from_config(375, REFERENCE).n_rows == 355
    assert RESPDICT_PAD == 5


def test_tr_times_are_2k_minus_9():
    grid = TRGrid.from_config(311, REFERENCE)
    k = np.arange(grid.n_trs)
    np.testing.assert_allclose(grid.tr_times, 2.0 * k - 9.0)
    assert grid.tr_times.dtype == np.float64


def test_row_j_is_tr_j_plus_10_centred_at_2j_plus_11():
    grid = TRGrid.from_config(311, REFERENCE)
    j = np.arange(grid.n_rows)
    np.testing.assert_array_equal(grid.row_to_tr(j), j + 10)
    np.testing.assert_allclose(grid.row_times, 2.0 * j + 11.0)
    assert grid.row_times.shape == (291,)
    assert grid.row_slice == slice(10, 301)
    np.testing.assert_allclose(grid.tr_times[grid.row_to_tr(j)], grid.row_times)


def test_brain_tuning_window_of_row_j_is_2j_plus_2_to_2j_plus_12():
    """docs/decisions.md 4: the 10 s (5 TRs) of audio ending at the end of row j's TR."""
    grid = TRGrid.from_config(311, REFERENCE)
    j = np.arange(grid.n_rows)
    end = grid.row_end_times
    np.testing.assert_allclose(end, 2.0 * j + 12.0)
    np.testing.assert_allclose(end - 5 * grid.tr_s, 2.0 * j + 2.0)


def test_audio_span_of_the_grid():
    """The audio covers TRs 5 ... respdict-6, i.e. [0, 2 respdict - 20) s on the 2.0-s grid."""
    grid = TRGrid.from_config(311, REFERENCE)
    start_of_tr5 = grid.tr_times[5] - grid.tr_s / 2
    end_of_last = grid.tr_times[-1] + grid.tr_s / 2
    assert start_of_tr5 == pytest.approx(0.0)
    assert end_of_last == pytest.approx(2 * 311 - 20)


def test_paper_tr_drifts_against_the_simulated_grid():
    ref = TRGrid.from_config(400, REFERENCE)
    paper = TRGrid.from_config(400, PAPER)
    drift = paper.row_times - ref.row_times
    assert np.all(np.diff(drift) > 0)  # grows linearly
    assert drift[-1] == pytest.approx(0.0045 * (ref.row_to_tr(ref.n_rows - 1) + 0.5), rel=1e-9)
    assert 1.5 < drift[-1] < 2.0  # docs/protocol.md 2.1: ~1.8 s over 400 TRs


def test_trims_are_keys():
    grid = TRGrid.from_config(311, dict(REFERENCE, trim_start=0, trim_end=0))
    assert grid.n_rows == grid.n_trs == 306
    np.testing.assert_allclose(grid.row_times, grid.tr_times)


def test_check_rows_names_the_three_numbers():
    grid = TRGrid.from_config(311, REFERENCE)
    grid.check_rows(291, "x.hf5")
    with pytest.raises(ValueError, match=r"x\.hf5: 290 response rows, but respdict gives 311 TRs, i\.e\. 291 rows"):
        grid.check_rows(290, "x.hf5")
