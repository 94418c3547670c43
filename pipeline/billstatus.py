"""Reader for GovInfo BILLSTATUS XML, old (1.0.0: ``billType``/``billNumber``) and current (3.0.0) layouts.

Parsed with lxml (libxml2: some 3x faster than the standard library's ElementTree on the ingest's 75 MB of bill
XML, with the same element API); entities are not resolved and nothing is fetched from the network."""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from lxml import etree

from pipeline.config import DataConfig
from pipeline.errors import DataError
from pipeline.fetch import NotFound, fetch, locate
from pipeline.ids import bill_id, origin_chamber, split_bill_id
from pipeline.stop import Stop, in_threads

TAG = re.compile(r"<[^>]+>")
COSPONSOR_COLUMNS = ["bill_id", "bioguide_id", "date", "original", "withdrawn", "party", "state"]


class NoSponsor(DataError):
    """A BILLSTATUS record that names no sponsor (a committee's measure): a listed bill cannot do without one."""


# Comments and processing instructions are dropped (as ElementTree drops them), so ``.text`` and ``iter`` see
# the same elements; no entity expansion, no network, no DTD, and libxml2's depth and size limits left on.
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True, remove_pis=True)


def _text(element: etree._Element | None, path: str) -> str | None:
    if element is None:
        return None
    found = element.find(path)
    if found is None or found.text is None or not found.text.strip():
        return None
    return found.text.strip()


def _date(value: str | None) -> pd.Timestamp | None:
    return day(value[:10]) if value else None


@functools.lru_cache(maxsize=65536)
def day(text: str) -> pd.Timestamp:
    """``pd.Timestamp(text)``, once per distinct text: a hundred thousand cosponsorships share a few thousand dates
    (a Timestamp is immutable, so sharing one is safe)."""
    return pd.Timestamp(text)


def parse_billstatus(path: Path | str, content: bytes | None = None) -> tuple[dict, list[dict]]:
    """One BILLSTATUS file -> (bill record, cosponsorship records); any fault is a DataError naming the file.
    ``content``: the file's bytes when it is a member of an archive (``path`` then names it in errors)."""
    try:
        return _parse_billstatus(path, content)
    except DataError as exc:
        if str(path) in str(exc):
            raise
        raise DataError(f"{path}: {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: {exc}") from exc


def _parse_billstatus(path: Path | str, content: bytes | None) -> tuple[dict, list[dict]]:
    try:
        root = etree.fromstring(content if content is not None else Path(path).read_bytes(), PARSER)
    except etree.XMLSyntaxError as exc:
        raise DataError(f"{path}: malformed XML ({exc})") from exc
    bill = root.find("bill")
    if bill is None:
        raise DataError(f"{path}: no <bill> element (not a BILLSTATUS file)")
    record = _bill_record(path, root, bill)
    if record["sponsor_bioguide_id"] is None:
        raise NoSponsor(f"{path}: bill {record['bill_id']} has no sponsor bioguideId")
    return record, _cosponsors(path, bill, record["bill_id"])


def _bill_record(path: Path | str, root: etree._Element, bill: etree._Element) -> dict:
    """The bill's fields, from either schema's element names."""
    bill_type = _text(bill, "type") or _text(bill, "billType")
    number = _text(bill, "number") or _text(bill, "billNumber")
    congress = _text(bill, "congress")
    if not (bill_type and number and congress):
        raise DataError(f"{path}: <bill> lacks type/billType, number/billNumber or congress")
    sponsor = bill.find("sponsors/item")
    return {
        "bill_id": bill_id(congress, bill_type, number),
        "congress": int(congress),
        "type": bill_type.lower(),
        "number": int(number),
        "chamber": origin_chamber(bill_type),
        "title": _text(bill, "title"),
        "all_titles": " | ".join(
            dict.fromkeys(t.text.strip() for t in bill.iter("title") if t.text and t.text.strip())
        ),
        "sponsor_bioguide_id": _text(sponsor, "bioguideId"),
        "sponsor_party": _text(sponsor, "party"),
        "introduced": _date(_text(bill, "introducedDate")),
        "policy_area": _text(bill, "policyArea/name"),
        "subjects": "; ".join(_subjects(bill)),
        "summary": _latest_summary(bill),
        "update_date": _text(bill, "updateDate"),
        "schema": _text(root, "version") or "1.0.0",
        "related_bills": "; ".join(
            bill_id(int(_text(item, "congress")), _text(item, "type"), int(_text(item, "number")))
            for item in bill.findall("relatedBills/item")
            if _text(item, "congress") and _text(item, "type") and _text(item, "number")
        ),
    }


def _subjects(bill: etree._Element) -> list[str]:
    return sorted(
        {item.text.strip() for group in bill.iter("legislativeSubjects") for item in group.iter("name") if item.text}
    )


def _latest_summary(bill: etree._Element) -> str | None:
    """The last non-empty summary text (old schema ``summary``, then current ``summaries/.../text``), tags removed."""
    summaries = [TAG.sub(" ", s.text or "").strip() for s in bill.iter("summary")] + [
        TAG.sub(" ", t.text or "").strip() for t in bill.findall("summaries/billSummaries/item/text")
    ]
    return next((s for s in reversed(summaries) if s), None)


def _cosponsors(path: Path | str, bill: etree._Element, this_id: str) -> list[dict]:
    cosponsors = []
    for item in bill.findall("cosponsors/item"):
        fields = _child_texts(item)
        bioguide = fields.get("bioguideId")
        if bioguide is None:
            raise DataError(f"{path}: a cosponsor of {this_id} has no bioguideId")
        cosponsors.append(
            {
                "bill_id": this_id,
                "bioguide_id": bioguide,
                "date": _date(fields.get("sponsorshipDate")),
                "original": (fields.get("isOriginalCosponsor") or "").lower() == "true",
                "withdrawn": _date(fields.get("sponsorshipWithdrawnDate")),
                "party": fields.get("party"),
                "state": fields.get("state"),
            }
        )
    return cosponsors


def _child_texts(element: etree._Element) -> dict[str, str | None]:
    """Each child tag's text as ``_text`` gives it (the first child of that tag; stripped, None when blank), in one
    pass over the children: some 50,000 cosponsors make ``find`` per field the parser's main cost."""
    texts: dict[str, str | None] = {}
    for child in element:
        if child.tag not in texts:
            text = child.text.strip() if child.text is not None else None
            texts[child.tag] = text or None
    return texts


def _where(config: DataConfig, bill: str) -> tuple[int, str, str]:
    """(congress, file name, GovInfo URL) of one bill's BILLSTATUS."""
    congress, bill_type, number = split_bill_id(bill)
    url = config.urls["billstatus"].format(congress=congress, type=bill_type, number=number)
    return congress, f"BILLSTATUS-{congress}{bill_type}{number}.xml", url


def locate_bills(config: DataConfig) -> list[Path]:
    """The BILLSTATUS files of the bills listed in params.yaml ``data.bills`` (each one required)."""
    if not config.bills:
        raise DataError("params.yaml data.bills: no bills listed")
    paths = []
    for bill in config.bills:
        _, name, url = _where(config, bill)
        paths.append(locate(config, f"billstatus/{name}", url))
    return paths


def rollcall_bills(rollcalls: pd.DataFrame, first_congress: int, known: Iterable[str]) -> list[str]:
    """The bills that reached a roll call (their own or an amendment's) from ``first_congress`` on, less the
    ``known`` ones: the bills whose sponsors a download can add. A roll call's bill id that is not one is a
    DataError naming the roll call."""
    voted = rollcalls.dropna(subset=["bill_id"]).drop_duplicates("bill_id")
    wanted = set()
    for rollcall, bill in zip(voted["rollcall_id"], voted["bill_id"], strict=True):
        try:
            congress = split_bill_id(bill)[0]
        except DataError as exc:
            raise DataError(f"rollcalls: roll call {rollcall}: {exc}") from exc
        if congress >= first_congress:
            wanted.add(bill)
    return sorted(wanted - set(known))


def download_bills(config: DataConfig, bills: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, list]]:
    """(bills, cosponsorships, what was left out) of each bill's BILLSTATUS downloaded from GovInfo, a few at a
    time (``data.download_threads``), into a folder (and manifest) per congress: a manifest is rewritten whole for
    every file it records. A bill GovInfo does not have (404) or that names no sponsor is left out and listed;
    any other fault stops the download, naming the URL or file; so does Ctrl-C or SIGTERM, within a moment (the
    downloads in flight end at once: ``pipeline.stop``). Cached files are not fetched again."""

    def one(bill: str, stop: Stop) -> tuple[str, tuple[dict, list[dict]] | None]:
        congress, name, url = _where(config, bill)
        dest = config.download_dir / "billstatus" / str(congress) / name
        try:
            return "found", parse_billstatus(fetch(config, url, dest, stop=stop))
        except NotFound:
            return "not_found", None
        except NoSponsor:
            return "no_sponsor", None

    results = in_threads(one, bills, config.download_threads, "BILLSTATUS", "bill")
    left_out = {
        outcome: [bill for bill, (said, _) in zip(bills, results, strict=True) if said == outcome]
        for outcome in ("not_found", "no_sponsor")
    }
    if 2 * len(left_out["not_found"]) > len(bills):  # a wrong data.urls.billstatus looks like this, not GovInfo's gaps
        print(
            f"ingest: warning: GovInfo answered 404 for {len(left_out['not_found'])} of {len(bills)} roll-call bills "
            f"(e.g. {_where(config, left_out['not_found'][0])[2]}): their sponsors are unknown; check params.yaml "
            "data.urls.billstatus",
            file=sys.stderr,
        )
    found = [parsed for said, parsed in results if said == "found"]
    cosponsorships = [row for _, cosponsors in found for row in cosponsors]
    return pd.DataFrame([bill for bill, _ in found]), pd.DataFrame(cosponsorships, columns=COSPONSOR_COLUMNS), left_out


def read_bills(config: DataConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(bills, cosponsorships) of every BILLSTATUS file the config points at."""
    bills, cosponsorships = [], []
    for path in locate_bills(config):
        record, cosponsors = parse_billstatus(path)
        bills.append(record)
        cosponsorships.extend(cosponsors)
    return pd.DataFrame(bills), pd.DataFrame(cosponsorships, columns=COSPONSOR_COLUMNS)
