"""Any congress range inside the snapshot runs end to end: the whole chain (ingest .. predict) on
``data.congresses: [118, 119]`` of the real snapshot, in a temporary copy of the project.

The copy holds the project's code and a params.yaml that differs only in ``data.congresses`` (and an absolute
snapshot path); every stage finds its paths from its own module's location, so its data/, metrics/, reports/
and MLflow store are the copy's and the project's own outputs are never touched.
"""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from pipeline.config import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
from benchmark import project_copy  # noqa: E402  (the benchmark's copy of the project: one way to make one)

pytestmark = pytest.mark.pipeline

STAGES = (
    "pipeline.ingest",
    "features.catalog",
    "features.build",
    "models.general",
    "models.train",
    "models.evaluate",
    "forecasts.predict",
)
CONGRESSES = [118, 119]


@pytest.fixture(scope="module")
def narrow(tmp_path_factory, config) -> tuple:
    """(root of the copy, each stage's output) after running every stage on congresses 118-119 (``config``: the
    snapshot is there, or the tests stop saying so)."""
    root = tmp_path_factory.mktemp("narrow")
    env = project_copy(root, CONGRESSES)
    logs = {}
    for module in STAGES:
        done = subprocess.run(
            [sys.executable, "-m", module], cwd=root, env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, f"{module} failed on congresses {CONGRESSES}: {done.stderr[-3000:]}"
        logs[module] = done.stdout + done.stderr
    return root, logs


def test_the_copy_ran_on_its_own_params_and_paths(narrow):
    root, _ = narrow
    rollcalls = pd.read_parquet(root / "data" / "tables" / "rollcalls.parquet")
    assert sorted(rollcalls["congress"].unique()) == CONGRESSES
    assert (root / "reports" / "forecasts.parquet").exists() and (root / "mlflow.db").exists()


def test_tables_equal_the_full_ingest_cut_to_those_congresses(narrow, tables):
    """The narrow ingest holds exactly the full ingest's roll calls, tallies and member votes of 118-119."""
    root, _ = narrow
    narrow_rollcalls = pd.read_parquet(root / "data" / "tables" / "rollcalls.parquet")
    full = tables["rollcalls"][tables["rollcalls"]["congress"].isin(CONGRESSES)]
    assert narrow_rollcalls.groupby(["congress", "chamber"]).size().to_dict() == (
        full.groupby(["congress", "chamber"]).size().to_dict()
    )
    columns = ["rollcall_id", "yea_count", "nay_count", "present_count", "not_voting_count", "description"]
    pd.testing.assert_frame_equal(
        narrow_rollcalls[columns].sort_values("rollcall_id").reset_index(drop=True),
        full[columns].sort_values("rollcall_id").reset_index(drop=True),
    )
    narrow_votes = pd.read_parquet(root / "data" / "tables" / "votes.parquet")
    full_votes = tables["votes"][tables["votes"]["rollcall_id"].isin(set(full["rollcall_id"]))]
    key = ["rollcall_id", "bioguide_id"]
    pd.testing.assert_frame_equal(
        narrow_votes.sort_values(key).reset_index(drop=True).astype({"position": str}),
        full_votes.sort_values(key).reset_index(drop=True).astype({"position": str}),
    )


def test_known_votes_of_the_118th(narrow):
    """The 2023 Paul amendment (s191-118.2023) failed 16-83; Lee and Paul voted for it."""
    root, _ = narrow
    rollcalls = pd.read_parquet(root / "data" / "tables" / "rollcalls.parquet").set_index("rollcall_id")
    assert tuple(rollcalls.loc["s191-118.2023", ["yea_count", "nay_count"]]) == (16, 83)
    votes = pd.read_parquet(root / "data" / "tables" / "votes.parquet")
    paul = votes[votes["rollcall_id"] == "s191-118.2023"].set_index("bioguide_id")["position"]
    assert paul["L000577"] == "yea" and paul["P000603"] == "yea"


def test_out_of_range_overrides_and_bills_are_skipped_with_a_note(narrow):
    root, logs = narrow
    assert "override(s) outside congresses 118-119 skipped: s277-111.2010" in logs["features.catalog"]
    assert "bill(s) outside congresses 118-119 skipped: 115hres397" in logs["features.build"]
    catalog = pd.read_parquet(root / "data" / "features" / "catalog.parquet")
    assert set(catalog["congress"]) <= set(CONGRESSES) and len(catalog) > 0


def test_the_nato_act_is_forecast_for_every_sitting_representative(narrow):
    root, _ = narrow
    forecasts = pd.read_parquet(root / "reports" / "forecasts.parquet")
    nato_act = forecasts[forecasts["bill_id"] == "119hr6508"].set_index("bioguide_id")
    assert len(nato_act) >= 430 and set(nato_act["chamber"]) == {"house"}
    assert nato_act.loc["M001184", "is_sponsor"] == 1  # Thomas Massie
    assert nato_act["probability"].between(0, 1).all()
    assert set(forecasts["bill_id"].str[:3]) == {"119"}  # the 115th-117th bills are outside the range
