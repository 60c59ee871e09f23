#!/usr/bin/env bash
# The performance benchmark: our helper crate against PyTorch eager (the project venv's torch),
# Keras on TensorFlow (tensorflow-cpu, in its own venv bench/.venv) and numpy, one after another
# on this machine with the same thread count; prints medians and ratios (ours / theirs) and writes
# reports/bench/ (table.md, results.json, ratios.png).
#
#   ./scripts/bench.sh [--repeats N] [--cnn-repeats N] [--only seed,load,eval,convnet]
#                      [--best] [--update-readme]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MNIST_ROOT"

./scripts/setup.sh

bench_venv() {
  local venv=bench/.venv stamp=bench/.venv/.requirements.sha256 want
  want=$(sha256sum bench/requirements.txt | cut -d' ' -f1)
  if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "bench venv: up to date"; return
  fi
  printf '\n== creating bench/.venv (tensorflow-cpu, numpy; a few minutes, once)\n'
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --disable-pip-version-check -q -r bench/requirements.txt
  echo "$want" > "$stamp"
}

bench_venv
printf '\n== building mnist-bench (release)\n'
cargo build --release --quiet --bin mnist-bench
printf '\n== benchmark (%s threads)\n' "$(nproc)"
exec "$MNIST_VENV/bin/python" bench/run.py "$@"
