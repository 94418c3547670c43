#!/usr/bin/env bash
# `dvc plots show` for a machine without internet: DVC's HTML loads Vega from a CDN, so the CSV plots stay blank
# offline. This fetches the same Vega, Vega-Lite and Vega-Embed versions once from the npm registry (npm pack,
# kept under .venv/share/vega), inlines them in an HTML template, and passes it to `dvc plots show`.
#   bash scripts/plots_offline.sh --open      # any `dvc plots show` arguments
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
cache=.venv/share/vega
template=$cache/dvc_plots_offline.html
packages="vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2"   # the versions dvc-render's own page asks for
if [ ! -s "$template" ]; then
  command -v npm >/dev/null 2>&1 || { echo "plots_offline: npm is needed once to fetch Vega (apt-get install npm)" >&2; exit 1; }
  mkdir -p "$cache"
  (cd "$cache" && npm pack --silent $packages >/dev/null)
  tmp=$(mktemp "$cache/template.XXXXXX")
  {
    echo '<!DOCTYPE html><html><head><meta charset="utf-8"><title>natocast: DVC plots</title>'
    for package in vega vega-lite vega-embed; do
      echo "<script>"
      tar -xzOf "$cache/$package"-[0-9]*.tgz "package/build/$package.min.js"
      echo "</script>"
    done
    echo '<style>table{border-spacing:15px}</style></head><body>{plot_divs}</body></html>'
  } > "$tmp"
  mv "$tmp" "$template"
fi
dvc plots show --html-template "$template" "$@"
