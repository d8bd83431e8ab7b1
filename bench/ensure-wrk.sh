#!/bin/sh
# Installs wrk, the HTTP load generator `make bench` drives, when it is not on PATH yet.
# Debian or Ubuntu; root, or sudo for the package manager.
set -eu
command -v wrk >/dev/null 2>&1 && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine often has no package lists yet: refresh them only when the install fails.
$SUDO apt-get install -y wrk || { $SUDO apt-get update && $SUDO apt-get install -y wrk; }
command -v wrk >/dev/null 2>&1
