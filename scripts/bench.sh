#!/usr/bin/env bash
# The performance benchmark: our engine and the notebooks' plain-tch path against PyTorch eager
# (the project venv's torch), Keras on TensorFlow (tensorflow-cpu, in its own venv bench/.venv),
# numpy, and the Rust peers candle and burn (bench/candle_ref, bench/burn_ref), one after another
# on this machine with the same thread count; prints medians and ratios (ours / theirs) and writes
# reports/bench/ (table.md, results.json, ratios.png).
#
#   ./scripts/bench.sh [--repeats N] [--cnn-repeats N] [--only seed,load,eval,convnet]
#                      [--best] [--no-burn] [--update-docs] [--device cuda]
#
# --device cuda (a machine with an NVIDIA GPU): ours, the notebooks' path and PyTorch (the venv's
# torch, a CUDA build) on the GPU, seed recipe and CNN race, into reports/bench/cuda/; Keras and
# the Rust peers are CPU-only here and left out.
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

# The Rust peers are bench-only crates with their own lock files, built into target/peers/: the
# notebooks' kernel and ./mnist never compile them.
build_peer() {
  local start=$SECONDS
  printf '\n== building the %s peer (bench/%s_ref, release; minutes the first time)\n' "$1" "$1"
  cargo build --release --quiet --locked --manifest-path "bench/$1_ref/Cargo.toml" --target-dir target/peers
  echo "$1 peer: ready in $((SECONDS - start)) s"
}

printf '\n== building mnist-bench (release)\n'
cargo build --release --quiet --bin mnist-bench
case " $* " in
  *" --device cuda "*) echo "GPU run: Keras and the Rust peers left out" ;;
  *)
    bench_venv
    build_peer candle
    case " $* " in *" --no-burn "*) echo "burn: left out (--no-burn)" ;; *) build_peer burn ;; esac ;;
esac
printf '\n== benchmark (%s threads)\n' "$(nproc)"
exec "$MNIST_VENV/bin/python" bench/run.py "$@"
