#!/usr/bin/env bash
# Prove that every patch of the series builds on its own: for each prefix
# of patches/series, apply it to a scratch tree and build it with the
# project's config (ccache makes the later builds quick).  Slow: not part
# of make test; run it before exporting a reworked series.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
scratch=$top/build/series-check
mapfile -t series < <(grep -v -e '^#' -e '^[[:space:]]*$' "$top/patches/series")
passed=0 failed=0
for n in $(seq 1 ${#series[@]}); do
	rm -rf "$scratch/patches"
	mkdir -p "$scratch/patches"
	printf '%s\n' "${series[@]:0:n}" >"$scratch/patches/series"
	for p in "${series[@]:0:n}"; do cp "$top/patches/$p" "$scratch/patches/"; done
	echo "=== building with patches 1..$n (${series[$((n - 1))]})"
	# A scratch tree per run, reset to base and given only this prefix.
	if [ -d "$scratch/linux/.git" ]; then
		git -C "$scratch/linux" am --abort >/dev/null 2>&1 || true
		git -C "$scratch/linux" reset -q --hard base
	else
		git clone -q --no-checkout "$top/build/linux" "$scratch/linux"
		git -C "$scratch/linux" checkout -q -B memorizer base
	fi
	# The KUnit suite's symbol comes with the last patch: require only
	# CONFIG_MEMORIZER of a prefix.
	if KERNEL_TREE=$scratch/linux KERNEL_OBJ=$scratch/obj PATCHES_DIR=$scratch/patches \
		MEMORIZER_CONFIGS=CONFIG_MEMORIZER \
		"$top/ci/build-kernel.sh" >"$scratch/build-$n.log" 2>&1; then
		echo "ok $n - builds with ${series[$((n - 1))]}"
		passed=$((passed + 1))
	else
		echo "not ok $n - build fails with ${series[$((n - 1))]} (log: $scratch/build-$n.log)"
		tail -n 20 "$scratch/build-$n.log" | sed 's/^/    /'
		failed=$((failed + 1))
	fi
done
echo "series-builds: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
