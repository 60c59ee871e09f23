#!/usr/bin/env bash
# What the browser test needs (idempotent): Debian's chromium, and playwright-core as pinned in
# e2e/package-lock.json. Test-only: the main job does not need a browser.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$MNIST_ROOT"
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing chromium (Debian's package, for the browser test)"
    apt-get install -y -qq chromium >/dev/null 2>&1 \
      || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
  else
    echo "setup: chromium is missing: install Debian's chromium package (apt-get install chromium)" >&2
    exit 1
  fi
fi
if [ ! -f e2e/node_modules/playwright-core/package.json ] \
   || [ e2e/package-lock.json -nt e2e/node_modules/.package-lock.json ]; then
  echo "== installing playwright-core (npm ci in e2e/)"
  (cd e2e && npm ci --no-audit --no-fund --silent)
fi
echo "browser test: chromium and playwright-core ready"
