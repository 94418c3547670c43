"""Shared fixtures: the real snapshot and the pipeline's tables built from it."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import stat
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline.config import TABLES_DIR, DataConfig, load_params

TABLE_NAMES = ("members", "rollcalls", "votes", "bills", "cosponsorships", "terms", "presidents")
FIXTURE_SNAPSHOT = Path(__file__).parent / "fixtures" / "snapshot"  # scripts/make_fixtures.py writes it


def pytest_configure(config) -> None:
    """Cut the small excerpt out of ../shared/data when it is not there yet (a fresh clone): it is generated, not
    committed, because the snapshot's files are never copied into the repository."""
    if not (FIXTURE_SNAPSHOT / "fixture.yaml").exists():
        script = Path(__file__).parent.parent / "scripts" / "make_fixtures.py"
        subprocess.run([sys.executable, str(script), "--out", str(FIXTURE_SNAPSHOT)], check=True)


def fixture_params(snapshot_dir: Path = FIXTURE_SNAPSHOT) -> dict:
    """params.yaml with the data section fitted to the small excerpt (its fixture.yaml) at ``snapshot_dir``."""
    params = load_params()
    params["data"].update(yaml.safe_load((FIXTURE_SNAPSHOT / "fixture.yaml").read_text()))
    params["data"]["snapshot_dir"] = str(snapshot_dir)
    params["data"]["source"] = "snapshot"
    return params


@pytest.fixture
def small_snapshot(tmp_path) -> Path:
    """A writable copy of the small real excerpt, to damage (the committed one stays intact)."""
    root = tmp_path / "snapshot"
    shutil.copytree(FIXTURE_SNAPSHOT, root)
    for path in root.rglob("*"):
        os.chmod(path, path.stat().st_mode | stat.S_IWUSR)
    return root


@pytest.fixture
def small_config(small_snapshot) -> DataConfig:
    return DataConfig.from_params(fixture_params(small_snapshot))


@pytest.fixture(scope="session")
def config() -> DataConfig:
    cfg = DataConfig.from_params()
    if not cfg.snapshot_dir.is_dir():
        pytest.fail(f"the snapshot {cfg.snapshot_dir} is missing: the tests run on the real data")
    return replace(cfg, source="snapshot")


@pytest.fixture(scope="session")
def tables(config) -> dict[str, pd.DataFrame]:
    """The ingest stage's tables (data/tables, written by `dvc repro`); built in memory when absent."""
    if all((TABLES_DIR / f"{name}.parquet").exists() for name in TABLE_NAMES):
        return {name: pd.read_parquet(TABLES_DIR / f"{name}.parquet") for name in TABLE_NAMES}
    from pipeline.ingest import build_tables

    built, _ = build_tables(config)
    return built


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_root():
    """Serve a directory on 127.0.0.1; yields (start(directory, handler=None) -> base URL)."""
    servers = []

    def start(directory: Path, handler=None) -> str:
        handler = handler or functools.partial(_QuietHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        # shutdown() waits up to one poll interval: the default 0.5 s would add half a second per test
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# A bill a user describes (tests of the forecast path): introduced before the pipeline's date; Massie and Luna back
# it on the record (backed_anti_bills moves)
DESCRIBED = {
    "bill_id": "119hr9999",
    "chamber": "house",
    "introduced": "2025-12-20",
    "stance": -1,
    "stance_reason": "given in the test",
    "sponsor": "M001184",
    "cosponsors": ["L000596", "G000596"],
    "title": "To withdraw the United States from the North Atlantic Treaty Organization",
}
