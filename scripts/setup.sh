#!/usr/bin/env bash
# One-time (and idempotent) setup: project venv with pinned torch + Jupyter, the release `mnist`
# binary, verified MNIST, the pinned evcxr_jupyter kernel registered with its environment, and a
# warm kernel cache. A second run finds everything in place and takes seconds.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MNIST_ROOT"

EVCXR_VERSION=0.22.0
KERNEL_NAME=mnist-rust

step() { printf '\n== %s\n' "$*"; }
die() { echo "setup: $*" >&2; exit 1; }

need_tools() {
  for tool in python3 cargo npm; do
    command -v "$tool" >/dev/null || die "$tool is missing: install it first (see README)"
  done
  if ! command -v ccache >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    step "installing ccache (caches libtorch's C++ wrapper between kernels)"
    (apt-get install -y -qq ccache >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq ccache; }) \
      || echo "setup: ccache could not be installed; kernels will start slower" >&2
    source scripts/env.sh
  fi
}

setup_venv() {
  local stamp="$MNIST_VENV/.requirements.sha256" want
  want=$(sha256sum requirements.txt | cut -d' ' -f1)
  if [ -x "$MNIST_VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "venv: up to date ($MNIST_VENV)"; return
  fi
  step "creating the project venv (torch, JupyterLab, nbclient, nbconvert)"
  [ -x "$MNIST_VENV/bin/python" ] || python3 -m venv "$MNIST_VENV"
  "$MNIST_VENV/bin/pip" install --disable-pip-version-check -q -r requirements.txt
  echo "$want" > "$stamp"
}

build_binary() {
  step "building the mnist command (release)"
  cargo build --release --bin mnist 2>&1 | grep -vE '^\s*(Compiling|Finished|Checking)' || true
  [ -x target/release/mnist ] || die "build failed: run 'cargo build --release' to see why"
}

install_evcxr() {
  local bin="$MNIST_TOOLS/bin/evcxr_jupyter"
  if [ -x "$bin" ] && grep -q "^\"evcxr_jupyter $EVCXR_VERSION " "$MNIST_TOOLS/.crates.toml" 2>/dev/null; then
    echo "evcxr_jupyter $EVCXR_VERSION: installed"; return
  fi
  step "installing evcxr_jupyter $EVCXR_VERSION (about 10 minutes, once)"
  cargo install --locked --quiet evcxr_jupyter --version "$EVCXR_VERSION" --root "$MNIST_TOOLS"
}

register_kernel() {
  "$MNIST_VENV/bin/python" scripts/register_kernel.py "$KERNEL_NAME" "$MNIST_TOOLS/bin/evcxr_jupyter"
}

# Compiles the notebooks' setup cells (01's, and 07's with its own crate) in fresh kernels, so that evcxr's and ccache's caches
# are full and a learner's first cell answers in seconds. Skipped while nothing it compiles changed.
warm_kernel() {
  local stamp="target/.kernel-warm" want
  want=$(cat Cargo.lock helpers/Cargo.toml helpers/explore/Cargo.toml \
         "$MNIST_VENV/share/jupyter/kernels/$KERNEL_NAME/kernel.json" \
         $(find helpers/src helpers/explore/src -name '*.rs' -o -name '*.html' | sort) \
         | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "kernel: warm"; return
  fi
  step "warming the evcxr kernel"
  "$MNIST_VENV/bin/python" scripts/run_notebooks.py --warm
  echo "$want" > "$stamp"
}

need_tools
setup_venv
build_binary
step "MNIST data"
target/release/mnist fetch
install_evcxr
register_kernel
warm_kernel
echo
echo "setup: done"
