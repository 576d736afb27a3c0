#!/usr/bin/env bash
# Installs the system packages the build and the tests need (Debian/Ubuntu), only when
# something is missing, so a prepared machine pays nothing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config python3-venv python3-dev
  libasio-dev libssl-dev openssl liblmdb-dev libmongoc-dev libgtest-dev libgmock-dev
  clang libfuzzer-14-dev libclang-rt-14-dev clang-format
  redis-server redis-tools memcached
  wrk
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The Debian packages enable their servers at install time; tests start their own on
# private ports, so a packaged default instance is irrelevant to us either way.
echo "bootstrap: system packages ready"
