#!/usr/bin/env bash
# Debian packages the tests use: real registry clients and the reference registry.
set -euo pipefail
packages=(skopeo docker.io podman buildah docker-registry wrk uidmap fuse-overlayfs openssl)
packages+=(slapd ldap-utils)  # tests/support/slapd.py: a private LDAP server for the LDAP tests
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi
