#!/usr/bin/env bash
# Remakes the README's pictures under docs/ from the main job's output (reports/ of a full run):
# run ./scripts/main.sh first. Refuses the output of a short test run, which would show weaker
# models than the project trains.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MNIST_ROOT"
mode=$(python -c 'import json; print(json.load(open("reports/run.json"))["mode"])' 2>/dev/null || true)
if [ "$mode" != "full" ]; then
  echo "docs pictures: reports/ is not from a full run (mode: ${mode:-none}): run ./scripts/main.sh first" >&2
  exit 1
fi
scripts/setup_browser.sh
node e2e/docs_pictures.mjs
