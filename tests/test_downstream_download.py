"""Loopback tests of the downstream corpora's download rules and of the rehearsal's served corpora.

A real HTTP server on 127.0.0.1 serves a temporary folder; URL path prefixes can be refused with a status and
a message (as GitHub refuses the LFS media of a repository over its LFS budget). The download functions of
``braintune.downstream.download`` run unchanged against it; the rehearsal test builds the corpora with
:func:`braintune.rehearsal.corpora.build_corpora`, downloads them with the rules' functions and indexes them
with the ``downstream_index`` job function."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
import tarfile
import threading
import urllib.parse
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from braintune.config import load_config, validate_config
from braintune.data.download import DownloadError
from braintune.downstream import download as dl

BUDGET = ("This repository exceeded its LFS budget. The account responsible for the budget should increase "
          "it to restore access.")
HEADER = '"","FileName","VoiceVote","VoiceLevel","FaceVote","FaceLevel","MultiModalVote","MultiModalLevel"\n'


class RefusingHandler(SimpleHTTPRequestHandler):
    """Static files; a URL path under a prefix of ``server.refusals`` gets that (status, message); every
    requested path is recorded."""

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        path = urllib.parse.unquote(self.path.split("?", 1)[0])
        with self.server.lock:
            self.server.requests.append(path)
        for prefix, (status, message) in self.server.refusals.items():
            if path.startswith("/" + prefix.strip("/") + "/"):
                body = message.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
        super().do_GET()


@pytest.fixture()
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(RefusingHandler, directory=str(root)))
    httpd.lock, httpd.requests, httpd.refusals = threading.Lock(), [], {}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    httpd.root, httpd.url = root, f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _pointer(data: bytes) -> str:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{hashlib.sha256(data).hexdigest()}\nsize {len(data)}\n"


def lfs_repository(server, files: dict[str, bytes], mirror: dict[str, bytes] | None = None) -> dict:
    """A tiny CREMA-D in its Git LFS layout: the raw tree (summaryTable.csv, pointer files) under /raw, the
    content under the mirror's /mirror/-/raw (``mirror`` overrides some files' bytes there), nothing under
    GitHub's /media. Returns the ``crema_d.download`` section pointing at them."""
    raw = server.root / "raw" / "Lab" / "CREMA-D" / "master"
    (raw / "processedResults").mkdir(parents=True)
    (raw / "AudioWAV").mkdir()
    rows = "".join(f'"{i}","{name}","A","60","A","80","A","70"\n' for i, name in enumerate(files, 1))
    (raw / "processedResults" / "summaryTable.csv").write_text(HEADER + rows)
    content = server.root / "mirror" / "-" / "raw" / "master" / "AudioWAV"
    content.mkdir(parents=True)
    for name, data in files.items():
        (raw / "AudioWAV" / f"{name}.wav").write_text(_pointer(data))
        (content / f"{name}.wav").write_bytes((mirror or {}).get(name, data))
    return {"repository": "Lab/CREMA-D", "ref": "master", "file_list": "processedResults/summaryTable.csv",
            "raw_url": f"{server.url}/raw/{{repository}}/{{ref}}",
            "media_urls": [f"{server.url}/media/{{repository}}/{{ref}}", f"{server.url}/mirror/-/raw/{{ref}}"]}


@pytest.fixture()
def crema_files():
    rng = np.random.default_rng(0)
    return {f"10{k:02d}_IEO_ANG_XX": rng.bytes(2000 + k) for k in range(3)}


# --- CREMA-D --------------------------------------------------------------------------------------


def test_crema_d_falls_back_to_the_mirror_when_github_refuses_and_reruns_cheaply(server, tmp_path, crema_files,
                                                                                caplog):
    d = lfs_repository(server, crema_files)
    server.refusals["media"] = (403, BUDGET)
    dest = tmp_path / "crema_d"
    with caplog.at_level(logging.DEBUG, logger="braintune.downstream.download"):
        dl.download_crema_d(d, dest)
    for name, data in crema_files.items():
        assert (dest / "AudioWAV" / f"{name}.wav").read_bytes() == data
    refused = [r for r in caplog.records if "trying the next source" in r.getMessage()]
    assert len(refused) == 3 and [r.levelname for r in refused].count("WARNING") == 1  # the first one warns
    assert "HTTP 403" in refused[0].getMessage() and "exceeded its LFS budget" in refused[0].getMessage()
    assert "3 from " + d["media_urls"][1] in caplog.text and "failed for 3 files" in caplog.text
    assert sum(p.startswith("/media/") for p in server.requests) == 3

    # a rerun keeps the verified files: only the file list and the pointers are read
    server.requests.clear()
    dl.download_crema_d(d, dest)
    assert sorted(server.requests) == sorted(["/raw/Lab/CREMA-D/master/processedResults/summaryTable.csv"]
                                             + [f"/raw/Lab/CREMA-D/master/AudioWAV/{n}.wav" for n in crema_files])
    # a damaged file is fetched again
    first = next(iter(crema_files))
    (dest / "AudioWAV" / f"{first}.wav").write_bytes(b"damaged")
    dl.download_crema_d(d, dest)
    assert (dest / "AudioWAV" / f"{first}.wav").read_bytes() == crema_files[first]


def test_crema_d_error_names_the_file_and_every_source_tried(server, tmp_path, crema_files):
    wrong, missing, good = crema_files
    d = lfs_repository(server, crema_files, mirror={wrong: b"not the audio"})
    (server.root / "mirror" / "-" / "raw" / "master" / "AudioWAV" / f"{missing}.wav").unlink()
    server.refusals["media"] = (403, BUDGET)
    dest = tmp_path / "crema_d"
    with pytest.raises(DownloadError) as info:
        dl.download_crema_d(d, dest)
    message = str(info.value)
    assert "2 of 3 downloads failed" in message
    for name in (wrong, missing):
        assert f"no source delivered AudioWAV/{name}.wav" in message
        assert f"{server.url}/media/Lab/CREMA-D/master/AudioWAV/{name}.wav: HTTP 403 Forbidden: {BUDGET}" in message
        assert not (dest / "AudioWAV" / f"{name}.wav").exists()  # nothing unverified is left
    assert f"{server.url}/mirror/-/raw/master/AudioWAV/{wrong}.wav: content does not match the pointer" in message
    assert f"{server.url}/mirror/-/raw/master/AudioWAV/{missing}.wav: HTTP 404" in message
    assert (dest / "AudioWAV" / f"{good}.wav").read_bytes() == crema_files[good]  # the others complete

    # once GitHub serves its media again, the first source delivers and the mirror is not asked
    server.refusals.clear()
    media = server.root / "media" / "Lab" / "CREMA-D" / "master" / "AudioWAV"
    media.mkdir(parents=True)
    for name, data in crema_files.items():
        (media / f"{name}.wav").write_bytes(data)
    server.requests.clear()
    dl.download_crema_d(d, dest)
    assert (dest / "AudioWAV" / f"{wrong}.wav").read_bytes() == crema_files[wrong]
    assert not any(p.startswith("/mirror/") for p in server.requests)


SHA = "ab" * 32


@pytest.mark.parametrize("text, match", [
    ("<html>404</html>", "not a Git LFS pointer"),
    (f"version https://git-lfs.github.com/spec/v1\noid md5:{SHA[:32]}\nsize 10\n", "unsupported LFS oid algorithm 'md5'"),
    ("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 10\n", "not 64 hexadecimal digits"),
    (f"version https://git-lfs.github.com/spec/v1\noid sha256:{SHA}\n", "without a 'size <bytes>' line"),
    (f"version https://git-lfs.github.com/spec/v1\noid sha256:{SHA}\nsize ten\n", "without a 'size <bytes>' line"),
])
def test_parse_lfs_pointer_rejects_what_is_no_pointer(text, match):
    with pytest.raises(ValueError, match=match):
        dl.parse_lfs_pointer(text)
    assert dl.parse_lfs_pointer(f"version https://git-lfs.github.com/spec/v1\noid sha256:{SHA}\nsize 10\n") == (SHA, 10)


def test_crema_d_broken_pointer_file_list_and_template_errors_name_the_url(server, tmp_path, crema_files):
    d = lfs_repository(server, crema_files)
    broken, real, _ = crema_files
    pointers = server.root / "raw" / "Lab" / "CREMA-D" / "master" / "AudioWAV"
    (pointers / f"{broken}.wav").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:12\nsize 3\n")
    (pointers / f"{real}.wav").write_bytes(crema_files[real])  # the content itself, not its pointer
    with pytest.raises(DownloadError) as info:
        dl.download_crema_d(d, tmp_path / "out")
    message = str(info.value)
    assert f"LFS pointer {server.url}/raw/Lab/CREMA-D/master/AudioWAV/{broken}.wav: LFS oid '12'" in message
    assert f"LFS pointer {server.url}/raw/Lab/CREMA-D/master/AudioWAV/{real}.wav: not a Git LFS pointer" in message

    table = server.root / "raw" / "Lab" / "CREMA-D" / "master" / "processedResults" / "summaryTable.csv"
    table.write_text('"","Name"\n"1","x"\n')
    with pytest.raises(DownloadError, match=r"summaryTable.csv: no column 'FileName'"):
        dl.download_crema_d(d, tmp_path / "out")
    table.unlink()
    with pytest.raises(DownloadError, match=rf"{server.url}/raw/Lab/CREMA-D/master/processedResults/summaryTable.csv: "
                                            "HTTP 404"):
        dl.download_crema_d(d, tmp_path / "out")
    with pytest.raises(ValueError, match=r"crema_d.download.media_urls\[1\] = .*\{branch\}"):
        dl.download_crema_d({**d, "media_urls": [d["media_urls"][0], "http://x/{branch}"]}, tmp_path / "out")


def test_transport_failure_names_the_url(tmp_path):
    with pytest.raises(dl.TransferError, match=r"http://127.0.0.1:1/file.bin: URLError"):
        dl.fetch("http://127.0.0.1:1/file.bin", tmp_path / "file.bin")
    assert not (tmp_path / "file.bin").exists()


# --- Speech Commands and SLURP -------------------------------------------------------------------


def _tar_gz(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_speech_commands_archive_is_verified_then_extracted(server, tmp_path):
    archive = _tar_gz({"./yes/0a_nohash_0.wav": b"RIFF yes", "./no/0b_nohash_0.wav": b"RIFF no",
                       "./validation_list.txt": b"", "./testing_list.txt": b"no/0b_nohash_0.wav\n"})
    (server.root / "data").mkdir()
    (server.root / "data" / "speech_commands_v0.02.tar.gz").write_bytes(archive)
    d = {"url": f"{server.url}/data/speech_commands_v0.02.tar.gz", "sha256": "0" * 64, "md5": None, "size": None}
    dest = tmp_path / "speech_commands"
    with pytest.raises(dl.ChecksumError, match=rf"speech_commands_v0.02.tar.gz from {d['url']}: sha256 "):
        dl.download_speech_commands(d, dest)
    assert not dest.exists() or not any(dest.iterdir())  # nothing unverified is extracted or kept
    dl.download_speech_commands({**d, "sha256": hashlib.sha256(archive).hexdigest(), "size": len(archive)}, dest)
    assert (dest / "yes" / "0a_nohash_0.wav").read_bytes() == b"RIFF yes"
    assert (dest / "testing_list.txt").read_text() == "no/0b_nohash_0.wav\n"
    assert not (dest / "speech_commands_v0.02.tar.gz").exists()


def test_slurp_text_and_audio(server, tmp_path, caplog):
    text = {s: json.dumps({"slurp_id": i, "action": "set", "recordings": [{"file": f"audio-{i}.flac"}]}).encode() + b"\n"
            for i, s in enumerate(("train", "devel", "test"))}
    base = server.root / "slurp" / "dataset" / "slurp"
    base.mkdir(parents=True)
    for split, data in text.items():
        (base / f"{split}.jsonl").write_bytes(data)
    audio = _tar_gz({f"slurp_real/audio-{i}.flac": b"fLaC%d" % i for i in range(3)})
    (server.root / "zenodo").mkdir()
    (server.root / "zenodo" / "slurp_real.tar.gz").write_bytes(audio)

    def entry(path, data=None):
        return {"url": f"{server.url}/{path}", "md5": None, "size": None if data is None else len(data),
                "sha256": None if data is None else hashlib.sha256(data).hexdigest()}

    d = {"text": [entry("slurp/dataset/slurp/train.jsonl", text["train"]), entry("slurp/dataset/slurp/devel.jsonl"),
                  entry("slurp/dataset/slurp/test.jsonl", text["test"])],
         "audio": [entry("zenodo/slurp_real.tar.gz", audio)]}
    dest = tmp_path / "slurp"
    with caplog.at_level(logging.WARNING, logger="braintune.downstream.download"):
        dl.download_slurp(d, dest)
    for split, data in text.items():
        assert (dest / "dataset" / "slurp" / f"{split}.jsonl").read_bytes() == data
    digest = hashlib.sha256(text["devel"]).hexdigest()  # unpinned: logged and written next to the file
    assert digest in caplog.text and (dest / "dataset" / "slurp" / "devel.jsonl.sha256").read_text().startswith(digest)
    assert sorted(p.name for p in (dest / "audio" / "slurp_real").iterdir()) == [f"audio-{i}.flac" for i in range(3)]
    assert not (dest / "slurp_real.tar.gz").exists()


# --- the rehearsal's corpora ---------------------------------------------------------------------


def _snapshot(*roots: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for root in roots for p in sorted(root.rglob("*"))}


def test_rehearsal_corpora_download_through_the_rules_and_index(server, tmp_path, monkeypatch):
    """build_corpora serves the public corpora as their distributions; the download functions fetch them
    (CREMA-D through the mirror: GitHub's media are refused) and verify the pinned checksums; the index job
    reads every corpus; the preference word set is found in the aligned word corpus, offline."""
    from snakemake.utils import update_config

    from braintune.downstream import run
    from braintune.preference import run as prefrun
    from braintune.rehearsal import corpora

    monkeypatch.chdir(tmp_path)  # the user folders are relative paths, taken from the workspace
    config = copy.deepcopy(load_config(REPO / "config" / "config.yaml"))
    config["downstream"]["demo"].update(timit_train_speakers=2, timit_test_speakers=1, timit_sx_per_speaker=1,
                                        timit_si_per_speaker=1, timit_sx_readers=1, commands_speakers=3,
                                        crema_d_actors=2, slurp_speakers=3, word_speakers=1,
                                        preference_words=["big", "sad"])
    config["downstream"]["datasets"]["timit"]["path"] = "user/TIMIT"
    config["preference"]["corpus"]["path"] = "user/aligned"
    work = tmp_path / "work"
    overrides, refusals = corpora.build_corpora(config, server.root, server.url, work)

    media = "media.githubusercontent.com/media/CheyneyComputerScience/CREMA-D/master/"
    assert refusals == {media: (403, corpora.LFS_BUDGET_MESSAGE)}
    assert not (server.root / media).exists()  # GitHub's media hold nothing: the server refuses them
    served = copy.deepcopy(config)
    update_config(served, overrides)  # as Snakemake merges the generated configfile
    validate_config(served, source="test")
    ds = served["downstream"]["datasets"]
    sc = ds["speech_commands"]["download"]
    assert sc["url"] == f"{server.url}/download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
    assert ds["crema_d"]["download"]["media_urls"][1] == f"{server.url}/gitlab.com/cs-cooper-lab/crema-d-mirror/-/raw/{{ref}}"
    assert all(e["sha256"] and e["size"] for e in ds["slurp"]["download"]["text"] + ds["slurp"]["download"]["audio"])

    archive = (server.root / sc["url"][len(server.url) + 1:]).read_bytes()  # deterministic archive
    assert archive[4:8] == b"\0\0\0\0"  # gzip header date 0
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names) and "./testing_list.txt" in names and "./yes" in names
    assert {(m.uid, m.mtime) for m in members} == {(0, corpora.ARCHIVE_MTIME)}
    table = (server.root / "raw.githubusercontent.com/CheyneyComputerScience/CREMA-D/master/processedResults/"
             "summaryTable.csv").read_text()
    assert table.startswith(HEADER) and len(table.splitlines()) == 1 + 2 * 24

    server.refusals.update(refusals)
    for corpus, fetch in dl.DOWNLOADERS.items():
        ds[corpus]["path"] = str(tmp_path / "downloaded" / corpus)
        fetch(ds[corpus]["download"], ds[corpus]["path"])
    assert sum(p.startswith("/" + media) for p in server.requests) == 2 * 24  # every file fell through

    settings = run.IndexSettings.from_config(served["downstream"], served["seed"])
    index = {c: tmp_path / "index" / f"{c}.tsv" for c in settings.corpora}
    run.build_index(settings, index, tmp_path / "index" / "targets.h5", tmp_path / "index" / "baselines.tsv")
    sizes = {c: len(pd.read_csv(p, sep="\t")) for c, p in index.items()}
    assert sizes == {"timit": 3 * 4, "speech_commands": 3 * 35, "crema_d": 2 * 24, "slurp": 2 * 24}  # slurp: devel unused

    assert served["preference"]["synonyms"] == "wordnet"  # offline: the installed WordNet
    words = prefrun.WordSetSettings.from_config(served["preference"], served["seed"])
    prefrun.build_word_set(words, tmp_path / "wordset.tsv", tmp_path / "segments.tsv")
    assert {"big", "sad"} <= set(pd.read_csv(tmp_path / "wordset.tsv", sep="\t").target)

    # a second call finds everything in place and rewrites nothing
    before = _snapshot(server.root, tmp_path / "user", work)
    assert corpora.build_corpora(config, server.root, server.url, work) == (overrides, refusals)
    assert _snapshot(server.root, tmp_path / "user", work) == before
    assert (work / "corpora" / corpora.STAMP).is_file() and not (work / "corpora" / corpora.STAGING).exists()


def test_rehearsal_corpora_never_replace_a_user_folder(tmp_path, monkeypatch):
    from braintune.rehearsal import corpora

    monkeypatch.chdir(tmp_path)
    config = copy.deepcopy(load_config(REPO / "config" / "config.yaml"))
    config["downstream"]["datasets"]["timit"]["path"] = "TIMIT"
    (tmp_path / "TIMIT").mkdir()
    (tmp_path / "TIMIT" / "README").write_text("the user's own copy")
    with pytest.raises(FileExistsError, match="downstream.datasets.timit.path = TIMIT: the folder exists"):
        corpora.build_corpora(config, tmp_path / "www", "http://127.0.0.1:1", tmp_path / "work")
    assert (tmp_path / "TIMIT" / "README").read_text() == "the user's own copy"
    served = corpora.served_path("https://gitlab.com/cs-cooper-lab/crema-d-mirror/-/raw/{ref}", "http://127.0.0.1:1")
    assert served == "gitlab.com/cs-cooper-lab/crema-d-mirror/-/raw/{ref}"
    assert corpora.served_path("http://127.0.0.1:1/" + served, "http://127.0.0.1:1") == served
    with pytest.raises(ValueError, match="cannot be served"):
        corpora.served_path("https://example.org/../etc/passwd", "http://127.0.0.1:1")
