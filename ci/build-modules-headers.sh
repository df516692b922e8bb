#!/usr/bin/env bash
# Build tracer.ko and its test modules against every Debian kernel header
# package installed (/usr/src/linux-headers-*, ci/packages.txt installs
# Debian 12's linux-headers-amd64, a 6.1 kernel), warnings as errors, each
# in a scratch copy so that the build products of the project's own 6.12
# kernel in tracer/ are left alone.  One test per header tree.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
scratch=$top/build/tracer-headers
passed=0 failed=0

trees=()
for dir in /usr/src/linux-headers-*; do
	# The per-flavour trees have the Makefile and the .config; the
	# -common trees they include do not build on their own.
	[ -f "$dir/Makefile" ] && [ -f "$dir/.config" ] && trees+=("$dir")
done
if [ ${#trees[@]} -eq 0 ]; then
	echo "not ok - no kernel headers in /usr/src (install linux-headers-amd64)"
	echo "modules-headers: 0 passed, 1 failed"
	exit 1
fi

for tree in "${trees[@]}"; do
	version=${tree#/usr/src/linux-headers-}
	copy=$scratch/$version
	rm -rf "$copy"
	mkdir -p "$copy/test"
	cp "$top"/tracer/{Kbuild,tracer.c,tracer.h} "$copy/"
	cp "$top"/tracer/test/{Kbuild,*.c} "$copy/test/"
	if make -s -C "$tree" M="$copy" KCFLAGS=-Werror modules >"$copy/build.log" 2>&1 &&
		[ -f "$copy/tracer.ko" ] && [ -f "$copy/test/tracer_test.ko" ] &&
		[ -f "$copy/test/kprobe_cycle.ko" ]; then
		echo "ok - tracer.ko, tracer_test.ko and kprobe_cycle.ko build against $version"
		passed=$((passed + 1))
	else
		sed 's/^/# /' "$copy/build.log" | tail -n 30
		echo "not ok - modules against $version"
		failed=$((failed + 1))
	fi
done
echo "modules-headers: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
