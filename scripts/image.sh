#!/usr/bin/env bash
# The course's container image (Dockerfile), with podman or docker, whichever answers.
#
#   ./scripts/image.sh build [--ca-bundle FILE] [--tag TAG]   build IMAGE (mnist-course), tagged
#                                                             latest and with this clone's commit
#   ./scripts/image.sh run [PORT]                             JupyterLab from the image on
#                                                             localhost:PORT (8888); the work on the
#                                                             volume mnist-work
#   ./scripts/image.sh engine                                 which engine, and how it is called
#
# --ca-bundle FILE (or MNIST_CA_BUNDLE=FILE): a CA bundle that pip, cargo and npm trust during the
# build, for networks that inspect TLS (these machines: /etc/ssl/certs/ca-certificates.crt); podman
# only. The builder's cache counts it: builds with and without it do not share layers.
# MNIST_IMAGE names the image (default mnist-course); BASE the base image (default debian:bookworm):
# where it cannot be pulled and debootstrap is here, it is made from Debian's packages; the Rust
# image (the Dockerfile's RUST), where it cannot be pulled, from this machine's Rust of that version.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE="${MNIST_IMAGE:-mnist-course}"
BASE="${BASE:-debian:bookworm}"

die() { echo "image: $*" >&2; exit 1; }

# Sets ENGINE to the first of podman and docker whose `info` succeeds (a docker client with no
# engine behind it does not count).
pick_engine() {
  if command -v podman >/dev/null; then
    MNIST_ROOT=$ROOT source "$ROOT/scripts/image/podman-env.sh"
    if podman info >/dev/null 2>&1; then ENGINE=podman; return; fi
  fi
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then ENGINE=docker; return; fi
  die "neither podman nor docker answers (\`podman info\` / \`docker info\` failed): install one (Debian: apt-get install podman runc)"
}

# The base image: present, or pulled, or (where no registry is reachable) made with debootstrap
# from Debian's packages, with bookworm-security added (its security updates).
ensure_base() {
  "$ENGINE" image inspect "$BASE" >/dev/null 2>&1 && return
  "$ENGINE" pull -q "$BASE" >/dev/null 2>&1 && return
  [ "$BASE" = debian:bookworm ] || die "base image $BASE: not present and cannot be pulled"
  command -v debootstrap >/dev/null && [ "$(id -u)" = 0 ] \
    || die "debian:bookworm cannot be pulled; as root with debootstrap (apt-get install debootstrap) it is made from Debian's packages"
  echo "image: debian:bookworm cannot be pulled: making it with debootstrap (about a minute)"
  local dir; dir=$(mktemp -d)
  debootstrap --variant=minbase bookworm "$dir" > "$dir.log" 2>&1 \
    || { tail -5 "$dir.log" >&2; rm -rf "$dir" "$dir.log"; die "debootstrap failed (its last lines above)"; }
  # The security suite beside the release, at the mirror debootstrap used.
  sed -n 's|^deb \([^ ]*\) bookworm main$|deb \1-security bookworm-security main|p' \
    "$dir/etc/apt/sources.list" >> "$dir/etc/apt/sources.list"
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  tar -C "$dir" -c . | "$ENGINE" import -q - "$BASE" >/dev/null
  rm -rf "$dir" "$dir.log"
}

# The Rust toolchain image (the Dockerfile's RUST): present, or pulled, or (where no image
# registry is reachable) a stand-in with this machine's own toolchain of the same version, made
# on the base image. Sets RUST_IMAGE.
ensure_rust() {
  local want sysroot version dir
  want=$(sed -n 's/^ARG RUST=//p' "$ROOT/Dockerfile")
  RUST_IMAGE=$want
  "$ENGINE" image inspect "$want" >/dev/null 2>&1 && return
  "$ENGINE" pull -q "$want" >/dev/null 2>&1 && return
  version=$(echo "$want" | sed -n 's/^rust:\([0-9.]*\)-.*/\1/p')
  RUST_IMAGE="localhost/mnist-rust:$version"
  "$ENGINE" image inspect "$RUST_IMAGE" >/dev/null 2>&1 && return
  sysroot=$(rustc --print sysroot 2>/dev/null) && [ "$(rustc -V | cut -d' ' -f2)" = "$version" ] \
    || die "$want cannot be pulled, and this machine's rustc is not Rust $version to stand in for it"
  [ -d "$sysroot/lib/rustlib/src/rust/library" ] || die "this machine's Rust $version lacks rust-src (rustup component add rust-src)"
  echo "image: $want cannot be pulled: making $RUST_IMAGE from this machine's Rust $version"
  dir=$(mktemp -d)
  mkdir -p "$dir/toolchain" && cp -a "$sysroot/bin" "$sysroot/lib" "$dir/toolchain/"
  printf 'FROM %s\nCOPY toolchain /usr/local/rustup/toolchains/%s-%s-unknown-linux-gnu\n' \
    "$BASE" "$version" "$(uname -m)" > "$dir/Dockerfile"
  "$ENGINE" build -q -t "$RUST_IMAGE" "$dir" >/dev/null || { rm -rf "$dir"; die "could not make $RUST_IMAGE"; }
  rm -rf "$dir"
}

# A copy of the build context (the clone's files that git tracks or would track) with every
# file's time and permissions made the same: the builder's cache keys then depend on the files'
# contents only, so another copy of the same commit reuses the layers already built. Prints its
# folder.
context() {
  local dir; dir=$(mktemp -d)
  if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
      | tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -C "$dir" -xf -
  else
    cp -a "$ROOT/." "$dir/"
  fi
  # One time and the permissions a clone gets with umask 022, whatever made these files.
  chmod -R u+rwX,go+rX,go-w "$dir"
  find "$dir" -exec touch -h -d @946684800 {} +
  echo "$dir"
}

build() {
  local ca="${MNIST_CA_BUNDLE:-}" tag="" commit args=()
  while [ $# -gt 0 ]; do
    case $1 in
      --ca-bundle) ca=$2; shift 2 ;;
      --tag) tag=$2; shift 2 ;;
      *) die "build: unknown option $1 (--ca-bundle FILE, --tag TAG)" ;;
    esac
  done
  pick_engine
  ensure_base
  ensure_rust
  args+=(--build-arg RUST="$RUST_IMAGE")
  if [ -n "$ca" ]; then
    [ -r "$ca" ] || die "--ca-bundle $ca: no such readable file"
    [ "$ENGINE" = podman ] || die "--ca-bundle needs podman (docker build mounts no files)"
    args+=(--volume "$(realpath "$ca"):/run/mnist-ca.crt:ro")
  fi
  commit=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo local)
  [ -z "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ] || commit="$commit-dirty"
  tag=${tag:-$commit}
  local start=$SECONDS log ctx; log=$(mktemp); ctx=$(context)
  "$ENGINE" build --layers --build-arg BASE="$BASE" "${args[@]}" -t "$IMAGE:$tag" -t "$IMAGE:latest" \
    -f "$ctx/Dockerfile" "$ctx" 2>&1 | tee "$log" || { rm -rf "$log" "$ctx"; die "the build failed (its output is above)"; }
  # The other stages' results tagged too (their layers are cached: seconds), so that pruning
  # unused images (scripts/hub.sh update) keeps what the next build reuses.
  local stage
  for stage in rust evcxr data; do
    "$ENGINE" build -q --layers --target "$stage" --build-arg BASE="$BASE" "${args[@]}" \
      -t "$IMAGE-stage:$stage" -f "$ctx/Dockerfile" "$ctx" >/dev/null
  done
  rm -rf "$ctx"
  record "$((SECONDS - start))" "$(grep -ac 'Using cache' "$log" || true)" "$(grep -ac ' STEP ' "$log" || true)"
  # A build that compiled evcxr_jupyter and the kernel's dependencies is kept as the cold figure.
  if [ -d "$ROOT/target" ] && ! grep -a -A1 -e 'cargo install' -e 'run_notebooks.py --warm' "$log" | grep -aq 'Using cache'; then
    cp "$ROOT/target/image-build.json" "$ROOT/target/image-build-cold.json"
  fi
  rm -f "$log"
}

# Prints the build's figures and writes them to target/image-build.json (docs/container.md):
# record SECONDS CACHED_STEPS STEPS
record() {
  local bytes; bytes=$("$ENGINE" image inspect --format '{{.Size}}' "$IMAGE:latest")
  echo "image: $IMAGE:latest built in $1 s ($ENGINE; $2 of $3 steps from the cache; $(awk -v b="$bytes" 'BEGIN {printf "%.1f GB", b / 1e9}'))"
  [ -d "$ROOT/target" ] || return 0
  printf '{"date": "%s", "cpu": "%s, %s cores", "seconds": %s, "cached_steps": %s, "steps": %s, "bytes": %s}\n' \
    "$(date -u +%F)" "$(python3 "$ROOT/scripts/course.py" cpu)" "$(nproc)" \
    "$1" "$2" "$3" "$bytes" > "$ROOT/target/image-build.json"
}

run() {
  local port=${1:-8888}
  pick_engine
  "$ENGINE" image inspect "$IMAGE:latest" >/dev/null 2>&1 || die "no image $IMAGE:latest: ./scripts/image.sh build first"
  exec "$ENGINE" run --rm -it -p "127.0.0.1:$port:8888" -v mnist-work:/home/jovyan "$IMAGE:latest"
}

case "${1:-}" in
  build) shift; build "$@" ;;
  run) shift; run "$@" ;;
  engine) pick_engine; echo "$ENGINE${CONTAINERS_CONF:+ (CONTAINERS_CONF=$CONTAINERS_CONF)}" ;;
  *) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
