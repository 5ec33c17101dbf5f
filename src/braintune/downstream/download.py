"""Download rules' logic for the public downstream corpora, verified against the config manifest.

- Speech Commands v0.02: one archive, SHA-256 (and size) from ``downstream.datasets.speech_commands.download``.
- CREMA-D: the corpus lives in a Git LFS repository. The plain git files (the file list
  ``processedResults/summaryTable.csv`` and every audio file's LFS pointer, ``oid sha256:...`` and
  ``size``) come from ``raw_url``; they stay the source of truth. Each file's content is fetched from
  the ``media_urls`` in order (GitHub's LFS media, then the maintainers' GitLab mirror: GitHub refuses
  LFS downloads while the repository is over its LFS budget) and verified against its pointer whatever
  source delivered it; a source that answers an HTTP error, fails in transport or delivers bytes that
  do not match falls through to the next one. Verified files already in place are kept, so a rerun
  fetches only what is missing; at most :data:`MAX_PARALLEL` files are fetched at once.
- SLURP: the three text splits from the corpus repository and the ``slurp_real`` audio archive; each
  entry is verified against its ``md5``/``sha256``/``size`` when the manifest gives one, otherwise the
  computed SHA-256 is logged (and written next to the file) for the user to pin.
TIMIT is licensed by the LDC and never downloaded.

Every transfer error names the URL and what it answered (HTTP status, reason and the start of the body).
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import io
import logging
import re
import tarfile
import threading
import urllib.error
import urllib.request
from collections import Counter
from functools import partial
from pathlib import Path

from braintune import __version__
from braintune.data.download import DownloadError, run_all
from braintune.utils import atomic_output

log = logging.getLogger("braintune.downstream.download")

TIMEOUT_S = 60.0
#: CREMA-D files fetched at once (only the speed depends on it).
MAX_PARALLEL = 8
#: Git LFS pointer files are small text files (the spec caps them at 1024 bytes).
MAX_POINTER_BYTES = 1024
CREMA_D_KEY = "downstream.datasets.crema_d.download"


class ChecksumError(RuntimeError):
    """A downloaded file does not match the manifest."""


class TransferError(RuntimeError):
    """A URL answered with an HTTP error or could not be read; ``answer`` says what happened."""

    def __init__(self, url: str, answer: str):
        super().__init__(f"{url}: {answer}")
        self.url = url
        self.answer = answer


def _digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: str | Path, sha256: str | None = None, md5: str | None = None, size: int | None = None,
           name: str | None = None) -> str:
    """Check a file against the manifest values that are given; return its SHA-256. Errors name ``name``
    (default: the path)."""
    path = Path(path)
    name = name or str(path)
    if size is not None and path.stat().st_size != int(size):
        raise ChecksumError(f"{name}: size {path.stat().st_size} bytes, expected {size}")
    digest = _digest(path, "sha256")
    if sha256 and digest != sha256.lower():
        raise ChecksumError(f"{name}: sha256 {digest}, expected {sha256}")
    if md5 and _digest(path, "md5") != md5.lower():
        raise ChecksumError(f"{name}: md5 differs from the expected {md5}")
    if not (sha256 or md5 or size):
        log.warning("%s: no checksum in the config manifest; sha256 is %s (pin it in the config)", name, digest)
    return digest


def _http_answer(err: urllib.error.HTTPError) -> str:
    """``HTTP <status> <reason>: <start of the body's text>`` (a refusal's body says why, e.g. an LFS budget;
    the tags of an HTML error page are dropped)."""
    try:
        body = err.read(4096).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        body = ""
    text = " ".join(re.sub(r"<[^>]*>", " ", body).split())
    return f"HTTP {err.code} {err.reason}" + (f": {text[:200]}" if text else "")


def _open(url: str, timeout: float):
    """The response to GET ``url``; an HTTP error answer or a transport failure raises :class:`TransferError`."""
    request = urllib.request.Request(url, headers={"User-Agent": f"braintune/{__version__}"})
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        answer = _http_answer(err)
        err.close()
        raise TransferError(url, answer) from None
    except (OSError, http.client.HTTPException, ValueError) as err:  # URLError, timeouts, malformed URLs
        raise TransferError(url, f"{type(err).__name__}: {err}") from err


def _transfer_failed(url: str, err: Exception) -> TransferError:
    """A cut connection or a body shorter than announced, while reading the answer of ``url``."""
    return TransferError(url, f"transfer failed: {type(err).__name__}: {err}")


def read_url(url: str, limit: int | None = None, timeout: float = TIMEOUT_S) -> bytes:
    """The body of ``url`` (at most ``limit`` + 1 bytes when ``limit`` is given, to detect a longer one)."""
    with _open(url, timeout) as response:
        try:
            return response.read() if limit is None else response.read(limit + 1)
        except (OSError, http.client.HTTPException) as err:
            raise _transfer_failed(url, err) from err


def fetch(url: str, dest: str | Path, sha256: str | None = None, md5: str | None = None,
          size: int | None = None, timeout: float = TIMEOUT_S) -> Path:
    """Download ``url`` to ``dest`` (atomically) and verify it; an existing valid file is kept.

    Raises:
        TransferError: an HTTP error answer or a transport failure (naming the URL).
        ChecksumError: the body does not match (naming ``dest`` and the URL); nothing is left at ``dest``.
    """
    dest = Path(dest)
    if dest.exists():
        try:
            verify(dest, sha256, md5, size)
            return dest
        except ChecksumError:
            log.warning("%s: exists but fails verification; downloading again", dest)
    with atomic_output(dest) as tmp:
        with _open(url, timeout) as response, open(tmp, "wb") as out:
            while True:
                try:
                    block = response.read(1 << 20)
                except (OSError, http.client.HTTPException) as err:
                    raise _transfer_failed(url, err) from err
                if not block:
                    break
                out.write(block)
        digest = verify(tmp, sha256, md5, size, name=f"{dest} from {url}")
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


# --- CREMA-D: Git LFS pointers from the raw files, content from the first media source that matches ---


def parse_lfs_pointer(text: str) -> tuple[str, int]:
    """``(sha256, size)`` of a Git LFS pointer file (spec v1: ``version https://git-lfs...``,
    ``oid sha256:<64 hex digits>``, ``size <bytes>``).

    Raises:
        ValueError: saying which line is missing or malformed.
    """
    fields = dict(line.split(" ", 1) for line in text.strip().splitlines() if " " in line)
    if not fields.get("version", "").startswith("https://git-lfs"):
        raise ValueError(f"not a Git LFS pointer (no 'version https://git-lfs...' line): {text[:80]!r}")
    algo, _, oid = fields.get("oid", "").strip().partition(":")
    if algo != "sha256":
        raise ValueError(f"unsupported LFS oid algorithm {algo!r} (expected 'oid sha256:<hex>'): {text[:120]!r}")
    if not re.fullmatch(r"[0-9a-f]{64}", oid):
        raise ValueError(f"LFS oid {oid!r} is not 64 hexadecimal digits")
    size = fields.get("size", "").strip()
    if not size.isdigit():
        raise ValueError(f"Git LFS pointer without a 'size <bytes>' line: {text[:120]!r}")
    return oid, int(size)


def repository_url(template: str, d: dict, key: str) -> str:
    """A URL template of ``downstream.datasets.crema_d.download`` (``raw_url`` or a ``media_urls`` entry,
    named by ``key``) filled with its ``repository`` and ``ref``, without a trailing slash."""
    try:
        return template.format(repository=d["repository"], ref=d["ref"]).rstrip("/")
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(f"{CREMA_D_KEY}.{key} = {template!r}: only the placeholders {{repository}} and "
                         f"{{ref}} are allowed ({type(err).__name__}: {err})") from None


def crema_d_file_list(d: dict) -> list[str]:
    """The corpus files' names (the ``FileName`` column of ``file_list``, without ``.wav``), sorted."""
    url = f"{repository_url(d['raw_url'], d, 'raw_url')}/{d['file_list']}"
    try:
        table = csv.DictReader(io.StringIO(read_url(url).decode("utf-8-sig")))
        names = sorted({row["FileName"].strip() for row in table if row.get("FileName")})
    except (UnicodeDecodeError, csv.Error) as err:
        raise DownloadError(f"{url}: not a CSV file ({err})") from err
    except TransferError as err:
        raise DownloadError(f"CREMA-D file list: {err}") from err
    if "FileName" not in (table.fieldnames or []):
        raise DownloadError(f"{url}: no column 'FileName' (columns: {table.fieldnames}); {CREMA_D_KEY}.file_list "
                            "must name the CSV listing the corpus files")
    if not names:
        raise DownloadError(f"{url}: lists no files in its FileName column")
    return names


class _SourceTally:
    """What each media source did during one download (thread-safe): files delivered, fall-throughs, and
    the first answer of a failing source (logged as a warning once; later ones at debug level)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.delivered = Counter()
        self.failed = Counter()
        self.first: dict[int, str] = {}
        self.kept = 0

    def failure(self, k: int, path: str, url: str, answer: str) -> None:
        with self.lock:
            self.failed[k] += 1
            first = k not in self.first
            self.first.setdefault(k, f"{url}: {answer}")
        (log.warning if first else log.debug)("CREMA-D %s: %s answered %s; trying the next source", path, url, answer)

    def success(self, k: int | None) -> None:
        with self.lock:
            if k is None:
                self.kept += 1
            else:
                self.delivered[k] += 1


def fetch_lfs_file(d: dict, path: str, dest: Path, tally: _SourceTally, timeout: float = TIMEOUT_S) -> None:
    """Fetch one file of the LFS repository (``path`` inside it) to ``dest``: its pointer from ``raw_url``,
    then its content from the first of ``media_urls`` whose bytes match the pointer. A file already in
    place that matches its pointer is kept.

    Raises:
        DownloadError: naming the file, the pointer URL, and every media URL tried with what it answered.
    """
    pointer_url = f"{repository_url(d['raw_url'], d, 'raw_url')}/{path}"
    try:
        body = read_url(pointer_url, MAX_POINTER_BYTES, timeout)
        if len(body) > MAX_POINTER_BYTES:
            raise ValueError(f"not a Git LFS pointer (more than {MAX_POINTER_BYTES} bytes): {body[:40]!r}")
        sha256, size = parse_lfs_pointer(body.decode("utf-8", "replace"))
    except (TransferError, ValueError) as err:
        raise DownloadError(f"{dest}: LFS pointer {pointer_url}: {err}") from err
    if dest.exists():
        try:
            verify(dest, sha256=sha256, size=size)
            tally.success(None)
            return
        except ChecksumError as err:
            log.warning("%s; downloading it again", err)
            dest.unlink()
    answers = []
    for k, template in enumerate(d["media_urls"]):
        url = f"{repository_url(template, d, f'media_urls[{k}]')}/{path}"
        try:
            fetch(url, dest, sha256=sha256, size=size, timeout=timeout)
        except (TransferError, ChecksumError) as err:
            answer = err.answer if isinstance(err, TransferError) else f"content does not match the pointer ({err})"
            answers.append(f"{url}: {answer}")
            tally.failure(k, path, url, answer)
            continue
        tally.success(k)
        return
    raise DownloadError(f"{dest}: no source delivered {path} (LFS pointer {pointer_url}: sha256 {sha256}, "
                        f"{size} bytes); tried " + "; ".join(answers))


def download_crema_d(d: dict, dest: str | Path) -> None:
    """``d``: ``downstream.datasets.crema_d.download``. Every file listed in ``file_list`` is fetched into
    ``dest/AudioWAV`` by :func:`fetch_lfs_file`, at most :data:`MAX_PARALLEL` at once.

    Raises:
        DownloadError: listing every file that no source delivered (the others are fetched and kept).
    """
    dest = Path(dest)
    if not d["media_urls"]:
        raise ValueError(f"{CREMA_D_KEY}.media_urls is empty: name at least one source of the LFS content")
    for k, template in enumerate(d["media_urls"]):  # a template error fails before any transfer
        repository_url(template, d, f"media_urls[{k}]")
    names = crema_d_file_list(d)
    log.info("CREMA-D: %d files listed in %s; media sources in order: %s", len(names), d["file_list"],
             ", ".join(d["media_urls"]))
    tally = _SourceTally()
    jobs = [partial(fetch_lfs_file, d, f"AudioWAV/{name}.wav", dest / "AudioWAV" / f"{name}.wav", tally)
            for name in names]
    try:
        run_all(jobs, MAX_PARALLEL)
    finally:
        parts = [f"{tally.kept} already in place"]
        parts += [f"{tally.delivered[k]} from {t}" for k, t in enumerate(d["media_urls"]) if tally.delivered[k]]
        log.info("CREMA-D: %d files: %s", len(names), ", ".join(parts))
        for k, template in enumerate(d["media_urls"]):
            if tally.failed[k]:
                log.warning("CREMA-D: %s failed for %d files (first: %s)", template, tally.failed[k], tally.first[k])


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
