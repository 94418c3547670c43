"""Regenerate the README's screenshots of a bill page (docs/bill_page.png at 1400 px, docs/bill_page_phone.png at
400 px) from the pipeline's report, in headless Chromium.

    .venv/bin/python scripts/screenshot.py [bill_id]      # default 119hr6508
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHOTS = {"bill_page.png": (1400, 1500), "bill_page_phone.png": (400, 1400)}


def screenshot(page: Path, out: Path, width: int, height: int) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("screenshot: Chromium is missing (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        tmp = out.with_suffix(".tmp.png")
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={width},{height}",
             "--virtual-time-budget=3000", f"--screenshot={tmp}", page.as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        tmp.replace(out)


def main() -> None:
    bill = sys.argv[1] if len(sys.argv) > 1 else "119hr6508"
    page = ROOT / "reports" / "bills" / f"{bill}.html"
    if not page.exists():
        raise SystemExit(f"screenshot: {page} is missing: run `dvc repro` first")
    for name, (width, height) in SHOTS.items():
        screenshot(page, ROOT / "docs" / name, width, height)
        print(f"screenshot: docs/{name} ({width} px wide) from {page.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
