"""Small shared helpers: logging to a Snakemake log file, atomic outputs, seeding, caches."""

from __future__ import annotations

import atexit
import contextlib
import gc
import hashlib
import json
import logging
import os
import random
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_path: str | os.PathLike | None = None, level: int = logging.INFO) -> logging.Logger:
    """Send the ``braintune`` loggers to ``log_path`` (a rule's ``log:``) and to stderr."""
    root = logging.getLogger("braintune")
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    formatter = logging.Formatter(LOG_FORMAT)
    stream = logging.StreamHandler()
    stream.setFormatter(formatter)
    root.addHandler(stream)
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_path, mode="w")
        handler.setFormatter(formatter)
        root.addHandler(handler)
    return root


def start_job(log_path: str | os.PathLike | None = None, level: int = logging.INFO) -> logging.Logger:
    """Start a Snakemake job script: its loggers (:func:`setup_logging`) and the garbage collector.

    Every script in workflow/scripts disables the cyclic garbage collector on its first line, before
    its imports. Here the objects those imports created (torch and transformers make hundreds of
    thousands) move to the permanent generation (``gc.freeze``) and the collector is enabled again,
    so that neither the job's collections nor the one at interpreter exit scan them; ``gc.freeze``
    at exit spares the job's own objects too (the OS reclaims the memory; files are closed by their
    ``with`` blocks). About 1.5 of the 4.5 s that starting a torch + transformers job took
    (docs/performance.md).
    """
    gc.freeze()
    gc.enable()
    atexit.register(gc.freeze)
    return setup_logging(log_path, level)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only if the block succeeds.

    Nothing half-written is ever left at ``path``: on an exception the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or path.suffix)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp_path
        if tmp_path.exists():
            # mkstemp creates 0600; give the output the permissions of any other new file
            os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; it replaces ``path`` (whole) only if the block succeeds,
    so a reader never sees a half-written folder; on an exception it is removed."""
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class ParamsRoundTrip:
    """Mixin of the frozen settings dataclasses: :meth:`params` gives the plain values a rule's ``params``
    holds (Snakemake reruns the job when they change; a stored ``config_hash`` hashes exactly these), and
    :meth:`from_params` rebuilds the settings from them in the rule script (lists back to tuples)."""

    @classmethod
    def from_params(cls, params: dict):
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in dict(params).items()})

    def params(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def portable_path(path: str | os.PathLike) -> str:
    """``path`` as an artifact may record it: relative to the working directory (the workspace) when it
    lies inside it, else just its file name. Artifacts never hold absolute paths, so a workspace can be
    moved or shared."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.name


def open_h5(path: str | os.PathLike):
    """An HDF5 file opened for reading; a missing, truncated or garbage file raises an error naming it."""
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise OSError(f"{path}: cannot read as HDF5 ({err})") from err


def read_dataset(path: str | os.PathLike, name: str) -> np.ndarray:
    """Dataset ``name`` of an HDF5 file as stored; a missing one raises an error naming the file and
    listing the datasets it has."""
    import h5py

    with open_h5(path) as handle:
        if name not in handle or not isinstance(handle[name], h5py.Dataset):
            found = []
            handle.visit(lambda key: found.append(key) if isinstance(handle[key], h5py.Dataset) else None)
            raise KeyError(f"{path}: no dataset '{name}' (found {found})")
        return handle[name][...]


def read_tsv(path: str | os.PathLike, required: Sequence[str] = ()):
    """A TSV with a header and at least the columns ``required``; an unreadable file or a missing
    column raises an error naming the file."""
    import pandas as pd

    try:
        table = pd.read_csv(path, sep="\t")
    except (OSError, ValueError) as err:  # pandas' EmptyDataError and ParserError are ValueErrors
        raise ValueError(f"{path}: cannot read as a TSV table ({err})") from err
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise KeyError(f"{path}: missing column(s) {missing}; has {list(table.columns)}")
    return table


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU runs are then bit-reproducible)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def stable_hash(obj: object, length: int = 12) -> str:
    """A short SHA-256 of a JSON-serialisable object (sorted keys): config and data hashes."""
    payload = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(payload).hexdigest()[:length]


def file_md5(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """MD5 of a file, streamed."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def set_cache_dirs(base: str | os.PathLike) -> None:
    """Keep every tool's caches inside the working directory (pycortex, matplotlib, HF, torch.compile).

    A variable the user has set is kept. A Hugging Face token saved by `huggingface-cli login` (in the
    user's default HF home) stays usable for gated models through ``HF_TOKEN_PATH``.
    """
    base = Path(base).resolve()
    if "HF_HOME" not in os.environ and "HF_TOKEN_PATH" not in os.environ:
        user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        token = user_cache / "huggingface" / "token"
        if token.is_file():
            os.environ["HF_TOKEN_PATH"] = str(token)
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_CACHE_HOME", "cache"),
        ("MPLCONFIGDIR", "matplotlib"),
        ("HF_HOME", "huggingface"),
        ("TORCHINDUCTOR_CACHE_DIR", "torchinductor"),  # features.compile_frontend's kernels
        ("TRITON_CACHE_DIR", "triton"),
    ):
        target = base / sub
        target.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault(var, str(target))
