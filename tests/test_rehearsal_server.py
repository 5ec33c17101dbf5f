"""The rehearsal's loopback server and runner: Range answers, refusals, the one cut transfer per large
file that the real download code resumes, and the runner's merged configuration and environment."""

from __future__ import annotations

import hashlib

import pytest
import requests
from conftest import REPO

from braintune.data import download as dl
from braintune.data.manifest import Entry
from braintune.rehearsal import server
from braintune.rehearsal.__main__ import merged_config, rehearsal_env


@pytest.fixture()
def www(tmp_path):
    root = tmp_path / "www"
    (root / "openneuro" / "ds").mkdir(parents=True)
    (root / "github" / "media").mkdir(parents=True)
    data = bytes(range(256)) * 1024  # 256 kB
    (root / "openneuro" / "ds" / "big.bin").write_bytes(data)
    (root / "small.txt").write_text("hello")
    return root, data


def test_range_refusal_and_404(www):
    root, data = www
    refusals = {"github/media": (403, "This repository exceeded its LFS budget.")}
    with server.serving(root, refusals=refusals) as httpd:
        assert httpd.url.startswith("http://127.0.0.1:")
        whole = requests.get(f"{httpd.url}/small.txt", timeout=5)
        assert whole.status_code == 200 and whole.text == "hello" and whole.headers["Content-Length"] == "5"
        part = requests.get(f"{httpd.url}/small.txt", headers={"Range": "bytes=2-"}, timeout=5)
        assert part.status_code == 206 and part.text == "llo" and part.headers["Content-Range"] == "bytes 2-4/5"
        beyond = requests.get(f"{httpd.url}/small.txt", headers={"Range": "bytes=9-"}, timeout=5)
        assert beyond.status_code == 416
        refused = requests.get(f"{httpd.url}/github/media/x/AudioWAV/a.wav", timeout=5)
        assert refused.status_code == 403 and "LFS budget" in refused.text
        assert requests.get(f"{httpd.url}/nothing/here", timeout=5).status_code == 404
    with pytest.raises(requests.ConnectionError):  # stopped with the block
        requests.get(f"{httpd.url}/small.txt", timeout=2)


def test_first_transfer_of_a_large_file_is_cut_and_the_downloader_resumes(www, tmp_path):
    root, data = www
    with server.serving(root, cut_prefixes=("openneuro/",), cut_min_bytes=1000) as httpd:
        first = requests.get(f"{httpd.url}/openneuro/ds/big.bin", timeout=5, stream=True)
        assert first.headers["Content-Length"] == str(len(data))
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            first.content  # the body stops after half of the announced size
        again = requests.get(f"{httpd.url}/openneuro/ds/big.bin", timeout=5)
        assert again.content == data  # only the first transfer is cut
        # the real downloader: the cut transfer is retried with a Range request and verified
        httpd.cut_done.clear()
        entry = Entry("big.bin", len(data), hashlib.md5(data).hexdigest(), True)
        options = dl.FetchOptions(base_url=f"{httpd.url}/openneuro/ds", max_parallel=1, retries=2, backoff_s=0.0,
                                  timeout_s=5, min_free_gb=0.0)
        requests_before = len(httpd.cut_done)
        dl.fetch([entry], tmp_path / "local", options, show_progress=False)
        assert (tmp_path / "local" / "big.bin").read_bytes() == data
        assert len(httpd.cut_done) == requests_before + 1


def test_port_in_use_is_named(www):
    root, _ = www
    with server.serving(root) as httpd:
        port = int(httpd.url.rsplit(":", 1)[1])
        with pytest.raises(OSError, match=f"127.0.0.1:{port}.*--port"):
            with server.serving(root, port=port):
                pass


def test_runner_merges_demo_and_rehearsal_and_runs_offline(tmp_path, monkeypatch):
    config = merged_config(REPO)
    assert config["data"]["source"] == "openneuro" and config["preprocess"]["regions"]["source"] == "glasser"
    assert config["models"]["wav2vec2"]["checkpoint"] == "facebook/wav2vec2-base"
    assert config["models"]["wav2vec2"]["init"]["hidden_size"] == 32  # the demo's tiny init, merged under it
    assert config["braintuning"]["targets"]["lmtuned_llama"]["checkpoint"] == "meta-llama/Llama-2-7b-hf"
    monkeypatch.setenv("HF_TOKEN", "secret")
    env = rehearsal_env(tmp_path)
    assert "HF_TOKEN" not in env and env["HF_HUB_OFFLINE"] == "1" and env["HF_HOME"] == str(tmp_path / "hf_home")
