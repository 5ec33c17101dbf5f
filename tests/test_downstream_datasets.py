"""Each corpus reader on a tiny fixture written in the corpus' real layout."""

import json

import numpy as np
import pytest
import soundfile as sf

from braintune.downstream import datasets

SR = 16000


def _tone(n=1600, seed=0):
    return (0.1 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def _timit_sentence(d, sent, kaggle=False, phones=("h#", "sh", "iy", "q", "pau", "h#")):
    d.mkdir(parents=True, exist_ok=True)
    if kaggle:  # the Kaggle copy keeps the SPHERE file and adds a RIFF conversion
        sf.write(d / f"{sent}.WAV.wav", _tone(), SR)
    sf.write(d / f"{sent}.WAV", _tone(), SR, format="NIST", subtype="PCM_16")
    bounds = np.linspace(0, 1600, len(phones) + 1).astype(int)
    (d / f"{sent}.PHN").write_text("".join(f"{bounds[i]} {bounds[i + 1]} {p}\n" for i, p in enumerate(phones)))
    (d / f"{sent}.TXT").write_text("0 1600 She had your dark suit.\n")
    (d / f"{sent}.WRD").write_text("0 800 she\n800 1600 had\n")


@pytest.mark.parametrize("kaggle", [False, True])
def test_timit_reader(tmp_path, kaggle):
    base = tmp_path / ("data" if kaggle else "TIMIT")
    for split, spk in (("TRAIN", "FCJF0"), ("TRAIN", "MDAB0"), ("TEST", "MDAB1")):
        for sent in ("SA1", "SI943", "SX43"):
            _timit_sentence(base / split / "DR1" / spk, sent, kaggle)
    df = datasets.read_timit(tmp_path)
    assert len(df) == 9 and set(df.split) == {"train", "test"}
    row = df[df.utt_id == "TRAIN/DR1/FCJF0/SX43"].iloc[0]
    assert row.label == "SX" and row.speaker == "FCJF0" and row.text == "She had your dark suit."
    assert row.phones == "h# sh iy h# h# h#"  # q and pau fold to h#
    assert row.path.endswith(".WAV.wav" if kaggle else "SX43.WAV")
    audio = datasets.load_utterance(row.path, SR)
    assert audio.dtype == np.float32 and len(audio) == 1600


def test_timit_missing_gives_licence_hint(tmp_path):
    with pytest.raises(datasets.DatasetMissingError, match="LDC"):
        datasets.read_corpus("timit", {"path": None})
    with pytest.raises(datasets.DatasetMissingError, match="downstream.datasets.timit.path"):
        datasets.read_corpus("timit", {"path": str(tmp_path)})


def test_timit_speaker_overlap_is_rejected(tmp_path):
    for split in ("TRAIN", "TEST"):
        _timit_sentence(tmp_path / split / "DR1" / "FCJF0", "SA1")
    with pytest.raises(ValueError, match="both TRAIN and TEST"):
        datasets.read_timit(tmp_path)


def test_speech_commands_reader(tmp_path):
    words = ("yes", "no")
    for w in words:
        (tmp_path / w).mkdir()
        for spk in ("aaaa0001", "bbbb0002", "cccc0003"):
            sf.write(tmp_path / w / f"{spk}_nohash_0.wav", _tone(), SR)
    (tmp_path / "_background_noise_").mkdir()
    sf.write(tmp_path / "_background_noise_" / "noise.wav", _tone(), SR)
    (tmp_path / "validation_list.txt").write_text("yes/bbbb0002_nohash_0.wav\nno/bbbb0002_nohash_0.wav\n")
    (tmp_path / "testing_list.txt").write_text("yes/cccc0003_nohash_0.wav\nno/cccc0003_nohash_0.wav\n")
    df = datasets.read_speech_commands(tmp_path, words=words)
    assert len(df) == 6
    assert df.groupby("split").speaker.agg(set).to_dict() == {
        "train": {"aaaa0001"}, "valid": {"bbbb0002"}, "test": {"cccc0003"}}
    assert set(df.label) == set(words)
    with pytest.raises(datasets.DatasetMissingError, match="missing word directory"):
        datasets.read_speech_commands(tmp_path)  # the 35 words are expected by default


def test_crema_d_reader_speaker_disjoint(tmp_path):
    audio = tmp_path / "AudioWAV"
    audio.mkdir()
    for actor in range(1001, 1011):
        for emo in ("ANG", "SAD", "NEU"):
            sf.write(audio / f"{actor}_IEO_{emo}_HI.wav", _tone(), SR)
    df = datasets.read_crema_d(tmp_path, test_fraction=0.2, seed=0)
    assert len(df) == 30 and set(df.label) == {"ANG", "SAD", "NEU"}
    train, test = (set(df.loc[df.split == s, "speaker"]) for s in ("train", "test"))
    assert len(test) == 2 and not train & test
    assert df.equals(datasets.read_crema_d(tmp_path, test_fraction=0.2, seed=0))  # seeded
    sf.write(audio / "bad_name.wav", _tone(), SR)
    with pytest.raises(ValueError, match="ACTOR_SENTENCE_EMOTION_LEVEL"):
        datasets.read_crema_d(tmp_path)


def test_slurp_reader_first_recording(tmp_path):
    text = tmp_path / "dataset" / "slurp"
    audio = tmp_path / "audio" / "slurp_real"
    text.mkdir(parents=True)
    audio.mkdir(parents=True)
    k = 0
    for split, actions in (("train", ["set", "query", "set"]), ("devel", ["query"]), ("test", ["set"])):
        lines = []
        for action in actions:
            k += 1
            recs = [{"file": f"audio-{k}-{r}.flac"} for r in range(2)]
            for rec in recs:
                sf.write(audio / rec["file"], _tone(), SR, format="FLAC")
            lines.append(json.dumps({"slurp_id": k, "sentence": "wake me up", "action": action,
                                     "scenario": "alarm", "intent": f"alarm_{action}", "recordings": recs}))
        (text / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    df = datasets.read_slurp(tmp_path)
    assert len(df) == 5 and df.path.str.endswith("-0.flac").all()
    assert df.split.value_counts().to_dict() == {"train": 3, "valid": 1, "test": 1}
    assert set(df.label) == {"set", "query"}
    (audio / "audio-5-0.flac").unlink()
    with pytest.raises(datasets.DatasetMissingError, match="recordings missing"):
        datasets.read_slurp(tmp_path)


def test_download_verification(tmp_path):
    from braintune.downstream import download

    src = tmp_path / "src.bin"
    src.write_bytes(b"braintune" * 100)
    sha = download._digest(src, "sha256")
    got = download.fetch(src.as_uri(), tmp_path / "out" / "a.bin", sha256=sha, size=900)
    assert got.read_bytes() == src.read_bytes()
    with pytest.raises(download.ChecksumError, match="sha256"):
        download.fetch(src.as_uri(), tmp_path / "out" / "b.bin", sha256="0" * 64)
    assert not (tmp_path / "out" / "b.bin").exists()  # nothing half-verified is left
    with pytest.raises(download.ChecksumError, match="size"):
        download.fetch(src.as_uri(), tmp_path / "out" / "c.bin", size=1)
    pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:" + sha + "\nsize 900\n"
    assert download.parse_lfs_pointer(pointer) == (sha, 900)


def test_demo_stand_ins_follow_each_corpus_layout(tmp_path):
    """The generated stand-ins are read by the real readers, with TIMIT's sentence-type design."""
    from braintune.downstream import demo

    cfg = dict(timit_train_speakers=4, timit_test_speakers=2, timit_sx_per_speaker=2, timit_si_per_speaker=1,
               timit_sx_readers=2, commands_speakers=3, crema_d_actors=2, slurp_speakers=3, word_speakers=1)
    counts = demo.write_all(tmp_path, cfg, seed=0, words=["divine", "god"])
    timit = datasets.read_corpus("timit", {"path": str(tmp_path / "timit")})
    assert len(timit) == counts["timit"] == 6 * 5
    texts = timit.groupby("label")["text"].agg(lambda t: t.value_counts().to_dict())
    assert all(n == 6 for n in texts["SA"].values()) and len(texts["SA"]) == 2  # every speaker reads both SA
    assert set(texts["SX"].values()) == {2}  # each SX sentence is read by sx_readers speakers
    assert set(texts["SI"].values()) == {1}  # SI sentences are unique
    assert timit.phones.str.startswith("h# ").all() and timit.phones.str.endswith(" h#").all()
    commands = datasets.read_corpus("speech_commands", {"path": str(tmp_path / "speech_commands")})
    assert commands.label.nunique() == 35 and set(commands.split) == {"train", "test"}
    crema = datasets.read_corpus("crema_d", {"path": str(tmp_path / "crema_d"), "test_fraction": 0.5})
    assert crema.label.nunique() == 6 and crema.groupby("split").speaker.nunique().to_dict() == {"test": 1, "train": 1}
    slurp = datasets.read_corpus("slurp", {"path": str(tmp_path / "slurp"), "label": "action",
                                           "audio_subdir": "audio/slurp_real"})
    assert set(slurp.split) == {"train", "valid", "test"} and "set" in set(slurp.label)
    audio = datasets.load_utterance(slurp.path.iloc[0], SR)
    assert audio.dtype == np.float32 and 0.3 < len(audio) / SR < 5
    from braintune.preference import analysis as preference

    seg = preference.find_word_segments(tmp_path / "words", ["divine", "god"], max_instances=3)
    assert sorted(seg.word) == ["divine", "god"] and (seg.end_s > seg.start_s).all()
