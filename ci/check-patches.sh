#!/usr/bin/env bash
# Static checks: every patch of the series is checkpatch --strict clean and
# has a Signed-off-by, the out-of-tree modules' sources are checkpatch
# --strict clean, and the in-tree memorizer.config matches
# kernel-config/memorizer.config.  One test per check.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
tree=${KERNEL_TREE:-$top/build/linux}
# checkpatch runs scripts/spdxcheck.py with "env python3": make that Debian's
# python3, which has python3-ply and python3-git, not another on PATH.
export PATH=/usr/bin:$PATH
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }

mapfile -t series < <(grep -v -e '^#' -e '^[[:space:]]*$' "$top/patches/series" 2>/dev/null)
[ ${#series[@]} -gt 0 ] || not_ok "patches/series lists no patch"
for p in "${series[@]}"; do
	if out=$("$tree/scripts/checkpatch.pl" --strict --quiet --no-signoff --show-types "$top/patches/$p" 2>&1) &&
		[ -z "$out" ]; then
		ok "checkpatch --strict: $p"
	else
		not_ok "checkpatch --strict: $p"
		sed 's/^/    /' <<<"$out"
	fi
	if grep -q '^Signed-off-by: .\+ <.\+@.\+>' "$top/patches/$p"; then
		ok "signed off: $p"
	else
		not_ok "signed off: $p"
	fi
done
# The out-of-tree modules follow the kernel's style too.
for f in tracer/tracer.c tracer/tracer.h tracer/test/tracer_test.c tracer/test/kprobe_cycle.c \
	tests/guest/modules/memorizer_workload.c; do
	if out=$("$tree/scripts/checkpatch.pl" --strict --quiet --no-tree --show-types -f "$top/$f" 2>&1) &&
		[ -z "$out" ]; then
		ok "checkpatch --strict -f: $f"
	else
		printf '%s\n' "$out" | sed 's/^/# /'
		not_ok "checkpatch --strict -f: $f"
	fi
done
if [ -f "$tree/kernel/configs/memorizer.config" ]; then
	if cmp -s "$tree/kernel/configs/memorizer.config" "$top/kernel-config/memorizer.config"; then
		ok "kernel/configs/memorizer.config matches kernel-config/memorizer.config"
	else
		not_ok "kernel/configs/memorizer.config differs from kernel-config/memorizer.config"
	fi
else
	not_ok "the series adds kernel/configs/memorizer.config (make memorizer.config)"
fi
echo "patches: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
