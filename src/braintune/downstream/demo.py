"""Generated stand-ins of the downstream corpora, written in each real corpus' layout.

The same synthesiser as the ds003020 miniature (:func:`braintune.data.synth.synthesize`, espeak-ng
with true word and phone timings) speaks every utterance; espeak voice variants with pitch and rate
offsets play the speakers. The readers of :mod:`braintune.downstream.datasets` and
:mod:`braintune.preference` then run unchanged on these directories:

- ``timit/``: LDC layout (``TRAIN|TEST/DR1/{speaker}/{SA1,SX..,SI..}.WAV`` as NIST SPHERE, 16 kHz,
  with ``.PHN`` (TIMIT-61 labels from the synthesiser's phones, ``h#`` at the edges, ``pau`` in pauses),
  ``.WRD`` and ``.TXT``). SA: the two dialect sentences every speaker reads; SX: a pool of compact
  sentences, each read by ``sx_readers`` speakers; SI: sentences unique to one speaker.
- ``speech_commands/``: the 35 words, one file per (word, speaker), speaker-disjoint
  ``validation_list.txt`` / ``testing_list.txt``.
- ``crema_d/AudioWAV/``: sentences spoken with six prosodic "emotions" (pitch, range and rate settings).
- ``slurp/``: spoken commands with scenario/action/intent in ``dataset/slurp/{train,devel,test}.jsonl``
  and FLAC recordings in ``audio/slurp_real/``.
- ``words/``: carrier sentences holding every word of the semantic-phonetic word set, with a Praat
  TextGrid per utterance (tier ``words``, tier ``phones``): the aligned-corpus layout of the preference
  analysis (LibriSpeech + Montreal Forced Aligner TextGrids in the real configuration).
"""

from __future__ import annotations

import json
import logging
from itertools import cycle
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from braintune.downstream.labels import CREMA_D_EMOTIONS, SPEECH_COMMANDS_35, arpabet_to_timit

log = logging.getLogger("braintune.downstream.demo")

SAMPLE_RATE = 16000

#: The two TIMIT dialect (SA) sentences, read by every speaker.
SA_SENTENCES = (
    "She had your dark suit in greasy wash water all year.",
    "Don't ask me to carry an oily rag like that.",
)

#: Compact, phonetically varied sentences (written for the demo; TIMIT's own SX texts are LDC's).
SX_POOL = (
    "The quick brown fox jumped over the lazy dog.",
    "A big chunk of cheese fell on the shiny floor.",
    "Which thick boots should the young judge wear?",
    "Five joyful voices sang through the foggy valley.",
    "Please measure the azure vase with the yellow ruler.",
    "The thin wizard hid his shoes beneath the oak.",
    "Our choir gave a vivid show at the zoo.",
    "Fresh pearls glow in the cool harbour water.",
)

_SI_SUBJECTS = ("the old farmer", "my sister", "a tired pilot", "the little boy", "our neighbour", "the teacher",
                "a quiet student", "the baker", "his uncle", "the nurse")
_SI_VERBS = ("painted", "carried", "found", "borrowed", "cleaned", "described", "opened", "forgot", "repaired", "sold")
_SI_OBJECTS = ("a green bicycle", "the wooden box", "an empty bottle", "the broken clock", "a small boat",
               "the red lantern", "a heavy coat", "the paper map", "a silver spoon", "the garden gate")
_SI_TAILS = ("before dinner", "last winter", "near the river", "in the morning", "after the storm",
             "at the market", "without a word", "on sunday", "by the window", "during the fair")

#: Prosodic stand-ins of CREMA-D's emotions: (pitch, pitch range, rate offset in wpm).
EMOTION_PROSODY = {
    "ANG": (62, 95, 45),
    "DIS": (35, 70, -35),
    "FEA": (80, 30, 60),
    "HAP": (72, 90, 20),
    "NEU": (50, 45, 0),
    "SAD": (25, 10, -60),
}
#: CREMA-D sentence codes with their texts (a subset of the corpus' twelve).
CREMA_D_SENTENCES = {
    "IEO": "It's eleven o'clock.",
    "TIE": "That is exactly what happened.",
    "DFA": "Don't forget a jacket.",
    "ITS": "I think I have a doctor's appointment.",
}

#: SLURP-like commands: (scenario, action, phrasings).
SLURP_COMMANDS = (
    ("alarm", "set", ("wake me up at eight o'clock", "set an alarm for seven tomorrow", "alarm at six please")),
    ("weather", "query", ("what is the weather like today", "will it rain tomorrow", "is it cold outside")),
    ("play", "music", ("play some jazz music", "put on my favourite song", "play the latest album")),
    ("calendar", "remove", ("delete my meeting on friday", "cancel the dentist appointment", "remove lunch from my calendar")),
    ("iot", "hue_lightoff", ("turn off the lights", "switch the kitchen light off", "lights off in the bedroom")),
    ("email", "sendemail", ("send an email to john", "email my boss about the report", "write a mail to anna")),
    ("news", "query", ("what are the latest headlines", "tell me the news", "any news about sports")),
    ("transport", "ticket", ("book a train ticket to paris", "buy a bus ticket for tonight", "get me a ticket to boston")),
)

#: espeak-ng variants of the stand-in speakers (not the breathy f2, f3, f5: braintune.data.synth.IRREPRODUCIBLE_VARIANTS)
_VOICE_VARIANTS = ("m1", "f1", "m3", "f4", "m2", "m4", "m5", "m6", "m7")


def speaker_voices(n: int, seed: int) -> list[dict]:
    """``n`` synthetic speakers: espeak variants with seeded pitch and rate offsets."""
    rng = np.random.default_rng(seed)
    voices = []
    for i, variant in zip(range(n), cycle(_VOICE_VARIANTS)):
        voices.append({"voice": f"en-us+{variant}", "pitch": int(rng.integers(35, 66)),
                       "rate": int(rng.integers(150, 201))})
    return voices


def _request(text: str, voice: dict, **overrides) -> dict:
    """Arguments of :func:`braintune.data.synth.synthesize` for one utterance of a speaker."""
    params = {"text": text, "voice": voice["voice"], "rate": voice["rate"], "pitch": voice["pitch"], "pitch_range": 50}
    params.update(overrides)
    params["rate"] = int(np.clip(params["rate"], 80, 450))
    return params


def _speak_all(requests: list[dict]):
    """Synthesise a batch in one isolated espeak worker; yield ``(utterance, 16 kHz audio)``."""
    from braintune.data.synth import synthesize_many

    for utt in synthesize_many(requests):
        yield utt, soxr.resample(utt.audio, utt.sample_rate, SAMPLE_RATE).astype(np.float32)


def _samples(t: float, n: int) -> int:
    return int(min(max(round(t * SAMPLE_RATE), 0), n))


def write_timit(root: Path, n_train: int, n_test: int, n_sx: int, n_si: int, sx_readers: int, seed: int) -> int:
    """A TIMIT-layout corpus; returns the number of utterances written."""
    rng = np.random.default_rng(seed)
    voices = speaker_voices(n_train + n_test, seed)
    si_used: set[str] = set()
    jobs = []
    for k, voice in enumerate(voices):
        split = "TRAIN" if k < n_train else "TEST"
        sex = "F" if "+f" in voice["voice"] else "M"
        speaker = f"{sex}DM{k:02d}"  # sex + initials + digit, as TIMIT speaker ids
        sentences = [(f"SA{i + 1}", t) for i, t in enumerate(SA_SENTENCES)]
        for j in range(min(n_sx, len(SX_POOL))):  # groups of sx_readers speakers share their SX set
            idx = ((k // sx_readers) * n_sx + j) % len(SX_POOL)
            sentences.append((f"SX{idx + 1}", SX_POOL[idx]))
        for _ in range(n_si):
            while True:
                text = " ".join(str(rng.choice(p)) for p in (_SI_SUBJECTS, _SI_VERBS, _SI_OBJECTS, _SI_TAILS)) + "."
                text = text[0].upper() + text[1:]
                if text not in si_used:
                    break
            si_used.add(text)
            sentences.append((f"SI{100 + len(si_used)}", text))
        out_dir = root / split / "DR1" / speaker
        out_dir.mkdir(parents=True, exist_ok=True)
        jobs.extend((out_dir, sent, text, _request(text, voice)) for sent, text in sentences)
    edge = int(0.1 * SAMPLE_RATE)  # TIMIT utterances begin and end with silence (h#)
    for (out_dir, sent, text, _), (utt, audio) in zip(jobs, _speak_all([j[3] for j in jobs])):
        audio = np.pad(audio, (edge, edge))
        n = len(audio)
        phn, cursor = [], 0
        for start, end, label in utt.phones:
            s, e = edge + _samples(start, n), edge + _samples(end, n)
            if s > cursor:
                phn.append((cursor, s, "h#" if cursor == 0 else "pau"))
            phn.append((s, e, arpabet_to_timit(label)))
            cursor = e
        if cursor < n:
            phn.append((cursor, n, "h#"))
        stem = out_dir / sent
        sf.write(str(stem) + ".WAV", audio, SAMPLE_RATE, format="NIST", subtype="PCM_16")
        Path(str(stem) + ".PHN").write_text("".join(f"{s} {e} {lab}\n" for s, e, lab in phn if e > s))
        Path(str(stem) + ".WRD").write_text(
            "".join(f"{edge + _samples(s, n)} {edge + _samples(e, n)} {w}\n" for s, e, w in utt.words))
        Path(str(stem) + ".TXT").write_text(f"0 {n} {text}\n")
    return len(jobs)


def write_speech_commands(root: Path, n_speakers: int, seed: int, duration_s: float = 1.0) -> int:
    """Speech Commands layout; the last speaker is the test set, the one before validation (with more
    than three speakers)."""
    voices = speaker_voices(n_speakers, seed + 1)
    ids = [f"{k:08x}" for k in np.random.default_rng(seed).integers(0, 2**32, n_speakers)]
    lists = {"validation_list.txt": [], "testing_list.txt": []}
    n_len = int(duration_s * SAMPLE_RATE)
    jobs = [(k, spk, word, _request(word, voice)) for k, (voice, spk) in enumerate(zip(voices, ids))
            for word in SPEECH_COMMANDS_35]
    for (k, spk, word, _), (_, audio) in zip(jobs, _speak_all([j[3] for j in jobs])):
        clip = np.zeros(n_len, np.float32)
        clip[: min(n_len, len(audio))] = audio[:n_len]
        rel = f"{word}/{spk}_nohash_0.wav"
        (root / word).mkdir(parents=True, exist_ok=True)
        sf.write(root / rel, clip, SAMPLE_RATE, subtype="PCM_16")
        if k == n_speakers - 1:
            lists["testing_list.txt"].append(rel)
        elif k == n_speakers - 2 and n_speakers > 3:  # tiny demos keep two training speakers
            lists["validation_list.txt"].append(rel)
    for name, rels in lists.items():
        (root / name).write_text("".join(r + "\n" for r in rels))
    return n_speakers * len(SPEECH_COMMANDS_35)


def write_crema_d(root: Path, n_actors: int, seed: int) -> int:
    """CREMA-D layout: every actor speaks every sentence with every prosodic emotion."""
    voices = speaker_voices(n_actors, seed + 2)
    out = root / "AudioWAV"
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for k, voice in enumerate(voices):
        for code, text in CREMA_D_SENTENCES.items():
            for emotion in CREMA_D_EMOTIONS:
                pitch, prange, drate = EMOTION_PROSODY[emotion]
                jobs.append((f"{1001 + k}_{code}_{emotion}_XX.wav",
                             _request(text, voice, pitch=int(np.clip(pitch + voice["pitch"] - 50, 0, 100)),
                                      pitch_range=prange, rate=voice["rate"] + drate)))
    for (name, _), (_, audio) in zip(jobs, _speak_all([j[1] for j in jobs])):
        sf.write(out / name, audio, SAMPLE_RATE, subtype="PCM_16")
    return len(jobs)


def write_slurp(root: Path, n_speakers: int, seed: int) -> int:
    """SLURP layout; speakers are split train / devel / test (last two speakers: devel, test)."""
    voices = speaker_voices(n_speakers, seed + 3)
    audio_dir = root / "audio" / "slurp_real"
    text_dir = root / "dataset" / "slurp"
    audio_dir.mkdir(parents=True, exist_ok=True)
    text_dir.mkdir(parents=True, exist_ok=True)
    items = {"train": [], "devel": [], "test": []}
    slurp_id = 0
    jobs = []
    for k, voice in enumerate(voices):
        split = "test" if k == n_speakers - 1 else "devel" if k == n_speakers - 2 else "train"
        for scenario, action, phrasings in SLURP_COMMANDS:
            for sentence in phrasings:
                jobs.append((split, scenario, action, sentence, _request(sentence, voice)))
    for (split, scenario, action, sentence, _), (_, audio) in zip(jobs, _speak_all([j[4] for j in jobs])):
        slurp_id += 1
        name = f"audio-{1490000000 + slurp_id}.flac"
        sf.write(audio_dir / name, audio, SAMPLE_RATE, format="FLAC")
        items[split].append({
            "slurp_id": slurp_id, "sentence": sentence, "scenario": scenario, "action": action,
            "intent": f"{scenario}_{action}",
            "recordings": [{"file": name, "wer": 0.0, "ent_wer": 0.0, "status": "correct"}],
        })
    for split, rows in items.items():
        (text_dir / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return slurp_id


def write_word_corpus(root: Path, words: list[str], n_speakers: int, seed: int,
                      carrier: str = "i said {word} again") -> int:
    """Aligned word corpus: one carrier sentence per (word, speaker), wav + TextGrid (words, phones)."""
    from praatio import textgrid

    voices = speaker_voices(n_speakers, seed + 4)
    jobs = []
    for k, voice in enumerate(voices):
        (root / f"spk{k:02d}").mkdir(parents=True, exist_ok=True)
        jobs.extend((k, word, _request(carrier.format(word=word), voice)) for word in words)
    for (k, word, _), (utt, audio) in zip(jobs, _speak_all([j[2] for j in jobs])):
        spk_dir = root / f"spk{k:02d}"
        dur = len(audio) / SAMPLE_RATE
        stem = spk_dir / f"{word}_{k:02d}"
        sf.write(str(stem) + ".wav", audio, SAMPLE_RATE, subtype="PCM_16")
        grid = textgrid.Textgrid()
        for name, entries in (("words", utt.words), ("phones", utt.phones)):
            clean = [(round(s, 4), round(min(e, dur), 4), lab) for s, e, lab in entries if min(e, dur) > s]
            grid.addTier(textgrid.IntervalTier(name, clean, 0, dur))
        grid.save(str(stem) + ".TextGrid", format="short_textgrid", includeBlankSpaces=True)
    return len(jobs)


def write_all(out: Path, cfg: dict, seed: int, words: list[str] | None = None) -> dict[str, int]:
    """Write every stand-in corpus under ``out`` (``downstream.demo`` sizes); returns counts."""
    out = Path(out)
    counts = {
        "timit": write_timit(out / "timit", cfg["timit_train_speakers"], cfg["timit_test_speakers"],
                             cfg["timit_sx_per_speaker"], cfg["timit_si_per_speaker"], cfg["timit_sx_readers"], seed),
        "speech_commands": write_speech_commands(out / "speech_commands", cfg["commands_speakers"], seed),
        "crema_d": write_crema_d(out / "crema_d", cfg["crema_d_actors"], seed),
        "slurp": write_slurp(out / "slurp", cfg["slurp_speakers"], seed),
    }
    if words:
        counts["words"] = write_word_corpus(out / "words", words, cfg["word_speakers"], seed)
    log.info("demo downstream corpora written under %s: %s", out, counts)
    return counts
