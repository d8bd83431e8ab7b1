#!/bin/sh
# Installs xmlsec1, the program pysaml2 checks SAML signatures with, when it is not on PATH
# yet: the gateway needs it for SAML single sign-on. Debian or Ubuntu; root, or sudo for
# the package manager.
set -eu
command -v xmlsec1 >/dev/null 2>&1 && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine often has no package lists yet: refresh them only when the install fails.
$SUDO apt-get install -y --no-install-recommends xmlsec1 \
  || { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends xmlsec1; }
command -v xmlsec1 >/dev/null 2>&1
