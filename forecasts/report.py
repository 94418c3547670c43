"""DVC stage `report`: one self-contained HTML page per bill (with its CSV), an index page with a track
record, and a Markdown summary, rendered from Jinja2 templates (forecasts/templates, autoescaped).

Pages carry everything inline (CSS, a little JavaScript for sorting and filtering, SVG charts), so a page can
be mailed or attached as it is; they work at phone width. The same files are logged to the model's MLflow run.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from forecasts import names, precedent_text, whip
from models.metrics import table_calibration_error
from pipeline.config import METRICS_DIR, PLOTS_DIR, REPORTS_DIR, load_params, stage_arguments
from pipeline.errors import debug_requested, run_stage
from pipeline.ids import ordinal
from pipeline.tables import write_atomic

PARTY_COLOURS = {"R": "#c0392b", "D": "#2471a3", "I": "#7d3c98"}
THRESHOLD_NAMES = {"simple_majority": "majority", "two_thirds": "two-thirds", "cloture_60": "cloture"}
STANCES = {
    1: ("for the alliance", "this bill is for the alliance: backing it means taking NATO's side."),
    -1: ("against the alliance", "this bill is against the alliance: backing it means voting to weaken or leave NATO."),
}
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
MARKDOWN = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=False,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)
MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "\\|*_`[]"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"})


def markdown_cell(value: object) -> str:
    """Text as one Markdown table cell that reads as typed: a title's | would split the row, a newline end it,
    and <script>, [link](javascript:...) or *stars* would be markup in a renderer (a described bill's title is
    whatever the user typed)."""
    return " ".join(str(value).split()).translate(MARKDOWN_SPECIAL)


MARKDOWN.filters["cell"] = markdown_cell


NEEDS = {  # who must vote for it, in words, by the threshold that decides (``whip.deciding_threshold``)
    "two_thirds": "two-thirds of those voting ({procedure})",
    "cloture_60": "three-fifths of the Senate (cloture)",
    "simple_majority": "a majority of those voting",
}


def deciding_threshold(count: dict) -> tuple[str, str]:
    """(threshold, words) the bill's vote is decided by (``whip.deciding_threshold``). A treaty judged by its
    chance of a majority was called very likely to pass at 96% when its chance of two-thirds was 75%."""
    procedure = count.get("procedure", "passage")
    threshold = whip.deciding_threshold(procedure, count["thresholds"])
    return threshold, NEEDS[threshold].format(procedure=procedure.replace("_", " "))


def verdict(count: dict) -> dict:
    """'very likely to fail in the House: 49 of 435 expected, 90% interval 30-70' and its colour, by the
    threshold that decides the vote (``deciding_threshold``)."""
    threshold, needs = deciding_threshold(count)
    p = count["p_pass"][threshold]
    if p >= 0.95:
        words, css = "very likely to pass", "pass"
    elif p >= 0.75:
        words, css = "likely to pass", "pass"
    elif p > 0.25:
        words, css = "a toss-up", "tossup"
    elif p > 0.05:
        words, css = "likely to fail", "fail"
    else:
        words, css = "very likely to fail", "fail"
    chamber = count["chamber"].capitalize()
    low, high = count["interval_90"]
    seats = count.get("seats", count["members"])
    text = (
        f"{words.capitalize()} in the {chamber}: {count['expected_supporters']:.0f} of {seats} expected, "
        f"90% interval {low}–{high}"
    )
    vacancies = count.get("vacancies", 0)
    committed = count.get("committed", 0)
    members = count["members"]
    sitting = f"{members} sitting ({vacancies} vacant)" if vacancies else f"all {members} seats filled"
    detail = (
        f"{seats} seats, {sitting}: {needs} needs {count['thresholds'][threshold]}. "
        f"{committed} {'sponsor or cosponsor' if committed == 1 else 'sponsors and cosponsors'} on record "
        f"{'is' if committed == 1 else 'are'} counted as committed; "
        f"{count.get('swing', 0)} members are swing votes (25–75%)."
    )
    return {"words": words, "css": css, "text": text, "detail": detail}


def tally_geometry(count: dict, width: int = 460, height: int = 270) -> dict:
    """Coordinates of the tally chart: bars, y ticks, the expected count, the 90% band and threshold marks
    whose labels sit on separate rows so they never overlap."""
    left, right, top, bottom = 48, width - 10, 18 + 13 * len(count["thresholds"]), height - 34
    distribution = np.asarray(count["distribution"], dtype=float)
    distribution = distribution / distribution.sum()
    members = count["members"]
    peak = distribution.max() or 1.0
    step = _nice_step(peak)
    y_max = math.ceil(peak / step) * step

    def x_of(v: float) -> float:
        return round(left + v / members * (right - left), 1)

    def y_of(v: float) -> float:
        return round(bottom - v / y_max * (bottom - top), 1)

    bar = max((right - left) / (members + 1), 1.0)
    bars = [
        {
            "x": x_of(k),
            "y": y_of(p),
            "width": round(bar, 2),
            "height": round(bottom - y_of(p), 1),
            "count": k,
            "share": f"{p:.1%}",
        }  # fmt: skip
        for k, p in enumerate(distribution)
        if p > 0
    ]
    marks = []
    for row, (name, votes) in enumerate(sorted(count["thresholds"].items(), key=lambda item: item[1])):
        x = x_of(votes)
        anchor = "end" if x > (left + right) / 2 else "start"
        marks.append(
            {
                "x": x,
                "y": 14 + 13 * row,
                "text_x": x - 3 if anchor == "end" else x + 3,
                "anchor": anchor,
                "label": f"{THRESHOLD_NAMES.get(name, name)} {votes}",
                "colour": "#e67e22",
                "dash": "4 3",
            }  # fmt: skip
        )
    low, high = count["interval_90"]
    return {
        **_frame(width, height, left, right, top, bottom),
        "bars": bars,
        "marks": marks,
        "expected": {"x": x_of(count["expected_supporters"])},
        "band": {"x": x_of(low), "width": max(x_of(high) - x_of(low), 1.0), "low": low, "high": high},
        "x_ticks": [{"x": x_of(v), "label": v} for v in _ticks(members)],
        "y_ticks": [
            {"y": y_of(v), "label": f"{v:.0%}" if step >= 0.01 else f"{v:.1%}"}
            for v in np.arange(0, y_max + step / 2, step)
        ],  # fmt: skip
    }


def _nice_step(peak: float) -> float:
    for step in (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25):
        if peak / step <= 5:
            return step
    return 0.25


def _ticks(members: int) -> list[int]:
    step = 50 if members > 200 else 10 if members > 60 else 5
    return list(range(0, members + 1, step))


BANDS = [
    ("committed (sponsor or cosponsor)", lambda r: r["committed"]),
    ("likely yes (75% or more)", lambda r: r["probability"] >= 0.75),
    ("lean yes (50–75%)", lambda r: r["probability"] >= 0.5),
    ("lean no (25–50%)", lambda r: r["probability"] >= 0.25),
    ("likely no (under 25%)", lambda r: True),
]


def seat_geometry(members: pd.DataFrame, width: int = 460, size: int = 8, gap: int = 2) -> dict:
    """Voting members as squares in bands of P(support), sorted by party then probability within a band."""
    per_row = (width + gap) // (size + gap)
    rows = members.assign(committed=(members["is_sponsor"] == 1) | (members["is_cosponsor"] == 1)).to_dict("records")
    assigned: dict[int, list[dict]] = {i: [] for i in range(len(BANDS))}
    for row in rows:
        band = next(i for i, (_, test) in enumerate(BANDS) if test(row))
        assigned[band].append(row)
    bands, y = [], 0
    for i, (label, _) in enumerate(BANDS):
        chosen = sorted(assigned[i], key=lambda r: (str(r["party"]), -r["probability"]))
        squares = []
        for k, r in enumerate(chosen):
            squares.append(
                {
                    "x": (k % per_row) * (size + gap),
                    "y": y + 16 + (k // per_row) * (size + gap),
                    "colour": PARTY_COLOURS.get(r["party"], "#777"),
                    "committed": bool(r["committed"]),
                    "title": f"{r['name']} ({r['party']}-{r['state']}): {r['probability']:.0%}",
                }
            )
        bands.append({"label": label, "count": len(chosen), "y": y, "members": squares})
        y += 16 + max(math.ceil(len(chosen) / per_row), 1) * (size + gap) + 8
    return {"width": width, "height": y, "size": size, "bands": bands}


def _frame(width: int, height: int, left: float, right: float, top: float, bottom: float) -> dict:
    """A chart's size and plotting area, as the templates read them."""
    return {"width": width, "height": height, "left": left, "right": right, "top": top, "plot_bottom": bottom}


def calibration_geometry(calibration: pd.DataFrame, chamber: str, width: int = 360, height: int = 300) -> dict:
    """The model's backtest reliability in this chamber, with the number of votes in each band."""
    left, right, top, bottom = 44, width - 56, 14, height - 34
    part = calibration[(calibration["method"] == "xgboost") & (calibration["scope"] == chamber)]

    def x_of(v: float) -> float:
        return round(left + v * (right - left), 1)

    def y_of(v: float) -> float:
        return round(bottom - v * (bottom - top), 1)

    dots = [
        {
            "x": x_of(r.mean_forecast),
            "y": y_of(r.observed_rate),
            "r": round(2 + math.log10(r.votes + 1), 1),
            "votes": int(r.votes),
            "forecast": f"{r.mean_forecast:.2f}",
            "observed": f"{r.observed_rate:.2f}",
        }  # fmt: skip
        for r in part.itertuples()
    ]
    votes = int(part["votes"].sum())
    gap = table_calibration_error(part)
    caption = (
        f"Backtest in the {chamber.capitalize()}: {votes:,} votes, each scored by a model fitted on earlier years "
        "only. "
        f"Each dot is a band of forecasts (n = votes in it); on the dashed line, forecasts of X% came true X% of "
        f"the time. Average gap (calibration error): {gap:.3f}."
    )
    return {
        **_frame(width, height, left, right, top, bottom),
        "dots": dots,
        "line": " ".join(f"{d['x']},{d['y']}" for d in dots),
        "ticks": [{"x": x_of(v), "y": y_of(v), "label": f"{v:g}"} for v in (0, 0.25, 0.5, 0.75, 1)],
        "caption": caption,
    }


def _text(value) -> str:
    """Missing values show blank, not 'nan'."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def most_likely_first(members: pd.DataFrame) -> pd.DataFrame:
    """Members by probability, highest first, ties by member id: a sort of ties alone is not the same on every CPU
    (numpy sorts floats with AVX-512 where the CPU has it), and the pages would then differ from machine to machine."""
    return members.sort_values(["probability", "bioguide_id"], ascending=[False, True], kind="stable")


def member_rows(members: pd.DataFrame) -> list[dict]:
    rows = []
    for r in most_likely_first(members).to_dict("records"):
        role = "sponsor" if r.get("is_sponsor") == 1 else "cosponsor" if r.get("is_cosponsor") == 1 else ""
        committed = bool(role)
        rows.append(
            {
                "name": r["name"],
                "last_name": names.last_name(r["name"]),
                "party": r["party"],
                "state": r["state"],
                "search": f"{r['name']} {r['state']} {r['party']}".lower(),
                "p": f"{r['probability']:.4f}",
                "percent": f"{r['probability']:.0%}",
                "role": role,
                "swing": int(0.25 <= r["probability"] <= 0.75 and not committed),
                "low_history": int(bool(r["low_history"])),
                "reasons_for": _text(r.get("reasons_for")),
                "reasons_against": _text(r.get("reasons_against")),
                "last_vote": _text(r.get("last_alliance_vote")),
                "agreement": _text(r.get("agreement_with_named_sponsors")),
            }
        )
    return rows


def threshold_rows(count: dict) -> list[dict]:
    ordered = sorted(count["p_pass"].items(), key=lambda item: count["thresholds"][item[0]])
    return [
        {"name": THRESHOLD_NAMES.get(name, name), "votes": count["thresholds"][name], "chance": f"{p:.0%}"}
        for name, p in ordered
    ]


def precedent_rows(count: dict) -> list[dict]:
    """The earlier roll calls the forecast reads as most like the bill, as the page and the summary show them
    (text left to the templates' escaping: a catalog description is text, not markup)."""
    rows = []
    for p in count.get("precedents") or []:
        rows.append(
            {
                "rollcall_id": p["rollcall_id"],
                "date": p["date"],
                "description": precedent_text.label(p["description"]),
                "short": precedent_text.label(p["description"], 100),
                "similarity": f"{p['similarity']:.2f}",
                "yea_is": p["yea_is"],
                "republicans": precedent_text.party_percent(p, "R"),
                "democrats": precedent_text.party_percent(p, "D"),
            }
        )
    return rows


def precedent_context(count: dict) -> dict:
    """The precedents' rows, how they were found and the sentence said when none matched."""
    search = count.get("precedent_search")
    return {
        "rows": precedent_rows(count),
        "how": precedent_text.how_found(search),
        "none": precedent_text.none_matched(search),
    }


def bill_page(count: dict, members: pd.DataFrame, calibration: pd.DataFrame, meta: dict) -> str:
    voting = members[members["voting"]] if "voting" in members else members
    delegates = members[~members["voting"]] if "voting" in members else members.iloc[0:0]
    rows = member_rows(voting)
    stance_word, stance_text = STANCES.get(count["stance"], ("no side", "this bill takes no side."))
    return TEMPLATES.get_template("bill.html").render(
        c=count | {"title_is_short": names.short_title(count["title"], 70) == count["title"]},
        v=verdict(count),
        thresholds=threshold_rows(count),
        precedents=precedent_context(count),
        stance={"word": stance_word, "text": stance_text},
        meta=meta,
        tally=tally_geometry(count),
        seats=seat_geometry(voting),
        calibration=calibration_geometry(calibration, count["chamber"]),
        swing=[m for m in rows if m["swing"]],
        members=rows,
        delegates=member_rows(delegates),
        parties=sorted(voting["party"].dropna().unique()),
        states=sorted(voting["state"].dropna().unique()),
    )


def bill_rows(counts: list[dict]) -> list[dict]:
    rows = []
    for c in counts:
        v = verdict(c)
        rows.append(
            {
                "bill_id": c["bill_id"],
                "label": c.get("label", c["bill_id"]),
                "congress": c.get("congress"),
                "congress_text": f"{ordinal(c['congress'])} Congress" if c.get("congress") else "",
                "chamber": c["chamber"],
                "stance": c["stance"],
                "stance_word": STANCES.get(c["stance"], ("no side", ""))[0],
                "verdict": v["words"],
                "verdict_css": v["css"],
                "expected": c["expected_supporters"],
                "members": c.get("seats", c["members"]),
                "low": c["interval_90"][0],
                "high": c["interval_90"][1],
                "p_majority": c["p_pass"]["simple_majority"],
                "p_majority_text": f"{c['p_pass']['simple_majority']:.0%}",
                "p_two_thirds_text": f"{c['p_pass']['two_thirds']:.0%}",
                "precedents": precedent_context(c),
            }
        )
    return rows


def record_rows(record: list[dict], labels: dict[str, str]) -> list[dict]:
    rows = []
    for t in record:
        f = t.get("forecast")
        if f:
            text = (
                f"{f['expected_yea']:.0f} Yea expected of the {f['voters']} who voted (90% interval "
                f"{f['interval_90'][0]}–{f['interval_90'][1]}; actual {f['actual_yea_of_voters']}), model fitted on "
                f"votes before {f['model_fitted_before']}"
            )
        else:
            text = "no out-of-sample forecast (before the backtest's first year)"
        rows.append(t | {"label": labels.get(t["bill_id"], t["bill_id"]), "forecast_text": text})
    return rows


def split_counts(counts: list[dict], as_of: str) -> tuple[list[dict], list[dict]]:
    """Bills of the Congress sitting on ``as_of`` and bills of earlier Congresses."""
    current = max((c.get("congress") or 0) for c in counts) if counts else 0
    year = int(as_of[:4])
    current = max(current, (year - 1789) // 2 + 1)
    return [c for c in counts if (c.get("congress") or current) >= current], [
        c for c in counts if (c.get("congress") or current) < current
    ]


def index_context(counts: list[dict], record: list[dict] | None, meta: dict) -> dict:
    """What the index page and the summary show. ``record`` None (the command line, which makes no track
    record): every bill forecast is in the main table whatever its Congress, and there is no track record
    section, rather than an empty one and a past bill that did come to a vote listed as "without a recorded
    vote"."""
    current, past = split_counts(counts, meta["as_of"]) if record is not None else (counts, [])
    labels = {c["bill_id"]: c.get("label", c["bill_id"]) for c in counts}
    voted = {t["bill_id"] for t in record or []}
    return {
        "meta": meta,
        "current": sorted(bill_rows(current), key=lambda b: (b["chamber"], -b["p_majority"])),
        "forecast": bill_rows(counts),  # every bill forecast, for the precedents' section
        "has_record": record is not None,
        "record": record_rows(record or [], labels),
        "past_unvoted": [b for b in bill_rows(past) if b["bill_id"] not in voted],
    }


def write_report(
    forecasts: pd.DataFrame,
    counts: list[dict],
    meta: dict,
    directory: Path,
    record: list[dict] | None = None,
    plots: Path = PLOTS_DIR,
) -> list:
    """Write the pages (and each bill's CSV); returns their paths."""
    calibration = pd.read_csv(plots / "calibration.csv")
    written = []
    for count in counts:
        members = forecasts[forecasts["bill_id"] == count["bill_id"]]
        path = directory / "bills" / f"{count['bill_id']}.html"
        page = bill_page(count, members, calibration, meta)
        write_atomic(path, lambda tmp, text=page: tmp.write_text(text))
        csv = directory / "bills" / f"{count['bill_id']}.csv"
        table = most_likely_first(members).drop(columns=["bill_id"])
        write_atomic(csv, lambda tmp, t=table: t.round({"probability": 4}).to_csv(tmp, index=False))
        written += [path, csv]
    context = index_context(counts, record, meta)
    for name, text in (
        ("index.html", TEMPLATES.get_template("index.html").render(**context)),
        ("summary.md", MARKDOWN.get_template("summary.md").render(**context)),
    ):
        write_atomic(directory / name, lambda tmp, t=text: tmp.write_text(t))
        written.append(directory / name)
    return written


def report_meta(model: dict | None = None, metrics_dir: Path = METRICS_DIR, reports: Path = REPORTS_DIR) -> dict:
    """As-of date, the model in use (content fingerprint and run name: the same on every machine) and its
    backtest headline. ``model`` (from `predict.load_champion`) adds the MLflow version for the CLI."""
    whip = json.loads((metrics_dir / "whip.json").read_text())
    metrics = json.loads((metrics_dir / "metrics.json").read_text())
    ours = metrics["xgboost"]["pooled"]
    low, high = json.loads((metrics_dir / "intervals.json").read_text())["intervals"]["xgboost"]["pooled"]["log_loss"]
    baselines = {
        m: v["pooled"]["log_loss"] for m, v in metrics.items() if m not in ("bars", "xgboost") and "pooled" in v
    }
    best = min(baselines, key=baselines.get) if baselines else None
    params = load_params()
    model = model or json.loads((reports / "model.json").read_text())
    label = f"(fingerprint {model['fingerprint']}"
    if model.get("version"):
        label += f", MLflow version {model['version']}"
    label += f", run “{model['run_name']}”)"
    backtest = (
        f"{ours['votes']:,} out-of-sample votes 2019–2025: log loss {ours['log_loss']:.3f}"
        + f" (90% interval {low:.3f}–{high:.3f} over other draws of its roll calls"
        + (f"; best baseline, {best.replace('_', ' ')}: {baselines[best]:.3f})" if best else ")")
        + f", within-party AUC among Republicans {ours['within_party_auc_R']:.2f}, calibration error {ours['ece']:.3f}"
    )
    return {
        "as_of": whip["as_of"],
        "model_name": params["model"]["name"],
        "model_label": label,
        "backtest": backtest,
        "coverage": f"{whip['coverage_90_shared_shock']:.0%}",
    }


def main(argv: list[str] | None = None) -> None:
    """DVC stage `report`: the pages from the predict stage's forecasts, logged to the champion's MLflow run."""
    args = stage_arguments("write the pages", "metrics", "plots", "reports", argv=argv)
    params = load_params()
    reports = args.reports
    forecasts = pd.read_parquet(reports / "forecasts.parquet")
    counts = json.loads((reports / "whip_counts.json").read_text())
    record = json.loads((reports / "track_record.json").read_text())
    meta = report_meta(metrics_dir=args.metrics, reports=reports)
    written = write_report(forecasts, counts, meta, reports, record, args.plots)
    import mlflow  # seconds to import: only the stage logs to MLflow, not the command line

    from models import tracking

    tracking.use_experiment(params["model"]["experiment"])
    champion = tracking.champion_info(params["model"]["name"])
    if champion["run_id"]:
        with mlflow.start_run(run_id=champion["run_id"]):
            for path in written:
                folder = "reports" + ("/bills" if path.parent.name == "bills" else "")
                mlflow.log_artifact(str(path), artifact_path=folder)
            mlflow.log_artifact(str(reports / "forecasts.csv"), artifact_path="reports")
    print(f"report: {len(written)} files in {reports} (open {reports / 'index.html'})")


if __name__ == "__main__":
    sys.exit(run_stage("report", main, debug_requested(sys.argv[1:])))  # bad input: one line, status 2
