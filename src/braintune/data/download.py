"""Fetch exactly the ds003020 files a configuration needs, over HTTPS from OpenNeuro's public S3 export.

* :func:`download_plan` turns the config into the dataset paths a run needs (files, and folder prefixes
  such as a subject's ``pycortex-db``), grouped into download jobs; :func:`resolve` checks them against
  the manifest (:mod:`braintune.data.manifest`) and expands prefixes.
* :func:`fetch` downloads a list of manifest entries: free disk space is checked first; a bounded pool
  of threads streams files to ``<file>.part`` (resuming a partial file with an HTTP ``Range`` request),
  retries network errors and 5xx/429 answers a bounded number of times with exponential backoff, shows
  one tqdm bar over all bytes, and verifies size and MD5 before moving each file into place. A failed
  check removes the partial file and fails naming the path, the expected and the received value; a
  404, a redirect loop, a body that does not decode or any other transport failure that no retry mends
  fails at once naming the path and the URL. Every transfer of a call runs to its end and all failures
  are reported together.
* :func:`fetch_urls` downloads files without a manifest entry (the Glasser atlas and fsaverage spheres)
  the same way, checking the size the server announces, refusing an HTML page, and checking the MD5s
  pinned in ``data.download.atlas.md5`` (see :func:`fetch_url` for what only an MD5 can catch).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import requests
import urllib3
from tqdm import tqdm

from braintune import config as btconfig
from braintune.data import layout
from braintune.data.manifest import Entry

log = logging.getLogger(__name__)

CHUNK = 1 << 20
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# transport failures worth another try, resumed with Range: a broken or stalled connection, a body
# shorter than announced (urllib3 enforces Content-Length), a 5xx/429 answer (raised as HTTPError)
RETRIED = (requests.ConnectionError, requests.Timeout, requests.HTTPError, requests.exceptions.ChunkedEncodingError,
           urllib3.exceptions.ProtocolError, urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.IncompleteRead)
# every other transport failure (a redirect loop, a body that does not decode, a malformed URL...) fails at once
TRANSPORT_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError)
ATLAS_MD5_KEY = "data.download.atlas.md5"  # the {file name: MD5} checks of fetch_urls' files


class DownloadError(RuntimeError):
    """A file could not be fetched or failed verification; the message names it."""


# --- what a configuration needs -------------------------------------------------------------


def download_plan(config: dict) -> dict[str, list[str]]:
    """Download jobs of a configuration: ``{job name: [dataset paths]}``.

    A path ending in ``/`` is a folder prefix (every manifest file under it). Jobs: ``stimuli`` (the
    WAVs), ``transcripts`` (TextGrids and respdict.json), ``responses_{subject}`` (the subject's stories,
    missing ones handled by :func:`braintune.preprocess.available_stories`), ``pycortex_{subject}``
    (its pycortex-db folder) and, when ``preprocess.regions.source`` is ``glasser``,
    ``freesurfer_{subject}`` (the two ``sphere.reg`` surfaces the Glasser transfer reads).
    """
    from braintune.preprocess.stories import available_stories

    stories = btconfig.all_stories(config)
    plan = {
        "stimuli": [layout.stimulus_path(s) for s in stories],
        "transcripts": [layout.textgrid_path(s) for s in stories] + [layout.RESPDICT],
    }
    for subject in config["data"]["subjects"]:
        plan[f"responses_{subject}"] = [layout.response_path(subject, s) for s in available_stories(config, subject, "all")]
        plan[f"pycortex_{subject}"] = [layout.pycortex_db_path(subject)]
        if config["preprocess"]["regions"]["source"] == "glasser":
            plan[f"freesurfer_{subject}"] = [layout.sphere_reg_path(subject, hemi) for hemi in ("lh", "rh")]
    return plan


def dataset_paths(outputs: list[str | os.PathLike], manifest: dict[str, Entry]) -> tuple[Path, list[str]]:
    """The dataset root and the manifest paths of a download job's outputs (files, or folders whose
    manifest path is a prefix ending in ``/``): each output is ``root/path`` for one common root.

    Raises:
        DownloadError: naming an output that is no dataset path, or outputs under different roots.
    """
    folders = {str(Path(p).parent) for p in manifest}
    folders |= {str(parent) for p in manifest for parent in Path(p).parents}
    roots, paths = set(), []
    for out in outputs:
        parts = Path(out).parts
        for i in range(len(parts)):
            rel = "/".join(parts[i:])
            if rel in manifest or rel in folders:
                roots.add(Path(*parts[:i]) if i else Path("."))
                paths.append(rel if rel in manifest else rel + "/")
                break
        else:
            raise DownloadError(f"{out}: not a path of the dataset manifest")
    if len(roots) > 1:
        raise DownloadError(f"outputs under different dataset roots: {sorted(map(str, roots))}")
    return roots.pop(), paths


def download_files(outputs: list[str | os.PathLike], manifest_path: str | os.PathLike, exclude: tuple[str, ...],
                   options: FetchOptions) -> list[Path]:
    """The job of one download rule: fetch (verified) every file of ``outputs`` (files and folders of
    the dataset, see :func:`dataset_paths`) listed in the manifest; ``exclude`` drops files under a
    folder whose path contains one of its substrings. Files are staged in ``<root>/.staging``."""
    from braintune.data.manifest import read_manifest

    manifest = read_manifest(manifest_path)
    root, paths = dataset_paths(outputs, manifest)
    entries = resolve(paths, manifest, exclude)
    log.info("%d files, %.3f GB from %s", len(entries), sum(e.size for e in entries) / 1e9, options.base_url)
    return fetch(entries, root, options, staging=root / ".staging")


def resolve(paths: list[str], manifest: dict[str, Entry], exclude: tuple[str, ...] = ()) -> list[Entry]:
    """Manifest entries of ``paths`` (prefixes ending in ``/`` expanded, ``exclude`` substrings dropped).

    Raises:
        DownloadError: naming every path that is not in the dataset.
    """
    out, missing = [], []
    for path in paths:
        if path.endswith("/"):
            found = [e for p, e in sorted(manifest.items()) if p.startswith(path) and not any(x in p for x in exclude)]
            if not found:
                missing.append(path)
            out.extend(found)
        elif path in manifest:
            out.append(manifest[path])
        else:
            missing.append(path)
    if missing:
        raise DownloadError(
            f"{len(missing)} needed paths are not in the dataset manifest: {missing[:10]}"
            + (" ..." if len(missing) > 10 else "")
            + " (a story missing for a subject? see data.missing_story and data.download.known_missing)"
        )
    return out


def plan_summary(plan: dict[str, list[str]], manifest: dict[str, Entry] | None, root: str | os.PathLike, exclude=()) -> str:
    """One line per job and a total: number of files and bytes (and how much is already present)."""
    lines = []
    total = present = n_files = 0
    for job, paths in plan.items():
        if manifest is None:
            lines.append(f"  {job}: {len(paths)} paths")
            continue
        try:
            entries = resolve(paths, manifest, exclude)
        except DownloadError as err:
            lines.append(f"  {job}: {err}")
            continue
        size = sum(e.size for e in entries)
        have = sum(e.size for e in entries if _complete(Path(root) / e.path, e))
        total, present, n_files = total + size, present + have, n_files + len(entries)
        lines.append(f"  {job}: {len(entries)} files, {size / 1e9:.2f} GB")
    if manifest is None:
        head = "ds003020 download plan (sizes unknown until the manifest is fetched: rule data_manifest):"
    else:
        head = (f"ds003020 download plan: {n_files} files, {total / 1e9:.2f} GB in total, "
                f"{(total - present) / 1e9:.2f} GB still to fetch:")
    return "\n".join([head, *lines])


# --- fetching -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchOptions:
    """Network behaviour of :func:`fetch` (the ``download`` section of the config)."""

    base_url: str
    max_parallel: int
    retries: int
    backoff_s: float
    timeout_s: float
    min_free_gb: float
    chunk_bytes: int = CHUNK

    @classmethod
    def from_config(cls, download: dict) -> FetchOptions:
        """From the ``download`` section (validated; none of these settings changes a downloaded file)."""
        return cls(
            base_url=download["base_url"],
            max_parallel=int(download["max_parallel"]),
            retries=int(download["retries"]),
            backoff_s=float(download["backoff_s"]),
            timeout_s=float(download["timeout_s"]),
            min_free_gb=float(download["min_free_gb"]),
        )


def _complete(dest: Path, entry: Entry) -> bool:
    """A file already in place with the right size (its MD5 was checked when it was moved there)."""
    return dest.is_file() and dest.stat().st_size == entry.size


def _md5(path: Path, chunk: int) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def url_of(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def check_disk_space(root: Path, needed: int, min_free_gb: float) -> None:
    """Fail before any transfer when ``root``'s filesystem cannot hold ``needed`` bytes plus the margin."""
    probe = root
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    margin = int(min_free_gb * 1e9)
    if needed + margin > free:
        raise DownloadError(
            f"not enough disk space under {root}: {needed / 1e9:.2f} GB to fetch plus "
            f"data.download.min_free_gb={min_free_gb} GB, but {free / 1e9:.2f} GB free"
        )


def _announced_size(response: requests.Response, resumed: bool) -> int | None:
    """The whole file's size as the server announces it: Content-Range's total for a resumed (206)
    answer, Content-Length for a 200; None when absent, or when a Content-Encoding makes the header
    count encoded bytes rather than the file's."""
    if response.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
        return None
    value = response.headers.get("Content-Range", "").rpartition("/")[2] if resumed else response.headers.get("Content-Length", "")
    return int(value) if value.strip().isdigit() else None


def _discard(part: Path, message: str) -> DownloadError:
    """The error of a failure no retry can mend: the partial file goes too (a resume would build on it)."""
    part.unlink(missing_ok=True)
    return DownloadError(message)


def _transfer(url: str, part: Path, size: int | None, label: str, options: FetchOptions,
              session: requests.Session, progress=None) -> tuple[int | None, str]:
    """Stream ``url`` into ``part`` until it holds ``size`` bytes; with ``size`` None, the size the
    server announces (Content-Length, or Content-Range's total) when it announces one, else the body.

    Resumes an existing ``part`` with a Range request. Network errors, bodies shorter than expected
    (urllib3 also enforces Content-Length) and 5xx/429 answers are retried ``options.retries`` times
    with exponential backoff; after the last, ``part`` stays for a later resume. Any other failure
    (404 or another status, a redirect loop, a body that does not decode, a malformed URL...) removes
    ``part`` and fails at once.

    Returns:
        The expected size (``size``, else the announced one, else None) and the last Content-Type.

    Raises:
        DownloadError: naming ``label`` (the destination), the URL and the cause.
    """
    attempt = 0
    content_type = ""
    while True:
        have = part.stat().st_size if part.exists() else 0
        if size is not None and have > size:  # stale partial of another version
            part.unlink()
            have = 0
        if size is not None and have == size:
            return size, content_type
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with session.get(url, headers=headers, stream=True, timeout=options.timeout_s) as response:
                if response.status_code == 404:
                    raise _discard(part, f"{label}: HTTP 404 Not Found at {url} (not in the dataset export?)")
                if response.status_code == 416 and have:  # range beyond the end: restart cleanly
                    part.unlink()
                    continue
                if response.status_code in RETRY_STATUS:
                    raise requests.HTTPError(f"HTTP {response.status_code}", response=response)
                if response.status_code not in (200, 206):
                    raise _discard(part, f"{label}: HTTP {response.status_code} {response.reason} at {url}")
                resumed = bool(have) and response.status_code == 206
                content_type = response.headers.get("Content-Type", "")
                if size is None:
                    size = _announced_size(response, resumed)
                if have and not resumed and progress is not None:
                    progress.update(-have)  # the server ignored Range: start over
                with open(part, "ab" if resumed else "wb") as handle:
                    # read1 hands over whatever arrived, so a cut-off transfer keeps every byte received
                    while block := response.raw.read1(options.chunk_bytes, decode_content=True):
                        handle.write(block)
                        if progress is not None:
                            progress.update(len(block))
            got = part.stat().st_size
            if size is None or got >= size:  # a longer body fails the size check of _verify_and_place
                return size, content_type
            raise requests.ConnectionError(f"transfer ended at {got} of {size} bytes")
        except RETRIED as err:
            attempt += 1
            got = part.stat().st_size if part.exists() else 0
            if attempt > options.retries:
                expected = f"; expected {size} bytes, received {got}" if size is not None else ""
                raise DownloadError(f"{label}: giving up after {options.retries} retries at {url}: {err}{expected}") from err
            wait = options.backoff_s * 2 ** (attempt - 1)
            log.warning("%s: %s; retry %d/%d in %.1f s (resuming at byte %d)", label, err, attempt,
                        options.retries, wait, got)
            time.sleep(wait)
        except TRANSPORT_ERRORS as err:
            raise _discard(part, f"{label}: {type(err).__name__} at {url}: {err}") from err


def _verify_and_place(part: Path, dest: Path, label: str, size: int | None, md5: str | None, chunk: int,
                      hint: str = "") -> Path:
    """Check size and MD5 of ``part``; move it to ``dest``, or remove it and fail naming both values
    (and ``hint``, what to do about it)."""
    got = part.stat().st_size
    if size is not None and got != size:
        part.unlink()
        raise DownloadError(f"{label}: size check failed: expected {size} bytes, received {got}{hint}")
    if md5:
        digest = _md5(part, chunk)
        if digest != md5:
            part.unlink()
            raise DownloadError(f"{label}: MD5 check failed: expected {md5}, received {digest}{hint}")
    os.replace(part, dest)
    return dest


def fetch_one(entry: Entry, root: Path, options: FetchOptions, session: requests.Session, progress=None) -> Path:
    """Download one manifest file (resuming ``.part``), verify size and MD5, move it into place.

    Raises:
        DownloadError: naming the destination (and URL, expected and received values).
    """
    dest = root / entry.path
    if _complete(dest, entry):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    _transfer(url_of(options.base_url, entry.path), part, entry.size, str(dest), options, session, progress)
    return _verify_and_place(part, dest, str(dest), entry.size, entry.md5, options.chunk_bytes)


# the opening of an HTML document: optional comments, then a doctype, <html>, <head> or <body>
_HTML_START = re.compile(rb"\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)[\s>]", re.IGNORECASE | re.DOTALL)


def _html_answer(part: Path, content_type: str) -> str | None:
    """How ``part`` (received with ``content_type``) shows itself to be an HTML page, or None."""
    if content_type.split(";", 1)[0].strip().lower() in ("text/html", "application/xhtml+xml"):
        return f"Content-Type {content_type}"
    with open(part, "rb") as handle:
        head = handle.read(1024).removeprefix(b"\xef\xbb\xbf")
    if _HTML_START.match(head):
        return f"a body that starts like an HTML page ({head[:60]!r})"
    return None


def fetch_url(url: str, dest: str | os.PathLike, options: FetchOptions, session: requests.Session,
              md5: str | None = None) -> Path:
    """Download one file that the manifest does not describe (an atlas file) to ``dest``.

    The body goes to ``<dest>.part`` and is moved to ``dest`` only once it passed every check:
    its size must equal the size the server announces (Content-Length, or Content-Range's total for a
    resumed transfer; a shorter body is retried and resumed like a manifest file), it must not be an
    HTML page (a ``text/html`` Content-Type or an HTML opening: an error or login page answered with
    status 200), and with ``md5`` its MD5 must match. A failure removes the partial file, except after
    the last retry of a broken transfer, which leaves it for a resume.

    Without ``md5`` two things cannot be detected: a body cut short by a server that announces no
    size and marks the end only by closing the connection (a cut chunked body is detected: its last
    chunk is missing), and wrong content of the announced size that is no HTML page. Such a file is
    kept with a warning giving its MD5, to be pinned in data.download.atlas.md5 once checked.

    Raises:
        DownloadError: naming ``dest``, the URL and what was expected.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    pin = f"{ATLAS_MD5_KEY}: {{{dest.name}: <md5>}}"
    hint = (f" (the MD5 pinned in {ATLAS_MD5_KEY})" if md5 else
            f" (pin the file's MD5 in {pin} so that its content is verified)")
    size, content_type = _transfer(url, part, None, str(dest), options, session)
    html = _html_answer(part, content_type)
    if html:
        part.unlink()
        raise DownloadError(f"{dest}: {url} answered with an HTML page ({html}), expected the data file itself: "
                            f"an error or login page? check the URL{hint}")
    _verify_and_place(part, dest, f"{dest} from {url}", size, md5, options.chunk_bytes, hint)
    digest = md5 or _md5(dest, options.chunk_bytes)
    if size is None and not md5:
        log.warning("%s: %s announced no size and no MD5 is pinned, so a transfer cut short cannot be detected: "
                    "check the file and pin its MD5 in %s: {%s: %s}", dest, url, ATLAS_MD5_KEY, dest.name, digest)
    log.info("%s <- %s (%d bytes, MD5 %s)", dest, url, dest.stat().st_size, digest)
    return dest


def fetch_urls(targets: dict[str, str | os.PathLike], options: FetchOptions, md5: dict[str, str] | None = None) -> None:
    """Download ``{url: destination}`` files not described by the manifest (the Glasser atlas and the
    fsaverage spheres) with :func:`fetch_url`, at most ``options.max_parallel`` at once, with the same
    retries; ``md5`` (data.download.atlas.md5) maps a destination's file name to its MD5.

    Raises:
        DownloadError: listing every failed transfer (the others complete).
    """
    md5 = md5 or {}
    with _session(options.max_parallel) as session:
        run_all([partial(fetch_url, url, dest, options, session, md5.get(Path(dest).name)) for url, dest in targets.items()],
                 options.max_parallel)


def fetch(
    entries: list[Entry],
    root: str | os.PathLike,
    options: FetchOptions,
    staging: str | os.PathLike | None = None,
    show_progress: bool = True,
) -> list[Path]:
    """Download ``entries`` under ``root`` with at most ``options.max_parallel`` transfers at once.

    Files already in place (right size) are skipped. With ``staging``, files are fetched (and verified)
    there and moved under ``root`` only when every file of the call succeeded: a failed Snakemake job
    deletes its outputs, and staging keeps the verified files (and partial ones) for the rerun.
    Every error is collected and raised together.
    """
    root = Path(root)
    stage = Path(staging) if staging is not None else root
    todo = [e for e in entries if not _complete(root / e.path, e)]
    fetch_todo = [e for e in todo if not _complete(stage / e.path, e)]
    partial_bytes = sum(
        min((stage / (e.path + ".part")).stat().st_size, e.size) for e in fetch_todo if (stage / (e.path + ".part")).exists()
    )
    needed = sum(e.size for e in fetch_todo) - partial_bytes
    log.info("%d of %d files to fetch, %.3f GB (%d bytes already partial)", len(fetch_todo), len(entries), needed / 1e9,
             partial_bytes)
    if fetch_todo:
        check_disk_space(root, needed, options.min_free_gb)
        _fetch_all(fetch_todo, stage, options, partial_bytes, show_progress)
    if stage != root:
        for e in todo:
            (root / e.path).parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / e.path, root / e.path)
    return [root / e.path for e in entries]


def _session(max_parallel: int) -> requests.Session:
    """A session with ``max_parallel`` pooled connections per host that asks for the files' own bytes
    (no compression), so that Range offsets and Content-Length count the bytes written."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=max(1, max_parallel), pool_maxsize=max(1, max_parallel))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["Accept-Encoding"] = "identity"
    return session


def run_all(jobs: list[Callable[[], object]], max_parallel: int) -> None:
    """Run the download ``jobs`` on at most ``max_parallel`` threads; every job runs to its end and all
    failures are raised together, in the order of ``jobs``."""
    errors = []
    with ThreadPoolExecutor(max_workers=max(1, max_parallel)) as pool:
        futures = [pool.submit(job) for job in jobs]
        for future in futures:
            try:
                future.result()
            except DownloadError as err:
                log.error("%s", err)
                errors.append(str(err))
    if errors:
        raise DownloadError(f"{len(errors)} of {len(jobs)} downloads failed:\n  " + "\n  ".join(errors))


def _fetch_all(todo: list[Entry], root: Path, options: FetchOptions, partial_bytes: int, show_progress: bool) -> None:
    lock = threading.Lock()
    bar = tqdm(total=sum(e.size for e in todo), initial=partial_bytes, unit="B", unit_scale=True,
               desc="ds003020", disable=not show_progress, mininterval=1.0)

    class _Progress:
        def update(self, n):
            with lock:
                bar.update(n)

    with _session(options.max_parallel) as session:
        try:
            run_all([partial(fetch_one, e, root, options, session, _Progress()) for e in todo], options.max_parallel)
        finally:
            bar.close()
