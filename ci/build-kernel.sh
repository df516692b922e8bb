#!/usr/bin/env bash
# Configure and build the Memorizer guest kernel out of tree in build/obj.
#
# Config: x86_64 tinyconfig + kernel-config/vm.config + kernel-config/
# memorizer.config (+ any fragments named in $EXTRA_CONFIGS), then checked:
# tinyconfig's SLUB_TINY silently drops KASAN, so the symbols Memorizer
# needs are verified in the final .config rather than trusted.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
# Absolute: make -C would take a relative O= as relative to the tree.
tree=$(realpath -m "${KERNEL_TREE:-$top/build/linux}")
obj=$(realpath -m "${KERNEL_OBJ:-$top/build/obj}")
export KERNEL_TREE=$tree KERNEL_OBJ=$obj
jobs=${JOBS:-$(nproc)}
fragments=("$top/kernel-config/vm.config" "$top/kernel-config/memorizer.config")
for f in ${EXTRA_CONFIGS:-}; do fragments+=("$f"); done
required=(CONFIG_KASAN_GENERIC CONFIG_KASAN_OUTLINE CONFIG_SLUB CONFIG_SMP
	CONFIG_DEBUG_FS CONFIG_KPROBES CONFIG_RELAY CONFIG_KUNIT CONFIG_9P_FS
	CONFIG_VIRTIO_NET CONFIG_MODULES CONFIG_DEBUG_KMEMLEAK
	${MEMORIZER_CONFIGS-CONFIG_MEMORIZER CONFIG_MEMORIZER_KUNIT_TEST}
	${REQUIRED_CONFIGS:-})

say() { printf '[kernel] %s\n' "$*" >&2; }
die() { printf '[kernel] error: %s\n' "$*" >&2; exit 1; }

# One kernel build at a time: helpers, tests and developers share build/obj.
mkdir -p "$top/build"
exec 9>"$top/build/kernel.lock"
flock 9

"$top/ci/kernel-tree.sh" prepare

# ccache's own default directory, so that every clone on a machine shares it.
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
# Paths under the project are hashed relative to it, so that trees in other
# clones or scratch directories (make check-series) hit the same entries.
export CCACHE_BASEDIR=$top
# LOCALVERSION= (set, empty): no "+" for a tree that is not at a release tag.
kmake=(make -C "$tree" O="$obj" -j"$jobs" CC="ccache gcc" HOSTCC="ccache gcc" LOCALVERSION=)
mkdir -p "$obj"

# Reconfigure when a fragment or the tree's Kconfig changed since the last
# configuration; otherwise keep .config so that make rebuilds incrementally.
stamp=$obj/.memorizer-config-inputs
inputs=$(cat "${fragments[@]}"; git -C "$tree" rev-parse HEAD)
if [ ! -f "$obj/.config" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$inputs" ]; then
	say "configuring: tinyconfig + ${fragments[*]##*/}"
	"${kmake[@]}" -s tinyconfig >/dev/null
	KCONFIG_CONFIG=$obj/.config "$tree/scripts/kconfig/merge_config.sh" \
		-m -O "$obj" "$obj/.config" "${fragments[@]}" >"$obj/merge_config.log"
	"${kmake[@]}" -s olddefconfig
	printf '%s' "$inputs" >"$stamp"
fi
for sym in "${required[@]}"; do
	grep -q "^$sym=y" "$obj/.config" ||
		die "$sym is not set in $obj/.config (see $obj/merge_config.log)"
done
if grep -q '^CONFIG_SLUB_TINY=y' "$obj/.config"; then
	die "CONFIG_SLUB_TINY=y would silently disable KASAN"
fi

say "building bzImage and modules with $jobs jobs (from scratch: ~10 min on 2 cores)"
start=$(date +%s)
"${kmake[@]}" -s bzImage modules || die "kernel build failed"
say "built $obj/arch/x86/boot/bzImage in $(( $(date +%s) - start )) s"
