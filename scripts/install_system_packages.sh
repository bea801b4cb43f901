#!/usr/bin/env bash
# Install the Debian packages listed in .ci/apt-packages.txt that are not yet installed
# (needs root or sudo). Servers are not started here: each test starts its own.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t wanted < <(grep -v '^\s*#' .ci/apt-packages.txt | awk 'NF {print $1}')
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo -n"  # never wait for a password prompt
echo "[system] installing: ${missing[*]}" >&2
start=$(date +%s)
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
# Debian starts some servers on install; the tests run their own instances.
for svc in mariadb postgresql redis-server prometheus prometheus-node-exporter; do
  $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
echo "[system] installed in $(( $(date +%s) - start )) s" >&2
