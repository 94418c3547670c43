"""What a user opens: forecasts, whip counts, the HTML report (rendered in headless Chromium), the command line."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from forecasts import cli, whip
from pipeline.config import FEATURES_DIR, METRICS_DIR, REPORTS_DIR

NAMED = ("119hr6508", "119s2174", "119s3262", "119s2914", "119hr5793")


@pytest.fixture(scope="module")
def forecasts() -> pd.DataFrame:
    return pd.read_parquet(REPORTS_DIR / "forecasts.parquet")


@pytest.fixture(scope="module")
def counts() -> dict:
    return {c["bill_id"]: c for c in json.loads((REPORTS_DIR / "whip_counts.json").read_text())}


def test_every_directed_registry_bill_is_forecast_for_the_sitting_chamber(forecasts):
    registry = pd.read_parquet(FEATURES_DIR / "registry.parquet")
    directed = set(registry.loc[registry["stance"] != 0, "bill_id"])
    assert set(forecasts["bill_id"]) == directed and set(NAMED) <= directed
    per_bill = forecasts.groupby("bill_id").agg(n=("bioguide_id", "size"), chamber=("chamber", "first"))
    assert (per_bill.loc[per_bill["chamber"] == "senate", "n"] == 100).all()
    assert per_bill.loc[per_bill["chamber"] == "house", "n"].between(430, 441).all()
    assert not forecasts.duplicated(["bill_id", "bioguide_id"]).any()
    assert forecasts["probability"].between(0, 1).all()
    assert (forecasts["reasons_for"].str.len() + forecasts["reasons_against"].str.len() > 0).all()
    assert {"bill_id", "bioguide_id", "name", "party", "state", "probability", "low_history"} <= set(forecasts)
    assert (REPORTS_DIR / "forecasts.csv").exists()


def test_the_withdrawal_bills_sort_their_sponsors_from_the_alliance_side(forecasts):
    nato_act = forecasts[forecasts["bill_id"] == "119hr6508"].set_index("bioguide_id")["probability"]
    assert nato_act["M001184"] > 0.5 > nato_act["P000197"]  # Massie (sponsor) vs Pelosi
    assert nato_act["M001184"] > nato_act.quantile(0.95)
    senate = forecasts[forecasts["bill_id"] == "119s2174"].set_index("bioguide_id")["probability"]
    assert senate["L000577"] > senate["W000437"] and senate["L000577"] > senate["S001181"]  # Lee vs Wicker, Shaheen
    eastern_flank = forecasts[forecasts["bill_id"] == "119s2914"].set_index("bioguide_id")["probability"]
    assert eastern_flank["W000437"] > 0.5 and eastern_flank["S001181"] > eastern_flank["L000577"]


def test_low_history_members_are_flagged(forecasts):
    house = forecasts[forecasts["bill_id"] == "119hr6508"]
    assert 20 < house["low_history"].sum() < 150  # the 2024 class and later specials


def test_whip_counts(counts, forecasts):
    for bill in NAMED:
        count = counts[bill]
        p = forecasts.loc[forecasts["bill_id"] == bill, "probability"]
        assert count["expected_supporters"] == pytest.approx(p.sum())
        low, high = count["interval_90"]
        assert low <= count["expected_supporters"] <= high
        assert sum(count["distribution"]) > 0 and len(count["distribution"]) == count["members"] + 1
    assert counts["119s2174"]["thresholds"] == {"simple_majority": 51, "two_thirds": 67, "cloture_60": 60}
    assert counts["119hr6508"]["p_pass"]["simple_majority"] < 0.5 < counts["119hr5793"]["p_pass"]["simple_majority"]


def test_thresholds():
    assert whip.thresholds("senate", 100) == {"simple_majority": 51, "two_thirds": 67, "cloture_60": 60}
    assert whip.thresholds("house", 435) == {"simple_majority": 218, "two_thirds": 290}


def test_shock_scale_is_recovered_from_simulated_votes():
    rng = np.random.default_rng(3)
    rows = []
    for measure in range(150):
        p = rng.uniform(0.2, 0.95, 100)
        shifted = 1 / (1 + np.exp(-(np.log(p / (1 - p)) + 1.0 * rng.standard_normal())))
        rows.append(
            pd.DataFrame({"measure_id": measure, "p_xgboost": p, "voted_yea": (rng.random(100) < shifted).astype(int)})
        )
    assert whip.fit_shock_scale(pd.concat(rows)) == pytest.approx(1.0, abs=0.25)


def test_no_shock_is_binomial():
    p = np.full(400, 0.25)
    draws = whip.simulate_supporters(p, 0.0, draws=4000)
    assert draws.mean() == pytest.approx(100, abs=1.5) and draws.std() == pytest.approx(np.sqrt(75), rel=0.1)


def test_interval_coverage_on_the_backtest():
    coverage = json.loads((METRICS_DIR / "whip.json").read_text())
    assert coverage["measures"] > 40
    assert 0.75 <= coverage["coverage_90_shared_shock"] <= 1.0
    assert coverage["coverage_90_independent"] < coverage["coverage_90_shared_shock"]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("Chromium is needed to check the report (Debian package chromium; .ci/run installs it)")
    return found


def _render(path, tmp_path) -> str:
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=3000",
        "--dump-dom",
        path.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout


def test_bill_page_renders_with_table_and_charts(tmp_path, forecasts):
    page = REPORTS_DIR / "bills" / "119hr6508.html"
    dom = _render(page, tmp_path)
    members = (forecasts["bill_id"] == "119hr6508").sum()
    assert len(re.findall(r"<tr data-party=", dom)) == members
    assert dom.count('class="dot"') > 300  # ideology against probability
    assert dom.count('class="bar"') > 10  # tally distribution
    assert 'aria-label="backtest calibration"' in dom
    shown = re.search(r'<span id="shown">(\d+)</span>', dom)  # filled in by the page's script
    assert shown and int(shown.group(1)) == members
    assert "Massie" in dom and "P(simple majority)" in dom
    assert ">nan<" not in dom  # missing values show blank
    assert "Massie 100%" in dom  # Massie's own row: he agrees with himself


def test_index_page_links_every_bill(tmp_path, counts):
    dom = _render(REPORTS_DIR / "index.html", tmp_path)
    for bill in counts:
        assert f'href="bills/{bill}.html"' in dom
        assert (REPORTS_DIR / "bills" / f"{bill}.html").exists()
    summary = (REPORTS_DIR / "summary.md").read_text()
    assert all(bill in summary for bill in NAMED)


def test_cli_forecasts_a_registry_bill_as_of_an_earlier_date(tmp_path, capsys):
    assert cli.main(["forecast", "119s2914", "--as-of", "2025-10-01", "--out", str(tmp_path)]) == 0
    output = capsys.readouterr().out
    assert "119s2914 (senate)" in output and "P(cloture 60: 60 votes)" in output
    written = pd.read_parquet(tmp_path / "forecasts.parquet")
    assert len(written) == 100 and (tmp_path / "bills" / "119s2914.html").exists()
    # Shaheen cosponsored on 2025-09-22 (before the date): she backs the bill in the features
    assert written.set_index("bioguide_id").loc["S001181", "backs_this_bill"] == 1


def _describe(bill_id: str, chamber: str, stance: str, sponsor: str, *extra: str) -> list[str]:
    return ["describe", "--bill-id", bill_id, "--chamber", chamber, "--introduced", "2026-01-01",
            "--stance", stance, "--sponsor", sponsor, *extra]  # fmt: skip


def test_cli_describes_a_bill_introduced_tomorrow(tmp_path, capsys):
    code = cli.main(_describe("119hr9999", "house", "-1", "M001184", "--cosponsors", "L000596", "--title",
                              "To withdraw the United States from NATO", "--out", str(tmp_path)))  # fmt: skip
    assert code == 0
    written = pd.read_parquet(tmp_path / "forecasts.parquet").set_index("bioguide_id")
    assert written.loc["M001184", "probability"] > written["probability"].median()
    assert "119hr9999 (house)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["forecast", "119hr1"], "unknown bill '119hr1'"),
        (["forecast", "119hr6508", "--as-of", "2025-12-01"], "unknown bill '119hr6508' as of 2025-12-01"),
        (["forecast", "119hr6508", "--as-of", "2030-01-01"], "outside the data"),
        (["forecast", "119hr6508", "--as-of", "not-a-date"], "is not a date"),
        (["forecast", "119s2151"], "takes no side"),
        (_describe("119hr9999", "house", "1", "Z999999"), "unknown member id 'Z999999'"),
        (_describe("119s9999", "house", "1", "M001184"), "does not fit bill type s"),
    ],
)
def test_cli_errors(argv, message, capsys):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err
