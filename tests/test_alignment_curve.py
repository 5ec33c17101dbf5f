"""Data-efficiency curve: nested subsets, one point against the alignment stage's own fit (planted data
of test_alignment_encoding), CV feasibility at demo story lengths, fold reduction, paired tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from test_alignment_encoding import (
    TEST,
    TRAIN,
    alignment_settings,
    make_planted,
    responses_of,
)

from braintune.alignment import curve as K
from braintune.alignment.encoding import CVSettings, load_responses, run_alignment
from braintune.features.design import read_design
from braintune.preprocess.noise_ceiling import read_noise_ceiling
from braintune.preprocess.regions import read_regions

STORIES = ["souls", "howtodraw", "alternateithicatom", "hangtime", "avatar", "legacy", "stagefright"]
#: Train rows per story of the demo's design (stories.alignment_train order).
DEMO_ROWS = [29, 27, 38, 32, 33, 38, 24]


def test_nested_subsets_and_their_errors():
    subsets = K.nested_subsets(STORIES, [1, 3, 7])
    assert subsets == {1: ["souls"], 3: STORIES[:3], 7: STORIES}
    assert all(set(subsets[a]) <= set(subsets[b]) for a, b in [(1, 3), (3, 7)])
    for bad, why in [([3, 1], "sorted and unique"), ([1, 1], "sorted and unique"), ([0, 2], r"1\.\.7"),
                     ([2, 8], r"1\.\.7"), ([], "no sizes"), ([1.5], "integers"), ([True], "integers")]:
        with pytest.raises(ValueError, match=f"alignment.curve.sizes: .*{why}"):
            K.nested_subsets(STORIES, bad)
    with pytest.raises(ValueError, match="repeats a story"):
        K.nested_subsets(["a", "b", "a"], [1])


def test_demo_story_lengths_need_three_stories_with_the_reference_chunks():
    reference = CVSettings(n_boots=3, chunk_len=20, held_out_fraction=0.25, chunk_scope="stacked", seed=0)
    with pytest.raises(ValueError, match=r"alignment.curve.sizes: the 1-story subset \(29 train rows\).*alignment.cv.chunk_len \(now 20\)"):
        K.check_sizes(reference, DEMO_ROWS, [1, 3, 7])
    with pytest.raises(ValueError, match=r"the 2-story subset \(56 train rows\)"):
        K.check_sizes(reference, DEMO_ROWS, [2, 7])
    assert K.check_sizes(reference, DEMO_ROWS, [3, 5, 7]) == {3: 94, 5: 159, 7: 221}
    short = CVSettings(n_boots=3, chunk_len=5, held_out_fraction=0.25, chunk_scope="story", seed=0)
    assert K.check_sizes(short, DEMO_ROWS, list(range(1, 8)))[1] == 29
    assert K.minutes(221, 2.0045) == pytest.approx(221 * 2.0045 / 60)
    with pytest.raises(ValueError, match="timing.tr_s"):
        K.minutes(10, 0.0)


def _inputs(d):
    """The arrays run_alignment fits for layer 2, loaded as it loads them."""
    design = read_design(d["designs"][2])
    settings = alignment_settings()
    responses = load_responses(responses_of(d["root"], d["subject"]), design.train_stories, design.train_story,
                               design.test_story, settings.test_trim, settings.missing_story, d["nc"])
    nc, nc_mask = read_noise_ceiling(d["nc"])
    keep = responses.keep_rows
    return {"X_train": design.X_train[keep], "Y_train": responses.Y_train, "story_index": design.train_story[keep],
            "stories": design.train_stories, "X_test": design.X_test, "Y_test": responses.Y_test, "nc": nc,
            "nc_mask": nc_mask, "region_masks": read_regions(d["regions"])}


@pytest.mark.parametrize("voxels", ["all", "nc_mask"])
def test_curve_point_is_the_alignment_stage_fit_on_the_subset_rows(tmp_path, voxels):
    d = make_planted(tmp_path, layers=(2,))
    settings = alignment_settings(voxels=voxels)
    inputs = _inputs(d)
    columns = ["region", "layer", "n_voxels", "B", "rho_mean"]

    def pipeline(stories, name):
        """run_alignment itself, on the stories given a response file (the others are skipped)."""
        paths = responses_of(d["root"], d["subject"], (*stories, TEST))
        table = run_alignment({2: d["designs"][2]}, paths, d["nc"], d["regions"], settings, tmp_path / f"{name}.h5",
                              tmp_path / f"{name}.tsv", {"subject": d["subject"]})
        return table[columns].sort_values("region").reset_index(drop=True)

    # every story: the stage's full fit, bit for bit
    full = K.curve_point(**inputs, subset=TRAIN, settings=settings, layer=2, extra={"subject": d["subject"]})
    assert set(full["n_stories"]) == {4} and set(full["n_rows"]) == {inputs["X_train"].shape[0]}
    pd.testing.assert_frame_equal(full[columns].sort_values("region").reset_index(drop=True), pipeline(TRAIN, "full"),
                                  check_exact=True)
    # the first two stories: the stage's fit when only those stories have responses, bit for bit
    two = K.curve_point(**inputs, subset=TRAIN[:2], settings=settings, layer=2)
    assert set(two["n_rows"]) == {150 + 140}
    pd.testing.assert_frame_equal(two[columns].sort_values("region").reset_index(drop=True), pipeline(TRAIN[:2], "two"),
                                  check_exact=True)
    b_full = full.set_index("region").loc["late_language", "B"]
    b_two = two.set_index("region").loc["late_language", "B"]
    assert b_two != b_full and b_two > 0.5  # fewer rows, another fit; the planted voxels still align


def test_curve_point_fails_clearly_on_short_subsets_and_unknown_stories(tmp_path):
    d = make_planted(tmp_path, layers=(2,))
    inputs = _inputs(d)
    long_chunks = alignment_settings(cv=CVSettings(n_boots=3, chunk_len=100, held_out_fraction=0.25,
                                                   chunk_scope="stacked", seed=0))
    with pytest.raises(ValueError, match=r"alignment.curve.sizes: the 1-story subset \(150 train rows\).*alignment.cv.chunk_len"):
        K.curve_point(**inputs, subset=TRAIN[:1], settings=long_chunks, layer=2)
    with pytest.raises(KeyError, match=r"subset stories \['zeta'\]"):
        K.curve_point(**inputs, subset=["alpha", "zeta"], settings=alignment_settings(), layer=2)


def test_fold_reduction_interpolates_between_curve_points():
    curve = {1: 0.1, 2: 0.3, 4: 0.5}
    mins = {1: 10.0, 2: 20.0, 4: 40.0}
    got = K.fold_reduction(curve, 0.4, mins)
    # reaches 0.4 halfway between (20 min, 0.3) and (40 min, 0.5)
    assert got.minutes_needed == pytest.approx(30.0) and got.full_minutes == 40.0
    assert got.fold == pytest.approx(40 / 30) and not got.lower_bound and got.reason == ""
    assert K.fold_reduction(curve, 0.3, mins).minutes_needed == pytest.approx(20.0)  # exactly at a point
    # the first crossing counts, not a later one of a non-monotone curve
    wavy = K.fold_reduction({1: 0.1, 2: 0.5, 3: 0.2, 4: 0.6}, 0.4, {1: 10, 2: 20, 3: 30, 4: 40})
    assert wavy.minutes_needed == pytest.approx(17.5)
    never = K.fold_reduction(curve, 0.6, mins)
    assert np.isnan(never.fold) and np.isnan(never.minutes_needed) and "never reached" in never.reason
    first = K.fold_reduction(curve, 0.05, mins)
    assert first.lower_bound and first.minutes_needed == 10.0 and first.fold == 4.0 and "lower bound" in first.reason
    for reference in (0.0, -0.01):  # no alignment to reach: the demo's tiny models
        none = K.fold_reduction(curve, reference, mins)
        assert np.isnan(none.fold) and not none.lower_bound and "not above 0" in none.reason
    nan = K.fold_reduction({1: 0.1, 2: float("nan")}, 0.05, {1: 10, 2: 20})
    assert np.isnan(nan.fold) and "NaN" in nan.reason and "[2]" in nan.reason
    with pytest.raises(KeyError, match=r"no minutes for sizes \[4\]"):
        K.fold_reduction(curve, 0.4, {1: 10, 2: 20})
    with pytest.raises(ValueError, match="grow with the size"):
        K.fold_reduction(curve, 0.4, {1: 10, 2: 5, 4: 40})


def test_curve_tests_pair_participants_at_every_size():
    rng = np.random.default_rng(0)
    subjects = [f"UTS0{i}" for i in range(1, 9)]
    reference = {s: {1: 0.1 + 0.05 * rng.random(), 3: 0.3 + 0.05 * rng.random()} for s in subjects}
    # size 1: the model is better for every participant; size 3: differences of both signs
    shift = dict(zip(subjects, [0.04, -0.03, 0.02, -0.01, 0.05, -0.06, 0.015, -0.025], strict=True))
    model = {s: {1: reference[s][1] + 0.1 + 0.01 * i, 3: reference[s][3] + shift[s]} for i, s in enumerate(subjects)}
    table = K.curve_tests(model, reference).set_index("size")
    a = [model[s][1] for s in subjects]
    b = [reference[s][1] for s in subjects]
    assert table.loc[1, "p"] == pytest.approx(stats.wilcoxon(a, b).pvalue) == pytest.approx(2 / 2**8)
    assert table.loc[1, "n"] == 8 and table.loc[1, "mean_model"] == pytest.approx(np.mean(a))
    assert table.loc[1, "mean_reference"] == pytest.approx(np.mean(b))
    assert table.loc[3, "p"] > 0.5
    assert table.loc[1, "p_holm"] == pytest.approx(2 * table.loc[1, "p"])  # Holm over the two sizes
    greater = K.curve_tests(model, reference, alternative="greater").set_index("size")
    assert greater.loc[1, "p"] == pytest.approx(1 / 2**8)
    with pytest.raises(ValueError, match=r"model only \['UTS09'\]"):
        K.curve_tests({**model, "UTS09": model["UTS01"]}, reference)
    with pytest.raises(ValueError, match="reference curve of UTS01 has sizes"):
        K.curve_tests(model, {**reference, "UTS01": {1: 0.1}})


def test_run_curve_reads_like_the_stage_and_its_largest_size_is_the_full_fit(tmp_path):
    """run_curve (the rule's job): every layer x size; at every story each layer's rows are run_alignment's."""
    d = make_planted(tmp_path, layers=(1, 2))
    settings = alignment_settings()
    paths = responses_of(d["root"], d["subject"])
    labels = {"subject": d["subject"]}
    full = run_alignment(d["designs"], paths, d["nc"], d["regions"], settings, tmp_path / "a.h5", tmp_path / "a.tsv",
                         labels)
    table = K.run_curve(d["designs"], paths, d["nc"], d["regions"], settings, [2, 4], 2.0, tmp_path / "c.tsv", labels)
    assert sorted(set(zip(table["layer"], table["n_stories"]))) == [(1, 2), (1, 4), (2, 2), (2, 4)]
    assert table["minutes"].tolist() == pytest.approx((table["n_rows"] * 2.0 / 60).tolist())
    columns = ["region", "layer", "n_voxels", "B", "rho_mean"]
    largest = table[table["n_stories"] == 4][columns].sort_values(["layer", "region"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(largest, full[columns].sort_values(["layer", "region"]).reset_index(drop=True),
                                  check_exact=True)
    assert pd.read_csv(tmp_path / "c.tsv", sep="\t").shape == table.shape
    # every size is checked before the first fit: nothing is written for an impossible one
    short = alignment_settings(cv=CVSettings(n_boots=3, chunk_len=100, held_out_fraction=0.25, chunk_scope="stacked",
                                             seed=0))
    with pytest.raises(ValueError, match=r"alignment.curve.sizes: the 1-story subset"):
        K.run_curve(d["designs"], paths, d["nc"], d["regions"], short, [1, 4], 2.0, tmp_path / "x.tsv", labels)
    assert not (tmp_path / "x.tsv").exists()



def test_run_curve_adds_stories_in_the_configured_order(tmp_path):
    """alignment.curve.order decides which stories a subset holds; a subset's fit does not depend on the order
    of its own stories (its rows keep the design's order)."""
    d = make_planted(tmp_path, layers=(2,))
    settings = alignment_settings()
    paths = responses_of(d["root"], d["subject"])
    labels = {"subject": d["subject"]}
    columns = ["region", "layer", "n_voxels", "B", "rho_mean", "n_rows"]

    def first_two(order):
        table = K.run_curve(d["designs"], paths, d["nc"], d["regions"], settings, [2, 4], 2.0, tmp_path / "c.tsv",
                            labels, order=order)
        return table[table["n_stories"] == 2][columns].reset_index(drop=True)

    default = first_two(None)
    last_two = first_two([TRAIN[3], TRAIN[2], TRAIN[0], TRAIN[1]])
    pd.testing.assert_frame_equal(last_two, first_two([TRAIN[2], TRAIN[3], TRAIN[1], TRAIN[0]]), check_exact=True)
    assert not np.allclose(default["B"], last_two["B"])
    pd.testing.assert_frame_equal(default, first_two([TRAIN[1], TRAIN[0], *TRAIN[2:]]), check_exact=True)
    with pytest.raises(ValueError, match=r"alignment.curve.order: .* must hold every train story"):
        K.run_curve(d["designs"], paths, d["nc"], d["regions"], settings, [2], 2.0, tmp_path / "x.tsv", labels,
                    order=list(TRAIN[:-1]))
    assert not (tmp_path / "x.tsv").exists()
