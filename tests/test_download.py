"""The download path, for real, against a local HTTP server on 127.0.0.1 that serves the snapshot's files
laid out as the public hosts lay them out."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import inspect
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import requests
import yaml
from conftest import FIXTURE_SNAPSHOT

from pipeline.config import PROJECT_ROOT, DataConfig, load_params
from pipeline.errors import DataError
from pipeline.fetch import NotFound, cached, download, fetch
from pipeline.ingest import build_tables
from pipeline.stop import Stop, Stopped, in_threads

CONGRESS = 116


def _mirror(snapshot: Path, root: Path, congress: int = CONGRESS) -> None:
    """Lay out a congress as voteview.com, the congress-data repo, GitHub Pages and GovInfo do (GovInfo: the NATO
    bills, and the congress's bulk BILLSTATUS records where the snapshot has them as XML)."""
    out = root / "voteview" / "static" / "data" / "out"
    for kind in ("members", "rollcalls", "votes"):
        (out / kind).mkdir(parents=True)
    for path in (snapshot / "voteview").glob(f"?{congress}_*.csv*"):
        kind = path.name.split("_")[1].split(".")[0]
        target = out / kind / path.name.removesuffix(".gz")
        target.write_bytes(gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes())
    with gzip.open(snapshot / "unitedstates-votes" / f"votes-{congress}.jsonl.gz", "rt") as f:
        for line in f:
            record = json.loads(line)
            folder = (
                root
                / "congress-data"
                / "data"
                / str(congress)
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
        bill_congress, bill_type = path.name[11:14], "".join(c for c in path.name[14:-4] if c.isalpha())
        folder = root / "govinfo" / bill_congress / bill_type
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, folder / path.name)
    if (snapshot / "billstatus-bulk" / f"bills-{congress}.tar.gz").exists():
        _govinfo_bills(snapshot, root, congress)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory, config):
    root = tmp_path_factory.mktemp("mirror")
    _mirror(config.snapshot_dir, root)
    return root


def _download_config(config, base: str, tmp_path: Path, congress: int = CONGRESS):
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
        first_congress=congress,
        last_congress=congress,
        retries=1,
    )


def test_download_builds_the_same_tables_as_the_snapshot(mirror, config, tmp_path):
    handler = functools.partial(_Quiet, directory=str(mirror))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
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
    # every other 116th bill voted on was asked of the mirror, which (like the snapshot) has only the NATO ones
    voted = set(from_snapshot["rollcalls"]["bill_id"].dropna()) - set(config.bills)
    downloads = report["billstatus_downloads"]
    assert downloads["wanted"] == len(voted) > 400 and downloads["found"] == 0
    assert downloads["not_found"] == sorted(voted)
    manifest = json.loads((tmp_path / "raw" / "voteview" / "manifest.json").read_text())
    entry = manifest["files"]["H116_members.csv"]
    expected = hashlib.sha256((config.snapshot_dir / "voteview" / "H116_members.csv").read_bytes()).hexdigest()
    assert entry["sha256"] == expected and entry["url"].startswith(base)
    # a second build reads the verified cached files and the remembered 404s (keyed by URL): the server is gone
    again, _ = build_tables(_download_config(config, base, tmp_path), workers=1)
    assert len(again["votes"]) == len(downloaded["votes"])


def test_download_gives_the_roll_calls_the_sponsors_the_archive_gives(tmp_path_factory, http_root, config, tmp_path):
    """The 117th from a GovInfo-like server, its bills fetched one by one: the same roll calls with the same
    sponsors, bills and cosponsorships as the snapshot's bulk archive gives."""
    root = tmp_path_factory.mktemp("mirror117")
    _mirror(config.snapshot_dir, root, 117)
    downloaded, report = build_tables(_download_config(config, http_root(root), tmp_path, 117), workers=1)
    from_snapshot, _ = build_tables(replace(config, first_congress=117, last_congress=117), workers=1)
    pd.testing.assert_frame_equal(
        downloaded["rollcalls"].reset_index(drop=True), from_snapshot["rollcalls"].reset_index(drop=True)
    )
    for name, keys in (("bills", ["bill_id"]), ("cosponsorships", ["bill_id", "bioguide_id", "date"])):
        pd.testing.assert_frame_equal(
            downloaded[name].sort_values(keys).reset_index(drop=True),
            from_snapshot[name].sort_values(keys).reset_index(drop=True),
        )
    voted = set(from_snapshot["rollcalls"]["bill_id"].dropna()) - set(config.bills)
    assert report["billstatus_downloads"] == {
        "wanted": len(voted),
        "found": len(voted),
        "not_found": [],
        "no_sponsor": [],
    }
    # the Senate's passage of H.R. 7108 (suspending normal trade relations with Russia, April 2022): Rep. Neal's bill
    senate_passage = downloaded["rollcalls"].set_index("rollcall_id").loc["s131-117.2022"]
    assert (senate_passage["sponsor_bioguide_id"], senate_passage["sponsor_source"]) == ("N000015", "bill")


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


# --- the downloader against a misbehaving server on 127.0.0.1 -----------------------------------------------

FAULT_FILES = {  # real files of the small excerpt: a CSV and a gzipped JSON-lines bundle
    "S119_members.csv": FIXTURE_SNAPSHOT / "voteview" / "S119_members.csv",
    "votes-119.jsonl.gz": FIXTURE_SNAPSHOT / "unitedstates-votes" / "votes-119.jsonl.gz",
}
MAX_REQUESTS = 400  # the server refuses (and stops) beyond this: no test can hammer it forever
LIFETIME_S = 120  # and it shuts itself down after this long whatever happens


class _FaultHandler(http.server.BaseHTTPRequestHandler):
    """``/{mode}/{k}/{name}``: the first ``k`` requests of that path misbehave as ``mode``, later ones get the file.
    Modes: cl-cut (Content-Length, half the body), nocl-cut (no length, half the body, close), chunked-cut (a chunk,
    then close without the last chunk), bad-status (a garbage status line), storm (500), slow (no headers for
    longer than the client's timeout), html (a 200 "rate limited" page), missing (404), good."""

    counts: dict[str, int] = {}
    total = 0
    slow_s = 1.0

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        cls = type(self)
        cls.total += 1
        cls.counts[self.path] = cls.counts.get(self.path, 0) + 1
        if cls.total > MAX_REQUESTS:
            self.send_error(503, "request budget spent")
            threading.Thread(target=self.server.shutdown, daemon=True).start()
            return
        _, mode, k, name = self.path.split("/", 3)
        name = re.sub(r"-copy[0-9]+", "", name.split("/")[-1])
        payload = FAULT_FILES[name].read_bytes() if name in FAULT_FILES else b""
        if mode == "missing":
            self.send_error(404)
            return
        if mode == "good" or cls.counts[self.path] > int(k):
            self._send(payload)
            return
        half = payload[: len(payload) // 2]
        if mode == "cl-cut":
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(half)
        elif mode == "nocl-cut":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(half)
        elif mode == "chunked-cut":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            self.wfile.write(b"%x\r\n%s\r\n" % (len(half), half))
        elif mode == "bad-status":
            self.wfile.write(b"HTTP/1.1 two hundred OK\r\n\r\n")
        elif mode == "storm":
            self.send_error(500)
            return
        elif mode == "slow":
            time.sleep(cls.slow_s)
            self._send(payload)
            return
        elif mode == "html":
            body = b"<!DOCTYPE html><html><body><h1>Rate limited</h1>Try again later.</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, payload: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def fault_server():
    handler = type("Faults", (_FaultHandler,), {"counts": {}, "total": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.handle_error = lambda request, address: None  # clients hanging up on a slow answer are expected
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    stopper = threading.Timer(LIFETIME_S, server.shutdown)
    stopper.daemon = True
    stopper.start()
    yield f"http://127.0.0.1:{server.server_port}", handler
    stopper.cancel()
    server.shutdown()
    server.server_close()


def _manifest_files(folder: Path) -> dict:
    path = folder / "manifest.json"
    return json.loads(path.read_text())["files"] if path.exists() else {}


FAULT_MODES = ["cl-cut", "nocl-cut", "chunked-cut", "bad-status", "storm", "slow", "html"]


@pytest.mark.unit
@pytest.mark.parametrize("name", sorted(FAULT_FILES))
@pytest.mark.parametrize("mode", FAULT_MODES)
def test_transient_faults_are_retried_and_only_the_good_file_recorded(fault_server, tmp_path, mode, name):
    base, handler = fault_server
    path = f"/{mode}/2/{name}"
    dest = tmp_path / "raw" / name
    download(base + path, dest, timeout_s=0.5, retries=3, backoff_s=0.01)
    payload = FAULT_FILES[name].read_bytes()
    assert dest.read_bytes() == payload
    assert _manifest_files(dest.parent)[name]["sha256"] == hashlib.sha256(payload).hexdigest()
    assert handler.counts[path] >= 3  # two bad answers, then the file


FAILURES = {  # what the one-line error says when a fault never ends
    "cl-cut": r"Connection broken: IncompleteRead",
    "nocl-cut": r"(last line incomplete|corrupt or truncated gzip)",
    "chunked-cut": r"(Response ended prematurely|Connection broken|InvalidChunkLength)",
    "bad-status": r"(BadStatusLine|RemoteDisconnected|Connection aborted)",
    "storm": r"HTTP 500",
    "slow": r"(Read timed out|ReadTimeout)",
    "html": r"served an HTML page",
}


@pytest.mark.unit
@pytest.mark.parametrize("name", sorted(FAULT_FILES))
@pytest.mark.parametrize("mode", FAULT_MODES)
def test_lasting_faults_fail_naming_the_url_and_record_nothing(fault_server, tmp_path, mode, name):
    base, handler = fault_server
    path = f"/{mode}/99/{name}"
    dest = tmp_path / "raw" / name
    with pytest.raises(DataError) as caught:
        download(base + path, dest, timeout_s=0.5, retries=2, backoff_s=0.01)
    message = str(caught.value)
    assert message.startswith(f"download of {base}{path} failed") and "\n" not in message
    assert re.search(FAILURES[mode], message), message
    assert not dest.exists() and not list(dest.parent.glob(".*.part-*"))
    assert name not in _manifest_files(dest.parent)
    assert handler.counts[path] <= 9  # bounded: at most (retries + 1) requests per attempt, 3 attempts


@pytest.mark.unit
@pytest.mark.parametrize("mode", ["slow", "storm", "cl-cut"])
def test_a_stop_ends_a_download_in_another_thread_at_once(fault_server, tmp_path, mode):
    """A download in a worker thread blocked on an answer 30 s slow, or backing off from 500s or from bodies cut
    short (60 s reads, 4 retries, backoff from 10 s: minutes), raises Stopped within moments of its stop being set:
    no file, no partial file, nothing recorded."""
    base, handler = fault_server
    handler.slow_s = 30
    dest, stop, raised = tmp_path / "raw" / "S119_members.csv", Stop(), []

    def run() -> None:
        try:
            download(f"{base}/{mode}/99/S119_members.csv", dest, timeout_s=60, retries=4, backoff_s=10, stop=stop)
        except Exception as exc:
            raised.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.5)  # in the read or the backoff
    stopped = time.monotonic()
    stop.set()
    thread.join(10)
    assert not thread.is_alive() and time.monotonic() - stopped < 2
    assert [type(exc) for exc in raised] == [Stopped]
    assert list(dest.parent.iterdir()) == [] and handler.counts[f"/{mode}/99/S119_members.csv"] <= 2


@pytest.mark.unit
def test_one_items_error_stops_the_other_threads_at_once():
    """The results in the items' order; an item's error is raised at once, the items in flight stopped (each would
    wait a minute), the rest not started."""
    started = []

    def work(item: int, stop: Stop) -> int:
        started.append(item)
        if item == 2:
            raise DataError("item 2 is bad")
        stop.wait(60 if item < 4 else 0)
        return 10 * item

    assert in_threads(lambda item, stop: 10 * item, list(range(9)), 4, "items", "item") == [10 * i for i in range(9)]
    clock = time.monotonic()
    with pytest.raises(DataError, match="item 2 is bad"):
        in_threads(work, list(range(9)), 4, "items", "item")
    assert time.monotonic() - clock < 2 and sorted(started) == [0, 1, 2, 3]


@pytest.mark.unit
def test_corrupted_cache_is_fetched_again(fault_server, tmp_path):
    base, handler = fault_server
    cfg = replace(DataConfig(), source="download", download_dir=tmp_path / "raw", retries=1, backoff_s=0.01)
    url = f"{base}/good/0/S119_members.csv"
    dest = tmp_path / "raw" / "S119_members.csv"
    fetch(cfg, url, dest)
    fetch(cfg, url, dest)  # intact: not asked again
    assert handler.counts[url[len(base) :]] == 1
    data = bytearray(dest.read_bytes())
    data[100] ^= 0xFF
    dest.write_bytes(bytes(data))  # same size, one byte flipped
    fetch(cfg, url, dest)
    assert handler.counts[url[len(base) :]] == 2
    assert dest.read_bytes() == FAULT_FILES["S119_members.csv"].read_bytes()


@pytest.mark.unit
def test_404_is_remembered_by_url_until_it_expires(fault_server, tmp_path):
    base, handler = fault_server
    cfg = replace(DataConfig(), source="download", download_dir=tmp_path / "raw", retries=1, backoff_s=0.01)
    url, dest = f"{base}/missing/0/H120_votes.csv", tmp_path / "raw" / "H120_votes.csv"
    for _ in range(2):
        with pytest.raises(NotFound, match=r"H120_votes\.csv: 404 not found"):
            fetch(cfg, url, dest)
    assert handler.counts["/missing/0/H120_votes.csv"] == 1
    manifest = json.loads((tmp_path / "raw" / "manifest.json").read_text())
    assert set(manifest["not_found"]) == {url} and manifest["files"] == {}
    other = f"{base}/missing/0/other/H120_votes.csv"  # the same file name at another URL is asked
    with pytest.raises(NotFound):
        fetch(cfg, other, dest)
    with pytest.raises(NotFound):
        fetch(replace(cfg, not_found_expiry_days=0), url, dest)  # expired: asked again
    assert handler.counts["/missing/0/H120_votes.csv"] == 2


@pytest.mark.unit
def test_two_processes_downloading_into_one_folder_keep_every_entry(fault_server, tmp_path):
    base, _ = fault_server
    folder = tmp_path / "raw"
    names = [f"S119_members-copy{i}.csv" for i in range(30)]
    script = (
        "import sys; from pathlib import Path; from pipeline.fetch import download\n"
        "base, folder, *names = sys.argv[1:]\n"
        "for name in names: download(f'{base}/good/0/{name}', Path(folder) / name, 5, 1, 0.01)\n"
    )
    runs = [
        subprocess.Popen([sys.executable, "-c", script, base, str(folder), *order], cwd=PROJECT_ROOT)
        for order in (names, names[::-1])
    ]
    assert [run.wait(timeout=120) for run in runs] == [0, 0]
    files = _manifest_files(folder)
    expected = hashlib.sha256(FAULT_FILES["S119_members.csv"].read_bytes()).hexdigest()
    assert sorted(files) == sorted(names)
    assert {entry["sha256"] for entry in files.values()} == {expected}
    assert all(hashlib.sha256((folder / n).read_bytes()).hexdigest() == expected for n in names)


# --- the bills that reached a roll call, bill by bill from GovInfo (download mode's billstatus-bulk) --------


def _govinfo_bills(snapshot: Path, root: Path, congress: int, count: int | None = None) -> list[str]:
    """The (first ``count``) BILLSTATUS records of a congress's bulk archive laid out as GovInfo serves them."""
    import tarfile

    ids = []
    with tarfile.open(snapshot / "billstatus-bulk" / f"bills-{congress}.tar.gz", "r:gz") as archive:
        for member in archive:
            name = Path(member.name).name
            if not (member.isfile() and name.startswith(f"BILLSTATUS-{congress}")) or len(ids) == count:
                continue
            bill = name.removeprefix("BILLSTATUS-").removesuffix(".xml")
            folder = root / "govinfo" / str(congress) / re.sub(r"\d", "", bill)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(archive.extractfile(member).read())
            ids.append(bill)
    return ids


@pytest.fixture(scope="module")
def govinfo_117(tmp_path_factory, config):
    root = tmp_path_factory.mktemp("govinfo")
    return root, _govinfo_bills(config.snapshot_dir, root, 117, 40)


def test_rollcall_bills_are_every_bill_voted_on_from_the_first_congress_less_the_known(tables):
    from pipeline.billstatus import rollcall_bills

    rollcalls = tables["rollcalls"]
    wanted = rollcall_bills(rollcalls, 113, ["116hr676"])
    assert "118hr815" in wanted  # the 2024 Ukraine supplemental: cloture, passage and concurrence in the Senate
    assert "116hr676" not in wanted and not any(bill.startswith(("110", "111", "112")) for bill in wanted)
    voted = rollcalls.loc[rollcalls["congress"] >= 113, "bill_id"].dropna().unique()
    assert len(wanted) == len(voted) - 1 and wanted == sorted(wanted)


@pytest.mark.parametrize("bad", ["hr5", "118xx5", "118hr"])
def test_a_roll_calls_bill_id_that_is_not_one_is_named_with_its_roll_call(tables, bad):
    """Not a ValueError from a NaN congress (``hr5``) nor a download of a URL made from it (``118xx5``)."""
    from pipeline.billstatus import rollcall_bills

    rollcalls = tables["rollcalls"].head(3).assign(bill_id=["118hr815", bad, None])
    with pytest.raises(DataError, match=rf"rollcalls: roll call {rollcalls['rollcall_id'].iloc[1]}: '{bad}' is not"):
        rollcall_bills(rollcalls, 113, [])


def test_downloaded_bills_are_the_archives_records(govinfo_117, http_root, config, tmp_path):
    """The same 40 BILLSTATUS files of the 117th, downloaded from a GovInfo-like server and read from the
    snapshot's archive, give the same bills and cosponsorships; a bill the server lacks is listed, not fatal."""
    from pipeline.billstatus import download_bills
    from pipeline.bulkbills import read_archive

    root, ids = govinfo_117
    cfg = _download_config(config, http_root(root), tmp_path)
    bills, cosponsorships, left_out = download_bills(cfg, [*ids, "117hr99999"])
    assert left_out == {"not_found": ["117hr99999"], "no_sponsor": []}
    archived, archived_cosponsors = read_archive(config.snapshot_dir / "billstatus-bulk" / "bills-117.tar.gz", {})
    expected = pd.DataFrame(archived).query("bill_id in @ids").reset_index(drop=True)
    pd.testing.assert_frame_equal(
        bills.sort_values("bill_id").reset_index(drop=True), expected.sort_values("bill_id").reset_index(drop=True)
    )
    expected_cosponsors = pd.DataFrame(archived_cosponsors).query("bill_id in @ids")
    assert len(cosponsorships) == len(expected_cosponsors) > 0
    folder = tmp_path / "raw" / "billstatus" / "117"  # a folder and manifest per congress
    assert set(_manifest_files(folder)) == {f"BILLSTATUS-{bill}.xml" for bill in ids}
    assert not list(folder.glob(".*part*"))


def test_a_wrong_billstatus_url_is_said_loudly(govinfo_117, http_root, config, tmp_path, capsys):
    """Every bill 404 (a wrong URL template) leaves the general model without sponsors: said on stderr, not only
    listed in the report."""
    from pipeline.billstatus import download_bills

    root, ids = govinfo_117
    cfg = _download_config(config, http_root(root), tmp_path)
    cfg = replace(cfg, urls={**cfg.urls, "billstatus": cfg.urls["billstatus"].replace("/govinfo/", "/gov-info/")})
    bills, _, left_out = download_bills(cfg, ids[:5])
    assert bills.empty and sorted(left_out["not_found"]) == sorted(ids[:5])
    warning = capsys.readouterr().err
    assert "warning: GovInfo answered 404 for 5 of 5 roll-call bills" in warning and "/gov-info/117/" in warning
    download_bills(_download_config(config, http_root(root), tmp_path / "right"), [*ids[:5], "117hr99999"])
    assert "warning" not in capsys.readouterr().err  # one bill GovInfo lacks is not a wrong URL


def test_a_downloaded_bill_without_a_sponsor_is_left_out_and_listed(govinfo_117, http_root, config, tmp_path):
    from pipeline.billstatus import download_bills

    root, ids = govinfo_117
    served = tmp_path / "served"
    shutil.copytree(root, served)
    path = next(served.rglob(f"BILLSTATUS-{ids[0]}.xml"))
    path.write_text(re.sub(r"<sponsors>.*?</sponsors>", "", path.read_text(), flags=re.S))
    cfg = _download_config(config, http_root(served), tmp_path)
    bills, _, left_out = download_bills(cfg, ids[:3])
    assert left_out["no_sponsor"] == [ids[0]] and sorted(bills["bill_id"]) == sorted(ids[1:3])


def test_a_bill_download_that_keeps_failing_stops_naming_the_url(govinfo_117, http_root, config, tmp_path):
    from pipeline.billstatus import download_bills

    root, ids = govinfo_117
    served = tmp_path / "served"
    shutil.copytree(root, served)
    next(served.rglob(f"BILLSTATUS-{ids[5]}.xml")).write_text("<html><body>Service unavailable</body></html>")
    cfg = replace(_download_config(config, http_root(served), tmp_path), backoff_s=0.01)
    with pytest.raises(DataError, match=rf"BILLSTATUS-{ids[5]}\.xml failed after 2 attempts"):
        download_bills(cfg, ids[:10])
    folder = tmp_path / "raw" / "billstatus" / "117"
    recorded = _manifest_files(folder)
    assert recorded and f"BILLSTATUS-{ids[5]}.xml" not in recorded  # the good ones fetched meanwhile are kept
    assert not list(folder.glob(".*part*")) and not (folder / f"BILLSTATUS-{ids[5]}.xml").exists()


def test_only_roll_calls_up_to_the_as_of_date_choose_the_bills_to_fetch(tables, config, tmp_path, monkeypatch):
    """As of 2022-03-31 the 117th's bills first voted on later (H.R. 7691, the May 2022 Ukraine supplemental) are
    not fetched; those voted on by then (H.R. 6968, the March 2022 ban on Russian energy imports) are."""
    from pipeline import billstatus
    from pipeline.ingest import with_rollcall_bills

    asked = []
    monkeypatch.setattr(
        billstatus,
        "download_bills",
        lambda cfg, bills: (asked.extend(bills), (pd.DataFrame(), pd.DataFrame(), {"not_found": [], "no_sponsor": []}))[
            1
        ],
    )
    cfg = replace(_download_config(config, "http://127.0.0.1:9", tmp_path, 117), as_of=pd.Timestamp("2022-03-31"))
    rollcalls = tables["rollcalls"][tables["rollcalls"]["congress"] == 117]
    nato = tables["bills"][tables["bills"]["collection"] == "nato"]
    with_rollcall_bills(cfg, rollcalls, nato, tables["cosponsorships"].iloc[:0])
    assert "117hr6968" in asked and "117hr7691" not in asked
    voted = rollcalls.loc[rollcalls["date"] <= "2022-03-31", "bill_id"].dropna()
    assert set(asked) == set(voted) - set(nato["bill_id"])


# --- stopping: Ctrl-C and SIGTERM while downloads stall ------------------------------------------------------

STOP_BOUND_S = 10  # generous: the stop takes well under a second; it took up to minutes (README "Known limits")
STOP_WAIT_S = 120  # then the ingest is killed and the test fails
STOP_LINES = {
    signal.SIGINT: "ingest: interrupted; nothing was published, previous outputs are kept",
    signal.SIGTERM: "ingest: terminated by SIGTERM; nothing was published, previous outputs are kept",
}


class _StallingHandler(_Quiet):
    """Serves the mirror; the first ``first`` requests under /stall/ get 404, the later ones misbehave as ``mode``:
    body (announces a file, sends its first bytes, then nothing), headers (never answers), storm (500 each time,
    so the client backs off). ``stalled`` is set after ``expect`` such answers; ``release`` ends them."""

    mode, first, expect, hits = "body", 0, 4, 0
    stalled = threading.Event()
    release = threading.Event()
    counting = threading.Lock()

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        if not self.path.startswith("/stall/"):
            return super().do_GET()
        cls = type(self)
        with cls.counting:
            cls.hits += 1
            hit = cls.hits
        if hit <= cls.first:
            return self.send_error(404)
        if hit - cls.first >= cls.expect:
            cls.stalled.set()
        if cls.mode == "storm":
            return self.send_error(500)
        if cls.mode == "body":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"<?xml version='1.0'?><billStatus>")
            self.wfile.flush()
        cls.release.wait(LIFETIME_S)


@pytest.fixture(scope="module")
def stalling_server(mirror):
    handler = type("Stalling", (_StallingHandler,), {"stalled": threading.Event(), "release": threading.Event()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(mirror)))
    server.daemon_threads = True
    server.handle_error = lambda request, address: None  # a client hanging up on a stalled answer is the point
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", handler
    handler.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def downloaded_116(stalling_server, config, tmp_path_factory) -> Path:
    """A download folder of the 116th as a first run leaves it (every file fetched, verified and recorded)."""
    base, _ = stalling_server
    folder = tmp_path_factory.mktemp("downloaded")
    build_tables(_download_config(config, base, folder), workers=1)
    return folder / "raw"


def _stop_params(base: str, raw: Path, stalled: str, tmp_path: Path) -> Path:
    """params.yaml for the ingest of the 116th from the server, the ``stalled`` source's URLs under /stall/; the
    timeouts and retries are params.yaml's, the backoff 2 s (0.5 s: retries of a 500 wait 0, 1, 2, 4 s)."""
    cfg = _download_config(DataConfig(), str(base), tmp_path)
    params = load_params()
    params["data"].update(
        source="download",
        download_dir=str(raw),
        congresses=[CONGRESS, CONGRESS],
        backoff_s=2,
        urls={**cfg.urls, stalled: cfg.urls[stalled].replace(str(base), f"{base}/stall")},
    )
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def _stop_ingest(params: Path, tmp_path: Path, workers: int, handler, how: signal.Signals) -> tuple[int, float, str]:
    """Run the ingest until ``handler`` stalls it, then Ctrl-C (SIGINT to its process group, as a terminal sends
    it) or SIGTERM (to the ingest alone, as ``kill`` does): (exit status, seconds from the signal to the exit,
    stderr)."""
    argv = [sys.executable, "-m", "pipeline.ingest", "--params", str(params), "--workers", str(workers)]
    argv += ["--tables", str(tmp_path / "tables"), "--report", str(tmp_path / "report.json")]
    env = {k: v for k, v in os.environ.items() if k not in ("NATOCAST_SNAPSHOT_DIR", "NATOCAST_DEBUG")}
    run = subprocess.Popen(
        argv, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        assert handler.stalled.wait(120), f"the ingest never reached the stalled downloads: {run.stderr.read()}"
        time.sleep(0.5)  # into the blocked reads and the backoffs
        signalled = time.monotonic()
        os.killpg(run.pid, how) if how == signal.SIGINT else run.send_signal(how)
        status = run.wait(timeout=STOP_WAIT_S)
        seconds = time.monotonic() - signalled
        print(f"{how.name}: exit {status} {seconds:.2f} s after the signal")
        return status, seconds, run.stderr.read().decode()
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()


def _assert_only_recorded_downloads(raw: Path) -> int:
    """Every file under ``raw`` is a manifest that parses, its lock, the tree's ``.complete`` mark or a file its
    folder's manifest names with that size and sha256 (so the next run reuses it): no partial file, no temporary
    manifest. Returns how many recorded files there are."""
    recorded = 0
    for path in sorted(raw.rglob("*")):
        if path.is_dir() or path.name in ("manifest.json.lock", ".complete"):
            continue
        assert ".part-" not in path.name and ".tmp-" not in path.name, f"left behind: {path}"
        if path.name == "manifest.json":
            json.loads(path.read_text())
        else:
            assert cached(path), f"{path} is not a download its manifest records intact"
            recorded += 1
    return recorded


def _reset(handler, mode: str, first: int, expect: int) -> None:
    handler.mode, handler.first, handler.expect, handler.hits = mode, first, expect, 0
    handler.stalled.clear()


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
@pytest.mark.parametrize("mode", ["body", "headers", "storm"])
def test_a_stop_while_bill_downloads_stall_ends_the_ingest_at_once(
    stalling_server, downloaded_116, tmp_path, mode, how
):
    """Four BILLSTATUS downloads in flight (threads), each stalled mid-body, before the headers or backing off
    from 500s (``data.timeout_s`` 60, ``data.retries`` 4: minutes each): the ingest ends within seconds with the
    signal's status and one line; the bills answered before (six 404s) stay recorded, nothing partial is left."""
    base, handler = stalling_server
    _reset(handler, mode, first=6, expect=8 if mode == "storm" else 4)  # storm: each thread past one backoff
    raw = tmp_path / "raw"
    shutil.copytree(downloaded_116, raw)
    params = _stop_params(base, raw, "billstatus", tmp_path)
    status, seconds, stderr = _stop_ingest(params, tmp_path, 1, handler, how)
    assert (status, stderr.strip()) == (128 + how, STOP_LINES[how])
    assert seconds < STOP_BOUND_S
    assert _assert_only_recorded_downloads(raw) == _assert_only_recorded_downloads(downloaded_116)
    not_found = json.loads((raw / "billstatus" / str(CONGRESS) / "manifest.json").read_text())["not_found"]
    assert sum(url.startswith(f"{base}/stall/") for url in not_found) == 6


@pytest.mark.parametrize(
    "how,source,removed",
    [
        (signal.SIGTERM, "voteview", "S116_votes.csv"),  # the ingest's own thread (DuckDB reads the votes)
        (signal.SIGTERM, "legislators", "legislators-current.yaml"),  # the second process (workers 2)
        (signal.SIGINT, "legislators", "legislators-current.yaml"),
    ],
    ids=["votes-sigterm", "second-process-sigterm", "second-process-ctrl-c"],
)
def test_a_stop_while_a_file_download_stalls_ends_the_ingest_at_once(
    stalling_server, downloaded_116, tmp_path, how, source, removed
):
    """A Voteview or congress-legislators file stalls mid-body in the ingest's process or in the second one that
    reads beside it: the same prompt end, one line, and no partial file of either process."""
    base, handler = stalling_server
    _reset(handler, "body", first=0, expect=1)
    raw = tmp_path / "raw"
    shutil.copytree(downloaded_116, raw)
    (next(raw.rglob(removed))).unlink()  # fetched again: through the stalled URL
    params = _stop_params(base, raw, source, tmp_path)
    status, seconds, stderr = _stop_ingest(params, tmp_path, 2, handler, how)
    assert (status, stderr.strip()) == (128 + how, STOP_LINES[how])
    assert seconds < STOP_BOUND_S
    assert _assert_only_recorded_downloads(raw) == _assert_only_recorded_downloads(downloaded_116) - 1


@pytest.mark.unit
def test_a_stop_ends_a_download_waiting_for_its_manifests_lock(fault_server, tmp_path):
    """A download whose file is complete but whose folder's manifest another process holds locked (a second ingest
    on the same folder) ends when its stop is set, removing its partial file; it did wait out the lock (120 s), so
    an ingest stopped meanwhile left that thread behind, and the process's exit left the .part file unrecorded."""
    base, _ = fault_server
    dest, stop, raised = tmp_path / "raw" / "S119_members.csv", Stop(), []
    dest.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from filelock import FileLock\n"
            "with FileLock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)",
            str(dest.parent / "manifest.json.lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"

        def run() -> None:
            try:
                download(f"{base}/good/0/S119_members.csv", dest, timeout_s=5, retries=1, backoff_s=0.01, stop=stop)
            except Exception as exc:
                raised.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 5
        while not list(dest.parent.glob(".*.part-*")) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # the file is in, the download waits for the lock
        stopped = time.monotonic()
        stop.set()
        thread.join(5)
        assert not thread.is_alive() and time.monotonic() - stopped < 2
    finally:
        holder.kill()
        holder.wait()
    assert [type(exc) for exc in raised] == [Stopped]
    assert not dest.exists() and not list(dest.parent.glob(".*.part-*")) and _manifest_files(dest.parent) == {}


# --- stops at awkward moments: Ctrl-C while the threads start, an HTTPS read shut down under its feet ----------


class _GatedHandler(http.server.BaseHTTPRequestHandler):
    """Announces S119_members.csv, sends its first kilobyte, waits for ``more``, sends the next kilobyte, then
    stalls until ``release``: a body whose reads the test schedules."""

    more = threading.Event()
    release = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        cls = type(self)
        payload = FAULT_FILES["S119_members.csv"].read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload[:1024])
        cls.more.wait(LIFETIME_S)
        self.wfile.write(payload[1024:2048])
        cls.release.wait(LIFETIME_S)

    def log_message(self, *args) -> None:
        pass


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 and its key (PEM files in ``folder``)."""
    import datetime
    import ipaddress

    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _serve_gated(tls: tuple[Path, Path] | None = None):
    """A gated server on 127.0.0.1 (HTTPS with ``tls``, a certificate and its key): yields (base URL, handler)."""
    handler = type("Gated", (_GatedHandler,), {"more": threading.Event(), "release": threading.Event()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.handle_error = lambda request, address: None  # a client hanging up on a stalled answer is the point
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_port}", handler
    handler.more.set()
    handler.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def gated_server():
    yield from _serve_gated()


@pytest.fixture
def gated_tls_server(tmp_path_factory, monkeypatch):
    """The gated server over HTTPS, its certificate the one requests trusts (REQUESTS_CA_BUNDLE)."""
    cert, key = _self_signed(tmp_path_factory.mktemp("tls"))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    yield from _serve_gated((cert, key))


def _soon(predicate: Callable[[], object], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _parts(folder: Path) -> list[Path]:
    return list(folder.rglob(".*.part-*")) if folder.exists() else []


@pytest.mark.unit
def test_ctrl_c_while_the_threads_start_stops_the_ones_started(gated_server, tmp_path, capsys):
    """Ctrl-C reaching the main thread just after ``in_threads`` started the second of its four threads (the first
    two downloads stalled mid-body, their partial files written): the stop is set, both downloads end (Stopped),
    no partial file is left, nothing is recorded, and KeyboardInterrupt is raised within moments (a stage's
    "interrupted" line, status 130), nothing else said. It used to escape the start loop with the stop unset, the
    two threads left downloading (and their partial files left when the process exited)."""
    base, _ = gated_server
    folder, ended, signalled, start = tmp_path / "raw", [], [], threading.Thread.start

    def start_then_ctrl_c(thread: threading.Thread) -> None:
        start(thread)
        if thread.name == "items-1":
            assert _soon(lambda: len(_parts(folder)) == 2), "the first two downloads never began"
            signalled.append(time.monotonic())
            signal.raise_signal(signal.SIGINT)  # raises KeyboardInterrupt here, in the main thread

    def work(name: str, stop: Stop) -> Path:
        try:
            return download(f"{base}/{name}", folder / name, timeout_s=60, retries=4, backoff_s=10, stop=stop)
        except BaseException as exc:
            ended.append(type(exc))
            raise

    names = [f"S119_members-{n}.csv" for n in range(8)]
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Thread.start = start_then_ctrl_c
    try:
        with pytest.raises(KeyboardInterrupt):
            in_threads(work, names, 4, "items", "item")
    finally:
        threading.Thread.start = start
        signal.signal(signal.SIGINT, previous)
    _soon(lambda: len(ended) == 2, 5)  # (the old code never stopped them)
    seconds, said = time.monotonic() - signalled[0], capsys.readouterr().err
    print(f"Ctrl-C while starting: unwound {seconds * 1000:.1f} ms after the signal")
    assert ended == [Stopped, Stopped] and seconds < 2
    assert _parts(folder) == [] and _manifest_files(folder) == {} and not list(folder.glob("S119*"))
    assert said == ""


CTRL_C_WHILE_STARTING = """\
import os, runpy, signal, sys, threading, time
from pathlib import Path
raw, signalled = Path(sys.argv.pop(1)), Path(sys.argv.pop(1))
start = threading.Thread.start

def start_then_ctrl_c(thread):
    start(thread)
    if thread.name == "BILLSTATUS-1":
        deadline = time.monotonic() + 60
        while len(list(raw.rglob(".*.part-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        signalled.write_text(repr(time.time()))
        os.killpg(0, signal.SIGINT)
        time.sleep(60)

threading.Thread.start = start_then_ctrl_c
runpy.run_module("pipeline.ingest", run_name="__main__", alter_sys=True)
"""


def test_ctrl_c_while_the_bill_threads_start_ends_the_ingest_as_at_any_time(stalling_server, downloaded_116, tmp_path):
    """Ctrl-C (to the ingest's process group, as a terminal sends it) just after the ingest started the second of
    its four BILLSTATUS threads, the first two downloads stalled mid-body: exit 130 with the one "interrupted" line
    within moments, no partial file, only downloads the manifests record. Before, the same status and line, but
    the stop was never set and the exit left both partial files."""
    base, handler = stalling_server
    _reset(handler, "body", first=0, expect=2)
    raw, signalled = tmp_path / "raw", tmp_path / "signalled"
    shutil.copytree(downloaded_116, raw)
    params = _stop_params(base, raw, "billstatus", tmp_path)
    argv = [sys.executable, "-c", CTRL_C_WHILE_STARTING, str(raw), str(signalled), "--params", str(params)]
    argv += ["--workers", "1", "--tables", str(tmp_path / "tables"), "--report", str(tmp_path / "report.json")]
    env = {k: v for k, v in os.environ.items() if k not in ("NATOCAST_SNAPSHOT_DIR", "NATOCAST_DEBUG")}
    run = subprocess.run(
        argv,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=STOP_WAIT_S,
        start_new_session=True,  # the Ctrl-C goes to the ingest's group, not to pytest's
    )
    seconds = time.time() - float(signalled.read_text())
    print(f"Ctrl-C while the threads start: exit {run.returncode} {seconds:.2f} s after the signal")
    assert (run.returncode, run.stderr.decode().strip()) == (130, STOP_LINES[signal.SIGINT])
    assert seconds < STOP_BOUND_S
    assert _assert_only_recorded_downloads(raw) == _assert_only_recorded_downloads(downloaded_116)


def _pause_before_the_ssl_object_is_used(armed: threading.Event, paused: threading.Event, resume: threading.Event):
    """A trace function (for one thread) that, once ``armed``, holds the thread on the line of ssl.SSLSocket.read
    that calls its SSL object, after the line that checks there is one, until ``resume``: another thread's
    ``SSLSocket.shutdown`` meanwhile drops the object, and the read fails with AttributeError. The moment is
    CPython's race, made certain."""
    lines, first = inspect.getsourcelines(ssl.SSLSocket.read)
    uses = [first + n for n, text in enumerate(lines) if "return self._sslobj.read(len, buffer)" in text]
    assert len(uses) == 1, "ssl.SSLSocket.read changed: find the line where it uses self._sslobj"
    code = ssl.SSLSocket.read.__code__

    def in_read(frame, event, arg):
        if event == "line" and frame.f_lineno == uses[0] and armed.is_set() and not paused.is_set():
            paused.set()
            resume.wait(10)
        return in_read

    return lambda frame, event, arg: in_read if frame.f_code is code else None


@pytest.mark.unit
def test_a_stop_shutting_an_https_read_down_ends_it_as_stopped(gated_tls_server, tmp_path):
    """An HTTPS download in a worker thread, mid-body, about to read again when its stop shuts the socket down:
    Stopped, no file, no partial file, nothing recorded. The read used to fail with ssl's AttributeError ('NoneType'
    object has no attribute 'read'), which ``download`` passed on as it was (and ``in_threads`` then dropped)."""
    base, handler = gated_tls_server
    dest, stop, raised = tmp_path / "raw" / "S119_members.csv", Stop(), []
    armed, paused, resume = threading.Event(), threading.Event(), threading.Event()
    trace = _pause_before_the_ssl_object_is_used(armed, paused, resume)

    def run() -> None:
        sys.settrace(trace)
        try:
            download(f"{base}/S119_members.csv", dest, timeout_s=10, retries=1, backoff_s=0.01, stop=stop)
        except Exception as exc:
            raised.append(exc)
        finally:
            sys.settrace(None)

    thread = threading.Thread(target=run, name="download", daemon=True)
    thread.start()
    assert _soon(lambda: _parts(dest.parent)), "the body never began"
    armed.set()
    handler.more.set()  # the next kilobyte: read, then the thread is held before its next read
    assert paused.wait(10), "the download never read again"
    stop.set()
    resume.set()
    thread.join(5)
    assert not thread.is_alive()
    assert [type(exc) for exc in raised] == [Stopped], raised
    print(f"HTTPS read shut down by the stop: Stopped, from {raised[0].__cause__!r}")
    assert type(raised[0].__cause__) is requests.exceptions.ChunkedEncodingError  # the stream's end, not ssl's error
    assert not dest.exists() and _parts(dest.parent) == [] and _manifest_files(dest.parent) == {}


@pytest.mark.unit
@pytest.mark.parametrize("stopped", [True, False], ids=["after-the-stop", "without-a-stop"])
def test_an_error_no_socket_read_promises_is_stopped_only_after_the_stop(gated_server, tmp_path, monkeypatch, stopped):
    """A socket read in the download's thread raising what no read promises (ssl's AttributeError when a shutdown
    races it): once the stop is set, Stopped (nothing recorded, no partial file; the error is its cause); without
    a stop the same error ends the download as it is, neither swallowed nor taken for a stop."""
    base, handler = gated_server
    dest, stop, raised, armed = tmp_path / "raw" / "S119_members.csv", Stop(), [], threading.Event()
    recv_into = socket.socket.recv_into

    def odd_recv_into(sock: socket.socket, *args) -> int:
        count = recv_into(sock, *args)
        if armed.is_set() and threading.current_thread().name == "download":
            raise AttributeError("'NoneType' object has no attribute 'read'")
        return count

    monkeypatch.setattr(socket.socket, "recv_into", odd_recv_into)

    def run() -> None:
        try:
            download(f"{base}/S119_members.csv", dest, timeout_s=10, retries=1, backoff_s=0.01, stop=stop)
        except Exception as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, name="download", daemon=True)
    thread.start()
    assert _soon(lambda: _parts(dest.parent)), "the body never began"
    armed.set()
    stop.set() if stopped else handler.more.set()  # the blocked read returns: shut down, or the next kilobyte
    thread.join(5)
    assert not thread.is_alive() and len(raised) == 1
    if stopped:
        assert type(raised[0]) is Stopped and type(raised[0].__cause__) is AttributeError
    else:
        assert type(raised[0]) is AttributeError and str(raised[0]) == "'NoneType' object has no attribute 'read'"
    assert not dest.exists() and _parts(dest.parent) == [] and _manifest_files(dest.parent) == {}


@pytest.mark.unit
def test_a_threads_own_error_is_said_even_when_another_error_stops_the_run(capsys):
    """One item's DataError stops the run; another item, running on, then fails on its own (a parser's bug, not the
    stop's doing): the DataError is raised and the other failure said in one line on stderr, not dropped as it
    used to be; the items the stop ended (Stopped) are not mentioned."""

    def work(item: int, stop: Stop) -> int:
        if item == 0:
            raise DataError("item 0 is bad")
        if item == 1:
            assert _soon(stop.is_set, 5)
            raise AttributeError("'NoneType' object has no attribute 'text'")
        stop.wait(60)
        return item

    with pytest.raises(DataError, match="item 0 is bad"):
        in_threads(work, list(range(4)), 4, "items", "item")
    assert capsys.readouterr().err.splitlines() == [
        "items: item 1 failed as well: AttributeError: 'NoneType' object has no attribute 'text'"
    ]


@pytest.mark.unit
def test_only_the_reads_become_stopped_once_the_stop_is_set():
    """``Stop.read_each``: a read failing once the stop is set is Stopped (the failure its cause); what the caller
    does with a chunk (writing it to a full disk) fails as it is, stop or no stop; reads before the stop too."""
    stop = Stop()

    def chunks():
        yield b"first"
        stop.set()
        raise ValueError("invalid literal for int() with base 16: b'\\x17\\x03\\x03'")  # TLS bytes as a chunk size

    with pytest.raises(Stopped) as caught:
        list(stop.read_each(chunks()))
    assert type(caught.value.__cause__) is ValueError
    with pytest.raises(OSError, match="No space left"):
        for _ in stop.read_each([b"first", b"second"]):
            raise OSError(28, "No space left on device")
    with pytest.raises(ValueError, match="base 16"):
        list(Stop().read_each(chunks()))
