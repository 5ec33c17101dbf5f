"""The features stage on the generated ds003020 miniature (conftest's ``tiny_dataset``): the design
rows line up with the response files, and the speech descriptors follow the known TextGrids."""

import numpy as np

from braintune.preprocess.audio import load_wav
from braintune.config import all_stories
from braintune.features import descriptors, design, windows
from braintune.preprocess.responses import load_respdict, read_responses, response_path
from braintune.preprocess.timing import TRGrid
from braintune.preprocess.transcripts import read_textgrid


def test_design_rows_match_responses(tiny_dataset, tmp_path):
    root, config = tiny_dataset
    stories = sorted(all_stories(config))
    audio_paths = {}
    for story in stories:
        audio_paths[story] = tmp_path / f"{story}.npy"
        np.save(audio_paths[story], load_wav(root / "stimuli" / f"{story}.wav"))
    family = config["models"]["whisper"]
    outs = {s: tmp_path / "features" / f"{s}.h5" for s in stories}
    windows.run_feature_job(family, windows.WindowSettings.from_config(config["features"]), audio_paths, outs, None, "cpu",
                            config["features"]["batch_size"])
    layers = {layer: tmp_path / "design" / f"layer_{layer}.h5" for layer in family["layers"]}
    respdict = load_respdict(root)
    train = config["stories"]["alignment_train"]
    test = config["stories"]["test"]
    settings = design.DesignSettings.from_config(config["features"], config["timing"], train, test)
    design.run_model_design_job(settings, outs, layers, root / "derivative" / "respdict.json")
    d = design.read_design(layers[family["layers"][-1]])
    subject = config["data"]["subjects"][0]
    n_rows = [read_responses(response_path(root, subject, s)).shape[0] for s in train]
    assert d.X_train.shape[0] == sum(n_rows)
    assert np.bincount(d.train_story).tolist() == n_rows
    n_test = read_responses(response_path(root, subject, test)).shape[0] - config["timing"]["test_trim"]
    assert d.X_test.shape == (n_test, 32 * len(config["features"]["delays"]))
    zscored, _ = design.read_zscored(layers[family["layers"][-1]], [s for s in stories if s != test], test)
    for story in stories:
        rows = TRGrid.from_config(respdict[story], config["timing"]).n_rows
        assert zscored[story].shape[0] == (rows - config["timing"]["test_trim"] if story == test else rows)
    assert np.isfinite(d.X_train).all() and np.abs(d.X_train).max() > 0


def test_descriptors_follow_the_transcripts(tiny_dataset, tmp_path):
    root, config = tiny_dataset
    stories = sorted(all_stories(config))
    cfg = {**config["features"]["descriptors"], "articulation_downsample": "count"}
    outs = {s: tmp_path / f"{s}.h5" for s in stories}
    inventories = descriptors.run_descriptors_job(
        descriptors.DescriptorSettings.from_config(cfg, config["features"], config["timing"]),
        {s: root / "stimuli" / f"{s}.wav" for s in stories},
        {s: root / "derivative" / "TextGrids" / f"{s}.TextGrid" for s in stories},
        root / "derivative" / "respdict.json", outs, tmp_path / "inventory.json",
    )
    import h5py

    respdict = load_respdict(root)
    for story in stories:
        grid = TRGrid.from_config(respdict[story], config["timing"])
        phones = read_textgrid(root / "derivative" / "TextGrids" / f"{story}.TextGrid").phones
        with h5py.File(outs[story]) as h5:
            art, di, spec = h5["articulation"][()], h5["diphone"][()], h5["powspec"][()]
        # every phone is voiced or unvoiced: the per-TR counts add up to the phones on the grid
        names = list(descriptors.articulation_table()[0])
        counts = art[:, names.index("voiced")] + art[:, names.index("unvoiced")]
        on_grid = (descriptors.tr_index_of(np.array([(p.start + p.end) / 2 for p in phones]), grid) >= 0).sum()
        assert counts.sum() == on_grid == len(phones)
        speech = counts > 0
        assert di[~speech].sum() <= 2  # a diphone boundary can fall just across a TR edge
        assert di[speech].sum(axis=1).mean() > 2
        # before the audio starts (first sound_start_s / tr_s TRs) there is only the floor
        silent = grid.tr_times + grid.tr_s / 2 <= 0
        assert silent.sum() >= 4
        assert spec[silent].max() < spec[speech].mean(axis=0).min()
    assert len(inventories["diphone"]) > 50 and all(d.count("_") == 1 for d in inventories["diphone"])
