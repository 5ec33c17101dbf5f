"""Alignment on the generated ds003020 miniature (tests/conftest.py ``tiny_dataset``): an encoding
model on the generator's true semantic drivers aligns the planted language voxels far better than the
background, and their normalised alignment stays near or below 1."""

import h5py
import numpy as np

from braintune.alignment.encoding import CVSettings, run_alignment
from braintune.alignment.ridge import huth_alphas
from braintune.config import all_stories
from braintune.data import demo, demo_text
from braintune.data.demo_settings import ResponseSettings
from braintune.features.design import make_delayed, zscore
from braintune.preprocess.noise_ceiling import write_noise_ceiling
from braintune.preprocess.responses import load_respdict, response_path
from test_alignment_encoding import alignment_settings
from test_alignment_ridge import ridge_settings


def test_true_semantic_drivers_align_language_voxels_below_the_ceiling(tiny_dataset, tmp_path):
    root, config = tiny_dataset
    subject = config["data"]["subjects"][0]
    test, trim = config["stories"]["test"], config["timing"]["test_trim"]
    train = config["stories"]["alignment_train"]
    respdict = load_respdict(root)
    vocab = demo_text.vocabulary()
    _, vectors = demo_text.semantic_vectors(config["data"]["demo"]["seed"], config["data"]["demo"]["semantic_dim"],
                                            config["data"]["demo"]["within_group_sd"])
    word_vectors = {w: vectors[i] for i, (w, _) in enumerate(vocab)}
    hrf = demo.spm_hrf(demo.FINE_DT)
    settings = ResponseSettings.from_config(config["data"]["demo"], config["timing"], all_stories(config), test,
                                            config["data"]["subjects"])
    sem = {s: demo.story_drivers(root, s, respdict[s], settings, word_vectors, hrf)[1]
           for s in all_stories(config) if s in train + [test]}

    delays = [0, 1]  # the drivers are already convolved with the HRF
    zscored = {s: zscore(sem[s]) for s in train}
    test_z = zscore(sem[test][trim:])
    design = tmp_path / "layer_0.h5"
    with h5py.File(design, "w") as h:
        h["X_train"] = np.concatenate([make_delayed(zscored[s], delays) for s in train])
        h["X_test"] = make_delayed(test_z, delays)
        h["train_story"] = np.repeat(np.arange(len(train)), [len(zscored[s]) for s in train])
        h.attrs["train_stories"] = train
        h.attrs["test_story"] = test
        h.attrs["delays"] = delays

    with h5py.File(config["data"]["demo"]["ground_truth"]) as gt:
        language = gt[f"{subject}/regions/language"][...]
        true_nc = gt[f"{subject}/nc"][...]
    nc = write_noise_ceiling(response_path(root, subject, test), tmp_path / "nc.h5", 0.4, "trimmed", trim)
    with h5py.File(tmp_path / "regions.h5", "w") as h:
        h["late_language"] = language
        h["background"] = ~language
    labels = {"family": "truth", "variant": "semantic", "subject": subject, "config_hash": "t"}
    align = alignment_settings(
        ridge_settings(alphas=huth_alphas(1, 4, 15)),
        cv=CVSettings(n_boots=3, chunk_len=2, held_out_fraction=0.25, chunk_scope="stacked", seed=config["seed"]),
        test_trim=trim,
    )
    responses = {s: response_path(root, subject, s) for s in train + [test]}
    table = run_alignment({0: design}, responses, tmp_path / "nc.h5", tmp_path / "regions.h5", align,
                          tmp_path / "out.h5", tmp_path / "out.tsv", labels)
    with h5py.File(tmp_path / "out.h5") as h:
        rho, nc_norm = h["layer_0/rho"][...], h["layer_0/nc_norm"][...]
    strong = language & (true_nc > 0.6)
    assert strong.sum() >= 5
    assert np.mean(rho[strong]) > np.mean(rho[~language]) + 0.2
    rows = table.set_index("region")
    assert rows.loc["late_language", "B"] > rows.loc["background", "B"] + 0.2
    # the true model reaches, but on average does not exceed, the noise ceiling
    assert 0.5 < np.nanmean(nc_norm[strong & (nc > 0.4)]) < 1.1
