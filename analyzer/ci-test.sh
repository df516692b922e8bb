#!/bin/bash
# Builds capmap and runs its tests; the last line is
# "analyzer: N passed, N failed" (ctest tests + 1 for each of the two fuzz runs).
#
#   release     build/analyzer/release: the capmap the VM tests use; its golden
#               and format tests run against this binary
#   asan-ubsan  clang + AddressSanitizer + UBSan: every test, and the fuzzers
#               (kmap parser and stream parser)
#
# CAPMAP_FUZZ_SECONDS (default 30) bounds each fuzz run.
set -u
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
build_root=$here/../build/analyzer
jobs=${CAPMAP_JOBS:-$(nproc)}
fuzz_seconds=${CAPMAP_FUZZ_SECONDS:-30}
launcher=()
if command -v ccache >/dev/null; then
	launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
passed=0
failed=0
start=$SECONDS

# Adds the counts of a ctest log ("NN% tests passed, F tests failed out of T").
count_ctest() {
	local summary total bad
	summary=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -1)
	if [ -z "$summary" ]; then
		echo "analyzer: no ctest summary in $1"
		failed=$((failed + 1))
		return
	fi
	bad=$(sed -E 's/.* ([0-9]+) tests? failed.*/\1/' <<<"$summary")
	total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$summary")
	passed=$((passed + total - bad))
	failed=$((failed + bad))
}

build() {
	local preset=$1
	echo "== configure and build $preset"
	if ! cmake --preset "$preset" "${launcher[@]}" >"$build_root/$preset.configure.log" 2>&1; then
		cat "$build_root/$preset.configure.log"
		return 1
	fi
	cmake --build --preset "$preset" -j "$jobs"
}

mkdir -p "$build_root"
for preset in release asan-ubsan; do
	if ! build "$preset"; then
		echo "analyzer: build of $preset failed"
		failed=$((failed + 1))
	fi
done

echo "== ctest asan-ubsan (all tests)"
ctest --test-dir "$build_root/asan-ubsan" --no-tests=error -j "$jobs" --output-on-failure \
	2>&1 | tee "$build_root/asan-ubsan.ctest.log"
count_ctest "$build_root/asan-ubsan.ctest.log"

echo "== ctest release (golden and format tests of the shipped binary)"
ctest --test-dir "$build_root/release" --no-tests=error -j "$jobs" --output-on-failure -L 'golden|format' \
	2>&1 | tee "$build_root/release.ctest.log"
count_ctest "$build_root/release.ctest.log"

# Each fuzzer with its seed corpus; new inputs go to build/analyzer.
fuzz() {
	local name=$1 seeds=$2 work=$3
	local fuzzer=$build_root/asan-ubsan/$name
	local corpus=$build_root/$work-corpus
	local log=$build_root/$work.log
	echo "== fuzz $name for ${fuzz_seconds}s"
	mkdir -p "$corpus"
	if [ -x "$fuzzer" ] && "$fuzzer" -max_total_time="$fuzz_seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 "$corpus" "$seeds" >"$log" 2>&1; then
		tail -n 12 "$log"
		passed=$((passed + 1))
	else
		tail -n 60 "$log" 2>/dev/null
		echo "analyzer: fuzz run of $name failed (log: $log)"
		failed=$((failed + 1))
	fi
}
fuzz capmap-fuzz "$here/fuzz/corpus" fuzz
fuzz capmap-fuzz-stream "$here/fuzz/corpus-stream" fuzz-stream

echo "analyzer: ci-test.sh took $((SECONDS - start))s; capmap is $build_root/release/capmap"
echo "analyzer: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
