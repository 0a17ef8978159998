#!/usr/bin/env bash
# System packages for the image tests (tests/image/test_image_*.py, tests/infra/):
# a real Docker daemon and CLI (docker.io), a real registry (docker-registry),
# a static busybox to make a base image offline (busybox-static), htpasswd for
# the registry-with-auth fixture (apache2-utils) and git for the .pfignore
# cross-check. Services are NOT started here: tests/infra starts and stops a
# private daemon and registry under a temporary directory.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 NEEDRESTART_MODE=l  # never restart services here

packages=(docker.io docker-registry busybox-static apache2-utils git)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "docker packages already installed"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"

# Keep package scripts from starting the system docker/registry services.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  added_policy=1
fi
cleanup() { [ "$added_policy" -eq 0 ] || $SUDO rm -f "$policy"; }
trap cleanup EXIT

$SUDO apt-get update -q </dev/null
$SUDO apt-get install -y -q "${missing[@]}" </dev/null
