"""Locate a raw file: in the snapshot directory, or downloaded from its public URL and verified.

Downloads go through requests with urllib3's ``Retry`` (connection failures, read timeouts, bad status lines,
429/5xx answers: bounded retries with exponential backoff); a body cut short (with or without Content-Length, or a
chunked stream cut) or a file that does not open in its format (an HTML page served with 200, a truncated gzip, CSV
or JSON) is fetched again, up to ``retries`` more times. A file is renamed into place and recorded in
``manifest.json`` (sha256, bytes, URL) only after those checks; the manifest is updated under a file lock so that
concurrent downloads into one folder keep every entry. A cached file is used only when its sha256 matches the
manifest, and a 404 is remembered by URL for ``data.not_found_expiry_days``. Nothing here knows what a file means;
the readers do.

A download in the main thread ends where Ctrl-C or SIGTERM finds it (a blocked read or a backoff is interrupted);
one in a worker thread ends when its ``pipeline.stop.Stop`` is set: its backoff waits end, and its sockets are
shut down, so that neither a stalled server nor the retries hold it; it then raises Stopped, whatever its reads
failed with, and records nothing. Either way its partial file is removed.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import io
import json
import os
import time
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import requests
import yaml
from filelock import FileLock, Timeout
from requests.adapters import HTTPAdapter
from tqdm import tqdm
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.util.retry import Retry

from pipeline.config import DataConfig
from pipeline.errors import DataError
from pipeline.stop import Stop
from pipeline.tables import file_sha256, write_atomic

CHUNK = 1 << 16
USER_AGENT = "natocast/0.1 (+https://github.com/)"
LOCK_WAIT_S = 120  # how long a download waits for another process to finish writing its folder's manifest
MANIFEST = "manifest.json"
RETRY_STATUSES = (429, 500, 502, 503, 504)
PROGRESS_MIN_BYTES = 4 << 20  # a progress bar (on a terminal) for downloads larger than this or of unknown size
# what the body of each kind of file must be, by its name without .gz
FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".xml": "xml", ".yaml": "yaml", ".yml": "yaml"}


class NotFound(DataError):
    """The server answered 404: the file does not exist there (not a transient failure)."""


class _Retryable(DataError):
    """A body that was cut short or does not open in its format: worth asking again."""


class _StoppableRetry(Retry):
    """urllib3's Retry whose backoff wait ends, with Stopped, when ``stop`` is set (``respect_retry_after_header``
    is off: the backoff is its only wait)."""

    def __init__(self, *args, stop: Stop, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stop = stop

    def new(self, **kw) -> _StoppableRetry:
        return super().new(stop=self.stop, **kw)

    def sleep(self, response=None) -> None:
        self.stop.wait(self.get_backoff_time())


def _stoppable_pools(stop: Stop) -> dict[str, type]:
    """urllib3's connection pools (by scheme) whose connections hand their socket to ``stop`` once connected: a
    read blocked on it then ends when the stop is set."""

    class Tracked:
        def connect(self) -> None:
            super().connect()
            stop.track(self.sock)

    class TrackedHTTP(Tracked, HTTPConnection):
        pass

    class TrackedHTTPS(Tracked, HTTPSConnection):
        pass

    class HTTPPool(HTTPConnectionPool):
        ConnectionCls = TrackedHTTP

    class HTTPSPool(HTTPSConnectionPool):
        ConnectionCls = TrackedHTTPS

    return {"http": HTTPPool, "https": HTTPSPool}


class _StoppableAdapter(HTTPAdapter):
    """requests' adapter whose connections, direct or through an HTTP proxy, hand their sockets to ``stop`` (a
    SOCKS proxy's are not: a read through one ends at its timeout)."""

    def __init__(self, stop: Stop, **kwargs) -> None:
        self.pools = _stoppable_pools(stop)
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self.pools

    def proxy_manager_for(self, proxy: str, **proxy_kwargs) -> PoolManager:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = self.pools
        return manager


def session(retries: int, backoff_s: float, stop: Stop | None = None) -> requests.Session:
    """A requests session whose adapter retries connection errors, read timeouts and 429/5xx, boundedly; its waits
    and reads end when ``stop`` is set."""
    stop = stop or Stop()
    retry = _StoppableRetry(
        stop=stop,
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=retries,
        backoff_factor=backoff_s,
        backoff_max=30,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,
        respect_retry_after_header=False,  # bounded waits: a server cannot park us for an hour
    )
    http = requests.Session()
    adapter = _StoppableAdapter(stop, max_retries=retry)
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    http.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    return http


def download(
    url: str,
    dest: Path,
    timeout_s: float = 60.0,
    retries: int = 4,
    backoff_s: float = 0.5,
    columns: tuple[str, ...] = (),
    stop: Stop | None = None,
) -> Path:
    """Fetch ``url`` to ``dest``: retried, length- and format-checked, recorded, then renamed into place (cut
    between the two, the manifest names a file that is missing or not yet the new one, fetched again next run;
    never is a file left that its manifest does not name). Stopped when ``stop`` is set."""
    stop = stop or Stop()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part-{os.getpid()}")
    last_error: Exception | None = None
    with session(retries, backoff_s, stop) as http:
        for attempt in range(retries + 1):
            try:
                digest, size = _stream(http, url, tmp, timeout_s, stop)
                check_format(tmp, dest.name, columns)
                record(dest, url, digest, size, stop)
                os.replace(tmp, dest)
                return dest
            except (
                _Retryable,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ) as exc:
                stop.check()  # a read the stop cut short is not worth asking again
                last_error = exc
                if attempt < retries:
                    stop.wait(min(backoff_s * 2**attempt, 30))
            except NotFound:
                raise
            except requests.exceptions.RequestException as exc:  # the adapter already retried these
                stop.check()
                raise DataError(f"download of {url} failed after {retries + 1} attempts: {_reason(exc)}") from exc
            finally:
                if tmp.exists():
                    tmp.unlink()
    raise DataError(f"download of {url} failed after {retries + 1} attempts: {_reason(last_error)}")


def _reason(exc: BaseException | None) -> str:
    """The innermost cause of a requests failure, in one line (urllib3 nests them several deep)."""
    text = str(exc)
    inner = exc.args[0] if exc is not None and exc.args else None
    reason = getattr(inner, "reason", None)
    if reason is not None:  # urllib3's MaxRetryError: the last underlying failure
        text = f"{type(reason).__name__}: {reason}"
    elif isinstance(inner, BaseException) and inner.args and isinstance(inner.args[0], str):
        text = inner.args[0]  # urllib3's ProtocolError('Connection broken: IncompleteRead(...)', ...)
    return " ".join(text.split())[:300]


def _stream(http: requests.Session, url: str, tmp: Path, timeout_s: float, stop: Stop) -> tuple[str, int]:
    """``url``'s body into ``tmp``: (sha256, bytes). Its reads, cut by the stop, fail as Stopped (``Stop.reading``);
    an error of the answer, the file or the code is raised as it is."""
    with stop.reading():
        response = http.get(url, stream=True, timeout=(timeout_s, timeout_s))
    with response:
        if response.status_code == 404:
            raise NotFound(f"{url}: 404 not found")
        if response.status_code != 200:
            raise DataError(f"download of {url} failed: HTTP {response.status_code} {response.reason} (after retries)")
        content_type = response.headers.get("Content-Type", "")
        if content_type.startswith("text/html") and not url.endswith((".html", ".htm")):
            raise _Retryable(f"{url}: served an HTML page (Content-Type {content_type}), not the file")
        expected = response.headers.get("Content-Length")
        expected = int(expected) if expected and expected.isdigit() else None
        digest, size = hashlib.sha256(), 0
        show = None if expected is None or expected >= PROGRESS_MIN_BYTES else True  # None: only on a terminal
        name = url.rsplit("/", 1)[-1]
        with (
            open(tmp, "wb") as out,
            tqdm(total=expected, unit="B", unit_scale=True, desc=name, disable=show, leave=False) as bar,
        ):
            for chunk in stop.read_each(response.iter_content(CHUNK)):
                stop.check()
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                bar.update(len(chunk))
    if expected is not None and size != expected:
        raise _Retryable(f"{url}: connection closed after {size} of {expected} bytes")
    return digest.hexdigest(), size


def check_format(path: Path, name: str, columns: tuple[str, ...] = ()) -> None:
    """Raise _Retryable unless ``path`` opens as what ``name`` says it is (gzip, CSV with a complete last line and
    the ``columns``, JSON, JSON lines, XML, YAML). Catches bodies cut short without a Content-Length."""
    data = path.read_bytes()
    if not data:
        raise _Retryable(f"{name}: empty body")
    stem = name
    if name.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as exc:
            raise _Retryable(f"{name}: corrupt or truncated gzip ({exc})") from exc
        stem = name[:-3]
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        raise _Retryable(f"{name}: an HTML page, not the file")
    kind = FORMATS.get(Path(stem).suffix)
    try:
        if kind == "csv":
            _check_csv(data, name, columns)
        elif kind == "json":
            orjson.loads(data)
        elif kind == "jsonl":
            for line in data.splitlines():
                if line.strip():
                    orjson.loads(line)
        elif kind == "xml":
            ET.fromstring(data)
        elif kind == "yaml":
            yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (orjson.JSONDecodeError, ET.ParseError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise _Retryable(f"{name}: not valid {kind} ({' '.join(str(exc).split())[:120]})") from exc


def _check_csv(data: bytes, name: str, columns: tuple[str, ...]) -> None:
    text = data.decode("utf-8")
    header = next(csv.reader(io.StringIO(text.split("\n", 1)[0])), [])
    if len(header) < 2:
        raise _Retryable(f"{name}: no CSV header")
    missing = [c for c in columns if c not in header]
    if missing:
        raise _Retryable(f"{name}: CSV lacks column(s) {', '.join(missing)}")
    if not text.endswith("\n"):
        raise _Retryable(f"{name}: last line incomplete (no final newline): body cut short")
    rows = list(csv.reader(io.StringIO(text)))
    if rows and len(rows[-1]) != len(header):
        raise _Retryable(f"{name}: last row has {len(rows[-1])} of {len(header)} fields: body cut short")


# --- the manifest ------------------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _load(manifest_path: Path) -> dict:
    if not manifest_path.exists():
        return {"files": {}, "not_found": {}}
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{manifest_path}: not valid JSON ({exc}); delete it to download afresh") from exc
    if "files" not in manifest:  # the first layout: one flat entry per file name
        manifest = {"files": {k: v for k, v in manifest.items() if "sha256" in v}, "not_found": {}}
    manifest.setdefault("not_found", {})
    return manifest


def _update(folder: Path, change, stop: Stop) -> dict:
    """Apply ``change(manifest)`` under the folder's lock: read, modify, write to a temp file, rename; not once
    ``stop`` is set (a download stopped while it waited for the lock records nothing)."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    with _locked(manifest_path, stop):
        stop.check()
        manifest = _load(manifest_path)
        change(manifest)
        write_atomic(manifest_path, lambda tmp: tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n"))
        return manifest


@contextlib.contextmanager
def _locked(manifest_path: Path, stop: Stop) -> Iterator[None]:
    """The manifest's lock, waited for up to ``LOCK_WAIT_S`` but given up (Stopped) as soon as ``stop`` is set: a
    download waiting on another process's lock would otherwise outlive its stopped ingest, its file left behind."""
    lock = FileLock(str(manifest_path) + ".lock")
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            lock.acquire(timeout=0.1)
            break
        except Timeout as exc:
            stop.check()
            if time.monotonic() > deadline:
                raise DataError(f"{manifest_path}: locked by another process for over {LOCK_WAIT_S:g} s") from exc
    try:
        yield
    finally:
        lock.release()


def record(dest: Path, url: str, digest: str, size: int, stop: Stop) -> None:
    """Note a verified download in its folder's manifest (and forget an earlier 404 of its URL)."""

    def change(manifest: dict) -> None:
        manifest["files"][dest.name] = {"url": url, "sha256": digest, "bytes": size, "downloaded_at": _now()}
        manifest["not_found"].pop(url, None)

    _update(dest.parent, change, stop)


def record_not_found(folder: Path, url: str, stop: Stop) -> None:
    def change(manifest: dict) -> None:
        manifest["not_found"][url] = {"checked_at": _now()}

    _update(folder, change, stop)


def cached(dest: Path) -> bool:
    """Whether ``dest`` exists and matches its manifest entry (size and sha256): a corrupt or unrecorded cached
    file is not trusted."""
    if not dest.exists():
        return False
    entry = _load(dest.parent / MANIFEST)["files"].get(dest.name)
    return bool(entry) and dest.stat().st_size == entry["bytes"] and file_sha256(dest) == entry["sha256"]


def fetch(config: DataConfig, url: str, dest: Path, columns: tuple[str, ...] = (), stop: Stop | None = None) -> Path:
    """``dest`` when cached and intact; else NotFound while a 404 of ``url`` is fresh; else a verified download
    (ended by ``stop``: see ``pipeline.stop``)."""
    stop = stop or Stop()
    stop.check()
    if cached(dest):
        return dest
    seen = _load(dest.parent / MANIFEST)["not_found"].get(url)
    if seen:
        checked = datetime.fromisoformat(seen["checked_at"])
        if datetime.now(UTC) - checked < timedelta(days=config.not_found_expiry_days):
            raise NotFound(f"{url}: 404 not found (when last asked, {seen['checked_at']})")
    try:
        return download(url, dest, config.timeout_s, config.retries, config.backoff_s, columns, stop)
    except NotFound:
        record_not_found(dest.parent, url, stop)
        raise


def locate(
    config: DataConfig,
    snapshot_relpath: str,
    url: str,
    download_relpath: str | None = None,
    columns: tuple[str, ...] = (),
) -> Path:
    """The snapshot's copy when the config reads the snapshot, else a (cached, verified) download of ``url``."""
    if config.use_snapshot:
        path = config.snapshot_dir / snapshot_relpath
        if not path.exists():
            raise DataError(f"snapshot file {path} is missing")
        return path
    return fetch(config, url, config.download_dir / (download_relpath or snapshot_relpath), columns)
