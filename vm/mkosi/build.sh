#!/usr/bin/env bash
# Build the Debian guest tree of vm/mkosi/mkosi.conf with mkosi 14.
#
# Everything it writes stays under build/mkosi/ (git-ignored):
#   build/mkosi/image/      the root file system tree (Format=directory)
#   build/mkosi/cache/      downloaded .debs, reused by the next build
#   build/mkosi/workspace/  mkosi's scratch space while it builds
# Needs root (debootstrap, systemd-nspawn).  Extra arguments go to mkosi,
# e.g. `vm/mkosi/build.sh --format=gpt_ext4 --output=...` for experiments.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/build/mkosi

if [ "$(id -u)" != 0 ]; then
	echo "vm/mkosi/build.sh: mkosi build needs root (debootstrap, systemd-nspawn)" >&2
	exit 1
fi
command -v mkosi >/dev/null || {
	echo "vm/mkosi/build.sh: mkosi not found (apt-get install mkosi; version 14 is bookworm's)" >&2
	exit 1
}
version=$(mkosi --version | awk '{print $2}')
[ "${version%%.*}" = 14 ] ||
	echo "vm/mkosi/build.sh: warning: mkosi $version; this configuration is written for mkosi 14" >&2

mkdir -p "$out/cache" "$out/workspace"
# Not while a guest runs on the tree (vm/mkosi/boot.sh holds the same lock).
exec 9>"$out/lock"
flock -n 9 || { echo "vm/mkosi/build.sh: build/mkosi is in use by vm/mkosi/boot.sh or another build" >&2; exit 1; }
start=$(date +%s)
# --force: replace the previous tree; the package cache is kept.
mkosi -C "$top/vm/mkosi" \
	--output="$out/image" \
	--cache="$out/cache" \
	--workspace-dir="$out/workspace" \
	--force "$@" build
echo "vm/mkosi/build.sh: mkosi build finished in $(($(date +%s) - start)) s"
