#!/usr/bin/env bash
# The test command: set up (idempotent), then formatting, lints, the crate's unit and integration
# tests (release profile, sharing the setup's build), and the notebooks under the real kernel.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MNIST_ROOT"
scripts/setup.sh
echo; echo "== cargo fmt --check"
cargo fmt --all -- --check
echo; echo "== cargo clippy"
cargo clippy --release --all-targets --quiet -- -D warnings
echo; echo "== cargo test"
cargo test --release --quiet
echo; echo "== notebooks under the evcxr kernel (short mode)"
python scripts/run_notebooks.py --check
