#!/usr/bin/env bash
# Regenerate the README screenshots (docs/screenshots/*.png) by running the browser tests,
# which drive headless Chromium through the KB pages with a real worker.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-chromium.sh
export KB_SCREENSHOT_DIR="$PWD/docs/screenshots"
exec .venv/bin/python -m pytest tests/browser -m browser -q "$@"
