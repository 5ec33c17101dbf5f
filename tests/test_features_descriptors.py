"""braintune.features.descriptors: power spectrum, di/triphones and articulation on known inputs."""

import json

import h5py
import numpy as np
import pytest
import soundfile as sf
from praatio import textgrid

from braintune.features import descriptors, design
from braintune.preprocess.timing import TRGrid
from braintune.preprocess.transcripts import Interval, read_textgrid

TIMING = {"tr_s": 2.0, "sound_start_s": 10.0, "trim_start": 10, "trim_end": 5, "test_trim": 40}
CFG = {
    "names": ["powspec", "diphone", "triphone", "articulation"],
    "powspec_fmin_hz": 25.0, "powspec_band_hz": 33.5, "powspec_n_bands": 448, "powspec_nperseg": 2048,
    "ngram_max_gap_s": 0.01, "articulation_downsample": "count",
}
LANCZOS = {"lanczos_window": 3, "lanczos_cutoff_mult": 1.0}


def P(label, start, end):
    return Interval(start, end, label)


# --- power spectrum ------------------------------------------------------------------------


def test_band_edges_span_the_paper_range():
    edges = descriptors.band_edges(25.0, 33.5, 448)
    assert edges[0] == 25.0 and edges[-1] == pytest.approx(15033.0)


def test_band_matrix_integrates_partial_bins():
    freqs = np.arange(0, 100, 10.0)
    w = descriptors.band_matrix(freqs, np.array([15.0, 40.0]))
    # bin j covers [f_j - 5, f_j + 5): bins 20 and 30 lie inside (10 Hz each), bin 40 half inside, bin 10 touches only
    np.testing.assert_allclose(w[[1, 2, 3, 4], 0], [0, 10, 10, 5])
    assert w[[0, 5, 6], 0].sum() == 0 and w[:, 0].sum() == pytest.approx(25.0)


def test_power_spectrum_finds_a_tone_in_its_band_and_tr():
    rate = 44100
    grid = TRGrid.from_config(25, TIMING)  # 20 TRs, audio onset at TR 5
    t = np.arange(int(rate * 20)) / rate
    audio = np.zeros_like(t)
    tone = (t >= 4.0) & (t < 8.0)  # TRs centred at 5 s and 7 s (grid TR k centred at 2k + 1 - 10)
    audio[tone] = 0.5 * np.sin(2 * np.pi * 1000.0 * t[tone])
    audio += 1e-4 * np.random.default_rng(0).standard_normal(len(t))
    spec = descriptors.power_spectrum(audio.astype(np.float32), rate, grid)
    assert spec.shape == (grid.n_trs, 448) and spec.dtype == np.float32
    band = int((1000.0 - 25.0) // 33.5)  # the band holding 1 kHz
    tone_trs = [k for k in range(grid.n_trs) if 4.0 <= grid.tr_times[k] < 8.0]
    assert tone_trs == [7, 8]
    for k in tone_trs:
        assert spec[k].argmax() == band
        assert spec[k, band] > spec[12, band] + 8  # 8 decades above a noise-only TR (noise 1e-4 rms)
    assert spec[12, band] < -10
    # TRs before the audio starts are silent: the floor
    np.testing.assert_allclose(spec[:4], np.log10(descriptors.POWER_FLOOR), atol=1e-3)
    with pytest.raises(ValueError, match="sample rate"):
        descriptors.power_spectrum(audio[:16000].astype(np.float32), 16000, grid)


def test_power_spectrum_total_power_matches_parseval():
    """Band powers of white noise add up to its variance times the covered fraction of the band."""
    rate = 44100
    grid = TRGrid.from_config(20, TIMING)
    noise = np.random.default_rng(1).standard_normal(rate * 10).astype(np.float32) * 0.1
    spec = descriptors.power_spectrum(noise, rate, grid)
    k = 7  # a TR fully inside the audio
    total = (10.0 ** spec[k]).sum()
    expected = 0.01 * (15033.0 - 25.0) / (rate / 2)
    assert total == pytest.approx(expected, rel=0.05)


# --- n-grams -------------------------------------------------------------------------------


PHONES = [P("HH", 0.0, 0.1), P("AH", 0.1, 0.3), P("L", 0.3, 0.4), P("OW", 0.4, 0.6),  # "hello"
          P("W", 1.6, 1.7), P("ER", 1.7, 2.1), P("L", 2.1, 2.2), P("D", 2.2, 2.5)]  # pause, then "world"


def test_ngrams_break_at_pauses():
    grams = descriptors.phone_ngrams(PHONES, 2, max_gap_s=0.01)
    assert [g for g, _ in grams] == ["HH_AH", "AH_L", "L_OW", "W_ER", "ER_L", "L_D"]
    assert grams[0][1] == pytest.approx(0.1)  # the boundary
    tri = descriptors.phone_ngrams(PHONES, 3, max_gap_s=0.01)
    assert [g for g, _ in tri] == ["HH_AH_L", "AH_L_OW", "W_ER_L", "ER_L_D"]
    assert tri[0][1] == pytest.approx(0.2)  # the middle phone's centre
    assert "OW_W" in [g for g, _ in descriptors.phone_ngrams(PHONES, 2, max_gap_s=2.0)]


def test_ngram_presence_per_tr():
    grid = TRGrid.from_config(12, TIMING)  # TR k covers [2k - 10, 2k - 8)
    inventory = descriptors.ngram_inventory([PHONES, [P("AH", 5.0, 5.2), P("L", 5.2, 5.3)]], 2, 0.01)
    assert inventory == sorted(set(inventory)) and "AH_L" in inventory
    presence = descriptors.ngram_presence(PHONES, grid, inventory, 2, 0.01)
    tr0 = 5  # [0, 2) s
    row = dict(zip(inventory, presence[tr0]))
    assert row["HH_AH"] == row["AH_L"] == row["L_OW"] == row["W_ER"] == 1.0
    assert row["L_D"] == row["ER_L"] == 0.0  # boundaries at 2.1 s and 2.2 s: the next TR
    assert presence[tr0 + 1, inventory.index("L_D")] == presence[tr0 + 1, inventory.index("ER_L")] == 1.0
    assert presence.sum() == 6 and set(np.unique(presence)) <= {0.0, 1.0}
    with pytest.raises(KeyError, match="inventory"):
        descriptors.ngram_presence(PHONES, grid, ["HH_AH"], 2, 0.01)


# --- articulation -----------------------------------------------------------------------------


def test_articulation_table_is_complete_and_fixes_the_affricate_bug():
    names, table = descriptors.articulation_table()
    assert len(names) == 22 and "affricate" in names and "affricative" not in names
    arpabet = "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH".split()
    assert sorted(table) == sorted(arpabet)
    aff = names.index("affricate")
    assert {p for p, v in table.items() if v[aff]} == {"CH", "JH"}
    voiced, unvoiced = names.index("voiced"), names.index("unvoiced")
    assert all(v[voiced] + v[unvoiced] == 1 for v in table.values())  # every phone is one or the other
    vowels = "AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split()
    height = [names.index(n) for n in ("low", "mid", "high")]
    assert all(table[v][height].sum() == 1 for v in vowels)
    assert all(table[c][height].sum() == 0 for c in table if c not in vowels)
    assert table["B"][names.index("bilabial")] == table["B"][names.index("plosive")] == 1


def test_articulation_counts_and_lanczos():
    names, table = descriptors.articulation_table()
    grid = TRGrid.from_config(20, TIMING)
    counts = descriptors.articulation(PHONES, grid, mode="count")
    tr0 = 5
    assert counts[tr0, names.index("voiced")] == 5  # AH L OW W ER (centres < 2 s); HH unvoiced
    assert counts[tr0 + 1, names.index("plosive")] == 1  # D
    assert counts.sum(axis=0)[names.index("lateral")] == 2
    smooth = descriptors.articulation(PHONES, grid, mode="lanczos")
    assert smooth.shape == (grid.n_trs, 22)
    assert smooth[tr0, names.index("voiced")] > smooth[tr0 + 3, names.index("voiced")]
    assert not smooth[: tr0 - 3].any()
    with pytest.raises(KeyError, match="articulation.tsv"):
        descriptors.articulation([P("XX", 0, 1)], grid)
    with pytest.raises(ValueError, match="articulation_downsample"):
        descriptors.articulation(PHONES, grid, mode="mean")


# --- the job on files -------------------------------------------------------------------------


def _textgrid(path, phones, words, end):
    tg = textgrid.Textgrid()
    tg.addTier(textgrid.IntervalTier("phone", [(p.start, p.end, p.label + ("1" if p.label in ("AH", "OW", "ER") else "")) for p in phones], 0, end))
    tg.addTier(textgrid.IntervalTier("word", words, 0, end))
    tg.save(str(path), format="long_textgrid", includeBlankSpaces=True)


def test_descriptors_job_and_design(tmp_path):
    rate = 44100
    respdict = {"a": 40, "b": 40, "t": 52}
    wavs, grids, outs = {}, {}, {}
    for i, story in enumerate(respdict):
        seconds = (respdict[story] - 10) * 2
        shift = 3.0 * i
        phones = [P(p.label, p.start + shift, p.end + shift) for p in PHONES]
        if story == "b":
            phones.append(P("CH", 30.0, 30.2))
        _textgrid(tmp_path / f"{story}.TextGrid", phones, [(0.0 + shift, 0.6 + shift, "hello"), (1.6 + shift, 2.5 + shift, "world")], seconds)
        audio = 0.05 * np.random.default_rng(i).standard_normal((rate * seconds, 2)).astype(np.float32)
        sf.write(tmp_path / f"{story}.wav", audio, rate, subtype="PCM_16")
        wavs[story] = tmp_path / f"{story}.wav"
        outs[story] = tmp_path / "ll" / f"{story}.h5"
    assert read_textgrid(tmp_path / "a.TextGrid").phones[1].label == "AH"
    (tmp_path / "respdict.json").write_text(json.dumps(respdict))
    settings = descriptors.DescriptorSettings.from_config({**CFG, "articulation_downsample": "lanczos"}, LANCZOS, TIMING)
    inv = descriptors.run_descriptors_job(settings, wavs, {s: tmp_path / f"{s}.TextGrid" for s in respdict},
                                          tmp_path / "respdict.json", outs, tmp_path / "ll" / "inventory.json")
    assert "L_CH" not in inv["diphone"] and "D_CH" not in inv["diphone"]  # CH comes after a pause
    assert json.loads((tmp_path / "ll" / "inventory.json").read_text())["triphone"] == inv["triphone"]
    with h5py.File(outs["b"]) as h5:
        assert h5["powspec"].shape == (35, 448) and h5["diphone"].shape == (35, len(inv["diphone"]))
        assert h5["articulation"].shape == (35, 22) and h5.attrs["audio_sample_rate"] == rate
        assert h5["articulation_names"][()][9].decode() == "affricate"
    design_outs = {name: tmp_path / "design" / f"{name}.h5" for name in CFG["names"]}
    design_settings = design.DesignSettings.from_config({"delays": [1, 2, 3, 4]}, {**TIMING, "test_trim": 10}, ["a", "b"], "t",
                                                        lanczos=False)
    design.run_descriptor_design_job(design_settings, outs, design_outs, tmp_path / "respdict.json")
    d = design.read_design(design_outs["articulation"])
    assert d.X_train.shape == (40, 88) and d.X_test.shape == (52 - 20 - 10, 88)
    assert d.feature_names[9] == "affricate" and d.attrs["feature"] == "articulation"
    assert design.read_design(design_outs["powspec"]).X_train.shape == (40, 448 * 4)
