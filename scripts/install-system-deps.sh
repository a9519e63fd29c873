#!/usr/bin/env bash
# Debian packages the tests use: real registry clients and the reference registry.
set -euo pipefail
packages=(skopeo docker.io podman buildah docker-registry wrk uidmap fuse-overlayfs openssl)
packages+=(chromium)  # tests/ui: Playwright drives Debian's Chromium (never its own download)
packages+=(slapd ldap-utils)  # tests/support/slapd.py: a private LDAP server for the LDAP tests
packages+=(memcached)  # tests/support/swift_aio.py: Swift's tempauth keeps tokens there
packages+=(nginx)  # tests/support/nginx.py: the README's reverse proxy set-up, tested in front of DTR
packages+=(postgresql)  # tests/support/postgres.py: a private cluster; the integration suite runs on it too
packages+=(haproxy)  # tests/support/haproxy.py: a load balancer in front of several DTR replicas
packages+=(debootstrap docker-compose)  # tests/e2e/test_container_image.py: DTR's image and compose.yaml
# npm ci (Makefile) installs Azurite, the Azure Blob emulator of tests/support/azurite.py: a
# machine without Node.js gets Debian's (18 on Debian 12, which azurite 3.35 supports).
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
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
