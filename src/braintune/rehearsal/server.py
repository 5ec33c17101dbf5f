"""The rehearsal's loopback HTTP server: a static file server on 127.0.0.1 that behaves like the hosts
the paper run downloads from, as far as the download code can tell.

- ``GET``/``HEAD`` of any file under the served folder, with ``Content-Length`` and HTTP ``Range``
  (``206 Partial Content``), as S3 and GitHub answer; git's "dumb" HTTP protocol needs nothing more.
- ``refusals``: URL path prefixes answered with an error status and message instead of content (how
  GitHub answers media requests of a repository over its Git LFS budget).
- ``cut_prefixes``: the first whole-file request of every file larger than ``cut_min_bytes`` under one
  of these prefixes announces the full size but stops after half of the body and closes the connection,
  so that every such download has to resume with a ``Range`` request (the rehearsal's proof that
  resuming works through the real download rules).

The server only ever binds the loopback interface and runs in a daemon thread for the lifetime of a
``with`` block (:func:`serving`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

log = logging.getLogger(__name__)

HOST = "127.0.0.1"


class _Handler(SimpleHTTPRequestHandler):
    """Static files with Range support, refusals and one cut transfer per large file."""

    server: _Server

    def log_message(self, format, *args):
        log.debug("%s %s", self.address_string(), format % args)

    def _refusal(self, url_path: str) -> tuple[int, str] | None:
        for prefix, answer in self.server.refusals.items():
            if url_path.startswith("/" + prefix.strip("/") + "/"):
                return answer
        return None

    def _should_cut(self, url_path: str, size: int, ranged: bool) -> bool:
        if ranged or size < self.server.cut_min_bytes:
            return False
        if not any(url_path.startswith("/" + p.strip("/") + "/") for p in self.server.cut_prefixes):
            return False
        with self.server.lock:
            if url_path in self.server.cut_done:
                return False
            self.server.cut_done.add(url_path)
        return True

    def do_HEAD(self):
        self._answer(head=True)

    def do_GET(self):
        self._answer(head=False)

    def _answer(self, head: bool) -> None:
        url_path = self.path.split("?", 1)[0]
        refusal = self._refusal(url_path)
        if refusal is not None:
            status, message = refusal
            body = message.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)
            return
        local = Path(self.translate_path(url_path))
        if not local.is_file():
            self.send_error(404, "Not Found")
            return
        size = local.stat().st_size
        rng = self.headers.get("Range", "")
        start = 0
        if rng.startswith("bytes=") and rng.endswith("-") and rng[6:-1].isdigit():
            start = int(rng[6:-1])
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(local)))
        self.send_header("Content-Length", str(size - start))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if head:
            return
        cut = self._should_cut(url_path, size, bool(start))
        remaining = (size - start) // 2 if cut else size - start
        with open(local, "rb") as handle:
            handle.seek(start)
            while remaining > 0:
                block = handle.read(min(remaining, 1 << 20))
                if not block:
                    break
                self.wfile.write(block)
                remaining -= len(block)
        if cut:
            self.wfile.flush()
            self.close_connection = True
            log.info("cut the first transfer of %s after half of its %d bytes", url_path, size)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    url: str
    lock: threading.Lock
    refusals: dict[str, tuple[int, str]]
    cut_prefixes: tuple[str, ...]
    cut_min_bytes: int
    cut_done: set[str]


@contextlib.contextmanager
def serving(root: str | Path, port: int = 0, refusals: dict[str, tuple[int, str]] | None = None,
            cut_prefixes: tuple[str, ...] = (), cut_min_bytes: int = 65536) -> Iterator[_Server]:
    """Serve ``root`` on ``127.0.0.1:port`` (0: a free port) while the block runs; yields the server,
    whose ``url`` is the base URL and whose ``refusals`` may be extended while it serves.

    Raises:
        OSError: naming the port when it is taken.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: nothing to serve (no such folder)")
    try:
        httpd = _Server((HOST, port), partial(_Handler, directory=str(root)))
    except OSError as err:
        raise OSError(f"cannot serve the rehearsal's files on {HOST}:{port} ({err}); choose another --port") from err
    httpd.lock = threading.Lock()
    httpd.refusals = dict(refusals or {})
    httpd.cut_prefixes = tuple(cut_prefixes)
    httpd.cut_min_bytes = int(cut_min_bytes)
    httpd.cut_done = set()
    thread = threading.Thread(target=httpd.serve_forever, name="rehearsal-http", daemon=True)
    thread.start()
    httpd.url = f"http://{HOST}:{httpd.server_address[1]}"
    log.info("serving %s at %s", root, httpd.url)
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
