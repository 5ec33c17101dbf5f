"""Speech synthesis with true word and phone timings: espeak-ng through ``espeakng-loader`` (ctypes).

:func:`synthesize` turns English text into 22.05 kHz mono audio plus the word and phone intervals
that espeak-ng itself reports while it speaks (its WORD and PHONEME events carry sample offsets),
so no forced alignment is needed. Phone labels are converted from espeak's IPA to CMU ARPAbet with
stress digits (``AH0``, ``IY1``) through the explicit table :data:`IPA_TO_ARPABET`, i.e. the phone
set of ds003020's TextGrids.

Used by the generated ds003020 miniature (:mod:`braintune.data.demo`) and by the downstream stage's
generated stand-ins. espeak-ng keeps global state (voice, parameters, callback), so every call holds
:data:`_LOCK`; processes each initialise their own copy of the library.

Conventions:
- ``words``: one ``(start_s, end_s, label)`` per word token of the text (lower case, punctuation
  stripped), in order; start = onset of its first phone, end = offset of its last phone.
- ``phones``: ``(start_s, end_s, ARPAbet)`` of speech only; silences are not listed (they are the
  gaps). A phone ends where espeak's next phoneme or pause event begins.
- espeak sometimes speaks two words as one (``in the``, ``of the``): their joint phones are split
  between the words by each word's own phoneme count (``espeak_TextToPhonemes``), proportionally
  if the counts disagree.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import pickle
import re
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["IPA_TO_ARPABET", "SAMPLE_RATE", "Utterance", "ipa_to_arpabet", "list_voices", "synthesize", "synthesize_many"]

#: Output sample rate of espeak-ng (Hz).
SAMPLE_RATE = 22050

# --- the IPA -> ARPAbet table -------------------------------------------------------------------
#: espeak-ng's IPA phoneme names (en / en-us voices; stress marks removed) -> ARPAbet phones (CMU set
#: of 39, as in ds003020's TextGrids). Several IPA symbols map to two ARPAbet phones (r-coloured
#: vowels, syllabic consonants); their interval is then split equally. Reductions without a CMU
#: counterpart map to the closest CMU phone: flap ``ɾ`` -> T, glottal stop ``ʔ`` -> T, ``ᵻ`` -> IH,
#: ``ɐ`` -> AH, British ``ɒ`` -> AA.
IPA_TO_ARPABET: dict[str, tuple[str, ...]] = {
    # monophthongs
    "ə": ("AH",), "ɐ": ("AH",), "ʌ": ("AH",), "ɜ": ("ER",), "ɜː": ("ER",), "ɚ": ("ER",), "ɝ": ("ER",),
    "ɪ": ("IH",), "ᵻ": ("IH",), "i": ("IY",), "iː": ("IY",), "ɛ": ("EH",), "e": ("EY",), "æ": ("AE",),
    "a": ("AE",), "ɑ": ("AA",), "ɑː": ("AA",), "ɒ": ("AA",), "ɔ": ("AO",), "ɔː": ("AO",),
    "ʊ": ("UH",), "u": ("UW",), "uː": ("UW",), "o": ("OW",), "oː": ("OW",),
    # diphthongs
    "eɪ": ("EY",), "aɪ": ("AY",), "ɔɪ": ("OY",), "aʊ": ("AW",), "oʊ": ("OW",), "əʊ": ("OW",),
    # r-coloured and vowel + r / schwa sequences
    "ɛɹ": ("EH", "R"), "ɛə": ("EH", "R"), "eə": ("EH", "R"), "ɑːɹ": ("AA", "R"), "ɑɹ": ("AA", "R"), "ɔːɹ": ("AO", "R"),
    "ɔɹ": ("AO", "R"), "oːɹ": ("AO", "R"), "ɪɹ": ("IH", "R"), "ɪə": ("IH", "R"), "iə": ("IY", "AH"),
    "ʊɹ": ("UH", "R"), "ʊə": ("UH", "R"), "aɪɚ": ("AY", "ER"), "aɪə": ("AY", "ER"), "aʊɚ": ("AW", "ER"),
    "aʊə": ("AW", "ER"), "juː": ("Y", "UW"), "ju": ("Y", "UW"),
    # syllabic consonants
    "əl": ("AH", "L"), "l̩": ("AH", "L"), "n̩": ("AH", "N"), "m̩": ("AH", "M"),
    # consonants
    "p": ("P",), "b": ("B",), "t": ("T",), "d": ("D",), "k": ("K",), "ɡ": ("G",), "g": ("G",),
    "f": ("F",), "v": ("V",), "θ": ("TH",), "ð": ("DH",), "s": ("S",), "z": ("Z",), "ʃ": ("SH",),
    "ʒ": ("ZH",), "h": ("HH",), "x": ("HH",), "ç": ("HH",), "m": ("M",), "n": ("N",), "ŋ": ("NG",),
    "l": ("L",), "ɫ": ("L",), "ɬ": ("L",), "ɹ": ("R",), "r": ("R",), "ɾ": ("T",), "ʔ": ("T",),
    "w": ("W",), "ʍ": ("W",), "j": ("Y",), "tʃ": ("CH",), "dʒ": ("JH",), "ts": ("T", "S"),
}

#: ARPAbet vowels (carry a stress digit).
ARPABET_VOWELS = frozenset(
    {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}
)

_STRESS_MARKS = {"ˈ": "1", "ˌ": "2"}
# Marks espeak may attach to a phoneme name that carry no phone identity (length, tie, syllabic
# break, secondary articulation that CMU does not distinguish).
_IGNORED_MARKS = "ˑ‿͡.|"


def ipa_to_arpabet(label: str) -> list[str]:
    """One espeak IPA phoneme name -> ARPAbet phones with stress digits on vowels.

    ``'ˈæ' -> ['AE1']``, ``'ə' -> ['AH0']``, ``'ˈɑːɹ' -> ['AA1', 'R']``, ``'tʃ' -> ['CH']``.
    The stress of the name goes to its first vowel; other vowels get 0.

    Raises:
        ValueError: for a name that is not in :data:`IPA_TO_ARPABET`.
    """
    stress = "0"
    core = label
    for mark, digit in _STRESS_MARKS.items():
        if mark in core:
            stress = digit
            core = core.replace(mark, "")
    core = "".join(ch for ch in core if ch not in _IGNORED_MARKS)
    phones = IPA_TO_ARPABET.get(core)
    if phones is None and core.endswith("ː"):
        phones = IPA_TO_ARPABET.get(core[:-1])
    if phones is None:
        raise ValueError(
            f"espeak phoneme {label!r} has no ARPAbet entry in braintune.data.synth.IPA_TO_ARPABET"
        )
    out, first_vowel = [], True
    for phone in phones:
        if phone in ARPABET_VOWELS:
            out.append(phone + (stress if first_vowel else "0"))
            first_vowel = False
        else:
            out.append(phone)
    return out


# --- ctypes binding ----------------------------------------------------------------------------
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_PHONEME_IPA = 0x0002
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED, _EVENT_WORD, _EVENT_PHONEME = 0, 1, 7
_PARAM = {"rate": 1, "volume": 2, "pitch": 3, "range": 4, "wordgap": 7}


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))

#: Serialises every use of the (process-global) espeak-ng state.
_LOCK = threading.RLock()


class _Engine:
    """The loaded library of this process plus the buffers its callback fills."""

    def __init__(self) -> None:
        import espeakng_loader

        self.pid = os.getpid()
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        self.lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self.lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        rate = self.lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(),
            _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA,
        )
        if rate != SAMPLE_RATE:
            raise RuntimeError(f"espeak-ng initialised at {rate} Hz, expected {SAMPLE_RATE} Hz")
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[int, int, int, str]] = []  # (type, text_position, sample, phoneme)
        self._callback = _CALLBACK(self._on_audio)  # keep a reference: C holds the pointer
        self.lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, wav, n_samples, events) -> int:
        if n_samples > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, (n_samples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type in (_EVENT_WORD, _EVENT_PHONEME):
                name = bytes(ev.id.string).split(b"\0")[0].decode("utf-8", "replace") if ev.type == _EVENT_PHONEME else ""
                self.events.append((ev.type, ev.text_position, ev.sample, name))
            i += 1
        return 0

    def phoneme_count(self, word: str) -> int:
        """Number of phonemes espeak gives ``word`` spoken alone (IPA, separator '_')."""
        buf = ctypes.c_char_p(word.encode("utf-8"))
        out = []
        while buf.value:
            res = self.lib.espeak_TextToPhonemes(ctypes.byref(buf), _CHARS_UTF8, 0x02 | (ord("_") << 8))
            if res:
                out.append(res.decode("utf-8", "replace"))
        phonemes = [p for p in re.split(r"[_\s]+", " ".join(out)) if p and p not in _STRESS_MARKS]
        return len(phonemes)


_ENGINE: _Engine | None = None


def _engine() -> _Engine:
    global _ENGINE
    if _ENGINE is None or _ENGINE.pid != os.getpid():
        _ENGINE = _Engine()
    return _ENGINE


# --- the API -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Utterance:
    """Synthesised speech and its true timings.

    Attributes:
        audio: float32 mono samples in [-1, 1].
        sample_rate: Hz (22050).
        words: ``(start_s, end_s, word)`` per word token, in order.
        phones: ``(start_s, end_s, ARPAbet with stress digit)`` for speech; silences are gaps.
        word_phones: for each word, the indices into ``phones`` of its phones.
    """

    audio: np.ndarray
    sample_rate: int
    words: list[tuple[float, float, str]] = field(default_factory=list)
    phones: list[tuple[float, float, str]] = field(default_factory=list)
    word_phones: list[list[int]] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


_WORD_CHARS = re.compile(r"[^a-z0-9']+")


def _clean(token: str) -> str:
    return _WORD_CHARS.sub("", token.lower()).strip("'")


def list_voices() -> list[str]:
    """espeak-ng voice variants usable as ``voice='en-us+<variant>'``."""
    import espeakng_loader

    path = os.path.join(espeakng_loader.get_data_path(), "voices", "!v")
    return sorted(os.listdir(path))


def synthesize(
    text: str,
    voice: str = "en-us",
    rate: int = 175,
    pitch: int = 50,
    pitch_range: int = 50,
    volume: int = 100,
    word_gap: int = 0,
) -> Utterance:
    """Speak ``text`` with espeak-ng and return the audio with its word and phone intervals.

    Deterministic: the same arguments give the same samples in any process (see
    :func:`synthesize_many`).

    Args:
        text: English text; words are whitespace-separated tokens (punctuation shapes prosody
            and pauses, and is stripped from the word labels).
        voice: espeak voice name, optionally with a variant (``en-us+f4``, ``en+m3``; not the
            breathy :data:`IRREPRODUCIBLE_VARIANTS`).
        rate: speaking rate in words per minute (80-450).
        pitch, pitch_range: base pitch and its range (0-100).
        volume: amplitude (0-200; 100 is espeak's default).
        word_gap: extra pause between words, in units of 10 ms.

    Raises:
        ValueError: text without words, an unknown voice, a parameter out of range, or an
            espeak phoneme missing from :data:`IPA_TO_ARPABET`.
    """
    return synthesize_many(
        [dict(text=text, voice=voice, rate=rate, pitch=pitch, pitch_range=pitch_range, volume=volume, word_gap=word_gap)]
    )[0]


def synthesize_many(requests: list[dict], isolate: bool = True) -> list[Utterance]:
    """Synthesise several utterances (each a dict of :func:`synthesize`'s arguments) in order.

    espeak-ng carries hidden state from one utterance to the next (its waveform generator's phase
    and echo buffers survive even ``espeak_Terminate``), so the samples of an utterance depend on
    every utterance spoken before it in the process. With ``isolate=True`` (the default) each
    batch runs in a child forked from a pristine server process (espeak-ng loaded and initialised,
    never used; a few ms per batch, 0.2 s to start the server once), so the result depends only on
    ``requests``: bit-identical across calls, processes and machines with the same library.
    ``isolate=False`` runs in this process (not reproducible; for exploration).
    """
    requests = [dict(r) for r in requests]
    for r in requests:
        _check_request(r)
    if not isolate:
        return [_synthesize_here(**r) for r in requests]
    with _LOCK:
        return _server().run(requests)


# --- the pristine fork server ------------------------------------------------------------------
_HEADER = struct.Struct("<Q")


def _write_message(fd_or_stream, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    payload = _HEADER.pack(len(data)) + data
    if isinstance(fd_or_stream, int):
        view = memoryview(payload)
        while view:
            view = view[os.write(fd_or_stream, view) :]
    else:
        fd_or_stream.write(payload)
        fd_or_stream.flush()


def _read_message(stream):
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (n,) = _HEADER.unpack(header)
    data = stream.read(n)
    if len(data) < n:
        return None
    return pickle.loads(data)


class _Server:
    """Client side of the fork server (one per process, started on first use)."""

    def __init__(self) -> None:
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        self.pid = os.getpid()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from braintune.data.synth import _serve; _serve()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
        )

    def alive(self) -> bool:
        return self.pid == os.getpid() and self.proc.poll() is None

    def run(self, requests: list[dict]) -> list[Utterance]:
        try:
            _write_message(self.proc.stdin, requests)
            reply = _read_message(self.proc.stdout)
        except (BrokenPipeError, OSError) as err:
            reply = None
            cause = err
        else:
            cause = None
        if reply is None:
            self.close()
            raise RuntimeError(f"synthesize: the espeak-ng server died ({cause or 'no reply'})")
        status, payload = reply
        if status != "ok":
            raise ValueError(f"synthesize: {payload}")
        return payload

    def close(self) -> None:
        if self.pid == os.getpid() and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


_SERVER: _Server | None = None


def _server() -> _Server:
    global _SERVER
    if _SERVER is None or not _SERVER.alive():
        _SERVER = _Server()
        atexit.register(_SERVER.close)
    return _SERVER


def _serve() -> None:
    """The server: initialise espeak-ng once, then fork one child per batch read from stdin; the
    child synthesises from that pristine state and writes the reply to stdout."""
    global _ENGINE
    _engine()
    stdin = sys.stdin.buffer
    out = sys.stdout.fileno()
    while True:
        requests = _read_message(stdin)
        if requests is None:
            return
        pid = os.fork()
        if pid == 0:  # child: adopt the pristine engine, never re-initialise it
            _ENGINE.pid = os.getpid()
            try:
                reply = ("ok", [_synthesize_here(**r) for r in requests])
            except Exception as err:  # reported to the caller as ValueError
                reply = ("error", f"{type(err).__name__}: {err}")
            _write_message(out, reply)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            _write_message(out, ("error", f"espeak-ng worker exited with status {status}"))


_DEFAULTS = dict(voice="en-us", rate=175, pitch=50, pitch_range=50, volume=100, word_gap=0)
_RANGES = dict(rate=(80, 450), pitch=(0, 100), pitch_range=(0, 100), volume=(0, 200), word_gap=(0, 100))


#: espeak-ng voice variants whose samples differ between processes: the breathy female variants add
#: aspiration noise that is not a function of the request (measured: the same request in two processes
#: a second apart gives different samples; every other variant, and the plain voices, are bit-identical;
#: tests/test_synth.py). Rejected so that the demo data stay reproducible.
IRREPRODUCIBLE_VARIANTS = frozenset({"f2", "f3", "f5"})


def _check_request(request: dict) -> None:
    unknown = set(request) - set(_DEFAULTS) - {"text"}
    if unknown or "text" not in request:
        raise ValueError(f"synthesize: unknown arguments {sorted(unknown)} or no text in {request}")
    for key, value in _DEFAULTS.items():
        request.setdefault(key, value)
    variant = str(request["voice"]).partition("+")[2]
    if variant in IRREPRODUCIBLE_VARIANTS:
        raise ValueError(
            f"synthesize: voice {request['voice']!r}: espeak-ng's variant {variant!r} adds noise that differs "
            f"between runs; use another variant (not {sorted(IRREPRODUCIBLE_VARIANTS)})"
        )
    if not any(_clean(t) for t in str(request["text"]).split()):
        raise ValueError(f"synthesize: no word in text {request['text']!r}")
    for name, (lo, hi) in _RANGES.items():
        if not lo <= int(request[name]) <= hi:
            raise ValueError(f"synthesize: {name}={request[name]} outside [{lo}, {hi}]")


def _synthesize_here(text, voice, rate, pitch, pitch_range, volume, word_gap) -> Utterance:
    tokens = text.split()
    labels = [_clean(t) for t in tokens]
    joined = " ".join(tokens)
    # 1-based character position where every token starts in the joined text (espeak's text_position).
    starts, pos = [], 1
    for tok in tokens:
        starts.append(pos)
        pos += len(tok) + 1

    with _LOCK:
        eng = _engine()
        if eng.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"synthesize: espeak-ng has no voice {voice!r}")
        for key, value in (("rate", rate), ("pitch", pitch), ("range", pitch_range), ("volume", volume), ("wordgap", word_gap)):
            eng.lib.espeak_SetParameter(_PARAM[key], int(value), 0)
        eng.chunks, eng.events = [], []
        data = joined.encode("utf-8")
        buf = ctypes.create_string_buffer(data)
        err = eng.lib.espeak_Synth(buf, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        chunks, events = eng.chunks, eng.events
        eng.chunks, eng.events = [], []
        if err != 0:
            raise RuntimeError(f"synthesize: espeak_Synth failed with code {err} for {text[:60]!r}")
        audio = (np.concatenate(chunks) if chunks else np.zeros(0, np.int16)).astype(np.float32) / 32768.0
        return _assemble(audio, events, tokens, labels, starts, eng)


def _token_at(text_position: int, starts: list[int]) -> int:
    """Index of the token containing 1-based character ``text_position`` (espeak may report the
    position one character early, on the preceding space)."""
    idx = int(np.searchsorted(starts, text_position + 1, side="right")) - 1
    return max(idx, 0)


def _assemble(audio, events, tokens, labels, starts, eng) -> Utterance:
    sr = SAMPLE_RATE
    n = len(audio)
    # Phoneme intervals: each PHONEME event starts one; it ends at the next PHONEME event (an
    # empty name is a pause) or at the end of the audio. Each belongs to the preceding WORD event.
    word_events: list[int] = []  # token index of every WORD event
    phon_samples = [ev[2] for ev in events if ev[0] == _EVENT_PHONEME] + [n]
    phon: list[tuple[int, int, str, int]] = []  # (start, end, ipa name, word-event index)
    k = 0
    for etype, tpos, sample, name in events:
        if etype == _EVENT_WORD:
            word_events.append(_token_at(tpos, starts))
            continue
        k += 1
        end = min(phon_samples[k], n)
        if name and end > sample and word_events:
            phon.append((sample, end, name, len(word_events) - 1))

    words_out: list[tuple[float, float, str]] = []
    phones_out: list[tuple[float, float, str]] = []
    word_phones: list[list[int]] = []
    for w, tok in enumerate(word_events):
        # Tokens this WORD event speaks: from its token up to the next event's token.
        nxt = word_events[w + 1] if w + 1 < len(word_events) else len(tokens)
        covered = [t for t in range(tok, max(nxt, tok + 1)) if labels[t]]
        segs = [(s, e, name) for (s, e, name, owner) in phon if owner == w]
        if not covered or not segs:
            continue
        if len(covered) == 1:
            groups = [segs]
        else:  # espeak joined words ("in the"): split by each word's own phoneme count
            own = [eng.phoneme_count(tokens[t]) for t in covered]
            total = len(segs)
            if sum(own) != total or min(own) < 1:
                share = np.asarray(own, float) / max(sum(own), 1) * total
                own = np.maximum(1, np.round(share)).astype(int).tolist()
                own[-1] = total - sum(own[:-1])
            cuts = np.cumsum([0, *own])
            groups = [segs[cuts[i] : cuts[i + 1]] for i in range(len(covered))]
        for t, group in zip(covered, groups):
            idx = []
            for s, e, name in group:
                parts = ipa_to_arpabet(name)
                bounds = np.linspace(s, e, len(parts) + 1).round().astype(int)
                for i, p in enumerate(parts):
                    if bounds[i + 1] > bounds[i]:
                        idx.append(len(phones_out))
                        phones_out.append((float(bounds[i] / sr), float(bounds[i + 1] / sr), p))
            if idx:
                words_out.append((phones_out[idx[0]][0], phones_out[idx[-1]][1], labels[t]))
                word_phones.append(idx)
    return Utterance(audio=audio, sample_rate=sr, words=words_out, phones=phones_out, word_phones=word_phones)
