"""Every kind of bad input gets an error naming the file and the fault, and no partial output."""

from __future__ import annotations

import gzip
import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from pipeline import billstatus, engine, legislators, usvotes, voteview
from pipeline.config import DataConfig
from pipeline.errors import DataError
from pipeline.ids import split_bill_id
from pipeline.ingest import build_tables
from pipeline.tables import write_parquet


@pytest.fixture
def snapshot_copy(tmp_path, config):
    """A copy of the snapshot's 116th-congress files to damage (the real one is read-only)."""
    root = tmp_path / "snapshot"
    for folder in ("voteview", "unitedstates-votes", "congress-legislators", "billstatus"):
        (root / folder).mkdir(parents=True)
    for name in (
        "H116_members.csv",
        "S116_members.csv",
        "H116_rollcalls.csv",
        "S116_rollcalls.csv",
        "S116_votes.csv.gz",
    ):
        shutil.copy(config.snapshot_dir / "voteview" / name, root / "voteview" / name)
    shutil.copy(config.snapshot_dir / "unitedstates-votes" / "votes-116.jsonl.gz", root / "unitedstates-votes")
    for path in (config.snapshot_dir / "congress-legislators").iterdir():
        shutil.copy(path, root / "congress-legislators" / path.name)
    for path in (config.snapshot_dir / "billstatus").glob("BILLSTATUS-116*.xml"):
        shutil.copy(path, root / "billstatus" / path.name)
    bills = ("116hjres41", "116hr676")
    return replace(config, snapshot_dir=root, first_congress=116, last_congress=116, bills=bills)


def test_the_copy_itself_builds(snapshot_copy):
    tables, report = build_tables(snapshot_copy, workers=1)
    assert len(tables["rollcalls"]) == 1674 and report["unitedstates_tally_mismatches"] == 0


def test_truncated_gzip_names_the_file(snapshot_copy):
    path = snapshot_copy.snapshot_dir / "unitedstates-votes" / "votes-116.jsonl.gz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"votes-116\.jsonl\.gz: corrupt or truncated gzip"):
        usvotes.read_congress(snapshot_copy, 116)


def test_malformed_json_line_names_file_and_line(snapshot_copy):
    path = snapshot_copy.snapshot_dir / "unitedstates-votes" / "votes-116.jsonl.gz"
    lines = gzip.decompress(path.read_bytes()).splitlines()
    lines[4] = lines[4][:-20]
    path.write_bytes(gzip.compress(b"\n".join(lines)))
    with pytest.raises(DataError, match=r"votes-116\.jsonl\.gz: line 5 is not valid JSON"):
        usvotes.read_congress(snapshot_copy, 116)


def test_record_missing_a_field_names_it(snapshot_copy):
    path = snapshot_copy.snapshot_dir / "unitedstates-votes" / "votes-116.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"vote_id": "h1-116.2019", "chamber": "h"}\n'))
    with pytest.raises(DataError, match=r"votes-116\.jsonl\.gz:1: roll-call record lacks field\(s\) congress"):
        usvotes.read_congress(snapshot_copy, 116)


def test_malformed_xml_names_the_file(snapshot_copy):
    path = snapshot_copy.snapshot_dir / "billstatus" / "BILLSTATUS-116hr676.xml"
    path.write_text(path.read_text()[:5000])
    with pytest.raises(DataError, match=r"BILLSTATUS-116hr676\.xml: malformed XML"):
        billstatus.read_bills(snapshot_copy)


def test_xml_that_is_not_billstatus(snapshot_copy):
    path = snapshot_copy.snapshot_dir / "billstatus" / "BILLSTATUS-116hr676.xml"
    path.write_text("<billStatus><other/></billStatus>")
    with pytest.raises(DataError, match=r"BILLSTATUS-116hr676\.xml: no <bill> element"):
        billstatus.read_bills(snapshot_copy)


def test_csv_missing_a_column_names_file_and_column(snapshot_copy):
    path = snapshot_copy.snapshot_dir / "voteview" / "H116_members.csv"
    frame = pd.read_csv(path).drop(columns=["bioguide_id"])
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"H116_members\.csv: missing column\(s\) bioguide_id"):
        voteview.read(snapshot_copy, "members", "house", 116)


def test_crosswalk_missing_a_column(snapshot_copy):
    path = snapshot_copy.snapshot_dir / "congress-legislators" / "legislators-current.csv"
    pd.read_csv(path).drop(columns=["lis_id"]).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"legislators-current\.csv: missing column\(s\) lis_id"):
        legislators.read_crosswalk(snapshot_copy)


def test_truncated_voteview_votes(snapshot_copy):
    path = snapshot_copy.snapshot_dir / "voteview" / "S116_votes.csv.gz"
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(DataError, match=r"S116_votes\.csv\.gz: cannot be read as CSV"):
        voteview.read(snapshot_copy, "votes", "senate", 116)


def test_congress_range_with_no_data(snapshot_copy):
    with pytest.raises(DataError, match=r"votes-130\.jsonl\.gz is missing"):
        build_tables(replace(snapshot_copy, first_congress=130, last_congress=130), workers=1)


@pytest.mark.unit
def test_missing_snapshot_dir_with_source_snapshot(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        DataConfig(source="snapshot", snapshot_dir=tmp_path / "nowhere").use_snapshot  # noqa: B018


@pytest.mark.unit
def test_bad_params(tmp_path):
    params = {
        "data": {
            "source": "bogus",
            "snapshot_dir": ".",
            "download_dir": ".",
            "congresses": [110, 119],
            "as_of": "2025-12-31",
            "urls": {},
        }
    }
    with pytest.raises(DataError, match="data.source: 'bogus'"):
        DataConfig.from_params(params)
    params["data"].update(source="auto", as_of="yesterday-ish")
    with pytest.raises(DataError, match="data.as_of: 'yesterday-ish' is not a date"):
        DataConfig.from_params(params)
    params["data"].update(as_of="2025-12-31", congresses=[119, 110])
    with pytest.raises(DataError, match="first 119 is after last 110"):
        DataConfig.from_params(params)


@pytest.mark.unit
@pytest.mark.parametrize(
    "text",
    ["hr6508", "119xx12", "119hr", "", "H.R. 6508", "119hr6508\u00b2", "119hr" + "9" * 300, "\uff11\uff11\uff19hr1"],
)
def test_unknown_bill_id_forms(text):
    with pytest.raises(DataError, match="is not a bill id"):
        split_bill_id(text)


@pytest.mark.unit
def test_bill_id_forms_that_parse():
    assert split_bill_id("119hr6508") == (119, "hr", 6508)
    assert split_bill_id("119 H.Res. 135") == (119, "hres", 135)
    assert split_bill_id("119s2174") == (119, "s", 2174)


@pytest.mark.unit
def test_failed_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "table.parquet"

    class Unwritable(pd.DataFrame):
        def to_parquet(self, path, **kwargs):
            with open(path, "wb") as f:
                f.write(b"partial")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_parquet(Unwritable({"a": [1]}), target)
    assert list(tmp_path.iterdir()) == []


def _damage_votes(path, edit) -> None:
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    path.write_bytes(gzip.compress(("\n".join(edit(lines)) + "\n").encode()))


def _engine_votes(config: DataConfig) -> tuple[pd.DataFrame, dict]:
    con = engine.connect(1)
    try:
        counts = voteview.load_votes(con, config)
        return engine.frame(con.sql("SELECT * FROM vv_votes")), counts
    finally:
        con.close()


def test_the_engine_takes_voteview_votes_as_read_does(snapshot_copy):
    """What pandas' reader accepts the engine's reader loads the same: NA tokens and short rows as blanks, quoted
    numbers; the whole real file of the 116th Senate too."""
    path = snapshot_copy.snapshot_dir / "voteview" / "S116_votes.csv.gz"
    expected = voteview.read(snapshot_copy, "votes", "senate", 116)
    loaded, counts = _engine_votes(snapshot_copy)
    assert counts == {str(path): len(expected)} and len(loaded) == len(expected)
    assert (
        loaded[["rollnumber", "icpsr", "cast_code"]]
        .astype(float)
        .equals(expected[["rollnumber", "icpsr", "cast_code"]].astype(float))
    )

    def odd(lines):
        fields = lines[2].split(",")
        fields[3] = "NA"  # icpsr: pandas' NA token
        lines[2] = ",".join(fields)
        lines[3] = ",".join(lines[3].split(",")[:4])  # a short row: cast_code and prob missing
        fields = lines[4].split(",")
        fields[4] = f'"{fields[4]}"'  # a quoted number
        lines[4] = ",".join(fields)
        return lines

    _damage_votes(path, odd)
    expected = voteview.read(snapshot_copy, "votes", "senate", 116)
    loaded, _ = _engine_votes(snapshot_copy)
    assert loaded["icpsr"].isna().sum() == expected["icpsr"].isna().sum() == 1
    assert loaded["cast_code"].isna().sum() == expected["cast_code"].isna().sum() == 1
    assert (
        loaded[["rollnumber", "icpsr", "cast_code"]]
        .astype(float)
        .equals(expected[["rollnumber", "icpsr", "cast_code"]].astype(float))
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda lines: [*lines[:7], lines[7] + ",9,9", *lines[8:]], r"Expected 6 fields in line 8, saw 8"),
        (lambda lines: [line.replace(",", ";") for line in lines], r"missing column\(s\) congress"),
        (lambda lines: [lines[0], lines[1].replace(",1,", ",yes,", 1), *lines[2:]], r"line 2, column \w+: 'yes'"),
        (lambda lines: [lines[0], lines[1].replace(",1,", ",1_0,", 1), *lines[2:]], r"line 2, column \w+: '1_0'"),
    ],
    ids=["extra fields", "semicolons", "a word", "a digit separator"],
)
def test_a_faulty_voteview_votes_file_is_named_as_read_names_it(snapshot_copy, edit, message):
    path = snapshot_copy.snapshot_dir / "voteview" / "S116_votes.csv.gz"
    _damage_votes(path, edit)
    with pytest.raises(DataError, match=r"S116_votes\.csv\.gz") as from_read:
        voteview.read(snapshot_copy, "votes", "senate", 116)
    with pytest.raises(DataError, match=message) as from_engine:
        _engine_votes(snapshot_copy)
    assert str(from_engine.value) == str(from_read.value)


@pytest.mark.unit
@pytest.mark.parametrize("how", [{}, {"rollcalls": ["h44-116.2019"]}, {"categories": ("rollcall_id",)}])
def test_a_truncated_or_foreign_table_is_named(tmp_path, how):
    """A table file cut short (a killed copy) or not parquet at all: a DataError naming the file, however it is
    read (whole, some roll calls' rows, ids as categories); a missing filter column is named too."""
    from pipeline.tables import read_table

    votes = pd.DataFrame({"rollcall_id": ["h44-116.2019", "h45-116.2019"], "bioguide_id": ["M001184", "L000596"]})
    write_parquet(votes, tmp_path / "votes.parquet")
    whole = (tmp_path / "votes.parquet").read_bytes()
    (tmp_path / "votes.parquet").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match=r"table .*votes\.parquet cannot be read .*rerun `dvc repro`"):
        read_table("votes", tmp_path, **how)
    (tmp_path / "votes.parquet").write_text("rollcall_id,bioguide_id\nh44-116.2019,M001184\n")
    with pytest.raises(DataError, match=r"votes\.parquet cannot be read"):
        read_table("votes", tmp_path, **how)
    write_parquet(votes[["bioguide_id"]], tmp_path / "votes.parquet")
    if "rollcalls" in how:
        with pytest.raises(DataError, match=r"votes\.parquet cannot be read .*rollcall_id"):
            read_table("votes", tmp_path, **how)


@pytest.mark.unit
def test_general_rows_stream_into_one_file_or_none(tmp_path):
    """``write_general`` writes the blocks' rows dated by the as-of date as one file that reads back as their
    concatenation; with no row left it names the file and leaves nothing behind."""
    from features.build import write_general

    def block(ids: list[str], dates: list[str]) -> pd.DataFrame:
        return pd.DataFrame({"measure_id": ids, "date": pd.to_datetime(dates), "agree": [0.5] * len(ids)})

    blocks = [
        block(["h1-117.2021"] * 2, ["2021-01-05"] * 2),
        block(["h2-117.2021", "h3-117.2022"], ["2021-02-01", "2022-03-01"]),
    ]
    path = tmp_path / "general.parquet"
    assert write_general(iter(blocks), pd.Timestamp("2021-12-31"), path) == (3, 2)
    expected = pd.concat(blocks, ignore_index=True).iloc[:3]
    pd.testing.assert_frame_equal(pd.read_parquet(path), expected)
    with pytest.raises(DataError, match="general.parquet: no general rows"):
        write_general(iter(blocks), pd.Timestamp("2020-01-01"), tmp_path / "later" / "general.parquet")
    assert not (tmp_path / "later" / "general.parquet").exists() and list((tmp_path / "later").iterdir()) == []


def test_voteview_votes_read_in_one_pass_equal_those_read_file_by_file(config):
    """Every vote file of the real snapshot (1.2 M votes in 12 files), read at once, gives the rows, the order and
    the counts per file that reading them one at a time gives."""
    con = engine.connect(2)
    try:
        counts = voteview.load_votes(con, config)
        at_once = engine.frame(con.sql("SELECT * FROM vv_votes"))
        con.execute("DELETE FROM vv_votes")
        assert voteview._insert_all_votes(con, [Path(path) for path in counts]) == counts  # one pass took them all
        con.execute("DELETE FROM vv_votes")
        one_by_one = {
            path: voteview._insert_votes(con, Path(path), lambda: pytest.fail("a sound file went to pandas"))
            for path in counts
        }
        by_file = engine.frame(con.sql("SELECT * FROM vv_votes"))
    finally:
        con.close()
    assert len(counts) == 12 and sum(counts.values()) == len(at_once) == 1_221_550
    assert counts == one_by_one
    assert at_once.equals(by_file)
    # a known vote: the 116th Senate's first roll call is in it, with its published count of cast votes
    first = at_once[(at_once["chamber"] == "Senate") & (at_once["congress"] == 116) & (at_once["rollnumber"] == 1)]
    assert (
        first["cast_code"].between(1, 6).sum()
        == voteview.read(config, "rollcalls", "senate", 116)
        .query("rollnumber == 1")[["yea_count", "nay_count"]]
        .sum(axis=1)
        .iloc[0]
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda lines: [lines[0], lines[1].replace(",1,", ",yes,", 1), *lines[2:]], r"line 2, column \w+: 'yes'"),
        # DuckDB would match a later file's columns to the first's by name in any case: pandas does not
        (lambda lines: [lines[0].title(), *lines[1:]], r"missing column\(s\) congress, chamber, rollnumber, icpsr"),
        # DuckDB would drop a row that starts like a comment, skip a line before the header, trim a name's spaces
        (lambda lines: [*lines[:3], "#" + lines[3], *lines[4:]], r"line 4, column congress: '#117' is not a number"),
        (lambda lines: ["Voteview export", *lines], r"missing column\(s\) congress, chamber, rollnumber, icpsr"),
        (lambda lines: [lines[0].replace(",icpsr,", ", icpsr,"), *lines[1:]], r"missing column\(s\) icpsr"),
    ],
    ids=["a word for a number", "capitalised column names", "a comment row", "a line before the header", "a space"],
)
def test_a_faulty_file_among_sound_ones_is_named_and_the_others_loaded_once(snapshot_copy, config, edit, message):
    """With two vote files, one sound and one faulty, the one-pass read gives way to a read file by file that
    names the faulty one; the sound set loads each file's rows once."""
    folder = snapshot_copy.snapshot_dir / "voteview"
    for name in ("S117_votes.csv.gz", "S117_members.csv", "S117_rollcalls.csv"):
        shutil.copy(config.snapshot_dir / "voteview" / name, folder / name)
    both = replace(snapshot_copy, first_congress=116, last_congress=117)
    sound, counts = _engine_votes(both)
    expected = {str(folder / f"S{c}_votes.csv.gz"): len(voteview.read(both, "votes", "senate", c)) for c in (116, 117)}
    assert counts == expected and len(sound) == sum(expected.values())
    per_congress = sound.groupby("congress").size().to_dict()
    assert per_congress == {c: expected[str(folder / f"S{c}_votes.csv.gz")] for c in (116, 117)}
    _damage_votes(folder / "S117_votes.csv.gz", edit)
    with pytest.raises(DataError, match=r"S117_votes\.csv\.gz: " + message):
        _engine_votes(both)


def test_a_gzip_whose_checksum_fails_is_named_as_read_names_it(snapshot_copy, config):
    """DuckDB inflates a gzip without checking its trailer: a vote file whose CRC is wrong would load; it goes to
    ``read``, which names it, also beside a sound file."""
    folder = snapshot_copy.snapshot_dir / "voteview"
    shutil.copy(config.snapshot_dir / "voteview" / "S117_votes.csv.gz", folder / "S117_votes.csv.gz")
    path = folder / "S117_votes.csv.gz"
    data = bytearray(path.read_bytes())
    data[-8:-4] = bytes(4)  # the CRC-32 of the trailer zeroed
    path.write_bytes(bytes(data))
    both = replace(snapshot_copy, first_congress=116, last_congress=117)
    with pytest.raises(DataError, match=r"S117_votes\.csv\.gz: .*CRC check failed"):
        _engine_votes(both)
