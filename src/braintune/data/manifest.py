"""The ds003020 file manifest (path, size, MD5), read from the dataset's own git tree.

OpenNeuro publishes every dataset as a git-annex repository (github.com/OpenNeuroDatasets/ds003020).
Large files are symlinks whose target names the annex key, e.g.
``../../.git/annex/objects/Xx/Yy/MD5E-s2048--0123...cdef.hf5/MD5E-s2048--0123...cdef.hf5``: the key
gives the exact size and MD5 of the content. Small files are ordinary git blobs (their size and MD5 are
those of the blob). The content of both lives on OpenNeuro's public S3 export under the same path.

:func:`build_manifest` makes a shallow, blob-less-where-possible clone of one tag (no checkout: annex
content is never touched), lists the tree with ``git ls-tree`` and reads the symlink targets and small
blobs with one ``git cat-file --batch``. Servers that speak only git's "dumb" HTTP protocol (no shallow
clones, no filters) are retried with a full clone of the tag.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from braintune.utils import atomic_output

log = logging.getLogger(__name__)

ANNEX_KEY = re.compile(r"MD5E-s(?P<size>\d+)--(?P<md5>[0-9a-f]{32})")
COLUMNS = ("path", "size", "md5", "annexed")


class ManifestError(RuntimeError):
    """The dataset's git tree could not be read or is not what was expected."""


@dataclass(frozen=True)
class Entry:
    """One file of the dataset: path relative to the root, size in bytes, MD5, annexed or plain git."""

    path: str
    size: int
    md5: str
    annexed: bool


def parse_annex_target(target: str) -> tuple[int, str] | None:
    """``(size, md5)`` from a git-annex symlink target (MD5E backend), or None if it is no annex key."""
    match = ANNEX_KEY.search(target)
    if not match:
        return None
    return int(match.group("size")), match.group("md5")


def _git(args: list[str], cwd: Path | None = None, input: bytes | None = None) -> bytes:
    if shutil.which("git") is None:
        raise ManifestError("git is not installed: the manifest is read from the dataset's git tree")
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_LFS_SKIP_SMUDGE": "1", "GIT_ANNEX_NO_SMUDGE": "1"}
    proc = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, env=env)
    if proc.returncode != 0:
        raise ManifestError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def clone_tag(repo_url: str, tag: str, dest: Path) -> None:
    """Clone ``tag`` of ``repo_url`` into ``dest`` without checking anything out.

    Tries a depth-1 clone filtered to small blobs (symlinks are < 1 kB); servers that refuse shallow
    clones (git's dumb HTTP protocol) get a full clone of the tag.
    """
    base = ["clone", "--quiet", "--no-checkout", "--single-branch", "--branch", tag]
    try:
        _git([*base, "--depth", "1", "--filter=blob:limit=64k", repo_url, str(dest)])
        return
    except ManifestError as err:
        log.info("shallow clone of %s failed (%s); retrying with a full clone of %s", repo_url, err, tag)
        shutil.rmtree(dest, ignore_errors=True)
    _git([*base, repo_url, str(dest)])


def tree_entries(repo: Path, ref: str = "HEAD") -> list[Entry]:
    """Every file of ``ref``'s tree with size and MD5 (annex key for symlinks, blob content otherwise)."""
    listing = _git(["ls-tree", "-r", "-z", "--full-tree", ref], cwd=repo)
    records = []
    for item in listing.split(b"\0"):
        if not item:
            continue
        meta, path = item.split(b"\t", 1)
        mode, kind, sha = meta.split()
        if kind != b"blob":  # submodules
            continue
        records.append((mode.decode(), sha.decode(), path.decode()))
    if not records:
        raise ManifestError(f"{repo}: tree of {ref} lists no files")
    # One cat-file process for all blobs: symlink targets and small files.
    batch = _git(["cat-file", "--batch"], cwd=repo, input="".join(f"{sha}\n" for _, sha, _ in records).encode())
    entries = []
    offset = 0
    for mode, sha, path in records:
        header_end = batch.index(b"\n", offset)
        header = batch[offset:header_end].split()
        if len(header) < 3 or header[1] == b"missing":
            raise ManifestError(f"{repo}: blob {sha} of {path} is missing from the clone")
        size = int(header[2])
        content = batch[header_end + 1 : header_end + 1 + size]
        offset = header_end + 1 + size + 1
        if mode == "120000":
            key = parse_annex_target(content.decode(errors="replace"))
            if key is None:
                log.debug("%s: symlink to %r is not an annex key; skipped", path, content)
                continue
            entries.append(Entry(path, key[0], key[1], True))
        else:
            entries.append(Entry(path, size, hashlib.md5(content).hexdigest(), False))
    return entries


def build_manifest(repo_url: str, tag: str, workdir: str | os.PathLike | None = None) -> list[Entry]:
    """Clone ``tag`` of the dataset repository and return its manifest (sorted by path)."""
    with tempfile.TemporaryDirectory(dir=workdir, prefix=".ds-clone-") as tmp:
        dest = Path(tmp) / "repo"
        clone_tag(repo_url, tag, dest)
        entries = tree_entries(dest, "HEAD")
    log.info("%s@%s: %d files (%d annexed), %.1f GB", repo_url, tag, len(entries), sum(e.annexed for e in entries),
             sum(e.size for e in entries) / 1e9)
    return sorted(entries, key=lambda e: e.path)


def write_manifest(path: str | os.PathLike, entries: list[Entry], source: str = "") -> None:
    """TSV with columns path, size, md5, annexed (atomic); a ``# source`` comment first."""
    with atomic_output(path) as tmp:
        with open(tmp, "w", newline="") as handle:
            if source:
                handle.write(f"# {source}\n")
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(COLUMNS)
            for e in entries:
                writer.writerow([e.path, e.size, e.md5, int(e.annexed)])


def read_manifest(path: str | os.PathLike) -> dict[str, Entry]:
    """``{path: Entry}`` of a manifest TSV.

    Raises:
        ManifestError: naming the file and line when a row is malformed.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: manifest missing (rule data_manifest)")
    out = {}
    with open(path, newline="") as handle:
        lines = (line for line in handle if not line.startswith("#"))
        reader = csv.DictReader(lines, delimiter="\t")
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ManifestError(f"{path}: expected columns {COLUMNS}, found {reader.fieldnames}")
        for n, row in enumerate(reader, start=2):
            try:
                entry = Entry(row["path"], int(row["size"]), row["md5"], bool(int(row["annexed"])))
            except (TypeError, ValueError) as err:
                raise ManifestError(f"{path}: line {n}: malformed row {row} ({err})") from err
            if not re.fullmatch(r"[0-9a-f]{32}", entry.md5):
                raise ManifestError(f"{path}: line {n}: '{entry.md5}' is not an MD5")
            out[entry.path] = entry
    return out
