"""What a user opens: forecasts, whip counts, reasons, names, the command line (pages: tests/test_pages.py)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.context import CONTEXT_FEATURES
from forecasts import api, cli, names, predict, reasons, report, whip
from models.support_model import model_settings
from pipeline.config import FEATURES_DIR, METRICS_DIR, MODELS_DIR, PROJECT_ROOT, REPORTS_DIR, load_params
from pipeline.errors import DataError
from pipeline.tables import read_table

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
    house = forecasts[forecasts["chamber"] == "house"]
    assert set(house.loc[~house["voting"], "state"]) == {"DC", "PR", "GU", "AS", "MP", "VI"}
    assert forecasts.loc[forecasts["chamber"] == "senate", "voting"].all()
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


def test_whip_counts_are_over_voting_members_with_sponsors_committed(counts, forecasts):
    for bill in NAMED:
        count = counts[bill]
        rows = forecasts[(forecasts["bill_id"] == bill) & forecasts["voting"]]
        committed = (rows["is_sponsor"] == 1) | (rows["is_cosponsor"] == 1)
        assert count["members"] == len(rows) and count["committed"] == committed.sum() >= 1
        assert count["seats"] == (435 if count["chamber"] == "house" else 100)
        assert count["vacancies"] == count["seats"] - count["members"]
        assert count["expected_supporters"] == pytest.approx(
            committed.sum() + rows.loc[~committed, "probability"].sum(), abs=0.01
        )
        assert count["expected_by_model"] == pytest.approx(rows["probability"].sum(), abs=0.01)
        low, high = count["interval_90"]
        assert committed.sum() <= low <= count["expected_supporters"] <= high
        assert sum(count["distribution"]) > 0 and len(count["distribution"]) == count["members"] + 1
        assert sum(count["distribution"][: committed.sum()]) == 0  # the committed back it in every simulation
    house = counts["119hr6508"]
    assert house["members"] <= 435 and house["thresholds"]["simple_majority"] == house["members"] // 2 + 1
    assert counts["119s2174"]["thresholds"] == {"simple_majority": 51, "two_thirds": 67, "cloture_60": 60}
    assert counts["119hr6508"]["p_pass"]["simple_majority"] < 0.5 < counts["119hr5793"]["p_pass"]["simple_majority"]


def test_sponsors_and_cosponsors_on_record_are_marked(forecasts):
    by_bill = forecasts.set_index(["bill_id", "bioguide_id"])
    assert by_bill.loc[("119hr6508", "M001184"), "is_sponsor"] == 1  # Massie
    assert by_bill.loc[("119s2174", "L000577"), "is_sponsor"] == 1  # Lee
    assert by_bill.loc[("119s2914", "S001181"), "is_cosponsor"] == 1  # Shaheen, cosponsor since 2025-09-22
    assert by_bill.loc[("119hr6508", "P000197"), ["is_sponsor", "is_cosponsor"]].sum() == 0  # Pelosi
    assert (forecasts.groupby("bill_id")["is_sponsor"].sum() <= 1).all()


def test_bills_and_members_have_the_names_a_reader_knows(counts):
    assert counts["119hr6508"]["label"] == "H.R. 6508, NATO Act (Rep. Thomas Massie, R-KY)"
    assert counts["119s2174"]["label"] == "S. 2174, NATO Act (Sen. Mike Lee, R-UT)"
    assert names.bill_number("117hres1130") == "H.Res. 1130" and names.bill_number("116hjres41") == "H.J.Res. 41"
    assert names.bill_number("not-a-bill") == "not-a-bill"
    assert names.bill_number("119hamdt9999") == "H.Amdt. 9999" and names.bill_number("118samdt1") == "S.Amdt. 1"
    directory = names.member_directory(read_table("members"))
    assert names.resolve_member("Massie", directory, "--sponsor") == "M001184"
    assert names.resolve_member("m001184", directory, "--sponsor") == "M001184"
    with pytest.raises(DataError, match="ambiguous"):
        names.resolve_member("Lee", directory, "--sponsor")
    with pytest.raises(DataError, match=r"did you mean M001184 \(Rep. Thomas Massie, R-KY\)"):
        names.resolve_member("Masie", directory, "--sponsor")
    assert names.last_name("Roger F. Wicker") == "Wicker" and names.last_name("Donald M. Payne, Jr.") == "Payne"


def test_a_name_is_found_with_or_without_its_accents():
    """Typed on a keyboard without accents, or copied with them: the same member."""
    directory = names.member_directory(read_table("members"))
    for typed in ("Velazquez", "velázquez", "Nydia M. Velazquez", "VELÁZQUEZ"):
        assert names.resolve_member(typed, directory, "--sponsor") == "V000081", typed
    with pytest.raises(DataError, match="--sponsor is empty"):
        names.resolve_member("  ", directory, "--sponsor")


def test_a_member_is_found_as_a_reader_names_them():
    """First and last name without the middle ones, a nickname, or the label this tool prints (copied from its
    output, party and state then telling apart two members of one name)."""
    members = read_table("members")
    directory = names.member_directory(members)
    house = set(members[(members["congress"] == 119) & (members["chamber"] == "house")]["bioguide_id"])
    for typed, bioguide in (
        ("Hakeem Jeffries", "J000294"),  # Hakeem S. Jeffries
        ("Marjorie Greene", "G000596"),  # Marjorie Taylor Greene
        ("Chuck Fleischmann", "F000459"),  # Charles J. "Chuck" Fleischmann
        ("Rep. Thomas Massie, R-KY", "M001184"),
        ("Massie (R-KY)", "M001184"),
        ("Johnson (R-LA)", "J000299"),  # 'Johnson' alone is ambiguous in the House
        ("Garcia, D-TX", "G000587"),
    ):
        assert names.resolve_member(typed, directory, "--sponsor", house) == bioguide, typed
    with pytest.raises(DataError, match="'Johnson' is ambiguous"):
        names.resolve_member("Johnson", directory, "--sponsor", house)
    with pytest.raises(DataError, match="unknown member --sponsor 'Massie \\(D-KY\\)'"):
        names.resolve_member("Massie (D-KY)", directory, "--sponsor", house)


def _reason_parts(column: pd.Series) -> pd.Series:
    return column[column != ""].str.split("; ").explode()


def test_reasons_speak_plainly_and_point_the_right_way(forecasts):
    features = set(model_settings(load_params())["features"]) | set(pd.read_parquet(FEATURES_DIR / "forecast.parquet"))
    raw = {f for f in features if "_" in f}
    families = {name for _, name in reasons.FAMILIES} | {reasons.OTHER}
    for column in ("reasons_for", "reasons_against"):
        parts = _reason_parts(forecasts[column])
        assert not [p for p in parts if any(f in p for f in raw)]
        heads = parts.str.replace(r" \(.*", "", regex=True)
        allowed = heads.isin(families) | heads.str.startswith("agreement with ") | heads.str.contains("of this bill")
        assert allowed.all(), sorted(set(heads[~allowed]))
    # a share of alliance-side votes is only given where it points the way of the push
    stance = forecasts["bill_id"].map(pd.read_parquet(FEATURES_DIR / "registry.parquet").set_index("bill_id")["stance"])
    for column, sign in (("reasons_for", 1), ("reasons_against", -1)):
        shares = forecasts[column].str.extractall(r"alliance side on (\d+)%")[0].astype(int)
        rows = shares.index.get_level_values(0)
        lean = (shares.to_numpy() - 50) * stance.loc[rows].to_numpy() * sign
        assert (lean >= 0).all()
    house = forecasts[forecasts["chamber"] == "house"]
    senate = forecasts[forecasts["chamber"] == "senate"]
    text = lambda frame: " ".join(frame["reasons_for"]) + " ".join(frame["reasons_against"])  # noqa: E731
    assert not any(n in text(house) for n in ("Wicker", "Lee", "Bennet", "Ernst"))
    assert not any(n in text(senate) for n in ("Massie", "Luna"))
    assert not house["agreement_with_named_sponsors"].str.contains("Wicker|Lee|Bennet|Ernst").any()
    assert not senate["agreement_with_named_sponsors"].str.contains("Massie|Luna").any()


def test_unknown_and_new_features_fall_into_plain_families():
    chambers = {"massie": "house", "lee": "senate"}
    assert reasons.family("context_logit", "house", chambers) == "party's recent stance on such votes"
    assert reasons.family("party_domain_recent", "house", chambers) == "party's recent stance on such votes"
    assert reasons.family("party_similar_share", "senate", chambers) == "party's recent stance on such votes"
    assert reasons.family("sponsor_distance", "house", chambers) == "agreement with the sponsor"
    assert reasons.family("cosponsors_same_party_share", "house", chambers) == "who else cosponsors"
    assert reasons.family("is_cosponsor", "house", chambers) == "sponsorship"
    assert reasons.family("prior_stage_party_share", "senate", chambers) == "earlier votes on this bill"
    assert reasons.family("agree_massie", "house", chambers) == "agreement with Massie"
    assert reasons.family("agree_massie", "senate", chambers) == "ideology"  # no named agreement across chambers
    assert reasons.family("some_new_feature_2027", "house", chambers) == reasons.OTHER
    assert reasons.family("agree_new_sponsor", "house", {"new_sponsor": "house"}) == "agreement with New Sponsor"
    # every input of either model has a plain family: none reads "other parts of the voting record"
    inputs = set(CONTEXT_FEATURES) | set(model_settings(load_params())["features"])
    assert [f for f in sorted(inputs) if reasons.family(f, "house", chambers) == reasons.OTHER] == []
    earlier = pd.Series({"prior_stage_yea": 0.0, "prior_stage_party_share": 0.8})
    assert (
        reasons.phrase("earlier votes on this bill", earlier, 1, -0.3)
        == "earlier votes on this bill (voted Nay on it before)"
    )
    assert reasons.phrase("earlier votes on this bill", earlier, 1, 0.3) == "earlier votes on this bill"
    party_only = pd.Series({"prior_stage_yea": np.nan, "prior_stage_party_share": 0.8})
    assert reasons.phrase("earlier votes on this bill", party_only, -1, 0.3) == (
        "earlier votes on this bill (party 80% Yea on it before)"
    )
    row = pd.Series({"is_sponsor": 0, "is_cosponsor": 1, "backs_this_bill": 1, "alliance_share": 0.9})
    assert reasons.phrase("sponsorship", row, -1, 0.4) == "cosponsor of this bill"
    # 90% on the alliance side does not push toward a withdrawal bill: the share is left out, not contradicted
    assert reasons.phrase("record on NATO votes", row, -1, 0.4) == "record on NATO votes"
    assert (
        reasons.phrase("record on NATO votes", row, -1, -0.4)
        == "record on NATO votes (alliance side on 90% of NATO votes)"
    )
    # votes like this one: the member's own share on the most similar earlier roll calls, else the catalogued one
    assert reasons.family("member_similar_share", "house", chambers) == "record on votes like this one"
    similar = pd.Series({"member_similar_share": 0.2, "catalog_share": 0.9})
    assert (
        reasons.phrase("record on votes like this one", similar, 1, -0.4)
        == "record on votes like this one (alliance side on 20% of the most similar earlier votes)"
    )
    no_similar = pd.Series({"member_similar_share": np.nan, "catalog_share": 0.9})
    assert (
        reasons.phrase("record on votes like this one", no_similar, 1, 0.4)
        == "record on votes like this one (alliance side on 90% of such votes)"
    )


def test_past_bills_have_a_track_record():
    record = {t["bill_id"]: t for t in json.loads((REPORTS_DIR / "track_record.json").read_text())}
    nato_support = record["116hr676"]
    assert (nato_support["yea"], nato_support["nay"], nato_support["result"]) == (357, 22, "Passed")
    forecast = nato_support["forecast"]
    assert forecast["model_fitted_before"] == "2019-01-01" and forecast["actual_yea_of_voters"] == 357
    assert forecast["interval_90"][0] <= forecast["expected_yea"] <= forecast["interval_90"][1]
    assert record["115hres397"]["forecast"] is None  # 2017: before the backtest's first year


def test_metrics_files_hold_no_timings_and_rounded_figures():
    for name in ("headline.json", "metrics.json", "whip.json", "backtest_by_cut.json"):
        text = (METRICS_DIR / name).read_text()
        assert '"seconds"' not in text
        assert not re.search(r"\d\.\d{5,}", text), name
    headline = json.loads((METRICS_DIR / "headline.json").read_text())
    assert set(headline["log_loss"]) >= {"xgboost", "party_line"} and set(headline["xgboost"]) == {
        "within_party_auc_R",
        "ece",
    }


def test_thresholds():
    assert whip.thresholds("senate", 100) == {"simple_majority": 51, "two_thirds": 67, "cloture_60": 60}
    assert whip.thresholds("house", 435) == {"simple_majority": 218, "two_thirds": 290}


def test_committed_members_back_the_bill_in_every_simulation():
    p = np.full(10, 0.1)
    committed = np.array([True] * 3 + [False] * 7)
    count = whip.whip_count(p, "house", 1.5, committed, draws=4000)
    assert count["committed"] == 3 and count["expected_supporters"] == pytest.approx(3.7)
    assert count["expected_by_model"] == pytest.approx(1.0) and count["seats"] == 435 and count["vacancies"] == 425
    assert sum(count["distribution"][:3]) == 0 and count["interval_90"][0] >= 3
    assert count["thresholds"]["simple_majority"] == 6  # a majority of the 10 sitting


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


def test_cli_forecasts_a_registry_bill_as_of_an_earlier_date(tmp_path, capsys):
    assert cli.main(["forecast", "119s2914", "--as-of", "2025-10-01", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    output = captured.out
    assert output.startswith("S. 2914, Eastern Flank Strategic Partnership Act of 2025 (Sen. Roger F. Wicker, R-MS)")
    assert "forecast as of 2025-10-01" in output and "MLflow version " in output and "fingerprint " in output
    assert "119s2914 (senate)" in output and "P(cloture 60: 60 votes)" in output
    assert "Likely supporters" in output and "Likely opponents" in output and "Swing members" in output
    assert "every member's record as of 2025-10-01" in captured.err  # progress on stderr
    written = pd.read_parquet(tmp_path / "forecasts.parquet")
    assert len(written) == 100 and (tmp_path / "bills" / "119s2914.html").exists()
    # Shaheen cosponsored on 2025-09-22 (before the date): she is marked and counted as committed
    shaheen = written.set_index("bioguide_id").loc["S001181"]
    assert shaheen["backs_this_bill"] == 1 and shaheen["is_cosponsor"] == 1
    assert "Jeanne Shaheen (D-NH) [cosponsor]" in output


def test_cli_says_how_many_members_each_listing_holds(tmp_path, capsys, counts):
    """Ten supporters and ten opponents are printed: the reader is told how many there are in all (they add up
    to the voting members), and that the House's delegates are not counted."""
    assert cli.main(["forecast", "119hr6508", "--out", str(tmp_path)]) == 0
    output = capsys.readouterr().out
    supporters = int(
        re.search(r"Likely supporters \(50% or more\), most likely first \(the first 10 of (\d+)\)", output)[1]
    )
    opponents = int(
        re.search(r"Likely opponents \(under 50%\), least likely first \(the first 10 of (\d+)\)", output)[1]
    )
    count = counts["119hr6508"]
    # 433 voting members sat on 2025-12-31 (TX-18 and NJ-11 vacant: the House's last roll call of 2025 lists 433)
    assert supporters == count["likely_supporters"] and supporters + opponents == count["members"] == 433
    assert f"  {count['delegates']} non-voting delegates not counted" in output and count["delegates"] == 6


def _describe(bill_id: str, chamber: str, stance: str, sponsor: str, *extra: str, introduced="2026-01-01") -> list[str]:
    return ["describe", "--bill-id", bill_id, "--chamber", chamber, "--introduced", introduced,
            "--stance", stance, "--sponsor", sponsor, *extra]  # fmt: skip


def test_cli_describes_a_bill_with_members_by_name(tmp_path, capsys):
    code = cli.main(_describe("119hr9999", "house", "-1", "Massie", "--cosponsors", "Luna", "--title",
                              "To withdraw the United States from NATO", "--out", str(tmp_path),
                              introduced="2025-12-20"))  # fmt: skip
    assert code == 0
    written = pd.read_parquet(tmp_path / "forecasts.parquet").set_index("bioguide_id")
    assert written.loc["M001184", "is_sponsor"] == 1 and written.loc["L000596", "is_cosponsor"] == 1
    assert written.loc["M001184", "probability"] > written["probability"].median()
    output = capsys.readouterr().out
    assert "119hr9999 (house)" in output and "Rep. Thomas Massie, R-KY" in output


def test_cli_takes_cosponsors_as_the_tool_prints_them(tmp_path, capsys):
    """--cosponsors split at commas, but the comma of a printed label ('Rep. Anna Paulina Luna, R-FL') or of a
    suffix ('..., Jr.') does not start another member."""
    cosponsors = "Rep. Anna Paulina Luna, R-FL, Greene (R-GA), Rep. Andy Biggs, R-AZ"
    assert cli.main(_describe("119hr9999", "house", "-1", "Massie", "--cosponsors", cosponsors, "--out", str(tmp_path),
                              introduced="2025-12-20")) == 0  # fmt: skip
    written = pd.read_parquet(tmp_path / "forecasts.parquet")
    assert sorted(written.loc[written["is_cosponsor"] == 1, "bioguide_id"]) == ["B001302", "G000596", "L000596"]
    assert names.split_members("Henry C. Johnson, Jr., Luna,, ") == ["Henry C. Johnson, Jr.", "Luna"]


def test_cli_lists_a_delegate_who_sponsors_among_the_committed(tmp_path, capsys):
    """A delegate may sponsor a House bill but not vote on it: listed with the committed, marked as not counted,
    and left out of the count (one committed: Bacon)."""
    code = cli.main(_describe("119hr9998", "house", "1", "Norton", "--cosponsors", "Plaskett,Bacon", "--out",
                              str(tmp_path), introduced="2025-12-20"))  # fmt: skip
    assert code == 0
    output = capsys.readouterr().out
    committed = output[output.index("Committed:") : output.index("Likely supporters")].splitlines()
    assert len(committed) == 4 and "Committed: sponsor and cosponsors on record (model's P beside) (3):" in committed
    assert any(
        "Eleanor Holmes Norton (D-DC) [sponsor]" in line and "non-voting delegate: not counted" in line
        for line in committed
    )
    assert "1 sponsor or cosponsor on record is counted as committed" in output


def test_a_treaty_is_judged_by_two_thirds_not_a_majority(tmp_path, capsys):
    """A treaty is ratified by two-thirds of the senators voting: its verdict and the votes it needs follow that
    threshold, not a majority's (this one would be 'very likely to pass' by its chance of a majority)."""
    code = cli.main(_describe("119s9996", "senate", "1", "Shaheen", "--kind", "treaty", "--title",
                              "Protocol to the North Atlantic Treaty of 1949 on the Accession of Ukraine",
                              "--out", str(tmp_path), introduced="2025-12-20"))  # fmt: skip
    assert code == 0
    count = json.loads((tmp_path / "whip_counts.json").read_text())[0]
    assert count["procedure"] == "treaty" and count["p_pass"]["simple_majority"] >= 0.95 > count["p_pass"]["two_thirds"]
    output = capsys.readouterr().out
    assert "two-thirds of those voting (treaty) needs 67" in output and "majority of those voting needs" not in output
    assert (
        "Very likely to pass" not in output and "| very likely to pass |" not in (tmp_path / "summary.md").read_text()
    )


def test_cli_looks_a_name_up_among_the_bills_chamber_first(tmp_path, capsys):
    """'Johnson' names five members of the 119th Congress but one senator: on a Senate bill it is Ron Johnson;
    'Lee' on it is Mike Lee, though three representatives are named Lee too."""
    code = cli.main(_describe("119s9999", "senate", "1", "Johnson", "--cosponsors", "Lee", "--out", str(tmp_path),
                              introduced="2025-12-20"))  # fmt: skip
    assert code == 0
    written = pd.read_parquet(tmp_path / "forecasts.parquet").set_index("bioguide_id")
    assert written.loc["J000293", "is_sponsor"] == 1 and written.loc["L000577", "is_cosponsor"] == 1
    assert "S. 9999 (Sen. Ron Johnson, R-WI)" in capsys.readouterr().out


def test_cli_refuses_to_write_into_the_pipelines_outputs(capsys):
    for out in (REPORTS_DIR, REPORTS_DIR / "bills", METRICS_DIR, REPORTS_DIR.parent):
        assert cli.main(["forecast", "119hr6508", "--out", str(out)]) == 2
        assert "inside the pipeline's outputs" in capsys.readouterr().err


def test_cli_ends_quietly_when_the_reader_closes_the_pipe(tmp_path):
    """`natocast forecast 119hr6508 | head -5`: the reader is gone before the forecast is printed. The command
    stops with the status a closed pipe gives (141), no traceback, and the report it wrote is whole."""
    command = [sys.executable, "-m", "forecasts.cli", "forecast", "119hr6508", "--out", str(tmp_path / "report")]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader closes the pipe before a line is printed
    error = process.stderr.read().decode()
    assert process.wait() == cli.EXIT_BROKEN_PIPE, error
    assert "Traceback" not in error and "BrokenPipeError" not in error and "Exception ignored" not in error
    assert (tmp_path / "report" / "bills" / "119hr6508.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no staging folder left behind


def test_cli_prints_to_a_terminal_that_knows_only_ascii(tmp_path):
    """A dash or an accent it cannot encode shows as '?' (the forecast is printed whole), not an error halfway."""
    command = [sys.executable, "-m", "forecasts.cli", "forecast", "119hr6508", "--out", str(tmp_path)]
    ascii_only = os.environ | {"PYTHONIOENCODING": "ascii"}
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, env=ascii_only)
    assert done.returncode == 0, done.stderr.decode()
    output = done.stdout.decode("ascii")
    assert re.search(r"90% interval \d+\?\d+\n", output)  # the en dash of "19–258", whatever the figures
    assert output.rstrip().endswith("bills/119hr6508.html")


def test_cli_leaves_no_half_written_report(tmp_path, monkeypatch, capsys):
    """Stopped while the pages are written (Ctrl-C, SIGTERM): no report folder at all, not one with the forecasts'
    files and no page; a second run into an existing folder keeps what else the user keeps there."""

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # `timeout` or a job scheduler stopping the command

    for stop, code, said in ((interrupted, 130, "interrupted"), (terminated, 143, "terminated by SIGTERM")):
        with monkeypatch.context() as patch:
            patch.setattr(cli.report, "write_report", stop)
            assert cli.main(["forecast", "119hr6508", "--out", str(tmp_path / "report")]) == code
        assert f"natocast: {said}; a report is written whole or not at all" in capsys.readouterr().err
        assert list(tmp_path.iterdir()) == []
    (tmp_path / "mine.txt").write_text("the user's")
    assert cli.main(["forecast", "119hr6508", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "mine.txt").read_text() == "the user's" and (tmp_path / "bills" / "119hr6508.html").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_names_a_missing_pipeline_output_in_one_line(tmp_path, monkeypatch, capsys):
    """Run before `dvc repro` made what the forecast reads (here metrics/whip.json): one line saying what is
    missing and what to do, not a traceback; the traceback when NATOCAST_DEBUG=1."""
    monkeypatch.setattr(api, "METRICS_DIR", tmp_path / "metrics")
    assert cli.main(["forecast", "119hr6508", "--out", str(tmp_path / "report")]) == 1
    error = capsys.readouterr().err
    assert f"natocast: error: {tmp_path / 'metrics' / 'whip.json'} is missing: run `dvc repro` first" in error
    assert "Traceback" not in error and not (tmp_path / "report").exists()
    monkeypatch.setenv("NATOCAST_DEBUG", "1")
    assert cli.main(["forecast", "119hr6508", "--out", str(tmp_path / "report")]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_cli_names_an_out_folder_it_cannot_write(tmp_path, capsys):
    """A file where the folder should be, or a place nothing can be written: one line, status 2, before the
    forecast is made."""
    (tmp_path / "a-file").write_text("")
    for out, message in (
        (tmp_path / "a-file", "a-file is a file, not a folder"),
        (tmp_path / "a-file" / "report", "a-file is a file, not a folder"),
        (Path("/proc/natocast-report"), "cannot write the report there"),
    ):
        assert cli.main(["forecast", "119hr6508", "--out", str(out)]) == 2
        error = capsys.readouterr().err
        assert f"natocast: error: --out {out}" in error and message in error and "Traceback" not in error


def test_a_described_title_is_text_in_every_report_not_markup(tmp_path, capsys):
    """Whatever the user types as a title shows as typed: escaped in the pages, one cell in the summary's table
    (its | and line break do not split the row, its <script> and [link](javascript:) are not markup)."""
    title = 'A <script>alert(1)</script> & "NATO" | [x](javascript:alert(1))\n*bold* Ünïcode 北约'
    argv = _describe("119hr9999", "house", "-1", "Massie", "--title", title, "--out", str(tmp_path))
    assert cli.main(argv) == 0
    for page in (tmp_path / "bills" / "119hr9999.html", tmp_path / "index.html"):
        text = page.read_text()
        assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in text, page.name
    row = next(line for line in (tmp_path / "summary.md").read_text().splitlines() if "H.R. 9999" in line)
    assert len(re.findall(r"(?<!\\)\|", row)) == 9  # eight cells: the title's | is escaped
    assert "&lt;script&gt;" in row and "\\[x\\](javascript:alert(1))" in row and "<script>" not in row


def test_cli_report_of_a_past_bill_shows_its_forecast(tmp_path, capsys):
    """H.R. 676 of the 116th Congress forecast against today's House: the summary's table holds it, and the
    pages make no track record (the command line computes none) rather than call a bill that passed 357-22
    one "without a recorded vote"."""
    assert cli.main(["forecast", "116hr676", "--out", str(tmp_path)]) == 0
    summary = (tmp_path / "summary.md").read_text()
    assert "| H.R. 676, NATO Support Act (Rep. Jimmy Panetta, D-CA) | house | +1 |" in summary
    assert "Track record" not in summary
    index = (tmp_path / "index.html").read_text()
    assert 'href="bills/116hr676.html">H.R. 676' in index and "Forecast as of 2025-12-31" in index
    assert "without a recorded vote" not in index and "Track record" not in index
    assert "for the current Congress" not in index


def test_cli_offers_only_the_two_stances(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(_describe("119hr9999", "house", "0", "M001184"))
    assert exit_.value.code == 2 and "invalid choice: 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["forecast", "119hr1"], "unknown bill '119hr1'"),
        (["forecast", "119hr6580"], "did you mean 119hr6508"),
        (
            ["forecast", "119hr6508", "--as-of", "2025-12-01"],
            "119hr6508 (H.R. 6508) was not introduced yet as of 2025-12-01",
        ),
        (["forecast", "119hr6508", "--as-of", "2030-01-01"], "outside the data"),
        (  # the first roll call's day: no vote before it
            ["forecast", "119hr6508", "--as-of", "2007-01-04"],
            "--as-of 2007-01-04 is outside the data: give a date after 2007-01-04 (the first roll call) and up to",
        ),
        (["forecast", "119hr6508", "--as-of", "not-a-date"], "is not a date"),
        (["forecast", "119hr6508", "--as-of", ""], "--as-of: '' is not a date"),  # an unset shell variable
        (["forecast", "119hr6508", "--as-of", "2025-12-31T12:00"], "has a time of day; give a date"),
        (["forecast", "119hr6508", "--as-of", "now"], "has a time of day"),
        (["forecast", "119hr6508", "--out", ""], "--out is empty"),
        (["forecast", ""], "the bill id is empty"),
        (["forecast", "hr6508"], "unknown bill 'hr6508' as of 2025-12-31; did you mean 119hr6508?"),
        (_describe("119hr9999", "house", "1", ""), "--sponsor is empty"),
        (["forecast", "119s2151"], "takes no side"),
        (_describe("119hr6508", "house", "-1", "M001184"), "already a registry bill"),
        (_describe("119hr9999", "house", "1", "Z999999"), "unknown member id 'Z999999'"),
        (_describe("119hr9999", "house", "1", "Lee"), "is ambiguous"),
        (_describe("119hr9999", "house", "1", "Masie"), "did you mean"),
        (_describe("119sres9999", "house", "1", "M001184"), "does not fit bill type sres"),
        (_describe("119hr9999", "house", "1", "Bennet"), "B001267 did not sit in the House in the 119th Congress"),
        (_describe("119samdt9999", "senate", "1", "Massie"), "M001184 did not sit in the Senate in the 119th"),
        (
            _describe("119s9999", "senate", "1", "Scott"),  # two senators: the three representatives are not listed
            "'Scott' is ambiguous: S001184 (Sen. Tim Scott, R-SC), S001217 (Sen. Rick Scott, R-FL); give",
        ),
        (_describe("119hr9999", "house", "1", "M001184", introduced="2015-12-01"), "in the 114th Congress, not"),
        (  # no representative is named Warren (Warren Davidson's first name is no match): the senator, refused
            _describe("119hr9999", "house", "1", "Warren"),
            "W000817 did not sit in the House in the 119th Congress (sat in the Senate then)",
        ),
        (  # four Johnsons sat in the 110th House: no tie-break by who still sits today
            _describe("110hr9999", "house", "1", "Johnson", introduced="2008-03-01"),
            "'Johnson' is ambiguous: J000285 (Rep. Timothy V. Johnson, R-IL), J000174 (Rep. Sam Johnson, R-TX), "
            "J000126 (Rep. Eddie Bernice Johnson, D-TX), J000288",
        ),
        (
            _describe("119hr9999", "house", "1", "M001184", "--procedure", "cloture"),
            "119hr9999: no House roll call the model learned from is a cloture vote (only Senate ones are)",
        ),
        (
            _describe("119s9999", "senate", "1", "L000577", "--procedure", "suspension"),
            "no Senate roll call the model learned from is a suspension vote",
        ),
        (_describe("119hr9999", "house", "1", "M001184", "--kind", "treaty"), "a treaty is voted in the Senate only"),
    ],
)
def test_cli_errors(argv, message, capsys):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_the_general_model_knows_which_chamber_votes_how():
    """The procedures of the roll calls the general model learned from, by chamber, as the real rows have them:
    cloture, motions to proceed and waivers only in the Senate; rules, previous questions and suspensions only in
    the House. A procedure met only in the other chamber is refused; one met in neither (a treaty) is left to the
    NATO model, which has treaty votes."""
    from models.context_model import load as load_context

    seen = load_context(MODELS_DIR / "context_booster.json").procedures_by_chamber()
    assert {"cloture", "motion_to_proceed", "waive"} <= seen["senate"] - seen["house"]
    assert {"rule", "previous_question", "suspension"} <= seen["house"] - seen["senate"]
    assert {"passage", "amendment", "veto_override", "concur"} <= seen["house"] & seen["senate"]
    bill = pd.Series({"chamber": "senate", "procedure": "treaty"})
    predict.check_procedure("119s9999", bill, seen)  # in neither: not refused
    predict.check_procedure("119s9999", bill.replace("treaty", "cloture"), seen)
    with pytest.raises(DataError, match="no Senate roll call the model learned from is a rule vote"):
        predict.check_procedure("119s9999", bill.replace("treaty", "rule"), seen)


# --- the earlier roll calls a forecast reads as most like its bill -------------------------------------------------


def _recomputed_similar_share(precedents_: list[dict], party: str) -> float:
    """The party's similar share as ``features.precedent.add_party_similar_share`` computes it, from the listed
    precedents alone: their party shares weighted by their similarities (a roll call the party cast no Yea/Nay
    vote on does not count)."""
    voted = [p for p in precedents_ if party in p["alliance_share"]]
    weights = sum(p["similarity"] for p in voted)
    return sum(p["similarity"] * p["alliance_share"][party] for p in voted) / weights if weights else float("nan")


def test_a_registry_bills_precedents_are_those_behind_its_similar_shares(counts):
    """H.R. 6508's listed precedents are earlier catalogued House roll calls (before the forecast date), most
    similar first, none below min_similarity, and they are the very ones its features read: every party's
    party_similar_share and Massie's and Pelosi's member_similar_share recompute from them."""
    params = load_params()["features"]["precedent"]
    count = counts["119hr6508"]
    found, search = count["precedents"], count["precedent_search"]
    features = pd.read_parquet(FEATURES_DIR / "forecast.parquet")
    features = features[features["measure_id"] == "119hr6508"].set_index("bioguide_id")
    forecast_date = features["date"].iloc[0]
    assert search["before"] == f"{forecast_date:%Y-%m-%d}" and search["chamber"] == "house"
    assert search["k"] == params["similar_k"] and "NATO Act" in search["text"]
    assert 0 < len(found) <= params["similar_k"]
    catalog = pd.read_parquet(FEATURES_DIR / "catalog.parquet").set_index("rollcall_id")
    listed = catalog.loc[[p["rollcall_id"] for p in found]]
    assert (listed["chamber"] == "house").all() and (listed["date"] < forecast_date).all()
    assert [p["date"] for p in found] == [f"{d:%Y-%m-%d}" for d in listed["date"]]
    assert [p["orientation"] for p in found] == listed["orientation"].tolist() and 0 not in listed["orientation"]
    assert [p["description"] for p in found] == listed["description"].tolist()
    similarity = [p["similarity"] for p in found]
    assert similarity == sorted(similarity, reverse=True) and min(similarity) >= params["min_similarity"]
    for party, rows in features.groupby("party"):
        expected = rows["party_similar_share"].iloc[0]
        assert rows["party_similar_share"].nunique() == 1
        assert _recomputed_similar_share(found, party) == pytest.approx(expected, abs=1e-12, nan_ok=True), party
    assert {"R", "D"} <= set(features["party"]) and features["party_similar_share"].notna().all()
    votes = read_table("votes", rollcalls=listed.index)
    for member in ("M001184", "P000197"):  # Massie, Pelosi: their own votes on the listed roll calls
        cast = votes[(votes["bioguide_id"] == member) & votes["position"].isin(["yea", "nay"])]
        own = [
            p | {"alliance_share": {"me": float((position == "yea") == (p["orientation"] == 1))}}
            for p in found
            for position in cast.loc[cast["rollcall_id"] == p["rollcall_id"], "position"]
        ]
        assert _recomputed_similar_share(own, "me") == pytest.approx(features.loc[member, "member_similar_share"])


def test_the_command_line_prints_the_precedents_the_pipeline_lists(tmp_path, capsys, counts):
    """The fast path finds H.R. 6508's precedents as the pipeline did (same roll calls, same similarities) and
    prints one line each; its report and the pipeline's page and summary show them in a table."""
    assert cli.main(["forecast", "119hr6508", "--out", str(tmp_path)]) == 0
    output = capsys.readouterr().out
    pipeline = counts["119hr6508"]["precedents"]
    written = json.loads((tmp_path / "whip_counts.json").read_text())[0]["precedents"]
    assert [(p["rollcall_id"], p["similarity"]) for p in written] == [
        (p["rollcall_id"], pytest.approx(p["similarity"])) for p in pipeline
    ]
    heading = f"Earlier votes this forecast reads as most like it ({len(pipeline)}), picked by the words “NATO Act |"
    lines = output[output.index(heading) :].splitlines()[1 : len(pipeline) + 1]
    for line, precedent in zip(lines, pipeline, strict=True):
        assert line.startswith(f"  {precedent['date']}  {precedent['rollcall_id']}  similarity ")
        assert f"Yea was {precedent['yea_is']}" in line and "Republicans " in line and "Democrats " in line
    for page in (tmp_path / "bills" / "119hr6508.html", REPORTS_DIR / "bills" / "119hr6508.html"):
        text = page.read_text()
        assert "Earlier votes this forecast reads as most like it" in text and "words of the bill&#39;s title" in text
        assert all(f"<td>{p['rollcall_id']}</td>" in text for p in pipeline)
    summary = (REPORTS_DIR / "summary.md").read_text()
    rows = [line for line in summary.splitlines() if line.startswith("| H.R. 6508, NATO Act")]
    assert [row.split(" | ")[2] for row in rows[1:]] == [p["rollcall_id"] for p in pipeline]


def test_a_title_sharing_no_word_with_the_catalog_reads_no_earlier_vote(tmp_path, capsys):
    """A described bill whose title shares no word with any catalogued roll call has no precedent: the list is
    empty and the report and the command line say none matched (its similar shares are missing)."""
    from features.precedent import catalog_terms, text_terms

    title = "Zyzzyva quokka axolotl"
    vocabulary = catalog_terms(pd.read_parquet(FEATURES_DIR / "catalog.parquet")).vocabulary
    assert not set(text_terms(title)) & set(vocabulary)  # the premise, checked on the real catalog
    argv = _describe("119hr9999", "house", "-1", "Massie", "--title", title, "--out", str(tmp_path))
    assert cli.main(argv) == 0
    count = json.loads((tmp_path / "whip_counts.json").read_text())[0]
    assert count["precedents"] == [] and count["precedent_search"]["text"].startswith(title)
    assert "Earlier votes this forecast reads as most like it: none. No earlier catalogued House roll call" in (
        capsys.readouterr().out
    )
    page = (tmp_path / "bills" / "119hr9999.html").read_text()
    assert '<p id="no-precedents">No earlier catalogued House roll call before 2026-01-01' in page
    assert 'id="precedents"' not in page
    assert "| none matched: No earlier catalogued House roll call" in (tmp_path / "summary.md").read_text()


def test_a_precedents_description_is_text_in_the_reports_not_markup(tmp_path, counts, forecasts):
    """A catalog description comes from the Clerk's and the Senate's files: escaped in the page, one cell in the
    summary, as a described bill's title is."""
    count = json.loads(json.dumps(counts["119hr6508"]))
    count["precedents"][0]["description"] = 'On <script>alert(1)</script> & "NATO"|[x](javascript:alert(1)) | On'
    meta = report.report_meta()
    report.write_report(forecasts[forecasts["bill_id"] == "119hr6508"], [count], meta, tmp_path)
    page = (tmp_path / "bills" / "119hr6508.html").read_text()
    assert "<script>alert" not in page and "On &lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;NATO&#34;" in page
    row = next(line for line in (tmp_path / "summary.md").read_text().splitlines() if "&lt;script&gt;" in line)
    assert len(re.findall(r"(?<!\\)\|", row)) == 9 and "\\[x\\](javascript:alert(1))" in row and "<script>" not in row


def test_the_pages_give_the_backtest_log_loss_with_its_interval_over_roll_calls():
    """A reader of the pages sees how far the backtest's log loss would move on another draw of roll calls, read
    from the evaluate stage's bootstrap, not only the point figure."""
    pooled = json.loads((METRICS_DIR / "metrics.json").read_text())["xgboost"]["pooled"]
    low, high = json.loads((METRICS_DIR / "intervals.json").read_text())["intervals"]["xgboost"]["pooled"]["log_loss"]
    assert low < pooled["log_loss"] < high
    expected = f"log loss {pooled['log_loss']:.3f} (90% interval {low:.3f}–{high:.3f} over other draws of its"
    assert expected in (REPORTS_DIR / "index.html").read_text()
    assert expected in report.report_meta()["backtest"]
