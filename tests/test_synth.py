"""braintune.data.synth: espeak-ng speech with true word/phone timings and ARPAbet labels."""

import json
import threading

import numpy as np
import pytest

from braintune.data.synth import ARPABET_VOWELS, IPA_TO_ARPABET, SAMPLE_RATE, ipa_to_arpabet, synthesize, synthesize_many

TEXT = "We walked in the kitchen of the house, and sat on a chair to eat bread. The happy dog ran!"
CMU = ARPABET_VOWELS | {
    "B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH", "T",
    "TH", "V", "W", "Y", "Z", "ZH",
}


def test_ipa_table_examples_and_stress():
    assert ipa_to_arpabet("ˈæ") == ["AE1"]
    assert ipa_to_arpabet("ə") == ["AH0"]
    assert ipa_to_arpabet("ˌaɪ") == ["AY2"]
    assert ipa_to_arpabet("ˈɑːɹ") == ["AA1", "R"]
    assert ipa_to_arpabet("ˈaɪɚ") == ["AY1", "ER0"]
    assert ipa_to_arpabet("tʃ") == ["CH"]
    with pytest.raises(ValueError, match="no ARPAbet entry"):
        ipa_to_arpabet("ʘ")
    for phones in IPA_TO_ARPABET.values():
        assert set(phones) <= CMU


def test_words_phones_and_timing_are_consistent():
    utt = synthesize(TEXT, voice="en-us+f4", rate=170)
    assert utt.sample_rate == SAMPLE_RATE and utt.audio.dtype == np.float32
    assert 3.0 < utt.duration < 8.0 and np.abs(utt.audio).max() <= 1.0
    # Every word token comes back in order, including the ones espeak speaks jointly ("in the").
    expected = [w.strip(",.!").lower() for w in TEXT.split()]
    assert [w[2] for w in utt.words] == expected
    ends = 0.0
    for (start, end, _), idx in zip(utt.words, utt.word_phones):
        assert ends - 1e-9 <= start < end <= utt.duration + 1e-9
        assert utt.phones[idx[0]][0] == start and utt.phones[idx[-1]][1] == end
        ends = end
    labels = [p[2] for p in utt.phones]
    for label in labels:
        base = label.rstrip("012")
        assert base in CMU
        assert (label[-1] in "012") == (base in ARPABET_VOWELS)
    # "kitchen" is K IH1 CH AH0 N (stress on the first syllable)
    kitchen = utt.words.index(next(w for w in utt.words if w[2] == "kitchen"))
    assert [utt.phones[i][2] for i in utt.word_phones[kitchen]][:3] == ["K", "IH1", "CH"]
    # The comma and the full stop are pauses: gaps between words.
    gaps = [b[0] - a[1] for a, b in zip(utt.words, utt.words[1:])]
    assert max(gaps) > 0.1


def test_energy_rises_at_word_onsets():
    utt = synthesize(TEXT, rate=150)
    x = utt.audio.astype(np.float64)
    frame = int(0.02 * SAMPLE_RATE)
    energy = np.sqrt(np.convolve(x**2, np.ones(frame) / frame, mode="same"))
    inside = [energy[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)].mean() for s, e, _ in utt.words]
    gaps = [(a[1], b[0]) for a, b in zip(utt.words, utt.words[1:]) if b[0] - a[1] > 0.08]
    silent = [energy[int((s + 0.02) * SAMPLE_RATE) : int((e - 0.02) * SAMPLE_RATE)].mean() for s, e in gaps]
    assert gaps and np.median(inside) > 10 * max(silent)


def test_deterministic_and_parameters_matter():
    a = synthesize("the tiger ate an apple", voice="en-us", rate=160, pitch=40)
    b = synthesize("the tiger ate an apple", voice="en-us", rate=160, pitch=40)
    assert np.array_equal(a.audio, b.audio) and a.phones == b.phones
    slow = synthesize("the tiger ate an apple", voice="en-us", rate=110, pitch=40)
    assert slow.duration > 1.2 * a.duration
    other = synthesize("the tiger ate an apple", voice="en-us+m3", rate=160, pitch=40)
    assert not np.array_equal(other.audio[: len(a.audio)], a.audio[: len(other.audio)])


def test_deterministic_regardless_of_history():
    # espeak-ng keeps state between utterances; isolation makes each batch depend only on itself.
    ref = synthesize_many([dict(text="one small bird", rate=150), dict(text="a red apple", rate=200)])
    again = synthesize_many([dict(text="one small bird", rate=150), dict(text="a red apple", rate=200)])
    assert all(np.array_equal(x.audio, y.audio) for x, y in zip(ref, again))
    # in-process synthesis changes espeak's hidden state; isolated batches do not see it
    synthesize_many([dict(text="the weather was cold and the river was wide", rate=120)], isolate=False)
    after = synthesize_many([dict(text="one small bird", rate=150)])[0]
    assert np.array_equal(after.audio, ref[0].audio)


def test_thread_safe_in_process():
    text = "a quiet river near the garden"
    results = []

    def work():
        results.extend(synthesize_many([dict(text=text, rate=180)], isolate=False))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    # In-process audio depends on history, but words and phone labels must not get mixed up.
    assert all([w[2] for w in r.words] == text.split() for r in results)
    assert len({tuple(p[2] for p in r.phones) for r in results}) == 1


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="no voice"):
        synthesize("hello", voice="xx-nonexistent")
    with pytest.raises(ValueError, match="rate"):
        synthesize("hello", rate=10)
    with pytest.raises(ValueError, match="no word"):
        synthesize(" ,. ")
    with pytest.raises(ValueError, match="unknown arguments"):
        synthesize_many([dict(text="hi", speed=3)])


def test_the_same_request_gives_the_same_samples_in_separate_processes():
    """Bit-identical audio across processes (a second apart) for every voice the demo and the stand-in
    corpora use; the breathy variants, which are not, are refused with a message naming the voice."""
    import subprocess
    import sys
    import time

    from conftest import REPO

    from braintune.downstream.demo import _VOICE_VARIANTS

    from braintune.config import load_config

    voices = load_config(REPO / "config" / "config.yaml")["data"]["demo"]["voices"]
    voices = sorted(set(voices) | {f"en-us+{v}" for v in _VOICE_VARIANTS})
    script = (
        "import hashlib, json, sys\n"
        "from braintune.data.synth import synthesize_many\n"
        "reqs = [dict(text='She had your dark suit in greasy wash water.', voice=v, rate=170) for v in json.loads(sys.argv[1])]\n"
        "print(json.dumps([hashlib.md5(u.audio.tobytes()).hexdigest() for u in synthesize_many(reqs)]))\n"
    )
    runs = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", script, json.dumps(voices)], capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout))
        time.sleep(1.1)
    assert runs[0] == runs[1]
    with pytest.raises(ValueError, match=r"en-us\+f3.*differs between runs"):
        synthesize(TEXT, voice="en-us+f3")
