"""Cut a tiny, real slice of the snapshot into tests/fixtures/snapshot/ (same layout, names and formats).

Congresses 118 and 119; a handful of roll calls per chamber (numbers 30-33 of each first session, the first
Speaker ballot of 2023, the Paul amendment of 2023 and a Vice-President tie-break); every member who voted on them
(Voteview member rows, crosswalk rows, some current-legislator YAML entries); Voteview's roll-call and vote rows of
the same roll calls; two BILLSTATUS files. Records are copied byte for byte (lines of the JSONL bundles, CSV
lines, YAML entries), never re-encoded, so the fixture is a faithful excerpt; ``fixture.yaml`` holds the
parameters that fit its size.

    python scripts/make_fixtures.py [--snapshot ../shared/data] [--out tests/fixtures/snapshot]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import shutil
from pathlib import Path

import orjson
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONGRESSES = (118, 119)  # adjacent: data.congresses is a first-last range
NUMBERS = range(30, 34)  # roll calls per chamber in session 1 (past the 15 Speaker ballots of January 2023)
EXTRA_ROLLCALLS = {"h2-118.2023", "s191-118.2023"}  # first Speaker ballot of 2023; Paul amendment 16-83 (NATO)
BILLS = ("119hr6508", "119s2174")  # the NATO Act to withdraw, House and Senate
# legislators-current.yaml (every term of every current member) is 1 MB whole: keep the entries of the fixture's
# members from the states of the NATO fight's named members (Massie KY, Luna FL, Lee UT, Wicker MS, Bennet CO,
# Ernst IA); the crosswalk CSVs keep every fixture member
YAML_STATES = {"KY", "FL", "UT", "MS", "CO", "IA"}


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def pick_records(path: Path, congress: int) -> list[bytes]:
    """The bundle's lines for the chosen roll calls (plus the first Vice-President tie-break, if any)."""
    lines = [line for line in gzip.decompress(path.read_bytes()).splitlines() if line.strip()]
    chosen, vp_taken = [], False
    first_year = str(1789 + 2 * (congress - 1))
    for line in lines:
        record = orjson.loads(line)
        first = record["session"] == first_year and int(record["number"]) in NUMBERS
        is_vp = not vp_taken and any(v == "VP" for voters in record["votes"].values() for v in voters)
        if first or record["vote_id"] in EXTRA_ROLLCALLS or is_vp:
            chosen.append(line)
            vp_taken = vp_taken or is_vp
    return chosen


def csv_lines(path: Path, keep) -> bytes:
    """Header plus the lines whose parsed row satisfies ``keep``, as the original bytes."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    text = raw.decode()
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    physical = io.StringIO(text)
    out = [physical.readline()]
    # csv.reader may span physical lines (quoted newlines): track offsets through a second reader
    rows_reader = csv.reader(physical)
    start = physical.tell()
    for row in rows_reader:
        end = physical.tell()
        if keep(dict(zip(header, row, strict=False))):
            out.append(text[start:end])
        start = end
    return "".join(out).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshot", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "fixtures" / "snapshot")
    args = parser.parse_args()
    snap, out = args.snapshot.resolve(), args.out
    if out.exists():
        shutil.rmtree(out)
    for folder in ("voteview", "unitedstates-votes", "congress-legislators", "billstatus"):
        (out / folder).mkdir(parents=True)

    crosswalk_text = (snap / "congress-legislators" / "legislators-current.csv").read_text()
    historical_text = gzip.decompress((snap / "congress-legislators" / "legislators-historical.csv.gz").read_bytes())
    lis_to_bioguide = {}
    for text in (crosswalk_text, historical_text.decode()):
        for row in csv.DictReader(io.StringIO(text)):
            if row["lis_id"]:
                lis_to_bioguide.setdefault(row["lis_id"], row["bioguide_id"])

    bioguides: set[str] = set()
    rollcall_keys: set[tuple[str, int, int, int]] = set()  # chamber, congress, session index, clerk number
    for congress in CONGRESSES:
        lines = pick_records(snap / "unitedstates-votes" / f"votes-{congress}.jsonl.gz", congress)
        (out / "unitedstates-votes" / f"votes-{congress}.jsonl.gz").write_bytes(gz(b"\n".join(lines) + b"\n"))
        first_year = 1789 + 2 * (congress - 1)
        for line in lines:
            record = orjson.loads(line)
            chamber = "House" if record["chamber"] == "h" else "Senate"
            rollcall_keys.add((chamber, congress, int(record["session"]) - first_year + 1, int(record["number"])))
            for voters in record["votes"].values():
                for voter in voters:
                    if isinstance(voter, dict):
                        member = voter["id"]
                        bioguides.add(lis_to_bioguide.get(member, member) if chamber == "Senate" else member)

    voteview_numbers: set[tuple[str, int, int]] = set()  # chamber, congress, voteview rollnumber
    for congress in CONGRESSES:
        for letter in ("H", "S"):
            name = f"{letter}{congress}_rollcalls.csv"

            def keep_rollcall(row, congress=congress) -> bool:
                key = (row["chamber"], congress, int(row["session"]), int(float(row["clerk_rollnumber"] or 0)))
                if key in rollcall_keys:
                    voteview_numbers.add((row["chamber"], congress, int(row["rollnumber"])))
                    return True
                return False

            (out / "voteview" / name).write_bytes(csv_lines(snap / "voteview" / name, keep_rollcall))
            name = f"{letter}{congress}_members.csv"
            keep_member = lambda row: row["bioguide_id"] in bioguides or row["chamber"] == "President"  # noqa: E731
            (out / "voteview" / name).write_bytes(csv_lines(snap / "voteview" / name, keep_member))
    for congress in CONGRESSES:
        for letter in ("H", "S"):
            name = f"{letter}{congress}_votes.csv.gz"
            if (snap / "voteview" / name).exists():

                def keep_vote(row) -> bool:
                    return (row["chamber"], int(row["congress"]), int(row["rollnumber"])) in voteview_numbers

                (out / "voteview" / name).write_bytes(gz(csv_lines(snap / "voteview" / name, keep_vote)))

    def keep_all(row) -> bool:
        return int(row["congress"]) in CONGRESSES and (row["bioguide_id"] in bioguides or row["chamber"] == "President")

    hsall = csv_lines(snap / "voteview" / "HSall_members.csv.gz", keep_all)
    (out / "voteview" / "HSall_members.csv.gz").write_bytes(gz(hsall))

    legislators = out / "congress-legislators"
    in_set = lambda row: row["bioguide_id"] in bioguides  # noqa: E731
    (legislators / "legislators-current.csv").write_bytes(
        csv_lines(snap / "congress-legislators" / "legislators-current.csv", in_set)
    )
    (legislators / "legislators-historical.csv.gz").write_bytes(
        gz(csv_lines(snap / "congress-legislators" / "legislators-historical.csv.gz", in_set))
    )
    # the YAML is a list of top-level "- id:" entries: keep the chosen ones verbatim
    entries, current = [], []
    for line in (snap / "congress-legislators" / "legislators-current.yaml").read_text().splitlines(keepends=True):
        if line.startswith("- ") and current:
            entries.append("".join(current))
            current = []
        current.append(line)
    entries.append("".join(current))
    kept = []
    for entry in entries:
        person = yaml.safe_load(entry)[0]
        if person["id"]["bioguide"] in bioguides and person["terms"][-1]["state"] in YAML_STATES:
            kept.append(entry)
    (legislators / "legislators-current.yaml").write_text("".join(kept))
    shutil.copy(snap / "congress-legislators" / "executive.yaml", legislators / "executive.yaml")

    for bill in BILLS:
        name = f"BILLSTATUS-{bill}.xml"
        shutil.copy(snap / "billstatus" / name, out / "billstatus" / name)

    n_rollcalls = {
        (c, ch): sum(1 for k in rollcall_keys if k[0] == ch and k[1] == c)
        for c in CONGRESSES
        for ch in ("House", "Senate")
    }
    fixture = {
        "congresses": [min(CONGRESSES), max(CONGRESSES)],
        "bills": list(BILLS),
        # only the roll-call counts shrink in an excerpt; the bounds per roll call and per member stay as in params
        "max_unknown_member_ids": 0,
        "bounds": {
            "rollcalls": {
                "house": min(n for (c, ch), n in n_rollcalls.items() if ch == "House"),
                "senate": min(n for (c, ch), n in n_rollcalls.items() if ch == "Senate"),
            }
        },
    }
    (out / "fixture.yaml").write_text(
        "# Written by scripts/make_fixtures.py: the data parameters that fit this excerpt (merged over params.yaml)\n"
        + yaml.safe_dump(fixture, sort_keys=False)
    )
    (out / "README.md").write_text(
        "# A tiny real excerpt of the snapshot (tests only)\n\n"
        "Generated by `scripts/make_fixtures.py` from `../shared/data`: congresses "
        f"{', '.join(map(str, CONGRESSES))}, roll calls {sorted(rollcall_keys)}, the {len(bioguides)} members who "
        "voted on them, and bills " + ", ".join(BILLS) + ". `legislators-current.yaml` keeps only the current "
        f"members from {', '.join(sorted(YAML_STATES))} ({len(kept)} entries). Same layout, names and formats as "
        "the snapshot; lines "
        "are copied verbatim. See the snapshot's README.md and SOURCE.md files for provenance and licences.\n"
    )
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"fixture: {len(rollcall_keys)} roll calls, {len(bioguides)} members, {total / 1e3:.0f} kB in {out}")


if __name__ == "__main__":
    main()
