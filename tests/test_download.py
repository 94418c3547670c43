"""The download path, for real, against a local HTTP server on 127.0.0.1 that serves the snapshot's files
laid out as the public hosts lay them out."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import json
import shutil
import socket
import threading
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from pipeline.errors import DataError
from pipeline.fetch import download
from pipeline.ingest import build_tables

CONGRESS = 116


def _mirror(snapshot: Path, root: Path) -> None:
    """Lay out congress 116 as voteview.com, the congress-data repo, GitHub Pages and GovInfo do."""
    out = root / "voteview" / "static" / "data" / "out"
    for kind in ("members", "rollcalls", "votes"):
        (out / kind).mkdir(parents=True)
    for path in (snapshot / "voteview").glob(f"?{CONGRESS}_*.csv*"):
        kind = path.name.split("_")[1].split(".")[0]
        target = out / kind / path.name.removesuffix(".gz")
        target.write_bytes(gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes())
    with gzip.open(snapshot / "unitedstates-votes" / f"votes-{CONGRESS}.jsonl.gz", "rt") as f:
        for line in f:
            record = json.loads(line)
            folder = (
                root
                / "congress-data"
                / "data"
                / str(CONGRESS)
                / "votes"
                / record["session"]
                / f"{record['chamber']}{record['number']}"
            )
            folder.mkdir(parents=True)
            (folder / "data.json").write_text(line)
    legislators = root / "legislators"
    legislators.mkdir()
    for path in (snapshot / "congress-legislators").iterdir():
        data = path.read_bytes()
        (legislators / path.name.removesuffix(".gz")).write_bytes(
            gzip.decompress(data) if path.suffix == ".gz" else data
        )
    for path in (snapshot / "billstatus").glob("BILLSTATUS-*.xml"):
        congress, bill_type = path.name[11:14], "".join(c for c in path.name[14:-4] if c.isalpha())
        folder = root / "govinfo" / congress / bill_type
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / path.name)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory, config):
    root = tmp_path_factory.mktemp("mirror")
    _mirror(config.snapshot_dir, root)
    return root


def _download_config(config, base: str, tmp_path: Path):
    urls = {
        "voteview": base + "/voteview/static/data/out/{kind}/{chamber}{congress:03d}_{kind}.csv",
        "unitedstates_votes": base + "/congress-data/data/{congress}/votes/{session}/{chamber}{number}/data.json",
        "legislators": base + "/legislators/{name}",
        "billstatus": base + "/govinfo/{congress}/{type}/BILLSTATUS-{congress}{type}{number}.xml",
    }
    return replace(
        config,
        source="download",
        download_dir=tmp_path / "raw",
        urls=urls,
        first_congress=CONGRESS,
        last_congress=CONGRESS,
        retries=1,
    )


def test_download_builds_the_same_tables_as_the_snapshot(mirror, config, tmp_path):
    handler = functools.partial(_Quiet, directory=str(mirror))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        downloaded, report = build_tables(_download_config(config, base, tmp_path), workers=1)
    finally:
        server.shutdown()
        server.server_close()
    from_snapshot, _ = build_tables(replace(config, first_congress=CONGRESS, last_congress=CONGRESS), workers=1)
    for name in ("rollcalls", "votes", "members"):
        pd.testing.assert_frame_equal(
            downloaded[name].reset_index(drop=True),
            from_snapshot[name].reset_index(drop=True),
            check_dtype=False,
        )
    pd.testing.assert_frame_equal(downloaded["bills"], from_snapshot["bills"])
    assert report["unitedstates_tally_mismatches"] == 0
    manifest = json.loads((tmp_path / "raw" / "voteview" / "manifest.json").read_text())
    entry = manifest["files"]["H116_members.csv"]
    expected = hashlib.sha256((config.snapshot_dir / "voteview" / "H116_members.csv").read_bytes()).hexdigest()
    assert entry["sha256"] == expected and entry["url"].startswith(base)
    # a second build reads the verified cached files and the remembered 404s (keyed by URL): the server is gone
    again, _ = build_tables(_download_config(config, base, tmp_path), workers=1)
    assert len(again["votes"]) == len(downloaded["votes"])


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class _BreakingHandler(http.server.BaseHTTPRequestHandler):
    """Announces the whole file but closes the connection halfway, ``breaks`` times, then serves it whole."""

    payload = b""
    breaks = 0
    requests = 0

    def do_GET(self) -> None:
        cls = type(self)
        cls.requests += 1
        self.send_response(200)
        self.send_header("Content-Length", str(len(cls.payload)))
        self.end_headers()
        if cls.requests <= cls.breaks:
            self.wfile.write(cls.payload[: len(cls.payload) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(cls.payload)

    def log_message(self, *args) -> None:
        pass


def _breaking(payload: bytes, breaks: int) -> type:
    return type("Breaking", (_BreakingHandler,), {"payload": payload, "breaks": breaks, "requests": 0})


def test_connection_breaking_off_mid_file_is_retried(http_root, tmp_path, config):
    payload = (config.snapshot_dir / "voteview" / "S116_rollcalls.csv").read_bytes()
    handler = _breaking(payload, breaks=2)
    base = http_root(tmp_path, handler)
    dest = tmp_path / "out" / "S116_rollcalls.csv"
    download(f"{base}/S116_rollcalls.csv", dest, timeout_s=5, retries=3, backoff_s=0.01)
    assert handler.requests == 3
    assert dest.read_bytes() == payload
    manifest = json.loads((dest.parent / "manifest.json").read_text())
    assert manifest["files"]["S116_rollcalls.csv"]["sha256"] == hashlib.sha256(payload).hexdigest()


def test_connection_that_always_breaks_leaves_nothing(http_root, tmp_path, config):
    payload = (config.snapshot_dir / "voteview" / "S116_rollcalls.csv").read_bytes()
    base = http_root(tmp_path, _breaking(payload, breaks=99))
    dest = tmp_path / "out" / "S116_rollcalls.csv"
    with pytest.raises(
        DataError, match=r"S116_rollcalls\.csv failed after 3 attempts: Connection broken: IncompleteRead"
    ):
        download(f"{base}/S116_rollcalls.csv", dest, timeout_s=5, retries=2, backoff_s=0.01)
    assert list((tmp_path / "out").iterdir()) == []


def test_unreachable_url(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dest = tmp_path / "x.csv"
    with pytest.raises(DataError, match=rf"127\.0\.0\.1:{port}/x\.csv failed after 2 attempts"):
        download(f"http://127.0.0.1:{port}/x.csv", dest, timeout_s=2, retries=1, backoff_s=0.01)
    assert not dest.exists()


def test_missing_remote_file_is_a_clear_error(mirror, http_root, config, tmp_path):
    cfg = _download_config(config, http_root(mirror), tmp_path)
    cfg = replace(cfg, bills=("119hr99999",))
    from pipeline.billstatus import read_bills

    with pytest.raises(DataError, match=r"BILLSTATUS-119hr99999\.xml: 404 not found"):
        read_bills(cfg)
