#!/usr/bin/env bash
# The long fuzz run: the IDX reader and the PNG path of `predict` on generated damaged input,
# for SECONDS each (default 300). Usage: ./scripts/fuzz.sh [SECONDS]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MNIST_ROOT"
MNIST_FUZZ_SECONDS="${1:-300}" cargo test --release --test fuzz -- --nocapture --test-threads 2
