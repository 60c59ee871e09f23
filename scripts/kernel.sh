#!/usr/bin/env bash
# The project's Jupyter kernel: evcxr_jupyter with a build directory that outlives the kernel.
#
# evcxr builds a kernel's cells in a new temporary directory, so every new kernel compiled the
# helper crate again (its dependencies come from evcxr's :cache, the crate itself does not) and
# the setup cell took about 20 s. Here a kernel takes one of a few persistent build directories
# under target/kernels/, locked for as long as the kernel runs, so the next kernel finds the last
# one's build and cargo recompiles only what changed. When every directory is taken by a running
# kernel, the new one uses evcxr's temporary directory: a slower start, the same results.
#
# The stop button: kernel.json says `interrupt_mode: "signal"`, so Jupyter sends SIGINT to this
# process group. evcxr_jupyter has no handler and would die, so SIGINT is ignored here, before
# anything starts; MNIST_KERNEL tells the helper crate, loaded in the user-code process, to
# install its own handler, which ends `fit` after the current batch and keeps every variable
# (helpers/src/stop.rs).
#
# Usage (kernel.json's argv): kernel.sh EVCXR_JUPYTER ARGS...
set -euo pipefail
trap '' INT
export MNIST_KERNEL=1
# evcxr announces "No configuration file found, use the default configuration" on every start (it
# looks for an optional ~/.config/evcxr); keep that line out of Jupyter's and the main job's logs.
exec > >(grep --line-buffered -v '^No configuration file found')
evcxr=$1
shift
# MNIST_KERNEL_SLOTS moves them (a class gives each learner their own: docs/classroom.md).
slots="${MNIST_KERNEL_SLOTS:-${MNIST_ROOT:?MNIST_ROOT is set in kernel.json}/target/kernels}"
# Cargo settings for the kernels' builds (cargo reads a .cargo/config.toml in any folder above the
# build folder): see scripts/kernel-cargo-config.toml.
config="$MNIST_ROOT/scripts/kernel-cargo-config.toml"
if [ -f "$config" ] && ! cmp -s "$config" "$slots/.cargo/config.toml"; then
  mkdir -p "$slots/.cargo" && cp "$config" "$slots/.cargo/config.toml.$$" \
    && mv "$slots/.cargo/config.toml.$$" "$slots/.cargo/config.toml"
fi
# Takes the lock on descriptor $1 without waiting: util-linux's flock, or perl's flock(2) on the
# same descriptor where there is no flock command (macOS). Either way the lock belongs to the open
# descriptor, which this shell keeps and evcxr inherits.
try_lock() {
  if command -v flock >/dev/null; then
    flock --nonblock "$1"
  else
    perl -MFcntl=:flock -e 'open(my $f, ">&=", $ARGV[0]) or exit 2; flock($f, LOCK_EX | LOCK_NB) or exit 1' "$1"
  fi
}
for slot in 0 1 2 3; do
  mkdir -p "$slots/$slot" 2>/dev/null || break
  exec {lock}>"$slots/$slot.lock"
  # The lock lives as long as this descriptor: evcxr inherits it and the kernel's exit frees it.
  if try_lock "$lock"; then
    export EVCXR_TMPDIR="$slots/$slot"
    exec "$evcxr" "$@"
  fi
  exec {lock}>&-
done
exec "$evcxr" "$@"
