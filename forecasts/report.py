"""DVC stage `report`: one self-contained HTML page per bill, an index page and a Markdown summary.

Pages carry everything inline (CSS, a little JavaScript for sorting and filtering, SVG charts), so a page
can be mailed or attached as it is. The same files are logged to the model's MLflow run.
"""

from __future__ import annotations

import html
import json
import math

import mlflow
import numpy as np
import pandas as pd

from models import tracking
from pipeline.config import METRICS_DIR, MODELS_DIR, PLOTS_DIR, REPORTS_DIR, load_params
from pipeline.tables import write_atomic

PARTY_COLOURS = {"R": "#c0392b", "D": "#2471a3", "I": "#7d3c98"}
STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}table{border-collapse:collapse;width:100%;font-size:.85em}
th,td{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{cursor:pointer;background:#f4f4f4;position:sticky;top:0}th:hover{background:#e8e8e8}
.R{color:#c0392b}.D{color:#2471a3}.I{color:#7d3c98}.num{text-align:right;white-space:nowrap}
.charts{display:flex;flex-wrap:wrap;gap:1.5em}.card{border:1px solid #ddd;border-radius:6px;padding:.8em}
.kpi{display:inline-block;margin-right:2em}.kpi b{font-size:1.4em;display:block}.small{color:#666;font-size:.8em}
"""
SCRIPT = """
const table=document.getElementById('members');const rows=[...table.tBodies[0].rows];
function applyFilter(){const p=document.getElementById('party').value,s=document.getElementById('state').value,
q=document.getElementById('search').value.toLowerCase();let shown=0;
for(const r of rows){const ok=(!p||r.dataset.party===p)&&(!s||r.dataset.state===s)&&(!q||r.textContent.toLowerCase().includes(q));
r.style.display=ok?'':'none';if(ok)shown++;}document.getElementById('shown').textContent=shown;}
['party','state','search'].forEach(id=>document.getElementById(id).addEventListener('input',applyFilter));
table.tHead.querySelectorAll('th').forEach((th,i)=>th.addEventListener('click',()=>{
const asc=th.dataset.sort!=='asc';table.tHead.querySelectorAll('th').forEach(h=>delete h.dataset.sort);th.dataset.sort=asc?'asc':'desc';
const key=r=>{const c=r.cells[i];return c.dataset.value!==undefined?parseFloat(c.dataset.value):c.textContent};
rows.sort((a,b)=>{const x=key(a),y=key(b);return (x>y?1:x<y?-1:0)*(asc?1:-1)});rows.forEach(r=>table.tBodies[0].appendChild(r));}));
applyFilter();
"""


def _svg(width: int, height: int, body: str, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{html.escape(label)}" class="chart">{body}</svg>'
    )


def _axes(width, height, pad, x_label, y_label, x_ticks, y_ticks, x_of, y_of) -> str:
    parts = [
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - 10}" y2="{height - pad}" stroke="#333"/>',
        f'<line x1="{pad}" y1="10" x2="{pad}" y2="{height - pad}" stroke="#333"/>',
        f'<text x="{(width + pad) / 2}" y="{height - 5}" text-anchor="middle" font-size="11">{x_label}</text>',
        f'<text x="12" y="{height / 2}" text-anchor="middle" font-size="11" '
        f'transform="rotate(-90 12 {height / 2})">{y_label}</text>',
    ]
    for tick in x_ticks:
        parts.append(
            f'<text x="{x_of(tick):.1f}" y="{height - pad + 14}" text-anchor="middle" font-size="10">{tick:g}</text>'
        )
    for tick in y_ticks:
        parts.append(f'<text x="{pad - 4}" y="{y_of(tick) + 3:.1f}" text-anchor="end" font-size="10">{tick:g}</text>')
    return "".join(parts)


def ideology_chart(members: pd.DataFrame) -> str:
    """DW-NOMINATE dim1 against P(support), one dot per member (members without a score are left out)."""
    width, height, pad = 460, 320, 42
    scored = members.dropna(subset=["nominate_dim1"])

    def x_of(v):
        return pad + (v + 1) / 2 * (width - pad - 10)

    def y_of(v):
        return height - pad - v * (height - pad - 10)

    dots = "".join(
        f'<circle class="dot" cx="{x_of(r.nominate_dim1):.1f}" cy="{y_of(r.probability):.1f}" r="3" '
        f'fill="{PARTY_COLOURS.get(r.party, "#777")}" fill-opacity=".7"><title>{html.escape(str(r.name))} '
        f"({r.party}-{r.state}): {r.probability:.0%}</title></circle>"
        for r in scored.itertuples()
    )
    axes = _axes(
        width,
        height,
        pad,
        "DW-NOMINATE dim1 (left to right)",
        "P(support)",
        [-1, -0.5, 0, 0.5, 1],
        [0, 0.25, 0.5, 0.75, 1],
        x_of,
        y_of,
    )
    note = f"{len(members) - len(scored)} members without a score (new) not shown"
    return _svg(width, height, axes + dots, "ideology against probability") + f'<div class="small">{note}</div>'


def tally_chart(count: dict) -> str:
    """Distribution of the number of supporters over the simulations, with the thresholds."""
    width, height, pad = 460, 320, 42
    distribution = np.array(count["distribution"], dtype=float)
    distribution = distribution / distribution.sum()
    members = count["members"]
    top = distribution.max() or 1

    def x_of(v):
        return pad + v / members * (width - pad - 10)

    def y_of(v):
        return height - pad - v / top * (height - pad - 20)

    bar_width = max((width - pad - 10) / (members + 1), 1)
    bars = "".join(
        f'<rect class="bar" x="{x_of(k):.1f}" y="{y_of(p):.1f}" width="{bar_width:.2f}" '
        f'height="{height - pad - y_of(p):.1f}" fill="#5d6d7e"/>'
        for k, p in enumerate(distribution)
        if p
    )
    lines = "".join(
        f'<line x1="{x_of(v):.1f}" y1="15" x2="{x_of(v):.1f}" y2="{height - pad}" stroke="#e67e22" '
        f'stroke-dasharray="4 3"/><text x="{x_of(v) + 3:.1f}" y="{25 + 12 * i}" font-size="10" fill="#e67e22">'
        f"{name.replace('_', ' ')} ({v})</text>"
        for i, (name, v) in enumerate(count["thresholds"].items())
    )
    ticks = [0, members // 4, members // 2, 3 * members // 4, members]
    axes = _axes(width, height, pad, "number of supporters", "share of simulations", ticks, [], x_of, y_of)
    return _svg(width, height, axes + bars + lines, "tally distribution")


def calibration_chart(reliability: pd.DataFrame) -> str:
    """The backtest's reliability diagram for the model: forecast against observed Yea rate."""
    width, height, pad = 360, 320, 42
    model = reliability[reliability["method"] == "xgboost"]

    def x_of(v):
        return pad + v * (width - pad - 10)

    def y_of(v):
        return height - pad - v * (height - pad - 10)

    diagonal = (
        f'<line x1="{x_of(0)}" y1="{y_of(0)}" x2="{x_of(1)}" y2="{y_of(1)}" stroke="#aaa" stroke-dasharray="4 3"/>'
    )
    points = " ".join(f"{x_of(r.mean_forecast):.1f},{y_of(r.observed_rate):.1f}" for r in model.itertuples())
    dots = "".join(
        f'<circle cx="{x_of(r.mean_forecast):.1f}" cy="{y_of(r.observed_rate):.1f}" r="{2 + math.log10(r.votes + 1):.1f}" '
        f'fill="#17a589"><title>{r.votes} votes: forecast {r.mean_forecast:.2f}, observed '
        f"{r.observed_rate:.2f}</title></circle>"
        for r in model.itertuples()
    )
    axes = _axes(width, height, pad, "forecast P(Yea)", "observed Yea rate", [0, 0.5, 1], [0, 0.5, 1], x_of, y_of)
    return _svg(
        width,
        height,
        axes + diagonal + f'<polyline points="{points}" fill="none" stroke="#17a589"/>' + dots,
        "backtest calibration",
    )


def _cell(value) -> str:
    """Escaped text of a table cell; missing values are blank, not 'nan'."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else html.escape(str(value))


def member_table(members: pd.DataFrame) -> str:
    head = (
        "<tr><th>Member</th><th>Party</th><th>State</th><th>P(support)</th><th>Low history</th>"
        "<th>Pushes toward</th><th>Pushes away</th><th>Last vote on NATO itself</th><th>Votes with (last 2 years)</th></tr>"
    )
    body = []
    for r in members.sort_values("probability", ascending=False).itertuples():
        body.append(
            f'<tr data-party="{r.party}" data-state="{r.state}"><td>{html.escape(str(r.name))}</td>'
            f'<td class="{r.party}">{r.party}</td><td>{r.state}</td>'
            f'<td class="num" data-value="{r.probability:.4f}">{r.probability:.0%}</td>'
            f'<td data-value="{int(r.low_history)}">{"yes" if r.low_history else ""}</td>'
            f"<td>{_cell(r.reasons_for)}</td><td>{_cell(r.reasons_against)}</td>"
            f"<td>{_cell(r.last_alliance_vote)}</td>"
            f"<td>{_cell(r.agreement_with_named_sponsors)}</td></tr>"
        )
    return f'<table id="members"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'


def bill_page(count: dict, members: pd.DataFrame, reliability: pd.DataFrame, meta: dict) -> str:
    parties = sorted(members["party"].dropna().unique())
    states = sorted(members["state"].dropna().unique())
    options = lambda values: "".join(f'<option value="{v}">{v}</option>' for v in values)  # noqa: E731
    stance = {1: "for the alliance", -1: "against the alliance", 0: "no side"}[count["stance"]]
    p_pass = "".join(
        f'<span class="kpi"><b>{p:.0%}</b>P({name.replace("_", " ")})</span>' for name, p in count["p_pass"].items()
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{html.escape(count["bill_id"])}: support forecast</title><style>{STYLE}</style></head><body>
<p class="small"><a href="../index.html">All bills</a></p>
<h1>{html.escape(count["bill_id"])}: {html.escape(str(count["title"]))}</h1>
<p>{count["chamber"].capitalize()} bill, stance {stance}; sponsor {html.escape(str(count["sponsor"]))}.
Forecast as of {meta["as_of"]} from <code>{html.escape(meta["model"])}</code>.</p>
<div class="card"><span class="kpi"><b>{count["expected_supporters"]:.1f}</b>expected supporters of {count["members"]}</span>
<span class="kpi"><b>{count["interval_90"][0]}&ndash;{count["interval_90"][1]}</b>90% interval</span>{p_pass}
<div class="small">The interval and passage chances simulate a shared bill-level swing (scale {count["shock_scale"]:.2f}
in log-odds, fitted on the backtest; its 90% intervals covered {meta["coverage"]:.0%} of backtest roll calls),
every sitting member voting.</div></div>
<div class="charts"><div class="card"><h2>Ideology and probability</h2>{ideology_chart(members)}</div>
<div class="card"><h2>Tally distribution</h2>{tally_chart(count)}</div>
<div class="card"><h2>Backtest calibration</h2>{calibration_chart(reliability)}</div></div>
<h2>Members (<span id="shown"></span> shown)</h2>
<p>Party <select id="party"><option value="">all</option>{options(parties)}</select>
State <select id="state"><option value="">all</option>{options(states)}</select>
Search <input id="search" type="search"> <span class="small">Click a column to sort.</span></p>
{member_table(members)}<script>{SCRIPT}</script></body></html>"""


def index_page(counts: list[dict], meta: dict) -> str:
    rows = "".join(
        f'<tr><td><a href="bills/{c["bill_id"]}.html">{c["bill_id"]}</a></td><td>{html.escape(str(c["title"]))}</td>'
        f'<td>{c["chamber"]}</td><td class="num">{c["stance"]:+d}</td>'
        f'<td class="num" data-value="{c["expected_supporters"]:.2f}">{c["expected_supporters"]:.1f} / {c["members"]}</td>'
        f'<td class="num">{c["interval_90"][0]}&ndash;{c["interval_90"][1]}</td>'
        f'<td class="num" data-value="{c["p_pass"]["simple_majority"]:.4f}">{c["p_pass"]["simple_majority"]:.0%}</td></tr>'
        for c in counts
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>NATO bills: support forecasts</title>
<style>{STYLE}</style></head><body><h1>Support forecasts for NATO-related bills</h1>
<p>As of {meta["as_of"]}, model <code>{html.escape(meta["model"])}</code>. Backtest (out of sample, {meta["backtest_votes"]}
votes): log loss {meta["log_loss"]:.3f}, within-party AUC among Republicans {meta["auc_r"]:.3f}, calibration error
{meta["ece"]:.3f}.</p>
<table id="bills"><thead><tr><th>Bill</th><th>Title</th><th>Chamber</th><th>Stance</th><th>Expected supporters</th>
<th>90% interval</th><th>P(majority)</th></tr></thead><tbody>{rows}</tbody></table></body></html>"""


def summary_markdown(counts: list[dict], meta: dict) -> str:
    lines = [
        f"# Support forecasts, as of {meta['as_of']}",
        "",
        f"Model `{meta['model']}`; backtest log loss {meta['log_loss']:.3f}, within-party AUC (R) "
        f"{meta['auc_r']:.3f}, ECE {meta['ece']:.3f}; whip intervals covered {meta['coverage']:.0%} of backtest "
        "roll calls.",
        "",
        "| bill | chamber | stance | expected supporters | 90% interval | P(majority) | P(two-thirds) | title |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in counts:
        lines.append(
            f"| {c['bill_id']} | {c['chamber']} | {c['stance']:+d} | {c['expected_supporters']:.1f} of "
            f"{c['members']} | {c['interval_90'][0]}-{c['interval_90'][1]} | "
            f"{c['p_pass']['simple_majority']:.0%} | {c['p_pass']['two_thirds']:.0%} | {c['title']} |"
        )
    return "\n".join(lines) + "\n"


def write_report(forecasts: pd.DataFrame, counts: list[dict], meta: dict, directory) -> list:
    """Write the pages; returns their paths."""
    reliability = pd.read_csv(PLOTS_DIR / "reliability.csv")
    written = []
    for count in counts:
        members = forecasts[forecasts["bill_id"] == count["bill_id"]]
        path = directory / "bills" / f"{count['bill_id']}.html"
        page = bill_page(count, members, reliability, meta)
        write_atomic(path, lambda tmp, text=page: tmp.write_text(text))
        written.append(path)
    for name, text in (("index.html", index_page(counts, meta)), ("summary.md", summary_markdown(counts, meta))):
        write_atomic(directory / name, lambda tmp, t=text: tmp.write_text(t))
        written.append(directory / name)
    return written


def report_meta() -> dict:
    whip = json.loads((METRICS_DIR / "whip.json").read_text())
    metrics = json.loads((METRICS_DIR / "metrics.json").read_text())["xgboost"]["pooled"]
    return {
        "as_of": whip["as_of"],
        "model": whip["model"],
        "coverage": whip["coverage_90_shared_shock"],
        "log_loss": metrics["log_loss"],
        "auc_r": metrics["within_party_auc_R"],
        "ece": metrics["ece"],
        "backtest_votes": metrics["votes"],
    }


def main() -> None:
    params = load_params()
    forecasts = pd.read_parquet(REPORTS_DIR / "forecasts.parquet")
    counts = json.loads((REPORTS_DIR / "whip_counts.json").read_text())
    written = write_report(forecasts, counts, report_meta(), REPORTS_DIR)
    run = json.loads((MODELS_DIR / "run.json").read_text())
    tracking.use_experiment(params["model"]["experiment"])
    with mlflow.start_run(run_id=run["run_id"]):
        for path in written:
            mlflow.log_artifact(str(path), artifact_path="reports" + ("/bills" if path.parent.name == "bills" else ""))
        mlflow.log_artifact(str(REPORTS_DIR / "forecasts.csv"), artifact_path="reports")
    print(f"report: {len(written)} files in {REPORTS_DIR} (open {REPORTS_DIR / 'index.html'})")


if __name__ == "__main__":
    main()
