"""Download rules' logic for the public downstream corpora, verified against the config manifest.

- Speech Commands v0.02: one archive, SHA-256 (and size) from ``downstream.datasets.speech_commands.download``.
- CREMA-D: the corpus lives in a Git LFS repository; for every file listed in its
  ``processedResults/summaryTable.csv`` the LFS pointer (``oid sha256:...``, ``size``) is fetched first
  and the audio is verified against it.
- SLURP: the three text splits from the corpus repository and the ``slurp_real`` audio archive; each
  entry is verified against its ``md5``/``sha256``/``size`` when the manifest gives one, otherwise the
  computed SHA-256 is logged (and written next to the file) for the user to pin.
TIMIT is licensed by the LDC and never downloaded.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import tarfile
import urllib.request
from pathlib import Path

from braintune.utils import atomic_output

log = logging.getLogger("braintune.downstream.download")


class ChecksumError(RuntimeError):
    """A downloaded file does not match the manifest."""


def _digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: str | Path, sha256: str | None = None, md5: str | None = None, size: int | None = None) -> str:
    """Check a file against the manifest values that are given; return its SHA-256."""
    path = Path(path)
    if size is not None and path.stat().st_size != int(size):
        raise ChecksumError(f"{path}: size {path.stat().st_size} bytes, manifest says {size}")
    digest = _digest(path, "sha256")
    if sha256 and digest != sha256.lower():
        raise ChecksumError(f"{path}: sha256 {digest}, manifest says {sha256}")
    if md5 and _digest(path, "md5") != md5.lower():
        raise ChecksumError(f"{path}: md5 differs from the manifest's {md5}")
    if not (sha256 or md5 or size):
        log.warning("%s: no checksum in the config manifest; sha256 is %s (pin it in the config)", path, digest)
    return digest


def fetch(url: str, dest: str | Path, sha256: str | None = None, md5: str | None = None,
          size: int | None = None, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` (atomically) and verify it; an existing valid file is kept."""
    dest = Path(dest)
    if dest.exists():
        try:
            verify(dest, sha256, md5, size)
            return dest
        except ChecksumError:
            log.warning("%s: exists but fails verification; downloading again", dest)
    with atomic_output(dest) as tmp:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            while block := response.read(1 << 20):
                out.write(block)
        digest = verify(tmp, sha256, md5, size)
    if not (sha256 or md5):
        dest.with_name(dest.name + ".sha256").write_text(f"{digest}  {dest.name}\n")
    return dest


def extract(archive: str | Path, dest: str | Path) -> None:
    """Extract a tar archive safely (members may not leave ``dest``)."""
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")


def download_speech_commands(d: dict, dest: str | Path) -> None:
    """``d``: ``downstream.datasets.speech_commands.download``."""
    dest = Path(dest)
    archive = fetch(d["url"], dest / Path(d["url"]).name, sha256=d["sha256"], md5=d["md5"], size=d["size"])
    extract(archive, dest)
    archive.unlink()


def parse_lfs_pointer(text: str) -> tuple[str, int]:
    """``(sha256, size)`` of a Git LFS pointer file."""
    fields = dict(line.split(" ", 1) for line in text.strip().splitlines() if " " in line)
    if not fields.get("version", "").startswith("https://git-lfs") or "oid" not in fields:
        raise ValueError(f"not a Git LFS pointer: {text[:80]!r}")
    algo, oid = fields["oid"].split(":", 1)
    if algo != "sha256":
        raise ValueError(f"unsupported LFS oid algorithm {algo}")
    return oid.strip(), int(fields["size"])


def download_crema_d(d: dict, dest: str | Path) -> None:
    """``d``: ``downstream.datasets.crema_d.download``."""
    raw = f"https://raw.githubusercontent.com/{d['repository']}/{d['ref']}"
    media = f"https://media.githubusercontent.com/media/{d['repository']}/{d['ref']}"
    with urllib.request.urlopen(f"{raw}/{d['file_list']}", timeout=60) as response:
        table = list(csv.DictReader(io.StringIO(response.read().decode())))
    names = sorted({row["FileName"] for row in table})
    log.info("CREMA-D: %d files listed in %s", len(names), d["file_list"])
    for k, name in enumerate(names):
        with urllib.request.urlopen(f"{raw}/AudioWAV/{name}.wav", timeout=60) as response:
            sha, size = parse_lfs_pointer(response.read().decode())
        fetch(f"{media}/AudioWAV/{name}.wav", Path(dest) / "AudioWAV" / f"{name}.wav", sha256=sha, size=size)
        if k % 500 == 0:
            log.info("CREMA-D: %d/%d files", k + 1, len(names))


def download_slurp(d: dict, dest: str | Path) -> None:
    """``d``: ``downstream.datasets.slurp.download``."""
    dest = Path(dest)
    for entry in d["text"]:
        fetch(entry["url"], dest / "dataset" / "slurp" / Path(entry["url"]).name, entry["sha256"], entry["md5"],
              entry["size"])
    for entry in d["audio"]:
        archive = fetch(entry["url"], dest / Path(entry["url"]).name, entry["sha256"], entry["md5"],
                        entry["size"])
        extract(archive, dest / "audio")
        archive.unlink()


DOWNLOADERS = {"speech_commands": download_speech_commands, "crema_d": download_crema_d, "slurp": download_slurp}
