"""Locate a raw file: in the snapshot directory, or downloaded from its public URL.

Downloads stream to a temporary file with a timeout, retry with exponential backoff, are renamed into place
only when complete (length checked against Content-Length), and are recorded with their sha256 in
``manifest.json`` beside them. Nothing here knows what a file contains; the readers do.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from pipeline.config import DataConfig
from pipeline.errors import DataError

CHUNK = 1 << 16
USER_AGENT = "natocast/0.1 (+https://github.com/)"


class NotFound(DataError):
    """The server answered 404: the file does not exist there (not a transient failure)."""


def download(url: str, dest: Path, timeout_s: float = 60.0, retries: int = 4, backoff_s: float = 0.5) -> Path:
    """Fetch ``url`` to ``dest`` atomically; retry transient failures; record it in the manifest."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part-{os.getpid()}")
    last_error: Exception | None = None
    for attempt in range(retries + 1):
        try:
            digest, size = _stream(url, tmp, timeout_s)
            os.replace(tmp, dest)
            _record(dest, url, digest, size)
            return dest
        except NotFound:
            raise
        except (OSError, urllib.error.URLError, DataError) as exc:
            last_error = exc
            if attempt < retries:
                time.sleep(backoff_s * 2**attempt)
        finally:
            if tmp.exists():
                tmp.unlink()
    raise DataError(f"download of {url} failed after {retries + 1} attempts: {last_error}")


def _stream(url: str, tmp: Path, timeout_s: float) -> tuple[str, int]:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise NotFound(f"{url}: 404 not found") from exc
        raise
    digest = hashlib.sha256()
    size = 0
    with response, open(tmp, "wb") as out:
        expected = response.headers.get("Content-Length")
        expected = int(expected) if expected is not None else None
        started = last_report = time.monotonic()
        while chunk := response.read(CHUNK):
            out.write(chunk)
            digest.update(chunk)
            size += chunk.__len__()
            now = time.monotonic()
            if now - last_report > 2 and sys.stderr.isatty():
                total = f"/{expected / 1e6:.1f}" if expected else ""
                print(
                    f"\r  {url.rsplit('/', 1)[-1]}: {size / 1e6:.1f}{total} MB "
                    f"({size / 1e6 / (now - started):.1f} MB/s)",
                    end="",
                    file=sys.stderr,
                )
                last_report = now
    if expected is not None and size != expected:
        raise DataError(f"{url}: connection closed after {size} of {expected} bytes")
    return digest.hexdigest(), size


def _record(dest: Path, url: str, digest: str | None, size: int | None) -> None:
    """Note a completed download in the folder's manifest; ``digest`` None records that the server had no
    such file (404), so an offline rerun knows the file is absent rather than unreachable."""
    manifest_path = dest.parent / "manifest.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    now = datetime.now(UTC).isoformat(timespec="seconds")
    if digest is None:
        manifest[dest.name] = {"url": url, "absent": True, "checked_at": now}
    else:
        manifest[dest.name] = {"url": url, "sha256": digest, "bytes": size, "downloaded_at": now}
    tmp = manifest_path.with_name(f".manifest.json.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, manifest_path)


def locate(config: DataConfig, snapshot_relpath: str, url: str, download_relpath: str | None = None) -> Path:
    """The snapshot's copy when the config reads the snapshot, else a (cached) download of ``url``."""
    if config.use_snapshot:
        path = config.snapshot_dir / snapshot_relpath
        if not path.exists():
            raise DataError(f"snapshot file {path} is missing")
        return path
    dest = config.download_dir / (download_relpath or snapshot_relpath)
    if dest.exists():
        return dest
    manifest_path = dest.parent / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    if manifest.get(dest.name, {}).get("absent"):
        raise NotFound(f"{url}: 404 not found (when last asked, {manifest[dest.name]['checked_at']})")
    try:
        return download(url, dest, config.timeout_s, config.retries)
    except NotFound:
        _record(dest, url, None, None)
        raise
