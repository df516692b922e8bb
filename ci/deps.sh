#!/usr/bin/env bash
# Install the Debian packages of a list (default ci/packages.txt) that are
# missing.  Runs "apt-get update" only when something must be installed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
list=${1:-$top/ci/packages.txt}
mapfile -t wanted < <(grep -v -e '^#' -e '^[[:space:]]*$' "$list")
missing=()
for p in "${wanted[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "[deps] all ${#wanted[@]} packages installed"
	exit 0
fi
echo "[deps] installing ${#missing[@]} package(s): ${missing[*]}"
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "[deps] done"
