#!/bin/sh
# Installs the OpenID provider the single sign-on tests sign in against (panva's
# oidc-provider, pinned in tests/support/oidc_provider/package-lock.json) from the npm
# registry, when its packages are missing or older than the lock file. Needs Node.js 20+.
set -eu
dir="$(dirname "$0")/support/oidc_provider"
if ! command -v node >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y --no-install-recommends nodejs npm \
    || { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends nodejs npm; }
fi
stamp="$dir/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
  npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
fi
