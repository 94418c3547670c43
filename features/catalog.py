"""DVC stage `catalog`: which roll calls were about NATO (or the security votes tied to it) and which way a
Yea cut, with the reason for each call.

Text rules read every description the sources give (the clerk's question and subject, amendment purposes,
Voteview's ``vote_desc``/``dtl_desc``, treaty titles, and the title of the bill when it is in BILLSTATUS).
``catalog_overrides.yaml`` corrects what the rules get wrong or cannot see (House amendment records of the
118th Congress carry only the author's name), each entry with a one-line reason.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

import pandas as pd
import yaml

from pipeline.config import stage_arguments
from pipeline.errors import DataError, debug_requested, run_stage
from pipeline.tables import nato_bills, read_table, write_atomic, write_parquet

log = logging.getLogger("natocast.catalog")

OVERRIDES_FILE = Path(__file__).with_name("catalog_overrides.yaml")

ALLIANCE = re.compile(
    r"\bnato\b|north atlantic treaty|article 5 of the north|burden[- ]sharing|european deterrence initiative|"
    r"european reassurance initiative|accession of (?:montenegro|the republic of north macedonia|finland|sweden)|"
    r"united states (?:armed )?forces (?:in|from) (?:europe|germany)|troops (?:in|from) (?:europe|germany)",
    re.IGNORECASE,
)
TIED = re.compile(
    r"ukrain|\brussia|\bputin\b|kremlin|\bbaltic|eastern europe|european security|countering america.s adversaries|"
    r"\bcaatsa\b|magnitsky|nord stream|estonia|latvia|lithuania|moldova|crimea|transatlantic|belarus",
    re.IGNORECASE,
)
PROCEDURAL = re.compile(
    r"previous question|providing for (?:the )?consideration|motion to recommit|motion to instruct|"
    r"motion to table|motion to adjourn|quorum|motion to reconsider|closing portions",
    re.IGNORECASE,
)
CONSTRAINS_WITHDRAWAL = re.compile(
    r"(?:prevent|prohibit|\bbar\b|no funds?|none of the funds|advice and consent|act of congress)[^|]{0,160}"
    r"(?:withdraw|terminat|suspend|denounc)[^|]{0,80}"
    r"(?:north atlantic|nato)",
    re.IGNORECASE,
)
WITHDRAWAL = re.compile(
    r"withdraw(?:al|ing)?(?: of)?(?: the united states)? from (?:the )?(?:north atlantic|nato)|"
    r"denunciation of the north atlantic",
    re.IGNORECASE,
)
HOSTILE_AMENDMENT = re.compile(
    r"\b(?:strike|strikes|striking|prohibit|prohibits|reduce|reduces|limit|limits|none of the funds|no funds|"
    r"terminate|cut|eliminate|rescind|withdraw)\b",
    re.IGNORECASE,
)
SUPPORTIVE_AMENDMENT = re.compile(
    r"\b(?:support|supports|strengthen|ensure|increase|reaffirm|impose|sanctions? (?:on|with respect to)|condemn|"
    r"prevent any disruption|assist)\b",
    re.IGNORECASE,
)
DISAPPROVAL_OF_LIFTING_SANCTIONS = re.compile(
    r"disapprov[^|]{0,120}president.s proposal[^|]{0,120}sanctions", re.IGNORECASE
)
# Joint resolutions of disapproval under the Ukraine supplementals (e.g. S.J.Res. 117 in 2024, against cancelling
# Ukraine's debt): a Yea blocks what the President proposed for Ukraine.
DISAPPROVAL_OF_UKRAINE_ACTION = re.compile(
    r"joint resolution[^|]{0,40}disapprov\w* of the president(?:ial|.s)? (?:report|proposal|action)[^|]{0,120}ukrain",
    re.IGNORECASE,
)

CATALOG_COLUMNS = [
    "rollcall_id",
    "date",
    "chamber",
    "congress",
    "bill_id",
    "domain",
    "kind",
    "orientation",
    "reason",
    "sponsor_bioguide_id",
    "yea_count",
    "nay_count",
    "description",
]


def measure_kind(rollcalls: pd.DataFrame) -> pd.Series:
    """passage, amendment, procedural, treaty or resolution: what a Yea on the roll call does."""
    question = rollcalls["question"].fillna("") + " " + rollcalls["description"].fillna("")
    kind = pd.Series("passage", index=rollcalls.index)
    is_resolution = rollcalls["bill_type_raw"].fillna("").str.lower().isin(["hres", "sres", "hconres", "sconres"])
    kind[is_resolution] = "resolution"
    kind[rollcalls["treaty"].notna() | question.str.contains("ratification", case=False)] = "treaty"
    question_only = rollcalls["question"].fillna("")
    is_amendment = (rollcalls["amendment_type"].notna() | question_only.str.contains("amendment", case=False)) & (
        ~question_only.str.contains(r"as amended|concur|conference report", case=False)
    )
    kind[is_amendment] = "amendment"
    kind[
        rollcalls["question"].fillna("").str.contains(PROCEDURAL)
        | rollcalls["description"].fillna("").str.contains(r"providing for (?:the )?consideration", case=False)
    ] = "procedural"
    return kind


def classify(text: str, kind: str, domain: str) -> tuple[int, str]:
    """Orientation of a Yea (+1 with the alliance side, -1 against it, 0 no direction) and why."""
    if kind == "procedural":
        return 0, "procedural vote (rule, previous question, recommit, table): no direction of its own"
    if CONSTRAINS_WITHDRAWAL.search(text):
        return 1, "constrains withdrawal from NATO"
    if WITHDRAWAL.search(text):
        return -1, "withdraws the United States from NATO"
    if DISAPPROVAL_OF_LIFTING_SANCTIONS.search(text):
        return 1, "blocks the lifting of sanctions on Russia (disapproves the President's proposal)"
    if DISAPPROVAL_OF_UKRAINE_ACTION.search(text):
        return -1, "blocks the President's action for Ukraine (a resolution of disapproval)"
    if kind == "amendment":
        if HOSTILE_AMENDMENT.search(text):
            return -1, "amendment that strikes, limits or prohibits the alliance/security measure"
        if SUPPORTIVE_AMENDMENT.search(text):
            return 1, "amendment that supports, strengthens or sanctions on the alliance side"
        return 0, "amendment whose direction the text does not show"
    if domain == "alliance" and HOSTILE_AMENDMENT.search(text):
        return -1, f"{kind} that limits or cuts US support for NATO"
    return 1, f"{kind} of an alliance/security measure"


def build_catalog(rollcalls: pd.DataFrame, bills: pd.DataFrame, overrides: list[dict]) -> pd.DataFrame:
    """Catalogued roll calls (domain alliance or tied) with orientation, kind and reason."""
    bills = nato_bills(bills)
    titles = bills.set_index("bill_id")["title"]
    text = rollcalls["description"].fillna("") + " | " + rollcalls["bill_id"].map(titles).fillna("")
    is_registry_bill = rollcalls["bill_id"].isin(bills["bill_id"])
    alliance = text.str.contains(ALLIANCE) | (is_registry_bill & ~text.str.contains(TIED))
    tied = ~alliance & text.str.contains(TIED)
    eligible = (
        ~rollcalls["category"].isin(["quorum", "nomination", "leadership"])
        & rollcalls["nomination"].isna()
        & (rollcalls["yea_count"] + rollcalls["nay_count"] > 0)
    )
    selected = rollcalls[(alliance | tied) & eligible].copy()
    selected["domain"] = alliance[selected.index].map({True: "alliance", False: "tied"})
    selected["kind"] = measure_kind(selected)
    classified = [
        classify(t, k, d) for t, k, d in zip(text[selected.index], selected["kind"], selected["domain"], strict=True)
    ]
    selected["orientation"] = [o for o, _ in classified]
    selected["reason"] = ["rule: " + r for _, r in classified]
    catalog = apply_overrides(selected, rollcalls, overrides)
    catalog["sponsor_bioguide_id"] = catalog["rollcall_id"].map(
        rollcalls.set_index("rollcall_id")["sponsor_bioguide_id"]
    )
    return catalog[CATALOG_COLUMNS].sort_values(["date", "rollcall_id"]).reset_index(drop=True)


def apply_overrides(catalog: pd.DataFrame, rollcalls: pd.DataFrame, overrides: list[dict]) -> pd.DataFrame:
    """Reviewed corrections: set orientation/domain/kind, add a roll call the rules missed, or drop one."""
    catalog = catalog.set_index("rollcall_id", drop=False)
    all_rollcalls = rollcalls.set_index("rollcall_id", drop=False)
    first, last = int(rollcalls["congress"].min()), int(rollcalls["congress"].max())
    outside = []
    for entry in overrides:
        rid = entry["rollcall_id"]
        if rid not in all_rollcalls.index:
            if _session_year(rid) > rollcalls["date"].max().year:
                continue  # a roll call after the tables' as_of: not yet known
            if not first <= _congress(rid) <= last:
                outside.append(rid)  # the tables hold a narrower range of congresses (params.yaml data.congresses)
                continue
            raise DataError(f"{OVERRIDES_FILE.name}: roll call {rid} is not in the rollcalls table")
        if entry.get("exclude"):
            catalog = catalog.drop(index=rid, errors="ignore")
            continue
        if rid not in catalog.index:
            row = all_rollcalls.loc[[rid]].copy()
            row["kind"] = measure_kind(row)
            catalog = pd.concat([catalog, row])
        for field in ("orientation", "domain", "kind"):
            if field in entry:
                catalog.loc[rid, field] = entry[field]
        catalog.loc[rid, "reason"] = "override: " + entry["reason"]
    if outside:
        shown = ", ".join(outside[:5]) + (", ..." if len(outside) > 5 else "")
        print(f"catalog: {len(outside)} override(s) outside congresses {first}-{last} skipped: {shown}")
    catalog["orientation"] = catalog["orientation"].astype(int)
    return catalog.reset_index(drop=True)


def _congress(rollcall_id: str) -> int:
    """``h303-118.2023`` -> 118 (0 when the id is not of that form)."""
    congress = rollcall_id.rpartition("-")[2].partition(".")[0]
    return int(congress) if congress.isdigit() else 0


def _session_year(rollcall_id: str) -> int:
    """``h303-118.2023`` -> 2023 (0 when the id is not of that form)."""
    year = rollcall_id.rsplit(".", 1)[-1]
    return int(year) if year.isdigit() else 0


def load_overrides(path: Path = OVERRIDES_FILE) -> list[dict]:
    try:
        entries = yaml.safe_load(path.read_text()) or []
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: not valid YAML ({exc})") from exc
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or "rollcall_id" not in entry or not entry.get("reason"):
            raise DataError(f"{path}: entry {number} needs a rollcall_id and a one-line reason")
        if "orientation" in entry and entry["orientation"] not in (-1, 0, 1):
            raise DataError(f"{path}: entry {number} ({entry['rollcall_id']}): orientation must be -1, 0 or 1")
        if entry.get("domain", "alliance") not in ("alliance", "tied"):
            raise DataError(f"{path}: entry {number} ({entry['rollcall_id']}): domain must be alliance or tied")
    return entries


def left_out(catalog: pd.DataFrame, rollcalls: pd.DataFrame) -> pd.DataFrame:
    """Other roll calls on the catalogued bills, which neither the rules nor an override took in (H.R. 815's
    motions to proceed in February 2024, House amendments whose records carry only the author): what a reviewer
    of ``catalog_overrides.yaml`` reads next."""
    on_bills = rollcalls["bill_id"].isin(catalog["bill_id"].dropna()) & ~rollcalls["rollcall_id"].isin(
        catalog["rollcall_id"]
    )
    voted = (rollcalls["yea_count"] + rollcalls["nay_count"]) > 0
    columns = ["date", "rollcall_id", "bill_id", "yea_count", "nay_count", "question", "amendment_author"]
    return rollcalls.loc[on_bills & voted, columns].sort_values(["date", "rollcall_id"]).reset_index(drop=True)


def _left_out_section(others: pd.DataFrame) -> str:
    listing = pd.DataFrame(
        {
            "date": others["date"].dt.strftime("%Y-%m-%d"),
            "roll call": others["rollcall_id"],
            "bill": others["bill_id"],
            "yea-nay": others["yea_count"].astype(str) + "-" + others["nay_count"].astype(str),
            "question": others["question"].fillna("").str.replace("|", "/").str.slice(0, 120),
            "amendment by": others["amendment_author"].fillna("").str.replace("|", "/"),
        }
    )
    return (
        f"\n## Left out: {len(others)} other roll calls on these bills\n\nNeither a rule nor an override took them in; "
        "an entry in `features/catalog_overrides.yaml` (with its reason) would.\n\n"
        f"{listing.to_markdown(index=False)}\n"
    )


def summarize(catalog: pd.DataFrame, others: pd.DataFrame | None = None) -> str:
    """A readable Markdown summary: counts, then every catalogued roll call with its orientation and reason, then
    (given ``others``, from ``left_out``) the roll calls on the same bills that are not catalogued."""
    counts = (
        catalog.groupby(["domain", "kind"])["orientation"]
        .value_counts()
        .unstack(fill_value=0)
        .reindex(columns=[1, 0, -1], fill_value=0)
        .rename(columns={1: "+1", 0: "0", -1: "-1"})
        .reset_index()
    )
    listing = pd.DataFrame(
        {
            "date": catalog["date"].dt.strftime("%Y-%m-%d"),
            "roll call": catalog["rollcall_id"],
            "domain": catalog["domain"],
            "kind": catalog["kind"],
            "orientation": catalog["orientation"].map("{:+d}".format),
            "yea-nay": catalog["yea_count"].astype(str) + "-" + catalog["nay_count"].astype(str),
            "reason": catalog["reason"].astype(str).str.replace("|", "/"),  # a | would split the table's cell
            "description": catalog["description"].astype(str).str.replace("|", "/").str.slice(0, 160),
        }
    )
    alliance, tied = int((catalog["domain"] == "alliance").sum()), int((catalog["domain"] == "tied").sum())
    return (
        f"# NATO roll-call catalog\n\n{len(catalog)} roll calls: {alliance} on the alliance itself, {tied} tied "
        f"security votes.\n\n{counts.to_markdown(index=False)}\n\n{listing.to_markdown(index=False)}\n"
    ) + (_left_out_section(others) if others is not None and len(others) else "")


def main(argv: list[str] | None = None) -> None:
    """DVC stage `catalog`: the directed NATO roll calls from the tables."""
    args = stage_arguments("catalog the NATO roll calls", "tables", "features", argv=argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    rollcalls = read_table("rollcalls", args.tables)
    catalog = build_catalog(rollcalls, read_table("bills", args.tables), load_overrides())
    others = left_out(catalog, rollcalls)
    write_parquet(catalog, args.features / "catalog.parquet")
    write_atomic(args.features / "catalog.md", lambda tmp: tmp.write_text(summarize(catalog, others)))
    log.info("%d roll calls (%s by orientation)", len(catalog), catalog["orientation"].value_counts().to_dict())
    log.info("%d other roll calls on the catalogued bills left out (listed in catalog.md)", len(others))


if __name__ == "__main__":
    sys.exit(run_stage("catalog", main, debug_requested(sys.argv[1:])))  # bad input: one line, status 2
