"""The generated ds003020 miniature (braintune.data.demo): layout, formats, determinism, truth."""

import json
import re
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile
from conftest import REPO, demo_settings, generate_demo, tiny_config
from praatio import textgrid

from braintune.preprocess.audio import load_wav
from braintune.config import ConfigError, all_stories, load_config, validate_config
from braintune.data import demo
from braintune.data.demo_settings import response_files, stimulus_files
from braintune.preprocess.noise_ceiling import cc_max  # docs/protocol.md 1.3 (Schoppe et al.), TP = 1
from braintune.preprocess.responses import load_respdict, read_repeats, read_responses, response_path
from braintune.preprocess.timing import TRGrid
from braintune.preprocess.transcripts import read_textgrid
from braintune.utils import file_md5

ARPABET = re.compile(r"^(AA|AE|AH|AO|AW|AY|EH|ER|EY|IH|IY|OW|OY|UH|UW)[012]$|^(B|CH|D|DH|F|G|HH|JH|K|L|M|N|NG|P|R|S|SH|T|TH|V|W|Y|Z|ZH)$")
PAUSES = {"sp", "br"}


def dataset_files(config: dict) -> dict[str, list[str]]:
    """Every file the generator writes under the dataset root, by kind."""
    stimuli, responses = demo_settings(config)
    return {**stimulus_files(stimuli), "responses": response_files(responses)}


def test_every_file_of_the_layout_exists(tiny_dataset):
    root, config = tiny_dataset
    files = dataset_files(config)
    assert len(files["responses"]) == 2 * 4 and len(files["wav"]) == 4
    for paths in files.values():
        for rel in paths:
            assert (root / rel).is_file(), rel
    assert Path(config["data"]["demo"]["ground_truth"]).is_file()


def test_respdict_wav_and_tr_grid_agree(tiny_dataset):
    root, config = tiny_dataset
    respdict = load_respdict(root)
    assert list(respdict) == sorted(all_stories(config))
    for story, n_trs in respdict.items():
        grid = TRGrid.from_config(n_trs, config["timing"])
        info = soundfile.info(root / "stimuli" / f"{story}.wav")
        assert (info.samplerate, info.channels, info.subtype, info.format) == (44100, 2, "PCM_16", "WAV")
        # docs/protocol.md 2.1: the audio covers the grid from -sound_start to the end of the last TR
        expected = (grid.n_trs) * grid.tr_s - grid.sound_start_s
        assert abs(info.frames / 44100 - expected) < 1.5 / 44100
        stereo, _ = soundfile.read(root / "stimuli" / f"{story}.wav", dtype="int16")
        peak = np.abs(stereo.astype(np.int32)).max()
        assert np.array_equal(stereo[:, 0], stereo[:, 1]) and 3000 < peak <= 0.9 * 32768  # no clipping


def test_responses_have_the_real_keys_shapes_and_dtypes(tiny_dataset):
    root, config = tiny_dataset
    respdict = load_respdict(root)
    test = config["stories"]["test"]
    n_vox = None
    for subject in config["data"]["subjects"]:
        for story in all_stories(config):
            path = response_path(root, subject, story)
            with h5py.File(path, "r") as f:
                expected_keys = {"data", "individual_repeats"} if story == test else {"data"}
                assert set(f.keys()) == expected_keys
                data = f["data"]
                assert data.dtype == np.float64 and data.shape[0] == respdict[story] - 20
                n_vox = n_vox or data.shape[1]
                assert data.shape[1] == n_vox
                if story == test:
                    reps = f["individual_repeats"]
                    assert reps.dtype == np.float64
                    assert reps.shape == (config["data"]["demo"]["n_repeats"], *data.shape)
                    # data is the repeat mean (both rounded to the storage quantum)
                    assert np.abs(reps[...].mean(axis=0) - data[...]).max() <= config["data"]["demo"]["quantum"]
            TRGrid.from_config(respdict[story], config["timing"]).check_rows(data.shape[0], str(path))
            y = read_responses(path)
            assert y.dtype == np.float32 and np.isfinite(y).all()
            # each presentation is z-scored over time
            assert np.allclose(y.mean(axis=0), 0, atol=0.01) and np.allclose(y.std(axis=0, ddof=1), 1, atol=0.02) or story == test
        assert read_repeats(response_path(root, subject, test)).shape[0] == config["data"]["demo"]["n_repeats"]


def test_voxels_are_s1_fullhead_voxels(tiny_dataset):
    root, config = tiny_dataset
    with h5py.File(config["data"]["demo"]["ground_truth"], "r") as gt:
        index = gt["voxels/volume_index"][...]
        shape = tuple(gt["voxels"].attrs["volume_shape"])
        assert gt.attrs["pycortex_subject"] == "S1" and gt.attrs["pycortex_xfm"] == "fullhead"
        assert len(index) == read_responses(response_path(root, "UTS01", "souls")).shape[1]
    import nibabel

    thin = np.asarray(
        nibabel.load(Path(config["data"]["demo"]["pycortex_filestore"]) / "S1" / "transforms" / "fullhead" / "mask_thin.nii.gz").get_fdata()
    ).T.astype(bool)
    assert shape == thin.shape == (31, 100, 100)
    stride = config["data"]["demo"]["voxel_stride"]
    assert np.array_equal(index, np.flatnonzero(thin.ravel())[::stride])


def test_textgrids_read_back_with_praatio_and_the_core_reader(tiny_dataset):
    root, config = tiny_dataset
    respdict = load_respdict(root)
    for story in all_stories(config):
        path = root / "derivative" / "TextGrids" / f"{story}.TextGrid"
        grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=True)
        phones, words = (grid.getTier(name).entries for name in grid.tierNames)
        assert grid.tierNames == ("phone", "word")
        duration = (respdict[story] - 5) * config["timing"]["tr_s"] - config["timing"]["sound_start_s"]
        for tier in (phones, words):
            assert tier[0].start == 0 and abs(tier[-1].end - duration) < 1e-5
            assert all(abs(a.end - b.start) < 1e-9 for a, b in zip(tier, tier[1:]))  # contiguous
        assert all(ARPABET.match(p.label) or p.label in PAUSES for p in phones)
        assert {p.label for p in phones} & PAUSES and any(ARPABET.match(p.label) for p in phones)
        # every word boundary is a phone boundary
        phone_edges = {round(p.start, 6) for p in phones} | {round(phones[-1].end, 6)}
        assert all(round(w.start, 6) in phone_edges and round(w.end, 6) in phone_edges for w in words)
        # the pause labels of both tiers agree
        pause_words = {(round(w.start, 6), w.label) for w in words if w.label in PAUSES}
        assert pause_words <= {(round(p.start, 6), p.label) for p in phones if p.label in PAUSES}
        transcript = read_textgrid(path)
        assert len(transcript.words) == sum(w.label not in PAUSES for w in words) > 20
        assert all(w.label.isalpha() or "'" in w.label for w in transcript.words)
        assert all(not p.label[-1].isdigit() for p in transcript.phones)


def test_word_onsets_agree_with_the_audio(tiny_dataset):
    root, config = tiny_dataset
    story = config["stories"]["braintuning_train"][0]
    audio = load_wav(root / "stimuli" / f"{story}.wav", sample_rate=16000).astype(np.float64)
    words = read_textgrid(root / "derivative" / "TextGrids" / f"{story}.TextGrid").words
    frame = 160  # 10 ms
    energy = np.sqrt(np.convolve(audio**2, np.ones(frame) / frame, mode="same"))

    def rms(a, b):
        return energy[int(a * 16000) : int(b * 16000)].mean()

    # words after a pause: silent before the onset, loud right after it
    onsets = [b.start for a, b in zip(words, words[1:]) if b.start - a.end > 0.12]
    assert len(onsets) >= 3
    for t in onsets:
        assert rms(t + 0.01, t + 0.1) > 10 * rms(t - 0.1, t - 0.02), t
    inside = np.array([rms(w.start, w.end) for w in words])
    assert np.median(inside) > 20 * rms(0, words[0].start - 0.05)


def test_generation_is_deterministic(tiny_dataset, tmp_path):
    root, config = tiny_dataset
    again = tiny_config(tmp_path / "same")
    generate_demo(again)
    other = tiny_config(tmp_path / "other", seed=1)
    generate_demo(other)
    files = [p for paths in dataset_files(config).values() for p in paths]
    for rel in files:
        assert file_md5(root / rel) == file_md5(Path(again["data"]["root"]) / rel), rel
    for rel in files:
        if rel.endswith(".json") or "preprocessed_data" in rel or rel.endswith(".wav") or rel.endswith(".TextGrid"):
            assert file_md5(root / rel) != file_md5(Path(other["data"]["root"]) / rel), rel
    with h5py.File(config["data"]["demo"]["ground_truth"]) as a, h5py.File(again["data"]["demo"]["ground_truth"]) as b:
        assert np.array_equal(a["UTS01/nc"][...], b["UTS01/nc"][...])


def test_ground_truth_contents(tiny_dataset):
    root, config = tiny_dataset
    with h5py.File(config["data"]["demo"]["ground_truth"], "r") as gt:
        n_vox = len(gt["voxels/volume_index"])
        for subject in config["data"]["subjects"]:
            g = gt[subject]
            nc = g["nc"][...]
            assert nc.shape == (n_vox,) and nc.min() >= 0 and nc.max() <= 0.9 + 1e-6
            assert (nc == 0).mean() > 0.02 and nc.max() > 0.8
            for region in ("auditory", "language_temporal", "language_frontal", "language"):
                mask = g[f"regions/{region}"][...]
                assert mask.dtype == bool and mask.shape == (n_vox,) and mask.any()
                assert nc[mask].mean() > nc[~mask].mean() + 0.2  # planted regions carry signal
            assert g["weights_auditory"].shape == (config["data"]["demo"]["n_bands"], n_vox)
            assert g["weights_semantic"].shape == (config["data"]["demo"]["semantic_dim"], n_vox)
            sp = g["signal_power"][...]
            assert np.allclose(demo.cc_max_from_signal_power(sp, config["data"]["demo"]["n_repeats"]), nc, atol=1e-5)
        assert not np.array_equal(gt["UTS01/weights_semantic"][...], gt["UTS02/weights_semantic"][...])
        rho = config["data"]["demo"]["shared_weight_fraction"]
        assert gt.attrs["shared_weight_fraction"] == rho == json.loads(gt.attrs["settings"])["shared_weight_fraction"]
        assert gt["semantic/vectors"].shape == (len(gt["semantic/words"]), config["data"]["demo"]["semantic_dim"])
        assert json.loads(gt.attrs["respdict"]) == load_respdict(root)
        assert gt["stories/souls"].attrs["voice"] in config["data"]["demo"]["voices"]
    meta = json.loads((Path(config["data"]["demo"]["ground_truth"]).parent / "stimuli.json").read_text())
    assert set(meta) == set(all_stories(config))
    words = read_textgrid(root / "derivative" / "TextGrids" / "souls.TextGrid").words
    assert meta["souls"]["n_words"] == len(words)
    assert [w.label for w in words] == [t.strip(".,!?").lower() for t in meta["souls"]["text"].split()]


def _toy_space():
    """subject_model's inputs without pycortex: every voxel of an 8 x 24 x 24 box, three box regions apart."""
    shape = (8, 24, 24)
    index = np.arange(int(np.prod(shape)))
    space = demo.demo_cortex.VoxelSpace("thin", shape, index, np.stack(np.unravel_index(index, shape), axis=1))
    vols = {name: np.zeros(shape, bool) for name in demo.REGIONS}
    vols["auditory"][2:6, 2:8, 2:8] = True
    vols["language_temporal"][2:6, 14:22, 2:8] = True
    vols["language_frontal"][2:6, 2:8, 14:22] = True
    return space, vols


def _semantic_draws(subject: str, settings) -> tuple[demo.SubjectModel, np.ndarray]:
    """A subject's model on the toy space and its semantic draws g = w_sem / (m_lang + 0.15)."""
    model = demo.subject_model(subject, settings, *_toy_space())
    m_lang = np.maximum(model.membership["language_temporal"], model.membership["language_frontal"])
    return model, model.w_semantic / (m_lang + 0.15)


def test_no_shared_weight_fraction_leaves_the_independent_weights_bit_for_bit(tmp_path):
    """shared_weight_fraction 0 is the generator as it was (the subject stream's draws, nothing else); any
    value changes the semantic weights alone, as the shared part comes from a stream of its own."""
    settings = replace(demo_settings(tiny_config(tmp_path))[1], shared_weight_fraction=0.0)
    model = demo.subject_model("UTS01", settings, *_toy_space())
    rng = demo._subject_rng(settings.seed, "UTS01", 4)  # the draws of subject_model before the weights
    for _ in demo.REGIONS:
        rng.integers(settings.region_dilation_voxels[0], settings.region_dilation_voxels[1] + 1)
    rng.standard_normal((settings.n_bands, model.nc.size))
    m_lang = np.maximum(model.membership["language_temporal"], model.membership["language_frontal"])
    independent = (m_lang + 0.15) * rng.standard_normal((settings.semantic_dim, model.nc.size))
    assert model.w_semantic.dtype == np.float64 and model.w_semantic.tobytes() == independent.tobytes()
    shared = demo.subject_model("UTS01", replace(settings, shared_weight_fraction=0.5), *_toy_space())
    assert not np.array_equal(shared.w_semantic, model.w_semantic)
    for name in ("w_auditory", "nc", "signal_power"):
        assert getattr(shared, name).tobytes() == getattr(model, name).tobytes(), name


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.5, 1.0])
def test_shared_weight_fraction_is_the_correlation_of_the_subjects_semantic_draws(tmp_path, rho):
    """Two subjects' semantic draws (weights over their own m_lang + 0.15: regions differ by subject) are
    N(0, 1) and correlate by rho over the 36864 voxel-dimensions; at rho = 1 they are the same draws."""
    settings = replace(demo_settings(tiny_config(tmp_path))[1], shared_weight_fraction=rho)
    model1, g1 = _semantic_draws("UTS01", settings)
    model2, g2 = _semantic_draws("UTS02", settings)
    for g in (g1, g2):
        assert abs(g.mean()) < 0.02 and abs(g.std() - 1) < 0.02  # the variance per weight does not depend on rho
    assert abs(np.corrcoef(g1.ravel(), g2.ravel())[0, 1] - rho) < 0.02
    if rho == 1.0:
        np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=0)
        assert not np.allclose(model1.w_semantic, model2.w_semantic)  # their regions (dilations) differ


def test_shared_weight_fraction_is_a_responses_setting(tmp_path):
    """It changes the responses job's params (the responses rerun), not the stimuli job's."""
    config, shared = tiny_config(tmp_path), tiny_config(tmp_path)
    config["data"]["demo"]["shared_weight_fraction"] = 0
    shared["data"]["demo"]["shared_weight_fraction"] = 0.3
    (stimuli, responses), (stimuli_shared, responses_shared) = demo_settings(config), demo_settings(shared)
    assert stimuli_shared.params() == stimuli.params()
    assert responses_shared.params() != responses.params()
    assert responses_shared.params()["shared_weight_fraction"] == 0.3


def test_noise_ceiling_of_the_repeats_recovers_the_truth(tiny_dataset):
    """The planted ceiling is what the repeats imply: on the tiny files, the docs/protocol.md 1.3 cc_max of
    the written repeats follows the truth and the planted regions stand out."""
    root, config = tiny_dataset
    n_rep = config["data"]["demo"]["n_repeats"]
    with h5py.File(config["data"]["demo"]["ground_truth"], "r") as gt:
        nc = gt["UTS01/nc"][...].astype(np.float64)
        sp = gt["UTS01/signal_power"][...].astype(np.float64)
        regions = gt["UTS01/regions/auditory"][...] | gt["UTS01/regions/language"][...]
    assert np.allclose(demo.signal_power_from_cc_max(nc, n_rep), sp, atol=1e-6)
    estimate = cc_max(read_repeats(response_path(root, "UTS01", config["stories"]["test"])).astype(np.float64))
    assert np.corrcoef(estimate, nc)[0, 1] > 0.4
    assert estimate[regions].mean() > estimate[~regions].mean() + 0.15


def test_noise_ceiling_of_a_long_test_story_correlates_above_0_9(tmp_path):
    """The generator's own output, at the size where cc_max is precise: 10 repeats of a 25-minute test
    story (about 740 rows). The sampling error of cc_max shrinks as 1/sqrt(rows) and is largest at low
    ceilings, so the default demo's 360-s story (about 170 rows) reaches r = 0.8 (config/README.md)."""
    config = tiny_config(tmp_path)
    config["data"]["subjects"] = ["UTS01"]
    config["stories"].update(braintuning_train=["souls"], alignment_train=["souls", "stagefright"])
    config["data"]["demo"].update(story_duration_s=[20, 25], test_story_duration_s=1500, n_repeats=10, voxel_stride=40)
    generate_demo(config)
    root = Path(config["data"]["root"])
    repeats = read_repeats(response_path(root, "UTS01", config["stories"]["test"])).astype(np.float64)
    assert repeats.shape[0] == 10 and repeats.shape[1] > 700
    with h5py.File(config["data"]["demo"]["ground_truth"], "r") as gt:
        nc = gt["UTS01/nc"][...].astype(np.float64)
    assert nc.min() == 0.0 and nc.max() > 0.85  # the truth spans about 0 to 0.9
    r = np.corrcoef(cc_max(repeats), nc)[0, 1]
    assert r > 0.9, f"cc_max of the repeats vs the true ceiling: r = {r:.3f}"  # 0.914 at seed 0


def test_schema_names_the_bad_demo_key():
    config = load_config(REPO / "config" / "config.yaml")
    config["data"]["demo"]["voxel_mask"] = "everything"
    with pytest.raises(ConfigError, match=r"data\.demo\.voxel_mask"):
        validate_config(config)
    config["data"]["demo"]["voxel_mask"] = "thin"
    config["data"]["demo"]["n_voxel"] = 3
    with pytest.raises(ConfigError, match=r"under 'data.demo'.*n_voxel"):
        validate_config(config)
    del config["data"]["demo"]["n_voxel"]
    config["data"]["demo"]["voices"] = ["en-us", "en-us+f3"]  # breathy: not the same samples twice
    with pytest.raises(ConfigError, match=r"demo\.voices"):
        validate_config(config)
    config["data"]["demo"]["voices"] = ["en-us", "en-us+f4"]
    config["data"]["demo"]["regions"]["auditory"] = ["AC"]
    with pytest.raises(ConfigError, match=r"demo\.regions\.auditory"):
        validate_config(config)
    config["data"]["demo"]["regions"]["auditory"] = ["rois:AC"]
    for rho in (-0.1, 1.5):
        config["data"]["demo"]["shared_weight_fraction"] = rho
        with pytest.raises(ConfigError, match=r"data\.demo\.shared_weight_fraction"):
            validate_config(config)


def test_config_demo_section_is_optional_and_sized():
    config = load_config(REPO / "config" / "config.yaml")
    # rows of the demo's test story after test_trim are enough to score a model
    n_rows = config["data"]["demo"]["test_story_duration_s"] / config["timing"]["tr_s"] - 10
    assert n_rows - config["timing"]["test_trim"] >= 20
    assert load_config(REPO / "config" / "ds003020.yaml")["data"]["source"] != "demo"


def test_short_story_fails_with_a_clear_message(tmp_path):
    config = tiny_config(tmp_path)
    config["data"]["demo"]["story_duration_s"] = [3, 4]
    with pytest.raises(ValueError, match=r"demo story '.*': .* response rows"):
        demo.make_story("souls", demo_settings(config)[0])
    assert json.dumps(dataset_files(config))


def test_encoding_model_on_the_true_drivers_finds_the_planted_regions(tmp_path):
    """Ridge from the true drivers (read back from the written WAVs and TextGrids) predicts the test
    story in the planted regions, with the right driver family: band power in the auditory region,
    word semantics in the language regions."""
    config = tiny_config(tmp_path)
    config["data"]["subjects"] = ["UTS01"]
    config["stories"]["braintuning_train"] = ["souls", "howtodraw", "hangtime", "avatar"]
    config["data"]["demo"].update(story_duration_s=[80, 90], test_story_duration_s=80)
    generate_demo(config)
    root = Path(config["data"]["root"])
    respdict = load_respdict(root)
    responses = demo_settings(config)[1]
    vocab = demo.demo_text.vocabulary()
    _, vectors = demo.demo_text.semantic_vectors(config["data"]["demo"]["seed"], config["data"]["demo"]["semantic_dim"], config["data"]["demo"]["within_group_sd"])
    word_vectors = {w: vectors[i] for i, (w, _) in enumerate(vocab)}
    hrf = demo.spm_hrf(demo.FINE_DT)
    drivers = {s: demo.story_drivers(root, s, respdict[s], responses, word_vectors, hrf) for s in all_stories(config)}
    test = config["stories"]["test"]
    train = [s for s in all_stories(config) if s != test]
    Y = np.vstack([read_responses(response_path(root, "UTS01", s)) for s in train]).astype(np.float64)
    Y_test = read_responses(response_path(root, "UTS01", test)).astype(np.float64)
    with h5py.File(config["data"]["demo"]["ground_truth"], "r") as gt:
        auditory = gt["UTS01/regions/auditory"][...]
        language = gt["UTS01/regions/language"][...]

    def score(part):  # 0: auditory drivers, 1: semantic drivers
        X = np.vstack([drivers[s][part] for s in train])
        W = np.linalg.solve(X.T @ X + np.eye(X.shape[1]), X.T @ Y)
        P = drivers[test][part] @ W
        P = (P - P.mean(0)) / P.std(0)
        T = (Y_test - Y_test.mean(0)) / Y_test.std(0)
        return (P * T).mean(0)

    r_aud, r_sem = score(0), score(1)
    background = ~(auditory | language)
    assert r_aud[auditory].mean() > 0.3 and r_sem[language].mean() > 0.3
    assert r_aud[auditory].mean() > r_sem[auditory].mean() + 0.15
    assert r_sem[language].mean() > r_aud[language].mean() + 0.15
    assert max(r_aud[background].mean(), r_sem[background].mean()) < 0.2


def test_the_demo_depends_on_the_story_names_not_their_roles(tmp_path):
    """Moving a story between brain-tuning train and validation (or any other role but the test story)
    leaves the generator's settings, hence the rules' params, unchanged; a new story changes them."""
    config = tiny_config(tmp_path)
    moved = tiny_config(tmp_path)
    moved["stories"].update(braintuning_train=["souls"], braintuning_val=["stagefright", "howtodraw"],
                            alignment_train=["howtodraw", "stagefright", "souls"], lowlevel_train=["souls"])
    assert [s.params() for s in demo_settings(config)] == [s.params() for s in demo_settings(moved)]
    added = tiny_config(tmp_path)
    added["stories"]["alignment_train"] = ["souls", "howtodraw", "stagefright", "avatar"]
    assert demo_settings(added)[0].params() != demo_settings(config)[0].params()
    paths = tiny_config(tmp_path / "elsewhere")  # the ground truth and the filestore are outputs, not settings
    assert [s.params() for s in demo_settings(paths)] == [s.params() for s in demo_settings(config)]


def test_missing_stories_leave_the_response_files_out(tmp_path):
    """data.demo.missing_stories mimics UTS04 lacking `life`: the subject's listed stories get no response
    file (the stimuli and the other subjects' responses are unchanged); the test story cannot be missing."""
    config = tiny_config(tmp_path)
    config["data"]["subjects"] = ["UTS01", "UTS02"]
    config["stories"].update(braintuning_train=["souls"], braintuning_val=["stagefright"], alignment_train=["souls"])
    config["data"]["demo"].update(story_duration_s=[20, 25], test_story_duration_s=60, voxel_stride=200,
                          missing_stories={"UTS02": ["souls"]})
    _, responses = demo_settings(config)
    assert "derivative/preprocessed_data/UTS02/souls.hf5" not in response_files(responses)
    generate_demo(config)
    root = Path(config["data"]["root"])
    assert not response_path(root, "UTS02", "souls").exists()
    assert response_path(root, "UTS01", "souls").exists() and response_path(root, "UTS02", "stagefright").exists()
    config["data"]["demo"]["missing_stories"] = {"UTS02": [config["stories"]["test"]]}
    with pytest.raises(ValueError, match=r"demo\.missing_stories\.UTS02: the test story"):
        demo_settings(config)
    config["data"]["demo"]["missing_stories"] = {"UTS05": ["souls"]}
    with pytest.raises(ValueError, match=r"demo\.missing_stories: subject 'UTS05'"):
        demo_settings(config)


def test_planted_regions_are_the_subject_independent_core_of_every_subjects_regions(tiny_dataset):
    """planted_regions (the identity common space's mask): the undilated planted regions in the demo's voxels,
    inside every subject's (dilated) region, the language regions apart from the auditory one."""
    _, config = tiny_dataset
    gt_path = config["data"]["demo"]["ground_truth"]
    planted = demo.planted_regions(gt_path, config["data"]["demo"]["pycortex_filestore"])
    assert list(planted) == ["auditory", "language_temporal", "language_frontal"]
    with h5py.File(gt_path, "r") as gt:
        n_vox = len(gt["voxels/volume_index"])
        subjects = {s: {r: gt[f"{s}/regions/{r}"][...] for r in planted} for s in config["data"]["subjects"]}
    for name, mask in planted.items():
        assert mask.dtype == bool and mask.shape == (n_vox,) and mask.any()
    assert not (planted["auditory"] & (planted["language_temporal"] | planted["language_frontal"])).any()
    for regions in subjects.values():
        assert not (planted["auditory"] & ~regions["auditory"]).any()
        core = planted["language_temporal"] & ~regions["auditory"]
        assert not (core & ~regions["language_temporal"]).any()
    assert list(demo.planted_regions(gt_path, config["data"]["demo"]["pycortex_filestore"], ["auditory"])) == ["auditory"]
    with pytest.raises(ValueError, match=r"planted regions \['broca'\] do not exist"):
        demo.planted_regions(gt_path, config["data"]["demo"]["pycortex_filestore"], ["broca"])


def test_a_subjects_regions_do_not_depend_on_the_subjects_generated_before_it(tmp_path):
    """Regions are clipped into new arrays: a subject that draws no dilation used to clip the shared undilated
    volumes in place, so later subjects' regions depended on it."""
    settings = replace(demo_settings(tiny_config(tmp_path))[1], region_dilation_voxels=(0, 0))
    space, vols = _toy_space()
    vols["language_temporal"][2:6, 6:12, 2:8] = True  # overlaps the auditory region, which it excludes
    before = {name: vol.copy() for name, vol in vols.items()}
    alone = demo.subject_model("UTS02", settings, space, {name: vol.copy() for name, vol in vols.items()})
    demo.subject_model("UTS01", settings, space, vols)
    assert all(np.array_equal(vols[name], before[name]) for name in vols)
    after = demo.subject_model("UTS02", settings, space, vols)
    assert all(np.array_equal(alone.regions[name], after.regions[name]) for name in demo.REGIONS)
