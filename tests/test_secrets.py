"""A credential in MLFLOW_TRACKING_URI appears in no output, log or file: the tracking module, a failing
connection (MLflow's own message carries the URI), an uncaught traceback, and a stage's one-line error."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT
from pipeline.errors import DataError, run_stage
from pipeline.redact import redact

SECRET = "s3cr3t-Pa55"


def _dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        (f"http://alice:{SECRET}@db.example:5000/", "http://alice:***@db.example:5000/"),
        (f"postgresql://alice:{SECRET}@db/mlflow", "postgresql://alice:***@db/mlflow"),
        (f"https://{SECRET}@host/x", "https://***@host/x"),
        (f"http://alice:p@ss{SECRET}@host/", "http://alice:***@host/"),
        (f"https://host/api?token={SECRET}&x=1", "https://host/api?token=***&x=1"),
        ("sqlite:///work/mlflow.db", "sqlite:///work/mlflow.db"),
        ("http://127.0.0.1:5000 mail me@example.org", "http://127.0.0.1:5000 mail me@example.org"),
    ],
)
def test_redact(uri, shown):
    assert redact(uri) == shown


@pytest.mark.unit
def test_stage_error_line_is_redacted(capsys):
    def body() -> None:
        raise DataError(f"cannot reach http://alice:{SECRET}@127.0.0.1:9/")

    assert run_stage("x", body) == 2
    err = capsys.readouterr().err
    assert SECRET not in err and "alice:***@127.0.0.1" in err


@pytest.mark.unit
def test_tracking_uri_and_run_record_are_redacted(monkeypatch):
    from models import tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://alice:{SECRET}@127.0.0.1:9/")
    assert tracking.tracking_uri() == "http://alice:***@127.0.0.1:9/"
    assert SECRET not in json.dumps({"tracking_uri": tracking.tracking_uri()})  # what train writes to run.json


@pytest.mark.unit
def test_mlflow_logs_are_redacted(caplog):
    from models import tracking  # noqa: F401 - installs the filters

    with caplog.at_level(logging.WARNING, logger="mlflow"):
        logging.getLogger("mlflow").warning("retrying http://alice:%s@127.0.0.1:9/api", SECRET)
    assert SECRET not in caplog.text and "alice:***@" in caplog.text


@pytest.mark.unit
def test_failing_tracking_server_leaks_no_credential(tmp_path):
    """A process that points MLflow at an unreachable server with a password: the uncaught error, its traceback
    and everything it wrote (under a fresh working copy of the files it may touch) are free of the password."""
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"http://alice:{SECRET}@127.0.0.1:{_dead_port()}/",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
    }
    script = (
        "import logging; logging.basicConfig(filename=r'%s', level=logging.DEBUG)\n"
        "from models import tracking\n"
        "print('uri', tracking.tracking_uri())\n"
        "tracking.use_experiment('natocast')\n"
    ) % (tmp_path / "run.log")
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "MLflow tracking at http://alice:***@127.0.0.1" in output
    assert SECRET not in output
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    written += [p for p in Path(PROJECT_ROOT).rglob("*") if _written_since(p, started)]
    assert (tmp_path / "run.log") in written
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path


def _written_since(path: Path, started: float) -> bool:
    if ".venv" in path.parts or ".git" in path.parts or not path.is_file():
        return False
    try:
        return path.stat().st_mtime >= started
    except OSError:
        return False
