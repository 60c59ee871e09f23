#!/usr/bin/env bash
# The main job: set up (idempotent), then execute all seven notebooks headless under the evcxr
# kernel, writing the executed notebooks and HTML to reports/ and printing the test accuracies.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MNIST_ROOT"
scripts/setup.sh
echo; echo "== running the notebooks"
python scripts/run_notebooks.py "$@"
