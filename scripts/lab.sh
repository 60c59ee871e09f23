#!/usr/bin/env bash
# Starts JupyterLab on the notebooks with the project's Rust kernel (setting up first if needed).
# It listens on localhost only and requires a token (printed in the URL below).
# Extra arguments go to `jupyter lab`, e.g. ./scripts/lab.sh --port 8890; MNIST_LAB_ROOT serves
# another folder (scripts/docs_pictures.sh shows the executed notebooks of reports/).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MNIST_ROOT"
scripts/setup.sh
token="${MNIST_LAB_TOKEN:-$(python -c 'import secrets; print(secrets.token_hex(24))')}"
as_root=()
[ "$(id -u)" = 0 ] && as_root=(--allow-root)
echo "JupyterLab: http://127.0.0.1:8888/lab?token=$token (the port may differ if 8888 is taken)"
exec jupyter lab --ip=127.0.0.1 --ServerApp.token="$token" --ServerApp.root_dir="${MNIST_LAB_ROOT:-$MNIST_ROOT/notebooks}" \
  "${as_root[@]}" "$@"
