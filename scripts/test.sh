#!/usr/bin/env bash
# The test command: set up (idempotent), then formatting, lints, the crate's unit and integration
# tests (release profile, sharing the setup's build; includes the property tests and the kill
# test), the JupyterLab safety check, the notebooks under the real kernel (the learner's copies
# in notebooks/ and the exercises' solutions in solutions/, graded by nbgrader too), and the same notebooks
# clicked through in JupyterLab in headless Chromium, and 07's draw-a-digit canvas drawn on in
# JupyterLab and in the exported report, and the stop button pressed during 04's training
# (screenshots in target/test-reports/); then, as root, the course's container image built and
# run as a learner runs it (scripts/image_test.py) and the class served from it, a container per
# learner, with its isolation and limits tried (scripts/hub_test.py).
#
# Two tiers. `./scripts/test.sh --fast` is the one to run after each change: the workspace's unit
# and integration tests that make their own data (the README gives its time once built, from
# target/fast-tier.json, which each run writes; it needs only the project venv). Everything else
# is the full tier, this script without --fast: the tests marked
# `#[ignore = "full tier: ..."]` (real MNIST, trainings to the promised accuracy, killed
# processes, downloads), then the notebooks under the kernel and in JupyterLab.
#
# The tests of the tracked files (a module `git_tracked` in helpers/tests: no data tracked, each
# fact in one place) cannot decide outside a git checkout, and cargo has no skipped state: they
# run as a step of their own, counted as skipped there, and are left out of the other cargo steps.
# `./scripts/test.sh --tracked` runs that step alone.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MNIST_ROOT"
GIT_TESTS=git_tracked::
# Why the tests of the tracked files cannot decide here; nothing where they can.
untracked_reason() {
  git -C "$MNIST_ROOT" ls-files --error-unmatch Cargo.toml >/dev/null 2>&1 \
    || echo "not a git checkout (git ls-files fails here)"
}
if [ "${1:-}" = "--fast" ]; then
  [ -x "$MNIST_VENV/bin/python" ] || scripts/setup.sh
  start=$SECONDS
  why=$(untracked_reason) skip=() skipped=""
  if [ -n "$why" ]; then
    skip=(-- --skip "$GIT_TESTS")
    skipped=", $(cargo test --release --quiet -- --list "$GIT_TESTS" 2>/dev/null | grep -c ': test$') skipped ($why)"
  fi
  cargo test --release --quiet "${skip[@]}"
  seconds=$((SECONDS - start))
  # The figure the README quotes (copied there by `python scripts/docs_figures.py --update`).
  cpu=$(python3 scripts/course.py cpu)
  printf '{"date": "%s", "cpu": "%s, %s cores", "seconds": %s}\n' "$(date +%F)" \
    "${cpu:-$(uname -m)}" "$(nproc)" "$seconds" > target/fast-tier.json
  echo "fast tier: passed in $seconds s$skipped (./scripts/test.sh without --fast runs everything)"
  exit 0
fi
# Each step below is counted: passed, failed (the run stops there) or skipped (exit 77, a step
# that cannot decide here, e.g. the container steps when not root); the last line says how many.
PASSED=0 FAILED=0 SKIPPED=0
trap 'echo; echo "test.sh: $PASSED passed, $FAILED failed, $SKIPPED skipped"' EXIT
check() {
  local name=$1 rc=0; shift
  echo; echo "== $name"
  "$@" || rc=$?
  case $rc in
    0) PASSED=$((PASSED + 1)) ;;
    77) SKIPPED=$((SKIPPED + 1)) ;;
    *) FAILED=$((FAILED + 1)); echo "test.sh: '$name' failed (exit $rc)"; exit "$rc" ;;
  esac
}
# The image is built with this machine's CA bundle, so that its pip, cargo and npm trust what the
# host trusts (networks that inspect TLS); skipped where neither podman nor docker runs, or not root.
# (scripts/image.sh reads MNIST_CA_BUNDLE; the class's own builds, scripts/hub.sh, too.)
[ ! -r /etc/ssl/certs/ca-certificates.crt ] || export MNIST_CA_BUNDLE="${MNIST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
build_image() {
  if [ "$(id -u)" != 0 ]; then echo "image: skipped: building it here needs root"; return 77; fi
  # Podman and what the image and the class need of the machine, from Debian's packages.
  if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
    echo "installing podman, runc, debootstrap, uidmap, iptables (Debian's packages)"
    { apt-get install -y -qq podman runc debootstrap uidmap iptables >/dev/null 2>&1 \
      || { apt-get update -qq && apt-get install -y -qq podman runc debootstrap uidmap iptables >/dev/null; }; } \
      || { echo "could not install podman and runc"; return 1; }
  fi
  scripts/image.sh build > target/image-build.log 2>&1 \
    || { tail -40 target/image-build.log; return 1; }
  tail -1 target/image-build.log
}
# The tests of the tracked files, or exit 77 where they cannot decide.
tracked_files() {
  local why; why=$(untracked_reason)
  if [ -n "$why" ]; then echo "skipped: $why"; return 77; fi
  cargo test --release --quiet -p mnist_helpers --test clean_tree --test one_place -- "$GIT_TESTS"
}
if [ "${1:-}" = "--tracked" ]; then
  check "the tracked files: no data, each fact in one place" tracked_files
  exit 0
fi
check "setup" scripts/setup.sh
check "browser" scripts/setup_browser.sh
check "cargo fmt --check" cargo fmt --all -- --check
check "cargo clippy" cargo clippy --release --all-targets --quiet -- -D warnings
check "cargo test: both tiers" cargo test --release --quiet -- --include-ignored --skip "$GIT_TESTS"
check "the tracked files: no data, each fact in one place" tracked_files
# The short-mode models the tests train go here, never over the user's artifacts/; their
# notebooks, HTML, index and screenshots go to target/test-reports/, never over the main job's
# reports/.
export MNIST_ARTIFACTS="${MNIST_ARTIFACTS:-$MNIST_ROOT/target/test-artifacts}"
export MNIST_REPORTS="${MNIST_REPORTS:-$MNIST_ROOT/target/test-reports}"
check "JupyterLab: localhost only, token required" python scripts/check_lab.py
check "exercises: notebooks/ is nbgrader's release of solutions/" python scripts/exercises.py check
check "notebooks under the evcxr kernel (short mode; every exercise's check: not done yet)" \
  python scripts/run_notebooks.py --check
check "the exercises' solutions under the kernel (short mode; every check: right)" \
  python scripts/run_notebooks.py --check --solutions
check "nbgrader's autograde under the kernel: 02 solved full marks, unsolved none" \
  python scripts/exercises.py autograde
check "the draw-a-digit canvas in the exported report, opened from disk in headless Chromium" \
  bash -c 'cargo build --release --quiet --example page_check -p mnist_engine && node e2e/report_canvas.mjs'
check "JupyterLab in headless Chromium: run all cells through the UI (and draw in 07's canvas)" \
  node e2e/lab_e2e.mjs "02_data_preparation.ipynb:sample_grid" "06_visualization.ipynb:misclassified_grid" \
  "07_explore.ipynb:saliency_grid"
check "JupyterLab in headless Chromium: the stop button during 04's training keeps the variables" \
  node e2e/lab_stop.mjs
check "the course's image (./scripts/image.sh build)" build_image
check "the image on a learner's machine: podman run, first answer, all notebooks (scripts/image_test.py)" \
  python scripts/image_test.py
check "the class server: three learners in containers, isolation and limits (scripts/hub_test.py)" \
  python scripts/hub_test.py
