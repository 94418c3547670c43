"""SIGKILL at a random point of the ingest of the small excerpt, 20 times: the table set on disk is always one
complete, consistent set (the previous one or the new one), never a mix, and the next run clears the leftovers.
About 40 s (20 interpreter starts), so not in the unit layer."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml
from conftest import FIXTURE_SNAPSHOT, TABLE_NAMES, fixture_params

from pipeline.config import PROJECT_ROOT
from pipeline.tables import verify_table_set

KILLS = 20


def _ingest(params: Path, tables: Path, report: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("NATOCAST_SNAPSHOT_DIR", "NATOCAST_DEBUG")}
    argv = [sys.executable, "-m", "pipeline.ingest", "--params", str(params), "--tables", str(tables)]
    argv += ["--report", str(report), "--workers", "1"]
    return subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _congresses(tables: Path) -> set[int]:
    """The congresses of a verified set, after checking its tables agree with one another."""
    verify_table_set(tables)
    frames = {name: pd.read_parquet(tables / f"{name}.parquet") for name in TABLE_NAMES}
    rollcalls = set(frames["rollcalls"]["rollcall_id"])
    assert set(frames["votes"]["rollcall_id"]) <= rollcalls
    assert set(frames["votes"]["bioguide_id"]) <= set(frames["members"]["bioguide_id"])
    congresses = set(frames["rollcalls"]["congress"])
    assert set(frames["members"]["congress"]) == congresses
    return congresses


def test_sigkill_at_random_points_never_leaves_a_mixed_set(tmp_path):
    params_old, params_new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old = fixture_params(FIXTURE_SNAPSHOT)
    old["data"]["congresses"] = [118, 118]
    old["data"]["bills"] = ["119s2174"]
    params_old.write_text(yaml.safe_dump(old))
    params_new.write_text(yaml.safe_dump(fixture_params(FIXTURE_SNAPSHOT)))
    tables, report = tmp_path / "tables", tmp_path / "data_quality.json"

    first = _ingest(params_old, tables, report)
    assert first.wait(timeout=120) == 0, first.stderr.read()
    assert _congresses(tables) == {118}

    started = time.monotonic()
    timing = _ingest(params_new, tmp_path / "timing", tmp_path / "timing.json")
    assert timing.wait(timeout=120) == 0, timing.stderr.read()
    duration = time.monotonic() - started
    shutil.rmtree(tmp_path / "timing")

    rng = random.Random(11)
    outcomes = {"old": 0, "new": 0, "staging_left": 0}
    for _ in range(KILLS):
        process = _ingest(params_new, tables, report)
        time.sleep(rng.uniform(0.5, 1.05) * duration)  # past the imports: into reading, building, writing
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        outcomes["staging_left"] += bool(list(tmp_path.glob(".tables.staging-*")))
        congresses = _congresses(tables)
        assert congresses in ({118}, {118, 119})
        outcomes["old" if congresses == {118} else "new"] += 1
        if congresses == {118, 119}:  # put the old set back so that the next kill can again land mid-publish
            back = _ingest(params_old, tables, report)
            assert back.wait(timeout=120) == 0
            assert not list(tmp_path.glob(".tables.staging-*")), "stale staging folders survive a run"
    print(f"SIGKILL outcomes over {KILLS} runs of {duration:.2f} s: {outcomes}")
    final = _ingest(params_new, tables, report)
    assert final.wait(timeout=120) == 0
    assert not list(tmp_path.glob(".tables.staging-*"))
    assert _congresses(tables) == {118, 119}
