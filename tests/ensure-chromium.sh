#!/bin/sh
# Installs Debian's Chromium, the browser the docs pages' tests render them in, when it is
# not on PATH yet. Debian or Ubuntu; root, or sudo for the package manager.
set -eu
command -v chromium >/dev/null 2>&1 && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine often has no package lists yet: refresh them only when the install fails.
$SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core \
  || { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core; }
command -v chromium >/dev/null 2>&1
