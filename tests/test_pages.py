"""The pages as a reader sees them: rendered in headless Chromium at desktop (1400 px) and phone (400 px)
width, with a probe script that reports what the browser laid out (overflow, visible rows, text)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import pandas as pd
import pytest

from models.support_model import model_settings
from pipeline.config import FEATURES_DIR, REPORTS_DIR, load_params

pytestmark = pytest.mark.pipeline

PROBE = """<script>
window.addEventListener('load', () => setTimeout(() => {
  const w = window.innerWidth, wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (['SCRIPT', 'OPTION', 'STYLE'].includes(el.tagName)) continue;
    const box = el.closest('.scroll');
    if (box && box !== el) continue;  // inside a horizontal scroller: the scroller is what must fit
    const r = el.getBoundingClientRect();
    if (r.width > 0 && getComputedStyle(el).display !== 'none' && (r.right > w + 1 || r.left < -1))
      wide.push(`${el.tagName}.${el.className}#${el.id} ${Math.round(r.left)}..${Math.round(r.right)}`);
  }
  const rows = [...document.querySelectorAll('#members tbody tr')].filter(r => r.style.display !== 'none');
  const verdict = document.getElementById('verdict');
  const probe = {width: w, scrollWidth: document.documentElement.scrollWidth, wide: wide.slice(0, 20),
    visible: rows.map(r => r.cells[0].textContent.trim()), text: document.body.innerText,
    verdictBottom: verdict ? verdict.getBoundingClientRect().bottom : null};
  const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(probe);
  document.body.appendChild(pre);
}, 50));
</script>"""


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("Chromium is needed to check the pages: run `bash scripts/run_tests.sh` (installs it as root)")
    return found


def render(page, tmp_path, width: int, query: str = "") -> dict:
    """Lay a copy of ``page`` (with the probe) out in headless Chromium ``width`` px wide; the probe's report."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    copy = tmp_path / f"{page.stem}-{width}.html"
    copy.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / f'profile-{width}'}",
        f"--window-size={width},900",
        "--virtual-time-budget=3000",
        "--dump-dom",
        copy.as_uri() + query,
    ]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, "the probe did not run: the page's script failed or the page did not load"
    return json.loads(html.unescape(found.group(1)))


def raw_feature_names() -> set[str]:
    """Every model feature and feature-table column with an underscore (what a reader must never see)."""
    features = set(model_settings(load_params())["features"])
    columns = pd.read_parquet(FEATURES_DIR / "forecast.parquet").columns
    return {name for name in features | set(columns) if "_" in name}


@pytest.mark.parametrize("width", [1400, 400])
def test_house_bill_page_counts_voting_members_and_marks_the_sponsor(tmp_path, width):
    probe = render(REPORTS_DIR / "bills" / "119hr6508.html", tmp_path, width)
    text = probe["text"]
    assert re.search(r"(Very likely|Likely) to fail in the House: \d+ of 435 expected, 90% interval \d+–\d+", text)
    assert "435 seats" in text
    massie = [row for row in probe["visible"] if row.startswith("Thomas Massie")]
    assert massie == ["Thomas Massie" + "sponsor"]  # the badge sits in his name cell
    assert "Eleanor Holmes Norton" not in probe["visible"]  # the DC delegate is listed apart, not counted
    assert "Non-voting delegates (6, not counted)" in text
    leaked = sorted(name for name in raw_feature_names() if name in text)
    assert not leaked, f"raw feature names on the page: {leaked}"
    assert probe["scrollWidth"] <= probe["width"] and not probe["wide"], probe["wide"]
    assert probe["verdictBottom"] < 900  # the verdict is on the first screen


@pytest.mark.parametrize("width", [1400, 400])
def test_senate_bill_page_and_search(tmp_path, width):
    probe = render(REPORTS_DIR / "bills" / "119s2174.html", tmp_path, width, "?q=lee")
    assert probe["visible"] == ["Mike Leesponsor"]  # search matches name, state and party only
    assert "of 100 expected" in probe["text"] and "cloture 60" in probe["text"]
    assert probe["scrollWidth"] <= probe["width"] and not probe["wide"], probe["wide"]
    everyone = render(REPORTS_DIR / "bills" / "119s2174.html", tmp_path / "all", width) if width == 400 else None
    if everyone:
        assert len(everyone["visible"]) == 100


@pytest.mark.parametrize("width", [1400, 400])
def test_index_page_has_verdicts_legend_csv_and_a_track_record(tmp_path, width):
    probe = render(REPORTS_DIR / "index.html", tmp_path, width)
    text = probe["text"]
    assert "Stance:" in text and "Download every member forecast (CSV)" in text
    assert "H.R. 6508, NATO Act (Rep. Thomas Massie, R-KY)" in text
    assert re.search(r"likely to fail", text)  # the withdrawal bills
    track = text[text.index("Track record") :]
    assert "H.R. 676, NATO Support Act" in track and "Passed 357–22" in track
    current = text[: text.index("Track record")]
    assert "H.R. 676" not in current  # past bills are not mixed with today's
    leaked = sorted(name for name in raw_feature_names() if name in text)
    assert not leaked
    assert probe["scrollWidth"] <= probe["width"] and not probe["wide"], probe["wide"]


def test_every_page_is_written_with_its_csv():
    counts = json.loads((REPORTS_DIR / "whip_counts.json").read_text())
    for count in counts:
        page = (REPORTS_DIR / "bills" / f"{count['bill_id']}.html").read_text()
        assert '<meta name="viewport"' in page and f'href="{count["bill_id"]}.csv"' in page
        table = pd.read_csv(REPORTS_DIR / "bills" / f"{count['bill_id']}.csv")
        assert len(table) == count["members"] + count["delegates"]


@pytest.mark.parametrize("width", [1400, 400])
def test_every_bill_page_lays_out_with_its_verdict(tmp_path, width):
    counts = json.loads((REPORTS_DIR / "whip_counts.json").read_text())
    raw = raw_feature_names()
    for count in counts:
        probe = render(REPORTS_DIR / "bills" / f"{count['bill_id']}.html", tmp_path / count["bill_id"], width)
        seats = 435 if count["chamber"] == "house" else 100
        assert re.search(rf"in the {count['chamber'].capitalize()}: \d+ of {seats} expected", probe["text"])
        assert count["label"] in probe["text"]
        assert len(probe["visible"]) == count["members"]  # voting members only
        sponsor_rows = [row for row in probe["visible"] if row.endswith("sponsor") and not row.endswith("cosponsor")]
        assert len(sponsor_rows) <= 1
        assert not [name for name in raw if name in probe["text"]], count["bill_id"]
        assert probe["scrollWidth"] <= probe["width"] and not probe["wide"], (count["bill_id"], probe["wide"])


def test_a_bill_csv_lists_members_most_likely_first_and_ties_by_member_id():
    """The order must not hang on how the machine sorts ties (numpy sorts floats with AVX-512 where it can): rows
    are by probability, then member id, whatever order the forecasts arrive in."""
    from forecasts.report import most_likely_first

    forecasts = pd.read_parquet(REPORTS_DIR / "forecasts.parquet")
    members = forecasts[forecasts["bill_id"] == "116hr676"]
    assert members["probability"].duplicated().sum() > 10  # H.R. 676's Democrats share many probabilities
    table = pd.read_csv(REPORTS_DIR / "bills" / "116hr676.csv")
    for arrival in (members, members.iloc[::-1], members.sample(frac=1.0, random_state=3)):
        assert most_likely_first(arrival)["bioguide_id"].tolist() == table["bioguide_id"].tolist()
    ordered = list(zip(-members["probability"], members["bioguide_id"], strict=True))
    assert [b for _, b in sorted(ordered)] == table["bioguide_id"].tolist()
