"""Loopback tests of the ds003020 download: a real HTTP server on 127.0.0.1 (Range support, switchable
faults) serves a small dataset tree and a git repository of git-annex-style symlinks; the manifest is
read from that repository with git and the files are fetched, resumed and verified for real."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import REPO as REPO_ROOT

from braintune.config import load_config
from braintune.data import download as dl
from braintune.data.manifest import (
    Entry,
    build_manifest,
    parse_annex_target,
    read_manifest,
    write_manifest,
)
from braintune.preprocess.responses import read_responses
from braintune.preprocess.stories import MissingStoryError, available_stories
from braintune.rehearsal.dataset import annex_repository

TAG = "3.1.0"


class FaultyHandler(SimpleHTTPRequestHandler):
    """Static files with HTTP Range; faults per URL path from ``server.faults``; requests logged."""

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        server = self.server
        url_path = self.path.split("?", 1)[0]
        rng = self.headers.get("Range")
        with server.lock:
            server.requests.append((url_path, rng))
            fault = server.faults.get(url_path)
            if fault and fault.get("times", 1) > 0:
                fault["times"] = fault.get("times", 1) - 1
            else:
                fault = None
        if fault and fault["kind"] == "redirect":  # to itself: a redirect loop
            self.send_response(302)
            self.send_header("Location", url_path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        local = Path(self.translate_path(url_path))
        if not local.is_file():
            return SimpleHTTPRequestHandler.do_GET(self)  # 404 / directory handling
        data = local.read_bytes()
        if fault and fault["kind"] == "status":
            self.send_error(fault["status"])
            return
        if fault and fault["kind"] == "corrupt":
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        if fault and fault["kind"] in ("html", "gzip", "nolength"):  # 200 answers, whatever the Range
            if fault["kind"] == "html":  # a CDN's error or login page
                data = b"\n<!-- cdn -->\n<!DOCTYPE html>\n<html><body>Access denied</body></html>\n"
            self.send_response(200)
            self.send_header("Content-Type", fault.get("type", "application/octet-stream"))
            if fault["kind"] == "gzip":  # announced as gzip, but not gzip
                self.send_header("Content-Encoding", "gzip")
            if fault["kind"] != "nolength":  # else the end is marked only by closing the connection
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: fault.get("after", len(data))])
            self.close_connection = True
            return
        start = 0
        if rng and server.ranges:
            start = int(rng.split("=", 1)[1].split("-", 1)[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if fault and fault["kind"] == "cut":
            self.wfile.write(body[: fault["after"]])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture()
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(FaultyHandler, directory=str(root)))
    httpd.lock = threading.Lock()
    httpd.requests, httpd.faults, httpd.ranges = [], {}, True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.root = root
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _hf5(path: Path, rows: int, voxels: int, seed: int, repeats: int = 0) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=rng.standard_normal((rows, voxels)))
        if repeats:
            f.create_dataset("individual_repeats", data=rng.standard_normal((repeats, rows, voxels)))


def make_dataset(export: Path, config: dict) -> None:
    """A miniature ds003020 tree for ``config`` (random bytes where content does not matter)."""
    rng = np.random.default_rng(0)
    stories = ["souls", "stagefright", "life", "wheretheressmoke"]
    respdict = {s: 40 + i for i, s in enumerate(stories)}
    (export / "derivative").mkdir(parents=True)
    (export / "derivative" / "respdict.json").write_text(json.dumps(respdict))
    (export / "dataset_description.json").write_text(json.dumps({"Name": "ds003020 miniature"}))
    for s in stories:
        (export / "stimuli").mkdir(exist_ok=True)
        (export / "stimuli" / f"{s}.wav").write_bytes(rng.bytes(200_000 + 1000 * len(s)))
        (export / "derivative" / "TextGrids").mkdir(exist_ok=True)
        (export / "derivative" / "TextGrids" / f"{s}.TextGrid").write_text(f"File type = \"ooTextFile\"\n{s}\n")
    for k, subject in enumerate(config["data"]["subjects"]):
        for s in stories:
            if subject == "UTS02" and s == "life":
                continue  # like UTS04 in the real dataset
            _hf5(export / f"derivative/preprocessed_data/{subject}/{s}.hf5", respdict[s] - 20, 30, k,
                 repeats=3 if s == "wheretheressmoke" else 0)
        for rel in ("overlays.svg", "transforms/xfm_auto/matrices.xfm", "cache/flat_cache.npz"):
            p = export / f"derivative/pycortex-db/{subject}/{rel}"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(rng.bytes(3000))
    (export / "sub-UTS01" / "anat").mkdir(parents=True)
    (export / "sub-UTS01" / "anat" / "T1w.nii.gz").write_bytes(rng.bytes(50_000))  # never needed


@pytest.fixture()
def dataset(server, tmp_path):
    """Config pointing at the loopback server; the export under /openneuro/ds003020, the repository
    under /git/ds003020.git."""
    config = load_config(REPO_ROOT / "config" / "ds003020.yaml")
    config = copy.deepcopy(config)
    config["data"]["subjects"] = ["UTS01", "UTS02"]
    config["data"]["root"] = str(tmp_path / "local" / "ds003020")
    config["stories"].update(braintuning_train=["souls"], braintuning_val=["stagefright", "life"],
                             alignment_train=["souls"], lowlevel_train=None, test="wheretheressmoke")
    config["preprocess"]["regions"]["source"] = "pycortex"
    export = server.root / "openneuro" / "ds003020"
    make_dataset(export, config)
    annex_repository(export, server.root / "git" / "ds003020.git", TAG)
    d = config["data"]["download"]
    d.update(base_url=f"{server.url}/openneuro/ds003020", repository=f"{server.url}/git/ds003020.git",
             manifest=str(tmp_path / "local" / "manifest.tsv"), backoff_s=0.01, retries=3, timeout_s=10,
             min_free_gb=0.0, known_missing={})
    return config, export


def _entries(config):
    manifest = read_manifest(config["data"]["download"]["manifest"])
    plan = dl.download_plan(config)
    return {job: dl.resolve(paths, manifest, tuple(config["data"]["download"]["exclude"])) for job, paths in plan.items()}


def _build(config):
    d = config["data"]["download"]
    write_manifest(d["manifest"], build_manifest(d["repository"], d["tag"]), source="test")


def test_parse_annex_target():
    assert parse_annex_target("../../.git/annex/objects/pX/Zk/MD5E-s2048--0123456789abcdef0123456789abcdef.hf5/"
                              "MD5E-s2048--0123456789abcdef0123456789abcdef.hf5") == (2048, "0123456789abcdef0123456789abcdef")
    assert parse_annex_target("../README.md") is None


def test_manifest_over_dumb_http_and_file_url(dataset, tmp_path):
    config, export = dataset
    entries = build_manifest(config["data"]["download"]["repository"], TAG)  # dumb HTTP: full-clone fallback
    by_path = {e.path: e for e in entries}
    files = sorted(str(p.relative_to(export)) for p in export.rglob("*") if p.is_file())
    assert sorted(by_path) == files
    for rel in files:
        data = (export / rel).read_bytes()
        e = by_path[rel]
        assert (e.size, e.md5) == (len(data), hashlib.md5(data).hexdigest()), rel
        assert e.annexed == (len(data) > 1024)
    # the shallow path (smart protocol) gives the same manifest
    shallow = build_manifest(f"file://{tmp_path}/www/git/ds003020.git", TAG)
    assert shallow == entries
    # round trip through the TSV
    write_manifest(tmp_path / "m.tsv", entries, source="x")
    assert read_manifest(tmp_path / "m.tsv") == by_path


def test_plan_lists_exactly_the_needed_files(dataset):
    config, export = dataset
    _build(config)
    jobs = _entries(config)
    paths = sorted(e.path for es in jobs.values() for e in es)
    assert "derivative/preprocessed_data/UTS02/life.hf5" not in paths  # missing in the dataset: skipped
    assert "derivative/preprocessed_data/UTS01/life.hf5" in paths
    assert not any(p.startswith("sub-") or "/cache/" in p or p == "dataset_description.json" for p in paths)
    assert "derivative/pycortex-db/UTS01/transforms/xfm_auto/matrices.xfm" in paths
    assert len(paths) == 4 + 5 + 4 + 3 + 2 * 2  # wavs, TextGrids+respdict, UTS01, UTS02, pycortex files
    summary = dl.plan_summary(dl.download_plan(config), read_manifest(config["data"]["download"]["manifest"]),
                              config["data"]["root"], ("/cache/",))
    total = sum((export / p).stat().st_size for p in paths)
    assert f"{len(paths)} files, {total / 1e9:.2f} GB in total" in summary


def test_missing_story_error_rule(dataset):
    config, _ = dataset
    _build(config)
    config["data"]["missing_story"] = "error"
    with pytest.raises(MissingStoryError, match="UTS02 has no story 'life'"):
        available_stories(config, "UTS02", "braintuning_val")
    config["data"]["missing_story"] = "skip"
    assert available_stories(config, "UTS02", "braintuning_val") == ["stagefright"]


def test_full_fetch_then_files_are_readable(dataset, server):
    config, export = dataset
    _build(config)
    opts = dl.FetchOptions.from_config(config["data"]["download"])
    root = Path(config["data"]["root"])
    for job, entries in _entries(config).items():
        dl.fetch(entries, root, opts, staging=root / ".staging", show_progress=False)
    for e in (e for es in _entries(config).values() for e in es):
        assert (root / e.path).read_bytes() == (export / e.path).read_bytes()
    assert not list(root.rglob("*.part"))
    data = read_responses(root / "derivative/preprocessed_data/UTS01/souls.hf5")
    assert data.dtype == np.float32 and data.shape == (20, 30)
    # a second run fetches nothing
    n = len(server.requests)
    for entries in _entries(config).values():
        dl.fetch(entries, root, opts, show_progress=False)
    assert len(server.requests) == n


def test_cut_off_transfer_is_resumed_with_range(dataset, server):
    config, export = dataset
    _build(config)
    entry = next(e for e in _entries(config)["stimuli"] if e.path.endswith("souls.wav"))
    url_path = f"/openneuro/ds003020/{entry.path}"
    server.faults[url_path] = {"kind": "cut", "after": 70_000, "times": 2}
    root = Path(config["data"]["root"])
    dl.fetch([entry], root, dl.FetchOptions.from_config(config["data"]["download"]), show_progress=False)
    assert (root / entry.path).read_bytes() == (export / entry.path).read_bytes()
    ranges = [r for p, r in server.requests if p == url_path]
    assert ranges == [None, "bytes=70000-", "bytes=140000-"]


def test_resume_after_interrupted_run(dataset, server):
    """A partial file left by a killed run is continued, not restarted."""
    config, export = dataset
    _build(config)
    entry = next(e for e in _entries(config)["stimuli"] if e.path.endswith("life.wav"))
    root = Path(config["data"]["root"])
    part = root / (entry.path + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes((export / entry.path).read_bytes()[:12345])
    dl.fetch([entry], root, dl.FetchOptions.from_config(config["data"]["download"]), show_progress=False)
    assert (root / entry.path).read_bytes() == (export / entry.path).read_bytes()
    assert [r for p, r in server.requests if p.endswith("life.wav")] == ["bytes=12345-"]


def test_server_without_range_support_restarts_cleanly(dataset, server):
    config, export = dataset
    _build(config)
    server.ranges = False
    entry = next(e for e in _entries(config)["stimuli"] if e.path.endswith("souls.wav"))
    server.faults[f"/openneuro/ds003020/{entry.path}"] = {"kind": "cut", "after": 50_000, "times": 1}
    root = Path(config["data"]["root"])
    dl.fetch([entry], root, dl.FetchOptions.from_config(config["data"]["download"]), show_progress=False)
    assert (root / entry.path).read_bytes() == (export / entry.path).read_bytes()


def test_transient_503_is_retried_and_retries_are_bounded(dataset, server):
    config, export = dataset
    _build(config)
    entry = next(e for e in _entries(config)["stimuli"] if e.path.endswith("souls.wav"))
    url_path = f"/openneuro/ds003020/{entry.path}"
    root = Path(config["data"]["root"])
    opts = dl.FetchOptions.from_config(config["data"]["download"])
    server.faults[url_path] = {"kind": "status", "status": 503, "times": 2}
    dl.fetch([entry], root, opts, show_progress=False)
    assert (root / entry.path).exists()
    (root / entry.path).unlink()
    server.faults[url_path] = {"kind": "status", "status": 503, "times": 100}
    server.requests.clear()
    with pytest.raises(dl.DownloadError, match=r"giving up after 3 retries"):
        dl.fetch([entry], root, opts, show_progress=False)
    assert len(server.requests) == 4  # one try + 3 retries


def test_corrupted_file_is_detected_and_removed(dataset, server):
    config, export = dataset
    _build(config)
    entry = next(e for e in _entries(config)["responses_UTS01"] if e.path.endswith("souls.hf5"))
    server.faults[f"/openneuro/ds003020/{entry.path}"] = {"kind": "corrupt", "times": 1}
    root = Path(config["data"]["root"])
    with pytest.raises(dl.DownloadError) as err:
        dl.fetch([entry], root, dl.FetchOptions.from_config(config["data"]["download"]), show_progress=False)
    message = str(err.value)
    assert entry.path in message and "MD5 check failed" in message and f"expected {entry.md5}" in message
    assert not (root / entry.path).exists() and not (root / (entry.path + ".part")).exists()
    # the next attempt (fault gone) succeeds
    dl.fetch([entry], root, dl.FetchOptions.from_config(config["data"]["download"]), show_progress=False)
    assert (root / entry.path).read_bytes() == (export / entry.path).read_bytes()


def test_size_mismatch_names_expected_and_received(dataset):
    config, export = dataset
    _build(config)
    good = next(e for e in _entries(config)["stimuli"] if e.path.endswith("souls.wav"))
    wrong = Entry(good.path, good.size - 10, good.md5, True)
    root = Path(config["data"]["root"])
    with pytest.raises(dl.DownloadError, match=rf"size check failed: expected {good.size - 10} bytes, received {good.size}"):
        dl.fetch([wrong], root, dl.FetchOptions.from_config(config["data"]["download"]), show_progress=False)
    assert not list(root.rglob("souls.wav*"))


def test_404_is_reported_clearly_and_other_files_still_arrive(dataset, server):
    config, export = dataset
    _build(config)
    entries = _entries(config)["stimuli"]
    gone = entries[0]
    (export / gone.path).unlink()
    root = Path(config["data"]["root"])
    with pytest.raises(dl.DownloadError) as err:
        dl.fetch(entries, root, dl.FetchOptions.from_config(config["data"]["download"]), show_progress=False)
    assert f"{gone.path}: HTTP 404 Not Found at {config['data']['download']['base_url']}/{gone.path}" in str(err.value)
    assert "1 of 4 downloads failed" in str(err.value)
    assert [p for p, _ in server.requests].count(f"/openneuro/ds003020/{gone.path}") == 1  # not retried
    # the other files of the call arrived and were verified
    assert all((root / e.path).read_bytes() == (export / e.path).read_bytes() for e in entries[1:])


def test_staging_keeps_verified_files_for_the_rerun(dataset, server):
    config, export = dataset
    _build(config)
    entries = _entries(config)["stimuli"]
    root = Path(config["data"]["root"])
    server.faults[f"/openneuro/ds003020/{entries[0].path}"] = {"kind": "status", "status": 404, "times": 1}
    opts = dl.FetchOptions.from_config(config["data"]["download"])
    with pytest.raises(dl.DownloadError):
        dl.fetch(entries, root, opts, staging=root / ".staging", show_progress=False)
    assert not any((root / e.path).exists() for e in entries)
    server.requests.clear()
    dl.fetch(entries, root, opts, staging=root / ".staging", show_progress=False)
    assert [p for p, _ in server.requests] == [f"/openneuro/ds003020/{entries[0].path}"]
    assert all((root / e.path).read_bytes() == (export / e.path).read_bytes() for e in entries)


def test_disk_space_is_checked_before_any_transfer(dataset, server):
    config, _ = dataset
    _build(config)
    config["data"]["download"]["min_free_gb"] = 1e9  # an exabyte margin
    with pytest.raises(dl.DownloadError, match="not enough disk space"):
        dl.fetch(_entries(config)["stimuli"], config["data"]["root"],
                 dl.FetchOptions.from_config(config["data"]["download"]), show_progress=False)
    assert not [p for p, _ in server.requests if p.startswith("/openneuro/")]


def test_parallel_downloads_are_bounded(dataset, server, monkeypatch):
    config, _ = dataset
    _build(config)
    active, peak, lock = [0], [0], threading.Lock()
    real = dl.fetch_one

    def counting(*args, **kwargs):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            import time

            time.sleep(0.05)
            return real(*args, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(dl, "fetch_one", counting)
    config["data"]["download"]["max_parallel"] = 2
    entries = [e for es in _entries(config).values() for e in es]
    dl.fetch(entries, config["data"]["root"], dl.FetchOptions.from_config(config["data"]["download"]), show_progress=False)
    assert peak[0] == 2


def test_fetch_urls_checks_md5(dataset, server, tmp_path):
    config, export = dataset
    opts = dl.FetchOptions.from_config(config["data"]["download"])
    src = export / "derivative" / "respdict.json"
    url = f"{config['data']['download']['base_url']}/derivative/respdict.json"
    dl.fetch_urls({url: tmp_path / "atlas" / "a.json"}, opts, md5={"a.json": hashlib.md5(src.read_bytes()).hexdigest()})
    assert (tmp_path / "atlas" / "a.json").read_bytes() == src.read_bytes()
    with pytest.raises(dl.DownloadError, match="MD5 check failed: expected 0{32}"):
        dl.fetch_urls({url: tmp_path / "atlas" / "b.json"}, opts, md5={"b.json": "0" * 32})
    assert not (tmp_path / "atlas" / "b.json").exists()


# --- fetch_urls: files without a manifest entry (the atlas) ------------------------------------------


@pytest.fixture()
def atlas(server, tmp_path):
    """Two binary atlas-like files and a GIFTI-like XML file on the loopback server; options for them."""
    rng = np.random.default_rng(1)
    files = {"lh.annot": rng.bytes(150_000), "rh.annot": rng.bytes(120_000),
             "lh.sphere.surf.gii": b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE GIFTI SYSTEM "gifti.dtd">\n<GIFTI/>\n'}
    (server.root / "atlas").mkdir()
    for name, data in files.items():
        (server.root / "atlas" / name).write_bytes(data)
    opts = dl.FetchOptions(base_url=server.url, max_parallel=2, retries=2, backoff_s=0.01, timeout_s=10, min_free_gb=0.0)
    return {name: f"{server.url}/atlas/{name}" for name in files}, files, opts, tmp_path / "resources" / "atlas"


def test_fetch_urls_fetches_binary_and_xml_files_and_resumes(atlas, server):
    urls, files, opts, out = atlas
    server.faults["/atlas/lh.annot"] = {"kind": "cut", "after": 60_000, "times": 1}
    dl.fetch_urls({url: out / name for name, url in urls.items()}, opts)
    assert all((out / name).read_bytes() == data for name, data in files.items())  # XML is no HTML page
    assert [r for p, r in server.requests if p == "/atlas/lh.annot"] == [None, "bytes=60000-"]
    assert not list(out.glob("*.part"))


def test_fetch_urls_refuses_a_body_shorter_than_its_content_length(atlas, server):
    urls, files, opts, out = atlas
    server.faults["/atlas/lh.annot"] = {"kind": "cut", "after": 10_000, "times": 100}
    dest = out / "lh.annot"
    with pytest.raises(dl.DownloadError) as err:
        dl.fetch_urls({urls["lh.annot"]: dest}, opts)
    message = str(err.value)
    assert f"{dest}: giving up after 2 retries at {urls['lh.annot']}" in message
    assert f"expected {len(files['lh.annot'])} bytes, received 30000" in message  # 3 tries, resumed
    assert not dest.exists()  # only the .part, for a resume
    del server.faults["/atlas/lh.annot"]
    dl.fetch_urls({urls["lh.annot"]: dest}, opts)
    assert dest.read_bytes() == files["lh.annot"]


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/octet-stream"])
def test_fetch_urls_refuses_an_html_page_answered_with_200(atlas, server, content_type):
    urls, _, opts, out = atlas
    server.faults["/atlas/lh.annot"] = {"kind": "html", "type": content_type, "times": 1}
    dest = out / "lh.annot"
    with pytest.raises(dl.DownloadError) as err:
        dl.fetch_urls({urls["lh.annot"]: dest}, opts)
    message = str(err.value)
    assert f"{dest}: {urls['lh.annot']} answered with an HTML page" in message
    assert "expected the data file itself" in message and "data.download.atlas.md5: {lh.annot: <md5>}" in message
    assert not dest.exists() and not list(out.glob("*.part"))


def test_fetch_urls_redirect_loop_and_broken_gzip_name_url_and_path(atlas, server):
    urls, _, opts, out = atlas
    server.faults["/atlas/lh.annot"] = {"kind": "redirect", "times": 1000}
    server.faults["/atlas/rh.annot"] = {"kind": "gzip", "times": 1}
    with pytest.raises(dl.DownloadError) as err:
        dl.fetch_urls({urls["lh.annot"]: out / "lh.annot"}, opts)
    assert f"{out / 'lh.annot'}: TooManyRedirects at {urls['lh.annot']}" in str(err.value)
    with pytest.raises(dl.DownloadError) as err:
        dl.fetch_urls({urls["rh.annot"]: out / "rh.annot"}, opts)
    assert f"{out / 'rh.annot'}: DecodeError at {urls['rh.annot']}" in str(err.value)
    assert [p for p, _ in server.requests].count("/atlas/rh.annot") == 1  # not retried
    assert not list(out.iterdir())


def test_fetch_urls_reports_every_failure_and_completes_the_others(atlas, server):
    urls, files, opts, out = atlas
    server.faults["/atlas/lh.annot"] = {"kind": "html", "type": "text/html", "times": 1}
    targets = {urls["lh.annot"]: out / "lh.annot", f"{server.url}/atlas/nosuch.annot": out / "nosuch.annot",
               urls["rh.annot"]: out / "rh.annot"}
    with pytest.raises(dl.DownloadError) as err:
        dl.fetch_urls(targets, opts)
    message = str(err.value)
    assert "2 of 3 downloads failed" in message
    assert f"{out / 'lh.annot'}: {urls['lh.annot']} answered with an HTML page" in message
    assert f"{out / 'nosuch.annot'}: HTTP 404 Not Found at {server.url}/atlas/nosuch.annot" in message
    assert (out / "rh.annot").read_bytes() == files["rh.annot"]
    assert sorted(p.name for p in out.iterdir()) == ["rh.annot"]


def test_fetch_urls_without_size_is_checked_by_md5_or_kept_with_a_warning(atlas, server, caplog):
    """A body cut short without Content-Length (the end marked only by closing the connection) looks
    complete: a pinned MD5 catches it; without one the file is kept, with a warning giving its MD5."""
    urls, files, opts, out = atlas
    server.faults["/atlas/lh.annot"] = {"kind": "nolength", "after": 50_000, "times": 2}
    good = hashlib.md5(files["lh.annot"]).hexdigest()
    dest = out / "lh.annot"
    with pytest.raises(dl.DownloadError) as err:
        dl.fetch_urls({urls["lh.annot"]: dest}, opts, md5={"lh.annot": good})
    assert (f"{dest} from {urls['lh.annot']}: MD5 check failed: expected {good}, received "
            f"{hashlib.md5(files['lh.annot'][:50_000]).hexdigest()} (the MD5 pinned in data.download.atlas.md5)") in str(err.value)
    assert not dest.exists() and not list(out.glob("*.part"))
    with caplog.at_level("WARNING", logger="braintune.data.download"):
        dl.fetch_urls({urls["lh.annot"]: dest}, opts)
    assert dest.stat().st_size == 50_000  # undetectable without an MD5 ...
    cut = hashlib.md5(files["lh.annot"][:50_000]).hexdigest()
    assert f"pin its MD5 in data.download.atlas.md5: {{lh.annot: {cut}}}" in caplog.text  # ... but not silent
    dest.unlink()
    dl.fetch_urls({urls["lh.annot"]: dest}, opts, md5={"lh.annot": good})  # fault gone
    assert dest.read_bytes() == files["lh.annot"]


@pytest.mark.slow
def test_paper_dry_run_lists_exactly_the_needed_files_and_their_total(tmp_path):
    """`snakemake -n --configfile config/ds003020.yaml` with a fetched manifest: one job per group,
    exactly the planned files as outputs (UTS04 without `life`), and the total size printed."""
    import re
    import sys

    config = load_config(REPO_ROOT / "config" / "ds003020.yaml")
    plan = dl.download_plan(config)
    sizes = {}
    rng = np.random.default_rng(0)
    entries = []
    for job, paths in plan.items():
        for p in paths:
            for rel in ([p + "overlays.svg", p + "transforms/x/mask_thick.nii.gz", p + "cache/junk.npz"] if p.endswith("/") else [p]):
                sizes[rel] = int(rng.integers(1_000, 10**9))
                entries.append(Entry(rel, sizes[rel], "0" * 32, True))
    entries.append(Entry("derivative/preprocessed_data/UTS01/thestory.hf5", 5, "0" * 32, True))  # not needed
    write_manifest(tmp_path / "resources/ds003020/manifest.tsv", entries)
    targets = [f"data_download_{job}" for job in plan]
    # what a paper run needs from the user, checked when the DAG is built: TIMIT and the word-aligned
    # preference corpus (user folders, empty stand-ins here) and a token for the gated Llama-2
    (tmp_path / "user" / "TIMIT").mkdir(parents=True)
    (tmp_path / "user" / "aligned").mkdir()
    (tmp_path / "user" / "aligned" / "placeholder.TextGrid").touch()
    (tmp_path / "user.yaml").write_text(json.dumps({"downstream": {"datasets": {"timit": {"path": str(tmp_path / "user/TIMIT")}}},
                                                    "preference": {"corpus": {"path": str(tmp_path / "user/aligned")}}}))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *targets, "-n", "-s", str(REPO_ROOT / "workflow/Snakefile"),
         "--directory", str(tmp_path), "--configfile", str(REPO_ROOT / "config/ds003020.yaml"), str(tmp_path / "user.yaml")],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HF_TOKEN": "dry-run"},
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    needed = {rel: s for rel, s in sizes.items() if "/cache/" not in rel}
    total = sum(needed.values())
    assert f"ds003020 download plan: {len(needed)} files, {total / 1e9:.2f} GB in total" in out
    listed = set()
    for line in out.splitlines():
        if line.strip().startswith("output:"):
            listed.update(x.strip() for x in line.split(":", 1)[1].split(","))
    expected = {f"resources/ds003020/{p.rstrip('/')}" for paths in plan.values() for p in paths}
    assert listed == expected
    assert "resources/ds003020/derivative/preprocessed_data/UTS04/life.hf5" not in listed
    assert "resources/ds003020/derivative/preprocessed_data/UTS05/life.hf5" in listed
    assert len([p for p in listed if "preprocessed_data" in p]) == 8 * 27 - 1
    assert re.search(r"data_download_responses_UTS04\s+1", out)


def test_download_job_fetches_its_declared_outputs(dataset, server):
    """A download rule's job gets only its outputs (files and folders under the dataset root) and the
    manifest: the dataset paths come from the outputs, whatever the root; network settings change no file."""
    config, export = dataset
    _build(config)
    root = Path(config["data"]["root"])
    plan = dl.download_plan(config)
    outputs = [root / p.rstrip("/") for p in plan["transcripts"] + plan["pycortex_UTS01"]]
    manifest = read_manifest(config["data"]["download"]["manifest"])
    found_root, paths = dl.dataset_paths(outputs, manifest)
    assert found_root == root and paths == plan["transcripts"] + plan["pycortex_UTS01"]
    fast = dl.FetchOptions.from_config({**config["data"]["download"], "max_parallel": 8, "retries": 1})
    dl.download_files(outputs, config["data"]["download"]["manifest"], tuple(config["data"]["download"]["exclude"]), fast)
    for path in plan["transcripts"]:
        assert (root / path).read_bytes() == (export / path).read_bytes()
    assert (root / "derivative/pycortex-db/UTS01/transforms/xfm_auto/matrices.xfm").is_file()
    with pytest.raises(dl.DownloadError, match="not a path of the dataset manifest"):
        dl.dataset_paths([root / "stimuli" / "nosuchstory.wav"], manifest)
