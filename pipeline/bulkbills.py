"""Reader for ``billstatus-bulk/``: sponsors and cosponsors of the bills that reached a roll call.

One archive per congress (``bills-{congress}.tar.gz``) of verbatim scraper records in two formats: the THOMAS-era
``data.json`` (110-113; members by THOMAS id, mapped to bioguide ids through congress-legislators) and GovInfo
BILLSTATUS XML (115, 117; read by ``pipeline.billstatus``). The rows have the columns of ``billstatus.read_bills``
so both sources stack into the ``bills`` and ``cosponsorships`` tables.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import orjson
import pandas as pd

from pipeline.billstatus import COSPONSOR_COLUMNS, day, parse_billstatus
from pipeline.config import DataConfig
from pipeline.errors import DataError
from pipeline.ids import bill_id, origin_chamber

ARCHIVE = re.compile(r"bills-(\d+)\.tar\.gz$")


def _date(value) -> pd.Timestamp | None:
    return day(str(value)[:10]) if value else None


def _bioguide(person: dict, thomas_to_bioguide: dict[str, str], where: str) -> str:
    if not isinstance(person, dict) or not person.get("thomas_id"):
        raise DataError(f"{where}: a sponsor or cosponsor entry has no thomas_id")
    thomas = str(person["thomas_id"]).zfill(5)
    if thomas not in thomas_to_bioguide:
        raise DataError(f"{where}: THOMAS id {thomas} ({person.get('name')}) is not in congress-legislators")
    return thomas_to_bioguide[thomas]


def parse_scraper_json(content: bytes, where: str, thomas_to_bioguide: dict[str, str]) -> tuple[dict, list[dict]]:
    """One scraper ``data.json`` -> (bill record, cosponsorship records), like ``parse_billstatus``. A bill with
    no sponsor (a committee's measure) keeps a missing sponsor."""
    try:
        record = orjson.loads(content)
        congress, bill_type, number = int(record["congress"]), record["bill_type"], int(record["number"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{where}: not a bill data.json with congress, bill_type and number ({exc})") from exc
    this_id = bill_id(congress, bill_type, number)
    sponsor = record.get("sponsor")
    titles = [t.get("title") for t in record.get("titles") or [] if isinstance(t, dict) and t.get("title")]
    summary = record.get("summary")
    bill = {
        "bill_id": this_id,
        "congress": congress,
        "type": bill_type.lower(),
        "number": number,
        "chamber": origin_chamber(bill_type),
        "title": record.get("short_title") or record.get("popular_title") or record.get("official_title"),
        "all_titles": " | ".join(dict.fromkeys(t.strip() for t in titles if t.strip())),
        "sponsor_bioguide_id": _bioguide(sponsor, thomas_to_bioguide, where) if sponsor else None,
        "sponsor_party": None,
        "introduced": _date(record.get("introduced_at")),
        "policy_area": record.get("subjects_top_term"),
        "subjects": "; ".join(sorted(set(record.get("subjects") or []))),
        "summary": summary.get("text") if isinstance(summary, dict) else None,
        "update_date": record.get("updated_at"),
        "schema": "scraper data.json",
        "related_bills": "",
    }
    cosponsors = [
        {
            "bill_id": this_id,
            "bioguide_id": _bioguide(entry, thomas_to_bioguide, where),
            "date": _date(entry.get("sponsored_at")),
            "original": entry.get("sponsored_at") == record.get("introduced_at"),
            "withdrawn": _date(entry.get("withdrawn_at")),
            "party": None,
            "state": entry.get("state"),
        }
        for entry in record.get("cosponsors") or []
    ]
    return bill, cosponsors


def read_archive(path: Path, thomas_to_bioguide: dict[str, str]) -> tuple[list[dict], list[dict]]:
    """Every bill record of one congress's archive."""
    bills, cosponsorships = [], []
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                if not member.isfile():
                    continue
                where = f"{path}:{member.name}"
                content = archive.extractfile(member).read()
                if member.name.endswith(".data.json"):
                    bill, cosponsors = parse_scraper_json(content, where, thomas_to_bioguide)
                elif member.name.endswith(".xml"):
                    bill, cosponsors = parse_billstatus(where, content)
                else:
                    raise DataError(f"{where}: neither a data.json nor a BILLSTATUS .xml record")
                bills.append(bill)
                cosponsorships.extend(cosponsors)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{path}: corrupt or truncated archive ({exc})") from exc
    if not bills:
        raise DataError(f"{path}: the archive holds no bill records")
    return bills, cosponsorships


Archive = tuple[str, pd.DataFrame, pd.DataFrame]  # (path, bills, cosponsorships)


def read_archives(config: DataConfig, crosswalk: pd.DataFrame, part: int = 0, parts: int = 1) -> list[Archive]:
    """The bills and cosponsorships of the configured congresses' archives, in path order: those numbered ``part``
    modulo ``parts`` (so that processes can share the work). Each archive's records become frames as soon as it is
    read, so one archive's dicts are held at a time. Only the snapshot has these archives (they pack scraper
    output, not one public file): in download mode the ingest fetches each roll-call bill's BILLSTATUS instead
    (``billstatus.download_bills``), said by part 0."""
    folder = config.snapshot_dir / "billstatus-bulk"
    if not config.use_snapshot:
        if part == 0:
            print("ingest: billstatus-bulk is the snapshot's: the roll-call bills' BILLSTATUS is downloaded instead")
        return []
    if not folder.is_dir():
        if part == 0:
            print(f"ingest: billstatus-bulk skipped ({folder} is not there): no sponsors of other bills")
        return []
    thomas = crosswalk.dropna(subset=["thomas_id"])
    thomas_to_bioguide = dict(zip(thomas["thomas_id"].str.zfill(5), thomas["bioguide_id"], strict=True))
    paths = [
        p for p in sorted(folder.glob("bills-*.tar.gz")) if int(ARCHIVE.search(p.name).group(1)) in config.congresses
    ]
    archives = []
    for path in paths[part::parts]:
        bills, cosponsorships = read_archive(path, thomas_to_bioguide)
        archives.append((str(path), pd.DataFrame(bills), pd.DataFrame(cosponsorships, columns=COSPONSOR_COLUMNS)))
    return archives


def bulk_frames(archives: list[Archive]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(bills, cosponsorships) of the archives, in path order."""
    if not archives:
        return pd.DataFrame(), pd.DataFrame(columns=COSPONSOR_COLUMNS)
    ordered = sorted(archives, key=lambda archive: archive[0])
    # infer_objects: a column all None in one archive (object) and text in another is text, as one frame of all
    # the records would make it
    bills = pd.concat([archive[1] for archive in ordered], ignore_index=True).infer_objects()
    return bills, pd.concat([archive[2] for archive in ordered], ignore_index=True).infer_objects()
